"""What the neural face's learned style codes (one per training clip, Karras et al. 2017's emotion database) carry:
does a clip's code, given to *other* audio, bring back that clip's manner?

1. Pick ``--codes`` training clips of the weights' style table at random (``--seed``) among those present in the
   corpus's ``train`` split, and measure each clip's manner in its labels (the teacher's, over all its train
   windows): brow raise (mean of ``browInnerUp`` and the two ``browOuterUp``), blink rate (onsets of
   ``eyeBlinkLeft`` above 0.5 per second), head motion (std of the head rotation, degrees) and mean head pitch.
2. Sample face diffusion on ``--audios`` windows of the corpus's ``test`` split (other speakers' and sentences'
   audio), ``--seeds`` seeds each, for every clip twice: with the clip's own emotion mix (the corpus labels each
   take with one) and its code, and with the clip's emotion and the zero code (what a request without a style
   gets); measure the same four figures on the samples.
3. Print, per figure: the Pearson correlation across clips between the labels' figure and the samples' with the
   code, next to the same with the zero code (what the emotion label alone brings back: the code's own share is
   the difference); the spread (std) of the samples' figure across codes next to its spread across seeds (does
   the code move the face more than the noise does?); and the means.

The reference is the corpus's teacher labels of the clips the codes were learned from, not human capture: it
says what the codes hold of their clips, not whether that manner is human-like.

Run: ``.venv/bin/python bench/bench_styles.py --corpus CORPUS [--checkpoint W] [--codes 40] [--audios 6]
[--seeds 2] [--seed 0] [--json out.json]``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
if __name__ == "__main__":   # one math thread, before numpy loads its BLAS
    for _var in THREAD_VARS:
        os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(ROOT))

log = logging.getLogger("bench_styles")

FIGURES = ("brow raise", "blinks per s", "head motion deg", "head pitch deg")
BLINK_ON = 0.5


def manner(upper: np.ndarray, head_rad: np.ndarray, fps: float) -> np.ndarray:
    """(4,) the figures of :data:`FIGURES` of one stretch: upper (T, 23) upper-face weights, head (T, 3) rad."""
    from engine.learned.layout import UPPER_CHANNELS

    col = {n: i for i, n in enumerate(UPPER_CHANNELS)}
    brow = upper[:, [col["browInnerUp"], col["browOuterUpLeft"], col["browOuterUpRight"]]].mean()
    blink = upper[:, col["eyeBlinkLeft"]] > BLINK_ON
    onsets = int(np.sum(blink[1:] & ~blink[:-1]) + bool(blink[0]))
    deg = np.degrees(head_rad)
    return np.array([brow, onsets / (len(upper) / fps), float(np.linalg.norm(deg.std(0))), float(deg[:, 0].mean())])


def clip_manners(data, keys: list[str], clips: list[str], fps: float) -> tuple[dict, dict]:
    """({clip: (4,) figures of its labels over all its train windows (frames pooled)}, {clip: (7,) its emotion})."""
    import torch

    from engine.learned.face import split_face
    from engine.training.data import face_targets

    want = set(clips)
    rows: dict[str, list[int]] = defaultdict(list)
    for k, key in enumerate(keys):
        if key in want:
            rows[key].append(k)
    out, emotions = {}, {}
    for clip in clips:
        b = data.batch(np.array(rows[clip]), mel_mean=None, mel_std=None)
        y = face_targets(b)                                                   # (B, W, D)
        m = b["mask"].bool()
        upper, head, _ = split_face(torch.cat([y[i][m[i]] for i in range(len(y))]).numpy())
        out[clip] = manner(upper, head, fps)
        emotions[clip] = b["emotion"][0].numpy()
    return out, emotions


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=os.environ.get("PARLEY_CORPUS"),
                    help="the corpus the weights' face diffusion trained on (default: $PARLEY_CORPUS)")
    ap.add_argument("--checkpoint", help="neural-face weights (default: the shipped ones)")
    ap.add_argument("--codes", type=int, default=40, help="training clips whose codes are tried (default 40)")
    ap.add_argument("--audios", type=int, default=6, help="test-split windows each code animates (default 6)")
    ap.add_argument("--seeds", type=int, default=2, help="diffusion seeds per code and window (default 2)")
    ap.add_argument("--seed", type=int, default=0, help="which clips and windows are drawn (default 0)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if not args.corpus:
        print(f"{Path(__file__).name}: skipped: it needs a corpus from `parley corpus build` (--corpus CORPUS or "
              "$PARLEY_CORPUS); the figures in README name the one they were measured on")
        return 0
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")

    from engine.animators.neural.animator import checkpoint_path
    from engine.learned.checkpoint import load_checkpoint
    from engine.training.data import FaceData

    t0 = time.perf_counter()
    loaded = load_checkpoint(checkpoint_path(args.checkpoint))
    names, codes = loaded.styles()
    if not names:
        print(f"{loaded.id} has no style codes; nothing to measure")
        return 1
    train, test = FaceData(args.corpus, "train"), FaceData(args.corpus, "test")
    fps = float(train.spec.fps)
    keys = train.style_keys()
    rng = np.random.default_rng(args.seed)
    present = sorted(set(keys) & set(names))
    clips = [present[i] for i in rng.choice(len(present), size=min(args.codes, len(present)), replace=False)]
    labels, emotions = clip_manners(train, keys, clips, fps)
    where = {n: i for i, n in enumerate(names)}
    windows = rng.choice(len(test), size=min(args.audios, len(test)), replace=False)
    net = loaded.model()
    mels = [np.asarray(test.raw(int(k))["mel"], np.float32) for k in windows]

    def figures(mel, emotion, seed, code) -> np.ndarray:
        out = net.run(mel, emotion, seed=seed, style=code)
        return manner(out["upper"], out["head_sampled_rad"], fps)

    def sample(emotion, code) -> np.ndarray:
        """(audios, seeds, 4) figures of the samples."""
        return np.array([[figures(mel, emotion, s, code) for s in range(args.seeds)] for mel in mels])

    with_code, zero_code, seed_spread = {}, {}, []
    for i, clip in enumerate(clips):
        a, z = sample(emotions[clip], codes[where[clip]]), sample(emotions[clip], None)
        with_code[clip], zero_code[clip] = a.mean((0, 1)), z.mean((0, 1))
        if args.seeds > 1:
            seed_spread.append(z.std(1).mean(0))                  # std across seeds, averaged over windows
        log.info("%d/%d %s", i + 1, len(clips), clip)
    spread_seeds = np.mean(seed_spread, 0) if seed_spread else np.full(len(FIGURES), np.nan)
    L = np.array([labels[c] for c in clips])
    G = np.array([with_code[c] for c in clips])
    Z = np.array([zero_code[c] for c in clips])

    def corr(x, y) -> float:
        return float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else float("nan")

    print(f"\n### Style codes of {loaded.id} ({len(names)} codes of {codes.shape[1]} numbers): {len(clips)} training "
          f"clips on {len(windows)} test-split windows x {args.seeds} seeds, each clip's own emotion\n")
    print("| figure | labels: mean over the clips | samples with the codes: mean | samples, zero code: mean | "
          "correlation with the labels across clips: with the clip's code | the same, zero code (the emotion "
          "alone) | spread across codes (std) | spread across seeds (std) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for j, name in enumerate(FIGURES):
        row = {"figure": name, "labels_mean": float(L[:, j].mean()), "code_mean": float(G[:, j].mean()),
               "zero_code_mean": float(Z[:, j].mean()), "correlation_code": corr(L[:, j], G[:, j]),
               "correlation_zero_code": corr(L[:, j], Z[:, j]), "spread_across_codes": float((G - Z)[:, j].std()),
               "spread_across_seeds": float(spread_seeds[j])}
        rows.append(row)
        print(f"| {name} | {row['labels_mean']:.3f} | {row['code_mean']:.3f} | {row['zero_code_mean']:.3f} | "
              f"{row['correlation_code']:.2f} | {row['correlation_zero_code']:.2f} | "
              f"{row['spread_across_codes']:.3f} | {row['spread_across_seeds']:.3f} |")
    took = time.perf_counter() - t0
    print(f"\n{platform.machine()}, Python {platform.python_version()}, one math thread; {took:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"weights": loaded.id, "clips": clips, "windows": [int(k) for k in windows],
                                         "seeds": args.seeds, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
