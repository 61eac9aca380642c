"""How the cost of ``parley animate`` grows with the length of the recording, per stage, at 1 and 2 threads.

Inputs: LJ Speech utterances of ``$PARLEY_DATA/speech_corpus/ljspeech_part`` in manifest order, joined into
16 kHz wavs of about 10 s, 60 s and 600 s (``--lengths``; whole utterances, so each file is at least the
length asked for, cycling the corpus if it runs out). One speaker throughout, so lengths differ in amount of
speech, not in kind. For each mode (``neural``, the default animator, and ``phonetic``; both without a
transcript, so ``phonetic`` runs recognition) and each thread count (``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` set in the child; torch reads them at start-up),
``python -m engine -v animate IN -o OUT.npz`` runs once in a child process. Reported per run: wall seconds,
CPU seconds of the child (user + system from ``os.wait4``, its own children included), CPU seconds per audio
second, peak resident memory (``ru_maxrss`` of that child) and the CPU seconds of each stage the engine logs
with ``-v``, divided by the audio seconds (start-up: interpreter and imports, a fixed cost).

The RMS baseline (``scoring.rms_expression``: ``jawOpen = RMS / p98``, features from
``engine.audio.prosody.analyze`` without Silero) is timed in this process on the same files: load + features +
baseline, CPU seconds of this process; its memory is the peak of traced Python/numpy allocations
(``tracemalloc``, a second pass), not a resident-set figure, so it is not comparable to the child's RSS.

A "growth" line per mode: CPU per audio second at the longest length / at the shortest (1.0 = linear; start-up
and model loading make short files dearer per second, so below 1 is expected), the marginal CPU per audio
second between the two longest lengths (the fixed costs cancel: linear cost means this is constant), and peak RSS at the longest / at the second length
(1.0 = memory flat beyond a chunk).

Run: ``nice -n 10 .venv/bin/python bench/bench_scale.py [--lengths 10,60,600] [--threads 1,2]
[--modes neural,phonetic] [--skip phonetic:600:1] [--json F]``; ``--from-json F`` re-prints a saved run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


SR = 16000
FPS = 30.0
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
STAGE_RE = re.compile(r"stage (\S+)\s+([\d.]+) s wall\s+([\d.]+) s CPU")
STARTUP_RE = re.compile(r"startup \(interpreter and imports\): ([\d.]+) s CPU")


@dataclass
class Run:
    mode: str
    threads: int
    audio_s: float
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    stage_cpu_s: dict[str, float] = field(default_factory=dict)   # "startup" + every stage the engine logs

    @property
    def cpu_per_audio_s(self) -> float:
        return self.cpu_s / self.audio_s


def build_input(path: Path, seconds: float) -> float:
    """Write whole LJ Speech utterances (manifest order, cycled) to ``path`` until >= ``seconds``; duration s."""
    import numpy as np
    import soundfile as sf

    from engine.audio.load import load_audio
    from engine.training.corpus.selection import read_manifest_tsv
    from rigs.core.files import data_root

    folder = data_root() / "speech_corpus" / "ljspeech_part"
    rows = read_manifest_tsv(folder)
    n, k = 0, 0
    with sf.SoundFile(str(path), "w", samplerate=SR, channels=1, subtype="PCM_16") as f:
        while n < seconds * SR:
            y = load_audio(folder / rows[k % len(rows)]["path"], sr=SR).samples
            f.write(np.asarray(y, np.float32))
            n += y.size
            k += 1
    return n / SR


def parse_stages(stderr: str) -> dict[str, float]:
    """CPU seconds of start-up and of each stage from the engine's ``-v`` log."""
    out: dict[str, float] = {}
    m = STARTUP_RE.search(stderr)
    if m:
        out["startup"] = float(m.group(1))
    for name, _wall, cpu in STAGE_RE.findall(stderr):
        out[name] = out.get(name, 0.0) + float(cpu)
    return out


def run_child(wav: Path, out: Path, *, mode: str, threads: int, audio_s: float) -> Run:
    """One ``python -m engine -v animate`` in a child pinned to ``threads`` math threads."""
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "engine", "-v", "animate", str(wav), "-o", str(out), "--mode", mode]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err_f:
        proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=err_f)
        _, status, ru = os.wait4(proc.pid, 0)     # this child's own rusage, not earlier runs' peaks
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err_f.seek(0)
        err = err_f.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise SystemExit(f"animate --mode {mode} failed ({proc.returncode}):\n{err[-3000:]}")
    return Run(mode, threads, audio_s, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0, parse_stages(err))


def run_rms(wav: Path, audio_s: float) -> Run:
    """The RMS baseline in this process: CPU of load + features + baseline, then peak traced MB (2nd pass)."""
    import tracemalloc

    import numpy as np
    from scoring import rms_expression

    from engine.audio.load import load_audio
    from engine.audio.prosody import FeatureConfig, analyze
    from rigs.core.arkit import ARKIT_INDEX

    def once() -> tuple[float, float]:
        c0 = time.process_time()
        audio = load_audio(wav, sr=SR)
        c1 = time.process_time()
        rms = np.asarray(analyze(audio, fps=FPS, config=FeatureConfig(use_silero=False)).rms)
        rms_expression(rms, ARKIT_INDEX["jawOpen"])
        return c1 - c0, time.process_time() - c1

    t0 = time.perf_counter()
    load_s, feat_s = once()
    wall = time.perf_counter() - t0
    tracemalloc.start()
    try:
        once()
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    return Run("rms", 1, audio_s, wall, load_s + feat_s, peak, {"load": load_s, "rms features": feat_s})


