"""Benchmark: the streaming animator's look-ahead, per-frame compute latency, quality against the offline
path, and memory on a 10-minute stream.

- look-ahead: :attr:`engine.streaming.animator.StreamingAnimator.lookahead_s` (audio past a frame's centre
  that must have arrived), checked against the frames actually emitted while feeding 10 ms chunks;
- latency: jfk.flac fed in 10 ms chunks (160 samples at 16 kHz); the wall time of every feed() call that
  emits a frame (the frame's compute latency once its audio is in), median / p99 / max, and the amortised
  compute per frame (all calls / frames), with and without the body;
- quality: the same model (the EnergyFace stand-in) run offline over the whole clip
  (:func:`engine.streaming.model.offline_predict`: whole-clip features and speech level) is the reference;
  jawOpen correlation and mean abs error (absolute and relative to the offline mean jawOpen), mouthClose
  mean abs error, and lip-vertex error of the ICT lip model (mm, and relative to the offline lip motion:
  the mean distance of the offline lips from their rest position), over the whole clip and after the first
  second (the running level's warm-up);
- memory: ~10 minutes of corpus speech (LJ Speech, VCTK p239, LibriSpeech clips, one after the other, no
  pauses added) streamed in 20 ms chunks with the body on; RSS every minute of audio and the peak RSS.

With ``--model neural`` (the default when the neural-face weights exist) the face is the neural face's fast
causal path (:class:`engine.streaming.neural.NeuralFrameModel`, torch on one thread) and the quality reference is
that checkpoint's regressor run offline over the whole clip in one forward pass
(:func:`engine.streaming.neural.offline_fast_path`, as the neural animator runs it); the lip error is then the
distance between the streamed and the offline predicted lip-region vertices (mm, and relative to the offline
lips' mean distance from the template's neutral). ``--model energy`` benchmarks the stand-in as before.

Run: nice -n 10 .venv/bin/python bench/bench_stream.py [--model neural|energy] [--part latency|quality|memory|all]
[--minutes 10]. Prints JSON lines.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from engine.audio.load import iter_audio_chunks, load_audio  # noqa: E402
from engine.streaming.animator import StreamConfig, StreamingAnimator  # noqa: E402
from engine.streaming.model import EnergyFace, offline_predict  # noqa: E402
from rigs.core.arkit import ARKIT_INDEX  # noqa: E402
from rigs.core.files import data_root  # noqa: E402

SR = 16000
QUALITY_CLIPS = ("speech/jfk.flac",
                 "speech_corpus/ljspeech_part/flac16k/LJ001-0001.flac",
                 "speech_corpus/ljspeech_part/flac16k/LJ001-0007.flac",
                 "speech_corpus/vctk_p239/flac16k/p239/p239_002.flac",
                 "speech_corpus/vctk_p239/flac16k/p239/p239_010.flac",
                 "speech_corpus/librispeech/test-other/1688/1688-142285-0000.flac",
                 "speech_corpus/librispeech/test-other/1688/1688-142285-0001.flac")
END_FRAMES = 3      # frames whose window reaches past the end of a clip (10 rows of look-ahead = 2.5 frames)
LONG_SOURCES = ("speech_corpus/ljspeech_part", "speech_corpus/vctk_p239", "speech_corpus/librispeech")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


MODEL = {"kind": "energy", "model": None}     # set by main(): the face model under test


def face_model():
    """The model under test: one NeuralFrameModel (stateless between streams) or a fresh EnergyFace."""
    if MODEL["kind"] == "neural":
        if MODEL["model"] is None:
            from engine.learned.streaming import set_threads
            from engine.streaming.neural import NeuralFrameModel
            set_threads(1)
            MODEL["model"] = NeuralFrameModel()
        return MODEL["model"]
    return EnergyFace()


def stream_frames(y: np.ndarray, *, chunk: int, body: bool):
    """Frames and per-call (seconds, frames emitted) of streaming ``y`` in ``chunk``-sample pieces."""
    s = StreamingAnimator(face_model(), config=StreamConfig(body=body))
    frames, calls = [], []
    for i in range(0, y.size, chunk):
        t0, c0 = time.perf_counter(), time.thread_time()
        got = s.feed(y[i:i + chunk])
        calls.append((time.perf_counter() - t0, len(got), i + chunk, time.thread_time() - c0))
        frames += got
    t0, c0 = time.perf_counter(), time.thread_time()
    got = s.flush()
    calls.append((time.perf_counter() - t0, len(got), y.size, time.thread_time() - c0))
    return s, frames + got, calls


def part_latency(root: Path) -> None:
    y = load_audio(root / "speech/jfk.flac").samples
    for body in (True, False):
        stream_frames(y[:SR], chunk=160, body=body)                     # warm up imports and caches
        s, frames, calls = stream_frames(y, chunk=160, body=body)
        per = [t for t, n, _, _ in calls[:-1] if n == 1]
        per_cpu = [c for _, n, _, c in calls[:-1] if n == 1]
        total = sum(t for t, _, _, _ in calls)
        total_cpu = sum(c for _, _, _, c in calls)
        # the emission schedule: frame i comes out with the call whose audio reaches i/fps + lookahead
        late = 0
        emitted = 0
        for _, n, end, _ in calls[:-1]:
            emitted += n
            due = int(np.floor((end / SR - s.lookahead_s) * s.fps + 1e-9)) + 1
            late += emitted < due
        print(json.dumps({
            "part": "latency", "model": s.model.model_id, "clip": "jfk.flac", "audio_s": round(y.size / SR, 2), "body": body,
            "chunk_ms": 10, "lookahead_ms": round(1000 * s.lookahead_s, 1), "frames": len(frames),
            "calls_emitting_one_frame": len(per),
            "frame_latency_ms_median": round(1000 * statistics.median(per), 3),
            "frame_latency_ms_p99": round(1000 * float(np.percentile(per, 99)), 3),
            "frame_latency_ms_max": round(1000 * max(per), 3),
            "frame_cpu_ms_median": round(1000 * statistics.median(per_cpu), 3),
            "frame_cpu_ms_p99": round(1000 * float(np.percentile(per_cpu, 99)), 3),
            "amortised_wall_ms_per_frame": round(1000 * total / len(frames), 3),
            "amortised_cpu_ms_per_frame": round(1000 * total_cpu / len(frames), 3),
            "wall_s_per_audio_s": round(total / (y.size / SR), 4),
            "cpu_s_per_audio_s": round(total_cpu / (y.size / SR), 4),
            "calls_behind_schedule": late}))


def part_quality_neural(root: Path) -> None:
    """Streamed (20 ms chunks) against the offline fast path of the same checkpoint (module docstring)."""
    from engine.streaming.neural import offline_fast_path
    jaw = ARKIT_INDEX["jawOpen"]
    model = face_model()
    rows = []
    for rel in QUALITY_CLIPS:
        y = load_audio(root / rel).samples
        _, frames, _ = stream_frames(y, chunk=320, body=False)
        st = np.stack([f.expression for f in frames])
        lo = np.stack([f.lip_offsets_mm for f in frames])
        ref = offline_fast_path(model, y, sr=SR)
        off, off_lips = ref["expression"], ref["lip_offsets_mm"]
        mouth = np.flatnonzero(np.abs(off).max(axis=0) > 0)              # the channels the fast path drives
        out = {"part": "quality", "model": model.model_id, "clip": Path(rel).name, "audio_s": round(y.size / SR, 2),
               "frames": len(frames), "offline_frames": len(off)}
        n = min(len(st), len(off))
        # the last frames read rows past the end of the audio: the stream's final log-mel has round(d * 120)
        # rows, the offline one 4 * round(d * 30), and the rows between are silence in one, zero padding in the other
        end = n - END_FRAMES
        out["mouth_max_abs_before_end"] = float(f"{np.abs(st[:end][:, mouth] - off[:end][:, mouth]).max():.3g}")
        for tag, sl in (("all", slice(0, n)), ("after_1s", slice(int(model.fps), n))):
            a, b = st[sl, jaw], off[sl, jaw]
            mae = float(np.abs(a - b).mean())
            out[f"jaw_corr_{tag}"] = round(float(np.corrcoef(a, b)[0, 1]), 6)
            out[f"jaw_mae_{tag}"] = round(mae, 7)
            out[f"mouth_max_abs_{tag}"] = float(f"{np.abs(st[sl][:, mouth] - off[sl][:, mouth]).max():.3g}")
            err = float(np.linalg.norm(lo[sl] - off_lips[sl], axis=-1).mean())
            motion = float(np.linalg.norm(off_lips[sl], axis=-1).mean())
            out[f"lip_err_mm_{tag}"] = float(f"{err:.3g}")
            out[f"lip_err_rel_{tag}"] = float(f"{err / max(motion, 1e-12):.3g}")
        rows.append(out)
        print(json.dumps(out))
    keys = [k for k in rows[0] if k.startswith(("jaw_", "lip_", "mouth_"))]
    print(json.dumps({"part": "quality", "model": model.model_id, "clip": "MEAN",
                      **{k: float(f"{np.mean([r[k] for r in rows]):.6g}") for k in keys}}))


def part_quality(root: Path) -> None:
    if MODEL["kind"] == "neural":
        return part_quality_neural(root)
    from engine.animators.compose import LipStage
    lips = LipStage(True)
    jaw, close = ARKIT_INDEX["jawOpen"], ARKIT_INDEX["mouthClose"]
    rows = []
    for rel in QUALITY_CLIPS:
        y = load_audio(root / rel).samples
        model = EnergyFace()
        _, frames, _ = stream_frames(y, chunk=320, body=False)
        st = np.stack([f.expression for f in frames])
        off = offline_predict(model, y, sr=SR)
        out = {"part": "quality", "clip": Path(rel).name, "audio_s": round(y.size / SR, 2), "frames": len(frames)}
        for tag, sl in (("all", slice(None)), ("after_1s", slice(int(model.fps), None))):
            a, b = st[sl, jaw], off[sl, jaw]
            mae = float(np.abs(a - b).mean())
            out[f"jaw_corr_{tag}"] = round(float(np.corrcoef(a, b)[0, 1]), 4)
            out[f"jaw_mae_{tag}"] = round(mae, 4)
            out[f"jaw_mae_rel_{tag}"] = round(mae / max(float(b.mean()), 1e-9), 4)
            out[f"mouthClose_mae_{tag}"] = round(float(np.abs(st[sl, close] - off[sl, close]).mean()), 4)
            pa, _, lid = lips(st[sl])
            pb, _, _ = lips(off[sl])
            if lid is not None:
                p0, _, _ = lips(np.zeros((1, st.shape[1]), np.float32))
                err = float(np.linalg.norm(pa - pb, axis=-1).mean())
                motion = float(np.linalg.norm(pb - p0, axis=-1).mean())
                out[f"lip_err_mm_{tag}"] = round(1000 * err, 3)
                out[f"lip_err_rel_{tag}"] = round(err / max(motion, 1e-12), 4)
        rows.append(out)
        print(json.dumps(out))
    keys = [k for k in rows[0] if k.startswith(("jaw_", "lip_", "mouthClose"))]
    print(json.dumps({"part": "quality", "clip": "MEAN", **{k: round(float(np.mean([r[k] for r in rows])), 4)
                                                            for k in keys}}))


def corpus_files(root: Path):
    for src in LONG_SOURCES:
        for line in (root / src / "manifest.tsv").read_text().splitlines()[1:]:
            yield root / src / line.split("\t")[0]


def part_memory(root: Path, minutes: float) -> None:
    s = StreamingAnimator(face_model(), config=StreamConfig(body=True))
    target = int(minutes * 60 * SR)
    fed = frames = 0
    marks = []
    next_mark = 60 * SR
    t0, c0 = time.perf_counter(), time.process_time()
    rss0 = rss_mb()
    for path in corpus_files(root):
        for c in iter_audio_chunks(path, sr=SR, chunk_s=0.02):
            frames += len(s.feed(c))
            fed += c.size
            if fed >= next_mark:
                marks.append(round(rss_mb(), 1))
                next_mark += 60 * SR
            if fed >= target:
                break
        if fed >= target:
            break
    frames += len(s.flush())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"part": "memory", "model": s.model.model_id, "audio_s": round(fed / SR, 1), "frames": frames, "body": True,
                      "rss_mb_start": round(rss0, 1), "rss_mb_per_minute": marks, "peak_rss_mb": round(peak_rss_mb(), 1),
                      "cpu_s_per_audio_s": round(cpu / (fed / SR), 4), "wall_s_per_audio_s": round(wall / (fed / SR), 4),
                      "wall_s": round(wall, 1)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=("latency", "quality", "memory", "all"), default="all")
    from engine.learned.paths import default_weights_present
    ap.add_argument("--model", choices=("neural", "energy"), default="neural" if default_weights_present() else "energy",
                    help="face model (default neural when its weights exist)")
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the memory run (default 10)")
    ns = ap.parse_args()
    MODEL["kind"] = ns.model
    root = data_root()
    print(json.dumps({"machine": platform.machine(), "processor": platform.processor() or "?",
                      "cores": __import__("os").cpu_count(), "python": platform.python_version(),
                      "numpy": np.__version__}))
    if ns.part in ("latency", "all"):
        part_latency(root)
    if ns.part in ("quality", "all"):
        part_quality(root)
    if ns.part in ("memory", "all"):
        part_memory(root, ns.minutes)


if __name__ == "__main__":
    main()
