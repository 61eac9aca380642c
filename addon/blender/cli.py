"""The Blender layer's command line: ``python -m addon.blender.cli render|rig ...`` (bpy).

``parley render`` (the engine's CLI, which never imports bpy) runs ``render`` here in a child process, as
the add-on runs ``python -m engine animate``: Blender's own output stays in that process and a crash in
Blender cannot take the caller with it. ``build.py rig`` runs ``rig``. Errors: one line
``parley: error: ...`` on stderr and exit 2 (bad options included); Ctrl-C, SIGTERM and SIGHUP remove the
temporary video, keep the old one and exit 128 + the signal number (:mod:`rigs.core.signals`); progress as
JSON lines on stderr (``{"stage": "scene"|"render", "progress": 0..1}``, render lines also with ``frame``,
``of`` and ``elapsed_s``), which the parent draws as a progress bar (:mod:`engine.console`); the result as
one JSON line on stdout (Blender prints its own lines there too: the parent keeps the last JSON object).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from ..vocab import errors, files, signals
from .encode import ENGINES, MAX_SIDE_PX, check_resolution
from .scene import FRAMINGS


class _Parser(argparse.ArgumentParser):
    """argparse with Parley's one error line (``parley: error: ...``, exit 2)."""

    def error(self, message: str):
        self.exit(2, f"parley: error: {errors.one_line(message)} (see `{self.prog} --help`)\n")


def _parse_resolution(s: str) -> tuple[int, int]:
    try:
        a, b = s.lower().split("x")
        w, h = int(a), int(b)
    except ValueError:
        raise argparse.ArgumentTypeError(f"resolution must look like 1280x720, got {s!r}") from None
    try:
        return check_resolution(w, h)
    except errors.RenderError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def render_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="parley render", description="Render a clip on a rig to an MP4 (H.264 + AAC).")
    ap.add_argument("clip", help="clip .npz")
    ap.add_argument("--audio", help="audio file to mux (without it: a silent video, with a warning)")
    ap.add_argument("-o", "--out", required=True, help="output .mp4")
    ap.add_argument("--engine", choices=sorted(ENGINES), default="workbench")
    ap.add_argument("--rig", default="demo", help="'demo' or a .blend file with the rig")
    ap.add_argument("--camera", choices=sorted(FRAMINGS), default="face",
                    help="framing; 'cuts' edits between upper-body and face shots in the pauses")
    ap.add_argument("--resolution", type=_parse_resolution, default=(1280, 720),
                    help=f"WIDTHxHEIGHT, even, at most {MAX_SIDE_PX} a side (default 1280x720)")
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--material", choices=("grey", "skin"), default="grey", help="demo rig material")
    ap.add_argument("--side-by-side", dest="side_by_side", metavar="CLIP_B", help="second clip beside the first")
    ap.add_argument("--no-labels", dest="labels", action="store_false", help="no A/B labels in side-by-side")
    ap.add_argument("-v", "--verbose", action="count", default=0,
                    help="show Blender's own output as it comes (else only when the render fails)")
    ap.add_argument("--progress-json", action="store_true",
                    help="progress as JSON lines on stderr instead of a progress bar")
    return ap


def _render(argv) -> int:
    from .scene import render_clip

    a = render_parser().parse_args(argv)
    t0 = time.perf_counter()

    def report(stage: str, fraction: float, **extra) -> None:
        print(json.dumps({"stage": stage, "progress": round(float(fraction), 4), **extra}), file=sys.stderr,
              flush=True)

    def progress(i: int, n: int) -> None:
        report("render", i / max(1, n), frame=i, of=n, elapsed_s=round(time.perf_counter() - t0, 3))

    report("scene", 0.0)

    r = render_clip(a.clip, audio=a.audio, out=a.out, engine=a.engine, rig=a.rig, camera=a.camera,
                    resolution=a.resolution, samples=a.samples, side_by_side=a.side_by_side,
                    labels=a.labels, material=a.material, progress=progress)
    for w in r.warnings:
        print(json.dumps({"warning": w}), file=sys.stderr, flush=True)
    print(json.dumps({"out": str(r.path), "frames": r.frames, "fps": r.fps, "seconds": round(r.seconds, 2),
                      "audio": r.has_audio, "warnings": list(r.warnings)}))
    return 0


def _rig(argv) -> int:
    from .demo_character import build
    from .geometry import COLOURS

    ap = _Parser(prog="parley rig", description="Build the Parley demo character (.blend).")
    ap.add_argument("out", nargs="?", default="demo_character.blend", help="output .blend path")
    ap.add_argument("--material", choices=sorted(COLOURS), default="grey")
    a = ap.parse_args(argv)
    files.check_output(a.out, suffixes=(".blend",))
    print(build(a.out, material=a.material))
    return 0


COMMANDS = {"render": _render, "rig": _rig}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        sys.stderr.write(f"parley: error: give one of: {', '.join(COMMANDS)}\n")
        return 2
    try:
        with signals.handle_signals():
            return COMMANDS[argv[0]](argv[1:])
    except (errors.ParleyError, KeyboardInterrupt, OSError) as e:  # Interrupted is a KeyboardInterrupt
        line, code = signals.exit_report(e)
        sys.stderr.write(line + "\n")
        return code

if __name__ == "__main__":
    sys.exit(main())
