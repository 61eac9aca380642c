"""Learned-body benchmark (issue 12): distribution metrics on held-out corpus windows, speed and foot drift.

THE REFERENCE IS THE PROCEDURAL TEACHER, NOT REAL MOCAP. The held-out windows (the corpus's ``test`` split,
never trained on; see /tmp/work/corpus_split.md and bench/references.py) carry body motion that the corpus
builder made with the procedural body of its day; the learned body was trained on the ``train`` split of
the same teacher. So FD_g/FD_k say how close each system is to the teacher's distribution on unseen speech,
not how human-like it is.

Systems, all scored on the 11 joints the learned body animates (:data:`engine.learned.body_vq.BODY_JOINTS`,
axis-angle radians, flattened):

* ``learned body``: :class:`engine.learned.body_model.LearnedBody` on each window's log-mel, seeds 0..S-1;
* ``procedural body``: this checkout's :mod:`engine.animators.body` on each window's audio (prosody and
  accents of the shared analysis; head and eyes from the window's labels), seeds 0..S-1;
* ``mean pose``: the mean pose of the ``train`` split on every frame;
* ``random train clip``: a random ``train`` window's motion (another random one per seed).

Also: cross-sample diversity (seeds of the same window), beat consistency (audio onsets of librosa vs motion
speed minima), speed of the learned body in x real time per sample with ``--threads`` torch threads (the
model's default is one) on one long recording, and the foot drift (mm) of ``phonetic-body`` clips (max ankle displacement from frame 0).

    PARLEY_DATA=... PYTHONPATH=. python bench/bench_body_learned.py --corpus CORPUS [--checkpoint CKPT]
        [--windows N] [--seeds S] [--threads 1]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

FPS = 30.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=os.environ.get("PARLEY_CORPUS"),
                    help="corpus folder with a test split holding body motion (default: $PARLEY_CORPUS)")
    ap.add_argument("--checkpoint", help="learned-body weights (default: the shipped ones)")
    ap.add_argument("--windows", type=int, default=60, help="held-out windows scored")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads while the learned body samples (speed)")
    ns = ap.parse_args(argv)
    if not ns.corpus:
        print(f"{Path(__file__).name}: skipped: it needs a corpus from `parley corpus build` (--corpus CORPUS or "
              "$PARLEY_CORPUS); the figures in README name the one they were measured on")
        return 0

    import librosa
    import torch

    from engine.animators.body import animate_body
    from engine.audio.accents import detect_accents
    from engine.audio.load import Audio
    from engine.audio.prosody import FeatureConfig, analyze
    from engine.learned.body_model import LearnedBody, load_body
    from engine.learned.paths import DEFAULT_BODY_CHECKPOINT
    from engine.learned.body_vq import BODY_JOINTS
    from engine.learned.layout import emotion_vector
    from engine.metrics import body as M
    from engine.training.corpus.shards import TARGETS, Corpus
    from rigs.core.skeleton import canonical_skeleton

    torch.set_num_threads(1)
    neutral = emotion_vector({})
    t0 = time.time()
    sk = canonical_skeleton()
    idx = [sk.names.index(n) for n in BODY_JOINTS]
    head_idx = [sk.names.index(n) for n in ("neck", "head")]
    eye_idx = [sk.names.index(n) for n in ("left_eye", "right_eye")]
    col = TARGETS.index("joint_angles")
    ckpt = Path(ns.checkpoint or DEFAULT_BODY_CHECKPOINT)
    model = LearnedBody(load_body(ckpt))

    def body_windows(split: str, n: int | None, seed: int):
        c = Corpus(ns.corpus, split=split)
        ks = [k for k in range(len(c)) if c.window(k, ("has", "mask"))["has"][col] and c.window(k, ("mask",))["mask"].all()]
        rng = np.random.default_rng(seed)
        if n is not None and len(ks) > n:
            ks = sorted(rng.choice(ks, n, replace=False).tolist())
        return c, ks

    test, test_ks = body_windows("test", ns.windows, 0)
    train, train_ks = body_windows("train", 400, 1)
    train_poses = [train.window(k, ("joint_angles",))["joint_angles"][:, idx].astype(np.float64) for k in train_ks]
    mean_pose = np.concatenate(train_poses).mean(0)
    seeds = list(range(ns.seeds))
    flat = lambda a: np.asarray(a, np.float64).reshape(len(a), -1)  # noqa: E731

    ref, systems, onsets = [], {"learned body": [], "procedural body": [], "mean pose": [], "random train clip": []}, []
    rng = np.random.default_rng(7)
    for k in test_ks:
        w = test.window(k, ("joint_angles", "mel", "audio", "emotion"))
        T = w["joint_angles"].shape[0]
        ref.append(flat(w["joint_angles"][:, idx]))
        y = w["audio"].astype(np.float32) / 32767.0
        audio = Audio(samples=y, sr=16000, duration_s=len(y) / 16000, source_name=f"window{k}", source_sha256="",
                      original_sr=16000, channels=1)
        onsets.append(librosa.onset.onset_detect(y=y, sr=16000, units="time"))
        systems["learned body"].append([flat(model.run(w["mel"].astype(np.float32), neutral, seed=s)["joint_angles_rad"])
                                        for s in seeds])
        pros = analyze(audio, fps=FPS, config=FeatureConfig(use_silero=False))
        acc = detect_accents(pros, fps=FPS, n_frames=T)
        head = w["joint_angles"][:, head_idx].sum(1).astype(np.float64)
        eyes = w["joint_angles"][:, eye_idx].astype(np.float64)
        systems["procedural body"].append([flat(animate_body(fps=FPS, n_frames=T, prosody=pros, head_angles_rad=head,
                                                             eye_angles_rad=eyes, accent_times_s=acc.times_s,
                                                             emotion={}, seed=s)[0][:, idx]) for s in seeds])
        systems["mean pose"].append([np.tile(mean_pose.reshape(1, -1), (T, 1)) for _ in seeds])
        systems["random train clip"].append([flat(train_poses[int(rng.integers(len(train_poses)))][:T]) for _ in seeds])

    ref_all = np.concatenate(ref)
    print(f"# learned body benchmark: {len(test_ks)} held-out test windows of {ns.corpus} (4 s each), "
          f"{len(seeds)} seeds; checkpoint {ckpt.name}")
    print("Reference = the corpus's procedural TEACHER motion on held-out speech (not real mocap); "
          f"{len(BODY_JOINTS)} joints (torso, collars, shoulders, elbows, wrists), axis-angle rad.\n")
    print("| system | FD_g | FD_k | Div_g | Div_k | cross-sample div | BC |")
    print("|---|---|---|---|---|---|---|")
    ref_row = (0.0, 0.0, M.div_g(ref_all), np.mean([M.div_k(r) for r in ref]), float("nan"),
               np.mean([M.beat_consistency(M.motion_beats(r.reshape(len(r), -1, 3), fps=FPS), o)
                        for r, o in zip(ref, onsets)]))
    print("| teacher (reference) | - | - | {:.3f} | {:.4f} | - | {:.3f} |".format(ref_row[2], ref_row[3], ref_row[5]))
    for name, per in systems.items():
        allm = [a for pw in per for a in pw]
        fdg = M.fd_g(np.concatenate(allm), ref_all)
        fdk = M.fd_k_sets(allm, ref)
        dg = M.div_g(np.concatenate(allm))
        dk = np.mean([M.div_k(a) for a in allm])
        xs = np.mean([M.cross_sample_diversity(np.stack(pw)) for pw in per]) if len(seeds) > 1 else float("nan")
        bc = np.mean([M.beat_consistency(M.motion_beats(a.reshape(len(a), -1, 3), fps=FPS), o)
                      for pw, o in zip(per, onsets) for a in pw])
        print(f"| {name} | {fdg:.4f} | {fdk:.5f} | {dg:.3f} | {dk:.4f} | {xs:.3f} | {bc:.3f} |")

    # speed: x real time per sample on one long recording
    from engine.audio.load import load_audio
    from engine.audio.spectral import log_mel
    from rigs.core.files import data_root

    model.threads = ns.threads
    speech = load_audio(data_root() / "speech" / "jfk.flac")
    mc = model.mel_config
    Tm = int(round(speech.duration_s * mc.fps))
    mel = log_mel(speech.samples, sr=mc.sample_rate, fps=mc.feature_fps, n_mels=mc.n_mels, n_fft=mc.n_fft,
                  n_frames=Tm * mc.feature_ratio)
    model.run(mel, neutral, seed=0)
    times = []
    for s in range(3):
        t = time.perf_counter()
        model.run(mel, neutral, seed=s)
        times.append(time.perf_counter() - t)
    print(f"\nspeed: {speech.duration_s / np.median(times):.1f}x real time per sample (learned body model only, "
          f"{speech.duration_s:.1f} s jfk.flac, median of 3, torch threads {ns.threads})")

    # foot drift of full phonetic-body clips
    from engine.animators.base import AnimateRequest
    from engine.animators.learned_body import PhoneticBodyAnimator

    torch.set_num_threads(1)
    anim = PhoneticBodyAnimator.create(checkpoint=str(ckpt))
    t = time.perf_counter()
    drift = []
    for s in range(2):
        clip = anim.animate(speech, AnimateRequest(seed=s))
        _, pos = sk.forward_kinematics(clip.joint_angles, clip.root_translation)
        feet = pos[:, [sk.names.index("left_ankle"), sk.names.index("right_ankle"), sk.names.index("left_foot"),
                       sk.names.index("right_foot")]]
        drift.append(1000 * np.linalg.norm(feet - feet[:1], axis=-1).max())
    full_s = (time.perf_counter() - t) / 2
    print(f"foot drift: {max(drift):.3f} mm max over ankles/feet and frames (phonetic-body, jfk.flac, 2 seeds); "
          f"whole phonetic-body animate {speech.duration_s / full_s:.1f}x real time (1 thread)")
    print(f"\nmachine: {platform.machine()} {platform.processor() or ''} ({platform.node()}), "
          f"python {platform.python_version()}, torch {torch.__version__}; {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
