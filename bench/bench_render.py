"""Benchmark: render 10 s of 640x360 with Workbench (target < 60 s on 2 cores), and Eevee headless.

Workbench: default anti-aliasing (FXAA) and 8x multi-sampling. Eevee: whether it works at all without a
GPU, the first frame's time (shader compilation) and the steady per-frame time on a short clip.
Prints one JSON line per run. Run: .venv/bin/python bench/bench_render.py [--skip-eevee] [--seconds 10]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def _clip(duration_s: float):
    from rigs.core.clip import neutral_clip
    from rigs.core.arkit import ARKIT_INDEX

    c = neutral_clip(duration_s, fps=30)
    t = c.times_s()
    c.expression[:, ARKIT_INDEX["jawOpen"]] = 0.5 - 0.5 * np.cos(2 * np.pi * 2.5 * t)
    c.joint_angles[:, c.joint_names.index("head"), 1] = 0.2 * np.sin(t)
    return c


def run(engine: str, seconds: float, samples, rig: Path, out_dir: Path) -> dict:
    from addon.blender.scene import render_clip

    stamps = []
    t0 = time.perf_counter()
    try:
        r = render_clip(_clip(seconds), out=out_dir / f"{engine}.mp4", engine=engine, rig=rig,
                        camera="upper-body", resolution=(640, 360), samples=samples,
                        progress=lambda i, n: stamps.append(time.perf_counter()))
    except Exception as e:  # report, do not crash the benchmark
        return {"engine": engine, "works": False, "error": f"{type(e).__name__}: {e}"}
    total = time.perf_counter() - t0
    first = stamps[0] - t0 if stamps else None
    steady = (stamps[-1] - stamps[0]) / max(1, len(stamps) - 1) if len(stamps) > 1 else None
    return {"engine": engine, "works": True, "seconds_of_video": seconds, "frames": r.frames,
            "samples": samples, "total_s": round(total, 2), "first_frame_s": round(first, 2),
            "per_frame_s": round(steady, 3) if steady else None, "cpus": os.cpu_count()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--eevee-seconds", type=float, default=1.0)
    ap.add_argument("--skip-eevee", action="store_true")
    a = ap.parse_args(argv)
    from addon.blender.demo_character import build

    tmp = Path(tempfile.mkdtemp())
    rig = build(tmp / "demo.blend")
    res = run("workbench", a.seconds, None, rig, tmp)
    res.update(target_s=60.0, **{"pass": res.get("total_s", 1e9) < 60.0})
    print(json.dumps(res), flush=True)
    print(json.dumps(run("workbench", a.seconds, 8, rig, tmp)), flush=True)
    if not a.skip_eevee:
        print(json.dumps(run("eevee", a.eevee_seconds, 16, rig, tmp)), flush=True)


if __name__ == "__main__":
    main()
