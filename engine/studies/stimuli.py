"""The videos and audio raters see: each system's clip rendered on the same character, camera and light,
then every stimulus derived from those renders with ffmpeg, blinded and stripped of metadata.

Renders run ``python -m engine render CLIP ...`` in child processes (what ``parley render`` does; the engine
never imports bpy), silent (the page plays one audio track for both videos), ``jobs`` at a time. A
stimulus is then cut from its render (:func:`stimulus_command`):

* ``intact``: the render as it is;
* ``shifted``: the motion :data:`~engine.studies.design.SHIFT_S` late (the first frame held), cut to length;
* ``frozen``: one frame from the middle held for the whole utterance;
* ``mismatched``: another utterance's motion, cut or held on its last frame to this utterance's length.

Every stimulus is encoded the same way (H.264, yuv420p, no audio, no metadata), so none stands out by its
encoding. Audio files are copied as 16-bit PCM WAV without metadata. ffmpeg reads plain local files only
(``file:`` names, the file protocol alone).

References: FFmpeg filters documentation (``tpad``, ``trim``, ``setpts``); Blender-side rendering in
:mod:`addon.blender.scene` (run as ``parley render``).
"""
from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.studies.design import SHIFT_S
from rigs.core.errors import ConfigError, RenderError

log = logging.getLogger(__name__)

DEFAULT_RESOLUTION = (640, 360)
# the renderer's choices (addon.blender.encode.ENGINES, addon.blender.scene.FRAMINGS; the engine cannot import
# the Blender layer, tests/test_study.py checks these match), so a bad option fails before any animating
RENDER_ENGINES = ("workbench", "eevee", "cycles")
CAMERAS = ("face", "upper-body", "full", "cuts")
MATERIALS = ("grey", "skin")
VIDEO_ARGS = ("-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", "-crf", "20",
              "-movflags", "+faststart", "-map_metadata", "-1", "-fflags", "+bitexact")
AUDIO_ARGS = ("-vn", "-c:a", "pcm_s16le", "-map_metadata", "-1", "-fflags", "+bitexact")
POLL_S = 0.05
STOP_TIMEOUT_S = 60.0      # a stopped child gets this long to clean up (a render removes its temp video)
ERROR_LINES = 12           # of a failed child's output shown in the error


@dataclass(frozen=True)
class RenderConfig:
    """How every stimulus is rendered (the same character, camera and light for all systems)."""

    engine: str = "workbench"
    resolution: tuple[int, int] = DEFAULT_RESOLUTION
    camera: str = "face"
    material: str = "grey"
    jobs: int = 1


def render_command(clip: Path, out: Path, config: RenderConfig) -> list[str]:
    """``python -m engine render`` of ``clip`` to the silent video ``out``."""
    w, h = config.resolution
    return [sys.executable, "-m", "engine", "render", str(clip), "-o", str(out), "--engine", config.engine,
            "--resolution", f"{w}x{h}", "--camera", config.camera, "--material", config.material, "--progress-json"]


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise ConfigError("making a study needs ffmpeg (apt-get install ffmpeg)")
    return exe


def _input(path: Path) -> list[str]:
    return ["-protocol_whitelist", "file", "-i", f"file:{Path(path).resolve()}"]


def stimulus_command(render: Path, out: Path, *, condition: str, duration_s: float) -> list[str]:
    """The ffmpeg command that cuts the stimulus ``out`` of ``condition`` from ``render``, ``duration_s`` long."""
    d = f"{duration_s:.4f}"
    if condition == "intact":
        vf = "setpts=PTS-STARTPTS"
    elif condition == "shifted":
        vf = f"tpad=start_duration={SHIFT_S:g}:start_mode=clone,trim=duration={d},setpts=PTS-STARTPTS"
    elif condition == "frozen":
        vf = (f"trim=start={0.5 * duration_s:.4f},setpts=PTS-STARTPTS,trim=end_frame=1,"
              f"tpad=stop_duration={d}:stop_mode=clone,trim=duration={d}")
    elif condition == "mismatched":
        vf = f"tpad=stop_duration={d}:stop_mode=clone,trim=duration={d},setpts=PTS-STARTPTS"
    else:
        raise ValueError(f"unknown condition {condition!r}")
    return [_ffmpeg(), "-nostdin", "-v", "error", "-y", *_input(render), "-vf", vf, *VIDEO_ARGS,
            f"file:{Path(out).resolve()}"]


def audio_command(src: Path, out: Path) -> list[str]:
    """The ffmpeg command that copies ``src``'s audio to the WAV ``out`` without metadata."""
    return [_ffmpeg(), "-nostdin", "-v", "error", "-y", *_input(src), *AUDIO_ARGS, f"file:{Path(out).resolve()}"]


def run_commands(commands: list[tuple[str, list[str]]], *, jobs: int = 1,
                 progress: Callable[[int, int], None] | None = None) -> None:
    """Run each ``(label, argv)``, at most ``jobs`` at once, with their output captured.

    The first failure stops the others and raises RenderError naming ``label`` with the child's error
    lines (``parley: error: ...``) or its last lines. A signal here (Ctrl-C, SIGTERM) stops every child
    with SIGTERM, gives it :data:`STOP_TIMEOUT_S` to clean up, and is raised again."""
    pending = list(commands)
    running: dict[subprocess.Popen, tuple[str, object]] = {}
    total, done = len(pending), 0
    try:
        while pending or running:
            while pending and len(running) < max(1, int(jobs)):
                label, argv = pending.pop(0)
                out = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
                log.debug("running %s: %s", label, " ".join(argv))
                running[subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         text=True)] = (label, out)
            finished = [p for p in running if p.poll() is not None]
            if not finished:
                time.sleep(POLL_S)
                continue
            for p in finished:
                label, out = running.pop(p)
                out.seek(0)
                text = out.read()
                out.close()
                if p.returncode != 0:
                    raise RenderError(f"{label} failed (exit {p.returncode}): {_failure(text)}")
                done += 1
                if progress is not None:
                    progress(done, total)
    finally:
        for p in running:
            if p.poll() is None:
                p.terminate()
        for p, (_, out) in running.items():
            try:
                p.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            out.close()


def _failure(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln.removeprefix("parley: error:").strip() for ln in lines if ln.startswith("parley: error:")]
    shown = errors or [ln for ln in lines if not ln.startswith("{")][-ERROR_LINES:]
    return " | ".join(shown) or "no output"
