"""Speed of a whole ``parley animate`` process on 60 s of speech: start-up, imports, every stage and the write.

The audio is held-out LJ Speech clips (``references.corpus_selection``'s held-out half, then the following
clips of the manifest) joined to at least ``--seconds`` (60) and written as 16 kHz wav with their transcript.
``python -m engine -v animate`` runs in a child process with and without the transcript, ``--repeats``
times each; reported: median wall seconds, CPU seconds of the child (user + system, ``os.wait4``), real-time
factor on wall time (audio s / wall s: what a user waits for, the issue's measure on 2 cores) and the
stage timings the engine logs with ``-v`` for the median run. The load average before and after is printed:
on a shared machine the wall figures are only as good as the load they were taken under.

Run: ``.venv/bin/python bench/bench_speed.py [--seconds 60] [--repeats 3]``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from references import HELD_OUT, corpus_selection  # noqa: E402

TARGET_X_REAL_TIME = 50.0


def build_speech(path: Path, seconds: float) -> tuple[float, str]:
    """Join held-out LJ Speech clips into ``path`` (16 kHz wav); returns (duration_s, transcript)."""
    import numpy as np
    import soundfile as sf

    from engine.audio.load import load_audio
    from rigs.core.files import data_root

    items = [i for i in corpus_selection(data_root()) if i.corpus == "ljspeech_part" and i.split == HELD_OUT]
    parts, texts, total = [], [], 0.0
    for it in items:
        a = load_audio(it.path, sr=16000)
        parts.append(a.samples)
        texts.append(it.text)
        total += a.duration_s
        if total >= seconds:
            break
    sf.write(path, np.concatenate(parts), 16000, subtype="PCM_16")
    return total, " ".join(texts)


def run_once(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """(wall s, CPU s (user + system) of the child, its stderr) of one run."""
    r0, t0 = os.times(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall, r1 = time.perf_counter() - t0, os.times()
    if proc.returncode != 0:
        raise SystemExit(f"animate failed ({proc.returncode}): {proc.stderr[-2000:]}")
    cpu = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    return wall, cpu, proc.stderr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mode", default="phonetic", help="animator mode (the phonetic engine is what issue 9 times)")
    ap.add_argument("--acoustic", choices=("auto", "neural", "sphinx"), default="auto",
                    help="phone timing of the phonetic engine (--model neural|sphinx in the child)")
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory() as tmp:
        wav, txt, out = Path(tmp) / "speech.wav", Path(tmp) / "speech.txt", Path(tmp) / "clip.npz"
        duration_s, text = build_speech(wav, args.seconds)
        txt.write_text(text, encoding="utf-8")
        print(f"{duration_s:.1f} s of held-out LJ Speech; mode {args.mode}, acoustic {args.acoustic}; "
              f"load average before: {os.getloadavg()}")
        print("| run | wall s (median) | CPU s | x real time (wall) | target |")
        print("|---|---|---|---|---|")
        logs = {}
        for name, extra in (("with transcript", ["--transcript-file", str(txt)]), ("no transcript", [])):
            cmd = [sys.executable, "-m", "engine", "-v", "animate", str(wav), "-o", str(out), "--mode", args.mode,
                   *(["--model", args.acoustic] if args.acoustic != "auto" else []), *extra]
            runs = [run_once(cmd, env) for _ in range(args.repeats)]
            runs.sort(key=lambda r: r[0])
            wall, cpu, err = runs[len(runs) // 2]
            logs[name] = [ln for ln in err.splitlines() if "INFO:" in ln and ("stage" in ln or "startup" in ln
                                                                             or "total" in ln)]
            print(f"| {name} | {wall:.2f} | {cpu:.2f} | {duration_s / wall:.1f}x | >= {TARGET_X_REAL_TIME:g}x |")
        for name, lines in logs.items():
            print(f"\nstages, {name} (median run):")
            for ln in lines:
                print("   " + ln.split("INFO: ", 1)[-1])
        print(f"\nload average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
