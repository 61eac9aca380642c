"""Long-recording benchmark: peak memory and speed of the whole ``parley animate`` on an hour of speech.

Issue 3 asks that long files be processed in chunks so memory stays flat: a one-hour recording must not
need more than about 1 GB. This script builds a long speech file on disk (the shipped speech clips,
jfk.flac and the LibriVox sentences, cycled with short pauses, written block by block as 16-bit PCM wav
at ``--sr``), runs ``python -m engine.cli animate`` on it in a subprocess, without and with a transcript
(the clips' texts in the same order), and prints for each run: peak resident memory of the child
(``os.wait4`` rusage ``ru_maxrss``, i.e. that one process, not the benchmark), wall and CPU seconds
(user + system of the child and its own children), the real-time factor (audio s / CPU s) and the size
of the clip written. Math libraries are pinned to one thread, as in ``bench_lipsync.py``.

With a transcript, recordings longer than ``PhoneticsConfig.chunk_align_s`` (90 s) are force-aligned
chunk by chunk (cut at pauses), so the "transcript" run measures chunked alignment; any warnings the
engine logs (e.g. a chunk falling back to recognition) are printed under the run.

Run: ``.venv/bin/python bench/bench_long.py [--minutes 60] [--sr 16000] [--no-transcript] [--keep DIR]``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

JFK_TEXT = ("And so my fellow Americans, ask not what your country can do for you, "
            "ask what you can do for your country.")


def source_clips(data: Path, sr: int) -> list[tuple[np.ndarray, str]]:
    """[(samples (n,) float32 mono at sr, text)] of jfk.flac and the LibriVox clips with a .txt."""
    from engine.audio.load import load_audio

    sp = data / "speech"
    out = [(load_audio(sp / "jfk.flac", sr=sr).samples, JFK_TEXT)]
    lv = sp / "pocketsphinx" / "librivox"
    for wav in sorted(lv.glob("*.wav")):
        txt = wav.with_suffix(".txt")
        if txt.is_file():
            out.append((load_audio(wav, sr=sr).samples, " ".join(txt.read_text(encoding="utf-8").split())))
    return out


def build_long_wav(path: Path, *, minutes: float, sr: int, pause_s: float = 0.6) -> tuple[float, str]:
    """Write at most ``minutes`` of whole cycled speech clips to ``path`` (16-bit wav).

    Returns (duration_s, transcript)."""
    import soundfile as sf
    from rigs.core.files import data_root

    clips = source_clips(data_root(), sr)
    target = int(round(minutes * 60.0 * sr))
    pause = np.zeros(int(round(pause_s * sr)), np.float32)
    rng = np.random.default_rng(0)
    words: list[str] = []
    n = 0
    k = 0
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        while True:
            y, text = clips[k % len(clips)]
            k += 1
            # a little room noise in the pauses so they are not digital silence
            block = np.concatenate([y, pause + rng.normal(0, 3e-4, pause.size).astype(np.float32)])
            if n + block.size > target:   # whole clips only, so the transcript matches exactly
                break
            f.write(block)
            n += block.size
            words.append(text)
    return n / float(sr), " ".join(words)


def run_animate(wav: Path, out: Path, transcript: Path | None, mode: str = "phonetic") -> dict:
    """Run ``parley animate`` in a child; returns its peak RSS (MB), wall and CPU seconds."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "engine.cli", "animate", str(wav), "-o", str(out), "--mode", mode]
    if transcript is not None:
        cmd += ["--transcript-file", str(transcript)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # wait4 gives this child's own rusage (RUSAGE_CHILDREN would mix in earlier runs' peaks)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stdout.close()
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"parley animate failed ({proc.returncode}):\n{err[-3000:]}")
    warnings = [ln for ln in err.splitlines() if "WARNING" in ln or "warning" in ln]
    # ru_maxrss is in KiB on Linux; CPU includes the child's own children (ffmpeg, espeak)
    cpu = ru.ru_utime + ru.ru_stime
    return {"peak_rss_mb": ru.ru_maxrss / 1024.0, "wall_s": wall, "cpu_s": cpu,
            "clip_mb": out.stat().st_size / 1e6, "warnings": warnings}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="length of the generated recording (default 60)")
    ap.add_argument("--sr", type=int, default=16000, help="sample rate of the generated wav (default 16000)")
    ap.add_argument("--no-transcript", action="store_true", help="skip the run with a transcript")
    ap.add_argument("--only-transcript", action="store_true", help="skip the run without a transcript")
    ap.add_argument("--mode", default="phonetic", help="animator mode (default phonetic: the engine this measures)")
    ap.add_argument("--keep", metavar="DIR", help="build the files in DIR and keep them (default: a temp dir)")
    ns = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="parley-long-") as tmp:
        d = Path(ns.keep) if ns.keep else Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        wav = d / f"long_{ns.minutes:g}min_{ns.sr}.wav"
        t0 = time.perf_counter()
        dur, text = build_long_wav(wav, minutes=ns.minutes, sr=ns.sr)
        txt = d / "transcript.txt"
        txt.write_text(text + "\n", encoding="utf-8")
        print(f"built {wav.name}: {dur / 60:.1f} min at {ns.sr} Hz, {wav.stat().st_size / 1e6:.0f} MB, "
              f"{len(text.split())} transcript words ({time.perf_counter() - t0:.1f} s)", flush=True)
        runs = []
        if not ns.only_transcript:
            runs.append(("no transcript", None))
        if not ns.no_transcript:
            runs.append(("transcript", txt))
        print(f"{'run':<14} {'peak RSS MB':>11} {'wall s':>8} {'CPU s':>8} {'x real time':>11} {'clip MB':>8}")
        for name, tr in runs:
            r = run_animate(wav, d / f"clip_{name.replace(' ', '_')}.npz", tr, ns.mode)
            print(f"{name:<14} {r['peak_rss_mb']:11.0f} {r['wall_s']:8.1f} {r['cpu_s']:8.1f} "
                  f"{dur / max(r['cpu_s'], 1e-9):11.1f} {r['clip_mb']:8.0f}", flush=True)
            for w in r["warnings"][:3]:
                print(f"    {w.strip()[:160]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
