"""Benchmark: apply a 60 s clip (52 shape keys + all 25 bones, 30 fps) to the demo rig. Target < 1 s.

Prints JSON figures: build time of the rig, bake time (median of 3 fresh scenes), keys written.
Run: .venv/bin/python bench/bench_apply.py
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def main() -> None:
    import bpy

    from addon.blender.bake import bake_clip
    from rigs.core.clip import neutral_clip
    from addon.blender.demo_character import build

    tmp = Path(tempfile.mkdtemp()) / "demo.blend"
    t0 = time.perf_counter()
    build(tmp)
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    c = neutral_clip(60.0, fps=30)
    c.expression[:] = rng.uniform(0, 1, c.expression.shape).astype(np.float32)
    c.joint_angles[:] = rng.normal(0, 0.1, c.joint_angles.shape).astype(np.float32)
    times, r = [], None
    for _ in range(3):
        bpy.ops.wm.open_mainfile(filepath=str(tmp))
        bpy.context.scene.render.fps = 30
        t0 = time.perf_counter()
        r = bake_clip(c)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"bench": "apply", "clip_s": 60.0, "fps": 30, "shape_key_channels": len(r.shape_keys),
                      "bones": len(r.bones), "keys": r.num_keys, "bake_s_median": round(statistics.median(times), 3),
                      "bake_s_all": [round(t, 3) for t in times], "target_s": 1.0,
                      "pass": statistics.median(times) < 1.0, "demo_rig_build_s": round(build_s, 2)}))


if __name__ == "__main__":
    main()
