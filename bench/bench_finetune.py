"""Fine-tuning the neural face on a user's own capture (issue 11), shown on FACEGOOD: one command that builds the
capture corpus, fine-tunes the shipped lip regressor on it with a fixed step budget (reproducible: seeded, one
thread), exports the result, and prints the before/after table on the held-out takes.

1. ``parley corpus captures --facegood $PARLEY_DATA/facegood --holdout 1114_2_04,1114_2_05 --out WORK/corpus``:
   takes 01-03 train (their last tenth validates), 04 and 05 are held out whole (the readers' ``HELD_OUT``). The
   lip-vertex targets are the captured mouth/jaw weights through the ICT FaceKit lip model; the 25 unmeasured
   channels, the head and the lips-closed labels (no phones) are masked out of the loss.
2. ``parley train lips --init default --data WORK/corpus --out WORK/fg.pt --steps N --lr LR --seed S
   --threads 1``; the written file carries the shipped face diffusion along (the shipped weights are never
   written). 3. ``parley train export --init WORK/fg.pt --out WORK/fg_export.pt`` (float16, what
   ``--checkpoint`` / ``$PARLEY_NEURAL_CHECKPOINT`` loads).
4. Each held-out take through each face (body off, no transcript: Mandarin): the still neutral face, the
   phonetic engine, the shipped neural face (before) and the fine-tuned one (after). The reference is the
   capture itself: its ARKit mouth and jaw weights and each face's go through the same ICT FaceKit lip model
   (as in ``bench_neural.py``): LVE (mm) and its squared variant, the vertical and horizontal lip distance
   errors, inner-lip-gap and ``jawOpen`` correlations (:mod:`engine.metrics.face`). Issue target: ``jawOpen``
   correlation >= 0.8 after fine-tuning, LVE below the phonetic engine's and the still face's.

Run: ``.venv/bin/python bench/bench_finetune.py [--steps 200] [--lr 5e-4] [--seed 0] [--best] [--work DIR]
[--json out.json]`` (``--work`` keeps the corpus and checkpoints; default a temporary folder). ``--best`` trains
with ``parley train lips --best`` and scores the weights of the lowest val loss (early stopping) instead of the
last step's.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
if __name__ == "__main__":   # one math thread, before numpy loads its BLAS (the training child gets --threads 1)
    for _var in THREAD_VARS:
        os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(ROOT))

log = logging.getLogger("bench_finetune")

HOLDOUT = ("1114_2_04", "1114_2_05")
FACES = ("still", "phonetic", "neural-default", "neural-finetuned")
TITLES = {"still": "still neutral face", "phonetic": "phonetic, no transcript",
          "neural-default": "neural, shipped (before)", "neural-finetuned": "neural, fine-tuned (after)"}
JAW_TARGET = 0.8


def parley(*args: str, env: dict | None = None) -> str:
    """Run ``parley ARGS`` (this checkout's CLI) in a child process; its stdout. Raises on failure."""
    cmd = [sys.executable, "-m", "engine.cli", *args]
    log.info("%s", " ".join(shlex.quote(a) for a in cmd))
    res = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                         stdout=subprocess.PIPE, text=True)
    if res.returncode != 0:
        raise SystemExit(f"bench_finetune: `parley {' '.join(args)}` failed with exit code {res.returncode}")
    return res.stdout


def score_faces(checkpoint: Path, fps: float) -> list[dict]:
    """Per held-out take and face, the capture scores (module docstring), then the pooled rows ('all')."""
    from bench_neural import CaptureRow, lip_landmark_positions

    from engine.animators.base import AnimateRequest
    from engine.animators.lips import load_lip_model
    from engine.animators.registry import ANIMATORS
    from engine.audio.load import load_audio
    from engine.metrics.face import capture_scores, lip_distance_errors_mm
    from engine.training.readers.facegood import facegood_expression
    from rigs.core.arkit import ARKIT_INDEX
    from rigs.core.files import data_root

    folder = data_root() / "facegood"
    lm, jaw = load_lip_model(), ARKIT_INDEX["jawOpen"]
    vertical, horizontal = lip_landmark_positions(lm)
    animators = {"phonetic": ANIMATORS.create("phonetic"), "neural-default": ANIMATORS.create("neural"),
                 "neural-finetuned": ANIMATORS.create("neural", checkpoint=str(checkpoint))}
    rows, per = [], defaultdict(list)
    for take in HOLDOUT:
        audio = load_audio(folder / f"{take}.wav")
        ref, _valid = facegood_expression(folder, take)
        ref = np.asarray(ref, np.float64)
        ref_v = lm.positions_m(ref)
        for face in FACES:
            if face == "still":
                expr = np.zeros_like(ref)
            else:
                req = AnimateRequest(fps=fps, seed=0, body=False, transcript=None)
                expr = np.asarray(animators[face].animate(audio, req).expression, np.float64)
            v = lm.positions_m(expr)
            T = min(len(v), len(ref_v))
            sc = capture_scores(v, ref_v, lm.inner_lip_gap_m(v), lm.inner_lip_gap_m(ref_v), expr[:, jaw], ref[:, jaw])
            vert, horz = lip_distance_errors_mm(v[:T], ref_v[:T], vertical=vertical, horizontal=horizontal)
            per[face].append(CaptureRow(sc, vert, horz))
            rows.append({"clip": take, "face": face, **sc.__dict__, "lip_vertical_error_mm": vert,
                         "lip_horizontal_error_mm": horz})
    for face in FACES:
        w = np.array([r.scores.frames for r in per[face]], np.float64)

        def mean(vals, w=w) -> float:
            return float(np.sum(w * np.asarray(vals, np.float64)) / w.sum())

        sc = [r.scores for r in per[face]]
        rows.append({"clip": "all", "face": face, "lve_mm": mean([s.lve_mm for s in sc]),
                     "lve_sq_mm2": mean([s.lve_sq_mm2 for s in sc]),
                     "lip_vertical_error_mm": mean([r.vertical_mm for r in per[face]]),
                     "lip_horizontal_error_mm": mean([r.horizontal_mm for r in per[face]]),
                     "gap_corr": mean([s.gap_corr for s in sc]), "jaw_corr": mean([s.jaw_corr for s in sc]),
                     "frames": int(w.sum())})
    return rows


