"""Body benchmark: the procedural body's arm carriage, torso and head motion in physical units, and the
distribution metrics of :mod:`engine.metrics.body` (FD_g, FD_k, Div_g, Div_k, cross-sample diversity, beat
consistency) against baselines.

THE REFERENCE IS NOT REAL CONVERSATIONAL MOCAP. ``$PARLEY_DATA`` holds none (only CMU walking BVH), so the
distribution metrics use *self-consistency*: the reference set is the new procedural body under other seeds
(seeds 100..) on the same clips, and each system is scored against it. That says how far a system is from
the new body's own distribution (and that a static mean pose or another clip's motion are further away); it
does not say how human-like any of them is. The physical measures (degrees, deg/s, share of frames) are
absolute and need no reference.

Systems:

* ``procedural (main)``: the body of the ``main`` branch (extracted with ``git archive`` into a temporary
  package), when git and the branch are there;
* ``procedural (new)``: this checkout's :mod:`engine.animators.body`;
* ``mean pose``: the reference set's mean pose on every frame;
* ``other clip``: the new body's motion of a different clip (cyclically shifted list), cut or tiled to length.

Inputs per clip (prosody, accents, the face's head and eye rotations) come from the phonetic animator's own
analysis and face stages, so the body sees what it sees in ``parley animate``.

    PARLEY_DATA=... PYTHONPATH=. python bench/bench_body.py [--clips N] [--seeds S]
"""
from __future__ import annotations

import argparse
import importlib
import io
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

FPS = 30.0
REF_SEEDS = (100, 101, 102)
# the joints compared by the distribution metrics: upper body (Audio2Photoreal scores the upper body)
UPPER = ("spine1", "spine2", "spine3", "neck", "head", "left_collar", "right_collar", "left_shoulder",
         "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist")


class ClipInputs(NamedTuple):
    """What the body needs of one clip, and the audio onsets for beat consistency."""

    name: str
    n_frames: int
    prosody: object
    accents_s: np.ndarray
    head: np.ndarray
    eyes: np.ndarray
    onsets_s: np.ndarray


