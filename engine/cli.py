"""The ``parley`` command line: animate audio to a clip, inspect, export and render clips.

Every user error is one line on stderr and exit code 2 (``ParleyError``); Ctrl-C exits 130 and leaves no
partial file. ``--progress-json`` makes ``animate`` print JSON-lines progress on stderr for the add-on.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from rigs.core.errors import ConfigError, ParleyError

log = logging.getLogger("parley")

ANIMATE_HELP = """\
Animate a voice recording: writes a clip (.npz) with 52 ARKit expression weights, lip vertices and
body joint angles. `parley modes` lists the animators; 'phonetic' (the default) works on any voice with
no training: forced alignment with --transcript, phoneme recognition without."""


def _build_parser() -> argparse.ArgumentParser:
    from engine.animators.registry import ANIMATORS, DEFAULT_MODE
    from rigs.core.emotions import EMOTIONS
    from rigs.core.version import __version__

    p = argparse.ArgumentParser(prog="parley", description="Speech-driven character animation.")
    p.add_argument("--version", action="version", version=f"parley {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    a = sub.add_parser("animate", help="audio -> motion clip", description=ANIMATE_HELP)
    a.add_argument("audio", help="wav/flac/ogg/mp3/aiff, any rate and channel count")
    a.add_argument("-o", "--output", required=True, help="clip file to write (.npz)")
    t = a.add_mutually_exclusive_group()
    t.add_argument("--transcript", help="what is said (enables forced alignment)")
    t.add_argument("--transcript-file", help="a UTF-8 text file with what is said")
    a.add_argument("--emotion", help="NAME[:INTENSITY][,NAME:INTENSITY...], e.g. joy:0.7,surprise:0.3; "
                   f"names: {', '.join(EMOTIONS)}")
    a.add_argument("--seed", type=int, default=0, help="random seed (blinks, gestures, head motion)")
    a.add_argument("--samples", type=int, default=1, help="K seeded takes (seed, seed+1, ...) written as "
                   "OUT_take01.npz ... when K > 1")
    a.add_argument("--fps", type=float, default=30.0, help="clip frame rate (default 30)")
    a.add_argument("--no-body", action="store_true", help="leave the body at rest")
    a.add_argument("--mode", default=DEFAULT_MODE, choices=ANIMATORS.names(), help="the animator (see `parley modes`)")
    a.add_argument("--model", help="a named model of the animator (learned animators)")
    a.add_argument("--checkpoint", help="a weights file for the animator (learned animators)")
    a.add_argument("--device", default="cpu", help="where learned animators run (default cpu)")
    a.add_argument("--progress-json", action="store_true", help="JSON-lines progress on stderr")

    m = sub.add_parser("modes", help="list the animators (--mode choices)")
    m.add_argument("--json", action="store_true", help="machine-readable output (for the Blender add-on)")

    i = sub.add_parser("info", help="describe a clip")
    i.add_argument("clip")
    i.add_argument("--json", action="store_true", help="machine-readable output")

    e = sub.add_parser("export", help="clip -> Live Link Face CSV, BVH or JSON")
    e.add_argument("clip")
    g = e.add_mutually_exclusive_group(required=True)
    g.add_argument("--livelink", metavar="OUT.csv", help="Live Link Face CSV (61 blendshape/rotation columns)")
    g.add_argument("--bvh", metavar="OUT.bvh", help="BVH of the canonical skeleton")
    g.add_argument("--json", metavar="OUT.json", help="JSON with meta and per-frame arrays")

    r = sub.add_parser("render", help="clip -> MP4 through Blender (Workbench, Eevee or Cycles)",
                       add_help=False)
    r.add_argument("args", nargs=argparse.REMAINDER)
    return p


def _progress_printer(enabled: bool):
    if not enabled:
        return None

    def report(stage: str, frac: float) -> None:
        sys.stderr.write(json.dumps({"stage": stage, "progress": round(float(frac), 4)}) + "\n")
        sys.stderr.flush()

    return report


class StageTimer:
    """Wall and CPU seconds of each stage an ``animate`` run reports (``progress(stage, fraction)``), logged
    at INFO (``-v``) when the run ends; the interpreter's start-up and imports are the CPU time the process
    had used before the run began. Wraps another progress callback (or none)."""

    def __init__(self, inner=None):
        import time

        self.inner, self.clock = inner, time
        self.stages: list[list] = []     # [name, wall_s, cpu_s]
        self.startup_cpu_s = time.process_time()
        self.t0 = self.t = time.perf_counter()
        self.c = time.process_time()

    def __call__(self, stage: str, frac: float) -> None:
        if not self.stages or self.stages[-1][0] != stage:
            self._close()
            self.stages.append([stage, 0.0, 0.0])
        if self.inner is not None:
            self.inner(stage, frac)

    def _close(self) -> None:
        t, c = self.clock.perf_counter(), self.clock.process_time()
        if self.stages:
            self.stages[-1][1] += t - self.t
            self.stages[-1][2] += c - self.c
        self.t, self.c = t, c

    def log(self) -> None:
        self._close()
        merged: dict[str, list[float]] = {}
        for name, wall, cpu in self.stages:
            m = merged.setdefault(name, [0.0, 0.0])
            m[0] += wall
            m[1] += cpu
        log.info("startup (interpreter and imports): %.2f s CPU", self.startup_cpu_s)
        for name, (wall, cpu) in merged.items():
            if name != "done":
                log.info("stage %-8s %6.2f s wall %6.2f s CPU", name, wall, cpu)
        log.info("run total: %.2f s wall, %.2f s CPU since start-up", self.clock.perf_counter() - self.t0,
                 self.clock.process_time())


def _cmd_animate(ns) -> int:
    from engine.runtime import AnimateRequest, animate_file, parse_emotion

    timer = StageTimer(_progress_printer(ns.progress_json))

    transcript = ns.transcript
    if ns.transcript_file:
        try:
            transcript = Path(ns.transcript_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read transcript file {ns.transcript_file}: {exc.__class__.__name__}") from None
    if transcript is not None and not transcript.strip():
        transcript = None
    req = AnimateRequest(fps=float(ns.fps), seed=int(ns.seed), emotion=parse_emotion(ns.emotion),
                         transcript=transcript, body=not ns.no_body, model=ns.model, checkpoint=ns.checkpoint,
                         device=ns.device)
    paths = animate_file(ns.audio, ns.output, mode=ns.mode, request=req, samples=ns.samples,
                         progress=timer)
    timer.log()
    for p in paths:
        print(p)
    return 0


def _cmd_modes(ns) -> int:
    from engine.animators.registry import ANIMATORS

    rows = ANIMATORS.describe()
    if ns.json:
        print(json.dumps(rows))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        note = "" if r["available"] else f"  (not available: {r['why']})"
        print(f"{r['name']:<{width}}  {r['description']}{note}")
    return 0


def describe(clip) -> dict:
    """A summary of a clip for ``parley info``."""
    import numpy as np

    expr = clip.expression
    active = np.argsort(-expr.max(axis=0))[:8]
    return {
        "schema_version": clip.meta.get("schema_version"),
        "engine_version": clip.meta.get("engine_version"),
        "mode": clip.meta.get("mode"),
        "model_ids": clip.meta.get("model_ids"),
        "duration_s": round(clip.duration_s, 4),
        "fps": clip.fps,
        "frames": clip.num_frames,
        "seed": clip.meta.get("seed"),
        "emotion": clip.meta.get("emotion"),
        "source_audio": clip.meta.get("source_audio"),
        "source_sha256": clip.meta.get("source_sha256"),
        "sample_rate": clip.meta.get("sample_rate"),
        "expression_channels": len(clip.expression_names),
        "most_active": {clip.expression_names[i]: round(float(expr[:, i].max()), 3) for i in active
                        if expr[:, i].max() > 0},
        "joints": len(clip.joint_names),
        "max_joint_angle_deg": round(float(np.degrees(np.linalg.norm(clip.joint_angles, axis=-1).max())), 2),
        "lip_vertices": int(clip.lip_vertex_ids.shape[0]),
        "template_id": clip.meta.get("template_id"),
        "phonemes": None if clip.phonemes is None else len(clip.phonemes),
    }


def _cmd_info(ns) -> int:
    from rigs.core.clip import load_clip

    info = describe(load_clip(ns.clip))
    if ns.json:
        print(json.dumps(info, indent=1))
    else:
        width = max(len(k) for k in info)
        for k, v in info.items():
            if isinstance(v, dict):
                v = ", ".join(f"{a}={b}" for a, b in v.items()) or "-"
            print(f"{k:<{width}}  {v if v is not None else '-'}")
    return 0


def _cmd_export(ns) -> int:
    from rigs.formats import bvh, livelink, motion_json
    from rigs.core.clip import load_clip

    clip = load_clip(ns.clip)
    if ns.livelink:
        out = livelink.export_livelink_csv(clip, ns.livelink)
    elif ns.bvh:
        out = bvh.export_bvh(clip, ns.bvh)
    else:
        out = motion_json.export_json(clip, ns.json)
    print(out)
    return 0


def _cmd_render(ns) -> int:
    """Hand ``render`` to the Blender layer's own command line in a child process (engine never imports bpy)."""
    import importlib.util
    import subprocess

    if importlib.util.find_spec("bpy") is None:
        raise ParleyError("rendering needs Blender as a Python module (pip install bpy==5.0.1)")
    return subprocess.call([sys.executable, "-m", "addon.blender.cli", "render", *ns.args])


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    if argv[:1] == ["render"]:  # everything after 'render' belongs to the renderer's own parser
        ns = argparse.Namespace(command="render", args=argv[1:], verbose=0)
    else:
        ns = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(ns.verbose, 2)
    logging.basicConfig(level=level, format="parley: %(levelname)s: %(message)s", stream=sys.stderr)
    handlers = {"animate": _cmd_animate, "modes": _cmd_modes, "info": _cmd_info, "export": _cmd_export,
                "render": _cmd_render}
    try:
        return handlers[ns.command](ns)
    except ParleyError as exc:
        sys.stderr.write(f"parley: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("parley: interrupted\n")
        return 130
    except BrokenPipeError:  # e.g. `parley info clip.npz | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except MemoryError:
        sys.stderr.write("parley: error: out of memory\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