def print_table(rows: list[dict]) -> None:
    print("| clip | face | LVE mm | LVE^2 mm^2 | lip vertical error mm | lip horizontal error mm | lip-gap corr | "
          "jawOpen corr |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        clip = f"**{r['clip']}**" if r["clip"] == "all" else r["clip"]
        print(f"| {clip} | {TITLES[r['face']]} | {r['lve_mm']:.2f} | {r['lve_sq_mm2']:.1f} | "
              f"{r['lip_vertical_error_mm']:.2f} | {r['lip_horizontal_error_mm']:.2f} | {r['gap_corr']:.3f} | "
              f"{r['jaw_corr']:.3f} |")


def main(argv=None) -> int:
    from bench_neural import machine

    from rigs.core.files import data_root

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200, help="fine-tuning optimizer steps (default 200)")
    ap.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (default 5e-4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--best", action="store_true", help="score the lowest-val-loss weights (early stopping)")
    ap.add_argument("--work", type=Path, help="folder for the corpus and checkpoints (default: a temporary one)")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        format="%(levelname)s %(name)s: %(message)s")
    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="parley-finetune-")
        args.work = Path(tmp.name)
    args.work.mkdir(parents=True, exist_ok=True)
    corpus, ck, exported = args.work / "corpus", args.work / "fg.pt", args.work / "fg_export.pt"
    best = args.work / "fg_best.pt"
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": machine(),
                    "command": "bench/bench_finetune.py " + " ".join(sys.argv[1:]), "steps": args.steps,
                    "lr": args.lr, "seed": args.seed, "best": args.best}
    t0 = time.perf_counter()
    if not (corpus / "corpus.json").is_file():
        report["corpus"] = json.loads(parley("corpus", "captures", "--facegood", str(data_root() / "facegood"),
                                             "--holdout", ",".join(HOLDOUT), "--out", str(corpus),
                                             "--seed", str(args.seed)))
    t1 = time.perf_counter()
    train_out = parley("train", "lips", "--init", "default", "--data", str(corpus), "--out", str(ck),
                       "--steps", str(args.steps), "--lr", str(args.lr), "--seed", str(args.seed), "--threads", "1",
                       *(("--best", str(best)) if args.best else ()))
    t2 = time.perf_counter()
    parley("train", "export", "--init", str(best if args.best else ck), "--out", str(exported))
    report["train"] = json.loads(train_out.strip().splitlines()[-1])
    if args.best:
        from engine.learned.checkpoint import load_checkpoint

        report["best_step"] = load_checkpoint(best).info["step"]
    report["seconds"] = {"corpus": round(t1 - t0, 1), "fine_tune": round(t2 - t1, 1)}
    kept = f"; scored: step {report['best_step']}, the lowest val loss" if args.best else ""
    print(f"\n### Fine-tuning on FACEGOOD (train 1114_2_01-03, held out {', '.join(HOLDOUT)}; {args.steps} steps, "
          f"lr {args.lr:g}, seed {args.seed}, 1 thread, {t2 - t1:.0f} s{kept})\n")
    rows = score_faces(exported, args.fps)
    print_table(rows)
    after = next(r for r in rows if r["clip"] == "all" and r["face"] == "neural-finetuned")
    print(f"\njawOpen correlation after fine-tuning {after['jaw_corr']:.3f} (target >= {JAW_TARGET}: "
          f"{'met' if after['jaw_corr'] >= JAW_TARGET else 'not met'})")
    report["facegood"] = rows
    report["loadavg_end"] = os.getloadavg()
    m = report["machine"]
    print(f"\n{report['date']}; {m['cpu']} ({m['cores']} cores); load average {m['loadavg'][0]:.2f} at the start, "
          f"{report['loadavg_end'][0]:.2f} at the end")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