def growth(runs: list[Run], mode: str, threads: int) -> str | None:
    """The growth line of one mode and thread count, or None with fewer than two lengths."""
    by = {round(r.audio_s): r for r in runs if r.mode == mode and r.threads == threads}
    keys = sorted(by)
    if len(keys) < 2:
        return None
    lo, hi = by[keys[0]], by[keys[-1]]
    txt = (f"growth {mode}, {threads} thread(s): CPU per audio s at {keys[-1]} s / at {keys[0]} s = "
           f"{hi.cpu_per_audio_s / lo.cpu_per_audio_s:.2f}")
    if "startup" in lo.stage_cpu_s and "startup" in hi.stage_cpu_s:
        def per_s(r: Run) -> float:
            return (r.cpu_s - r.stage_cpu_s["startup"]) / r.audio_s
        txt += f" (without start-up: {per_s(hi) / per_s(lo):.2f})"
    a, b = by[keys[-2]], hi
    marginal = (b.cpu_s - a.cpu_s) / (b.audio_s - a.audio_s)
    txt += f"; marginal CPU per audio s from {keys[-2]} s to {keys[-1]} s = {marginal:.4f}"
    if len(keys) >= 3:
        mid = by[keys[1]]
        txt += f"; peak memory at {keys[-1]} s / at {keys[1]} s = {hi.peak_rss_mb / mid.peak_rss_mb:.2f}"
    return txt


def table(runs: list[Run]) -> str:
    """The Markdown table: one row a run, one column a stage (CPU s per audio s)."""
    stages = ["startup"]
    for r in runs:
        for s in r.stage_cpu_s:
            if s not in stages:
                stages.append(s)
    head = (["mode", "threads", "audio s", "wall s", "CPU s", "CPU s / audio s", "peak MB"]
            + [f"{s} CPU/audio s" for s in stages if any(s in r.stage_cpu_s for r in runs)])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in runs:
        mem = f"{r.peak_rss_mb:.0f}" + (" (traced)" if r.mode == "rms" else "")
        cells = [r.mode, str(r.threads) if r.mode != "rms" else "1 (in process)", f"{r.audio_s:.1f}",
                 f"{r.wall_s:.2f}", f"{r.cpu_s:.2f}", f"{r.cpu_per_audio_s:.4f}", mem]
        cells += [f"{r.stage_cpu_s[s] / r.audio_s:.4f}" if s in r.stage_cpu_s else "-" for s in stages
                  if any(s in x.stage_cpu_s for x in runs)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(runs: list[Run]) -> None:
    """Print the table and the growth lines of ``runs``."""
    print()
    print(table(runs))
    print()
    for mode in dict.fromkeys(r.mode for r in runs):
        for n in sorted({r.threads for r in runs if r.mode == mode}):
            g = growth(runs, mode, n)
            if g:
                print(g)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="10,60,600", help="input lengths in seconds (default 10,60,600)")
    ap.add_argument("--threads", default="1,2", help="math thread counts of the child (default 1,2)")
    ap.add_argument("--modes", default="neural,phonetic", help="animators (default neural,phonetic)")
    ap.add_argument("--skip", action="append", default=[], metavar="MODE:LENGTH:THREADS",
                    help="leave one run out (repeatable), e.g. phonetic:600:1")
    ap.add_argument("--json", metavar="F", help="also write the runs as JSON to F")
    ap.add_argument("--from-json", metavar="F", help="run nothing: print the table and growth of runs saved by --json")
    ns = ap.parse_args(argv)
    if ns.from_json:
        saved = json.loads(Path(ns.from_json).read_text(encoding="utf-8"))
        report([Run(**{k: v for k, v in d.items() if k != "cpu_per_audio_s"}) for d in saved])
        return 0
    lengths = [float(x) for x in ns.lengths.split(",")]
    threads = [int(x) for x in ns.threads.split(",")]
    modes = [m.strip() for m in ns.modes.split(",") if m.strip()]
    skip = {tuple(s.split(":")) for s in ns.skip}

    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}; load average before: {os.getloadavg()}", flush=True)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="parley-scale-") as tmp:
        for length in lengths:
            wav = Path(tmp) / f"speech_{length:g}s.wav"
            audio_s = build_input(wav, length)
            runs.append(run_rms(wav, audio_s))
            for mode in modes:
                for n in threads:
                    if (mode, f"{length:g}", str(n)) in skip:
                        print(f"skipped {mode} {length:g} s {n} thread(s)", flush=True)
                        continue
                    r = run_child(wav, Path(tmp) / "clip.npz", mode=mode, threads=n, audio_s=audio_s)
                    runs.append(r)
                    print(f"  {mode:<9} {audio_s:6.1f} s audio, {n} thread(s): {r.wall_s:7.1f} s wall "
                          f"{r.cpu_s:7.1f} s CPU {r.peak_rss_mb:6.0f} MB", flush=True)
    report(runs)
    print(f"\nload average after: {os.getloadavg()}")
    if ns.json:
        Path(ns.json).write_text(json.dumps([{**asdict(r), "cpu_per_audio_s": r.cpu_per_audio_s} for r in runs],
                                            indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