def speech_clips(n: int) -> list[Path]:
    from rigs.core.files import data_root

    root = data_root()
    out = [root / "speech" / "jfk.flac"]
    lj = root / "speech_corpus" / "ljspeech_part"
    rows = [ln.split("\t") for ln in (lj / "manifest.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    out += [lj / r[0] for r in rows if 5.0 < float(r[2]) < 10.0][: max(0, n - 1)]
    return out[:n]


def clip_inputs(path: Path) -> ClipInputs:
    import librosa

    from engine.animators.base import AnimateRequest
    from engine.animators.phonetic.animator import PhoneticAnimator
    from engine.audio.load import load_audio

    audio = load_audio(path)
    an = PhoneticAnimator()
    req = AnimateRequest(fps=FPS, seed=0)
    analysis = an.analyze(audio, req, progress=lambda *a: None)
    face = an.face(audio, analysis, req)
    onsets = librosa.onset.onset_detect(y=np.asarray(audio.samples, np.float32), sr=audio.sr, units="time")
    return ClipInputs(path.stem, analysis.n_frames, analysis.prosody, np.asarray(analysis.accents.times_s),
                      np.asarray(face.head_angles_rad), np.asarray(face.eye_angles_rad), np.asarray(onsets))


def main_body_module():
    """The ``main`` branch's engine/animators/body as an importable package, or None."""
    repo = Path(__file__).resolve().parents[1]
    try:
        tar = subprocess.run(["git", "-C", str(repo), "archive", "main", "engine/animators/body"],
                             check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    tmp = Path(tempfile.mkdtemp(prefix="parley_body_main_"))
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        tf.extractall(tmp, filter="data")
    (tmp / "parley_body_main").mkdir()
    for f in (tmp / "engine" / "animators" / "body").iterdir():
        f.rename(tmp / "parley_body_main" / f.name)
    sys.path.insert(0, str(tmp))
    return importlib.import_module("parley_body_main")


def run_body(mod, c: ClipInputs, seed: int):
    return mod.animate_body(fps=FPS, n_frames=c.n_frames, prosody=c.prosody, head_angles_rad=c.head,
                            eye_angles_rad=c.eyes, accent_times_s=c.accents_s, emotion={}, seed=seed)


def upper(aa: np.ndarray) -> np.ndarray:
    from rigs.core.skeleton import canonical_skeleton

    sk = canonical_skeleton()
    return np.asarray(aa, np.float64)[:, [sk.index(n) for n in UPPER]].reshape(len(aa), -1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=3, help="speech clips (jfk.flac + LJSpeech clips of 5-10 s)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per system and clip")
    ns = ap.parse_args(argv)
    from engine.animators import body as new_body
    from engine.metrics import body as M

    t0 = time.time()
    clips = [clip_inputs(p) for p in speech_clips(ns.clips)]
    systems = {"procedural (new)": new_body}
    old = main_body_module()
    if old is not None:
        systems = {"procedural (main)": old, **systems}
    seeds = list(range(ns.seeds))

    print("Physical measures while speaking (mean over clips and seeds; speech = the analysis' VAD)")
    print(f"{'system':20s} {'abduct':>7s} {'elev':>6s} {'elbow':>6s} {'torso':>7s} {'head':>7s} "
          f"{'torso':>6s} {'head':>6s} {'gesture':>8s}")
    print(f"{'':20s} {'deg':>7s} {'deg':>6s} {'deg':>6s} {'deg/s':>7s} {'deg/s':>7s} {'rng':>6s} {'rng':>6s} "
          f"{'space':>8s}")
    motions: dict[str, list[list[np.ndarray]]] = {}
    for name, mod in systems.items():
        rows, per_clip = [], []
        for c in clips:
            per_seed = []
            for s in seeds:
                aa, root = run_body(mod, c, s)
                sp = np.asarray(c.prosody.speech, bool)[: c.n_frames]
                rows.append(M.body_kinematics(aa, root, fps=FPS, frames=sp if sp.sum() > 2 else None).row())
                per_seed.append(aa)
            per_clip.append(per_seed)
        motions[name] = per_clip
        m = {k: np.mean([r[k] for r in rows]) for k in rows[0]}
        print(f"{name:20s} {m['abduction_deg']:7.1f} {m['elevation_deg']:6.1f} {m['elbow_flexion_deg']:6.1f} "
              f"{m['torso_speed_deg_s']:7.1f} {m['head_speed_deg_s']:7.1f} {m['torso_range_deg']:6.1f} "
              f"{m['head_range_deg']:6.1f} {m['gesture_space_share']:8.2f}")

    # --- distribution metrics against the self-consistency reference (NOT real mocap)
    ref = [[upper(run_body(new_body, c, s)[0]) for s in REF_SEEDS] for c in clips]
    ref_all = np.concatenate([r for rc in ref for r in rc])
    mean_pose = ref_all.mean(0)
    table = {n: [[upper(a) for a in pc] for pc in per_clip] for n, per_clip in motions.items()}
    table["mean pose"] = [[np.tile(mean_pose, (c.n_frames, 1)) for _ in seeds] for c in clips]
    k = len(clips)
    table["other clip"] = [[_fit(table["procedural (new)"][(i + 1) % k][j], clips[i].n_frames) for j in range(len(seeds))]
                           for i in range(k)] if k > 1 else None
    print("\nDistribution metrics on upper-body axis-angle vectors (13 joints, radians); reference = the new "
          f"procedural body under seeds {REF_SEEDS} (self-consistency, NOT real conversational mocap)")
    print(f"{'system':20s} {'FD_g':>8s} {'FD_k':>9s} {'Div_g':>7s} {'Div_k':>8s} {'x-sample':>9s} {'BC':>6s}")
    for name, per_clip in table.items():
        if per_clip is None:
            continue
        flat = np.concatenate([a for pc in per_clip for a in pc])
        fdg = M.fd_g(flat, ref_all)
        fdk = M.fd_k_sets([a for pc in per_clip for a in pc], [r for rc in ref for r in rc])
        dg = M.div_g(flat)
        dk = np.mean([M.div_k(a) for pc in per_clip for a in pc])
        xs = np.mean([M.cross_sample_diversity(np.stack(pc)) for pc in per_clip]) if len(seeds) > 1 else float("nan")
        bc = np.mean([M.beat_consistency(M.motion_beats(a.reshape(len(a), -1, 3), fps=FPS), c.onsets_s)
                      for pc, c in zip(per_clip, clips) for a in pc])
        print(f"{name:20s} {fdg:8.4f} {fdk:9.6f} {dg:7.3f} {dk:8.4f} {xs:9.3f} {bc:6.3f}")
    print(f"\n{len(clips)} clips ({', '.join(c.name for c in clips)}), {len(seeds)} seeds, {time.time() - t0:.0f} s")
    return 0


def _fit(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` (T, D) cut or tiled to n frames."""
    reps = -(-n // len(a))
    return np.tile(a, (reps, 1))[:n]


if __name__ == "__main__":
    sys.exit(main())
