"""The ONE render path: a Blender scene to an H.264/AAC MP4 through Blender's own FFmpeg output (bpy).

:func:`render_scene` renders the current scene's frame range (sound from its unmuted sound strips) to a
temporary file renamed onto ``out`` only when the render finished (:func:`rigs.core.files.atomic_path`: a
failure leaves the old file and no temporary one), and restores every render setting it changed. Blender's
animation render swallows exceptions raised between frames, so under a command line's signal handling
(:mod:`rigs.core.signals`) Ctrl-C, SIGTERM or SIGHUP during the render removes the temporary video and ends
the process (exit 128 + the signal number) at the next frame. Sizes above :data:`MAX_SIDE_PX` are refused
(8192x8192 needed 6.4 GB). The add-on's "Render Take" calls it on the artist's
scene; :func:`addon.blender.scene.render_clip` builds a scene for a clip and calls it.

References: Blender 5.0 Python API (RenderSettings, ImageFormatSettings.media_type, FFmpegSettings,
app.handlers).
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..vocab import errors, files, signals

log = logging.getLogger(__name__)

ENGINES = {"workbench": "BLENDER_WORKBENCH", "eevee": "BLENDER_EEVEE", "cycles": "CYCLES"}
AUDIO_RATE_HZ = 48000
AUDIO_BITRATE_KBPS = 160
MIN_SIDE_PX = 16
MAX_SIDE_PX = 4096     # DCI 4K; H.264 level 5.2 tops out at 4096x2304
VIDEO_SUFFIXES = (".mp4",)
# the least an H.264 frame takes here (the grey demo in Workbench: ~0.002 bytes a pixel): free space asked of
# the output folder before rendering, so a full disk is found before the work
MIN_VIDEO_BYTES_PER_PIXEL = 0.001


def check_resolution(w: int, h: int) -> tuple[int, int]:
    """``(w, h)`` if H.264 can encode it within Parley's limits, else RenderError."""
    w, h = int(w), int(h)
    if w < MIN_SIDE_PX or h < MIN_SIDE_PX or w % 2 or h % 2:
        raise errors.RenderError(f"resolution {w}x{h}: H.264 needs even sizes of at least {MIN_SIDE_PX} pixels")
    if w > MAX_SIDE_PX or h > MAX_SIDE_PX:
        raise errors.RenderError(f"resolution {w}x{h} is above the limit of {MAX_SIDE_PX} pixels a side")
    return w, h


@dataclass(frozen=True)
class RenderResult:
    path: Path
    frames: int
    fps: float
    seconds: float
    has_audio: bool
    warnings: tuple[str, ...]


def _engine_id(engine: str) -> str:
    if engine in ENGINES:
        return ENGINES[engine]
    if engine in ENGINES.values():
        return engine
    raise errors.RenderError(f"engine must be one of {sorted(ENGINES)}, got {engine!r}")


# settings render_scene changes: (path below the scene, attribute)
_SAVED = (("render", "engine"), ("render", "filepath"), ("render", "use_file_extension"),
          ("render", "resolution_x"), ("render", "resolution_y"), ("render", "resolution_percentage"),
          ("render.image_settings", "media_type"), ("render.image_settings", "file_format"),
          ("render.ffmpeg", "format"), ("render.ffmpeg", "codec"), ("render.ffmpeg", "constant_rate_factor"),
          ("render.ffmpeg", "ffmpeg_preset"), ("render.ffmpeg", "gopsize"), ("render.ffmpeg", "audio_codec"),
          ("render.ffmpeg", "audio_mixrate"), ("render.ffmpeg", "audio_channels"),
          ("render.ffmpeg", "audio_bitrate"), ("display", "render_aa"), ("eevee", "taa_render_samples"),
          ("cycles", "samples"), ("", "frame_start"), ("", "frame_end"))


def _owner(scene, path: str):
    o = scene
    for part in filter(None, path.split(".")):
        o = getattr(o, part, None)
        if o is None:
            return None
    return o


def render_scene(scene, out, *, engine: str, frame_start: int, frame_end: int, resolution=None,
                 samples: int | None = None, progress=None) -> RenderResult:
    """Render ``scene`` as it is set up (rig, camera, lights, sound strips) to an H.264 MP4 at ``out``.

    engine: ``workbench``/``eevee``/``cycles`` or Blender's ``BLENDER_WORKBENCH``/``BLENDER_EEVEE``/
    ``CYCLES``; frames ``frame_start``..``frame_end`` inclusive; resolution ``(w, h)`` (None: the
    scene's); samples: anti-aliasing/render samples (None: the scene's). Audio: AAC from the scene's
    unmuted sound strips, none without. Renders to a temporary file beside ``out`` renamed onto it when
    done (a failure or Ctrl-C leaves no partial file); every render setting it changes is restored.
    progress: ``callback(frames_done, n_frames)`` after each frame. Raises errors.RenderError.
    """
    import bpy

    eng = _engine_id(engine)
    if scene.camera is None:
        raise errors.RenderError("the scene has no camera to render from")
    out = Path(os.path.abspath(out))  # Blender reads a relative path as relative to the .blend
    if resolution is not None:
        w, h = int(resolution[0]), int(resolution[1])
    else:
        pc = scene.render.resolution_percentage / 100.0
        w, h = int(scene.render.resolution_x * pc), int(scene.render.resolution_y * pc)
    check_resolution(w, h)
    f0, f1 = int(frame_start), int(frame_end)
    if f1 < f0:
        raise errors.RenderError(f"frame range {f0}-{f1} is empty")
    files.check_output(out, suffixes=VIDEO_SUFFIXES, inputs=_scene_inputs(bpy, scene),
                       need_bytes=int(MIN_VIDEO_BYTES_PER_PIXEL * w * h * (f1 - f0 + 1)))
    saved = []
    for path, attr in _SAVED:
        o = _owner(scene, path)
        if o is not None and hasattr(o, attr):
            saved.append((o, attr, getattr(o, attr)))
    se = scene.sequence_editor
    has_audio = bool(se) and any(st.type == "SOUND" and not st.mute for st in se.strips_all)
    fps = scene.render.fps / scene.render.fps_base
    n_frames = f1 - f0 + 1
    t0 = time.perf_counter()
    state = {"done": 0}

    def on_write(sc, *_):
        if sc != scene:
            return
        state["done"] += 1
        if progress is not None:
            progress(state["done"], n_frames)

    try:
        with files.atomic_path(out) as tmp:
            tmp.unlink()  # Blender writes the file itself; none there tells whether it did
            r = scene.render
            r.engine = eng
            if resolution is not None:
                r.resolution_x, r.resolution_y, r.resolution_percentage = w, h, 100
            if samples is not None:
                if eng == "BLENDER_WORKBENCH":
                    scene.display.render_aa = nearest_aa(samples)
                elif eng == "BLENDER_EEVEE":
                    scene.eevee.taa_render_samples = int(samples)
                else:
                    scene.cycles.samples = int(samples)
            img = r.image_settings
            img.media_type = "VIDEO"
            img.file_format = "FFMPEG"
            ff = r.ffmpeg
            ff.format, ff.codec = "MPEG4", "H264"
            ff.constant_rate_factor, ff.ffmpeg_preset = "MEDIUM", "GOOD"
            ff.gopsize = max(1, int(round(fps)))
            ff.audio_codec = "AAC" if has_audio else "NONE"
            ff.audio_mixrate, ff.audio_channels, ff.audio_bitrate = AUDIO_RATE_HZ, "STEREO", AUDIO_BITRATE_KBPS
            r.use_file_extension = False
            r.filepath = str(tmp)
            scene.frame_start, scene.frame_end = f0, f1
            bpy.app.handlers.render_write.append(on_write)
            with signals.native_call(lambda: tmp.unlink(missing_ok=True)):
                bpy.ops.render.render(animation=True, write_still=False, scene=scene.name)
            if not tmp.is_file() or tmp.stat().st_size == 0:
                raise errors.RenderError(f"Blender did not write the video ({tmp.name}); see the log above")
            if state["done"] < n_frames:
                raise errors.RenderError(f"Blender wrote {state['done']} of {n_frames} frames; see the log above")
            problem = mp4_problem(tmp)
            if problem:
                raise errors.RenderError(f"the video Blender wrote is broken ({problem}); is the disk full?")
    finally:
        if on_write in bpy.app.handlers.render_write:
            bpy.app.handlers.render_write.remove(on_write)
        for o, attr, v in reversed(saved):
            try:
                setattr(o, attr, v)
            except (TypeError, AttributeError, ValueError):
                log.debug("could not restore %s", attr)
    return RenderResult(out, n_frames, fps, time.perf_counter() - t0, has_audio, ())


def mp4_problem(path) -> str | None:
    """What is wrong with an MP4 file's top-level boxes (ISO/IEC 14496-12: 32-bit size, 4-byte type; size 1
    means a 64-bit size follows, 0 means to the end), or None: a file cut short (a full disk: Blender's FFmpeg
    writer does not report it) has a box running past its end, or no ``moov``."""
    import struct

    size = os.path.getsize(path)
    seen = set()
    pos = 0
    with open(path, "rb") as f:
        while pos < size:
            f.seek(pos)
            head = f.read(16)
            if len(head) < 8:
                return f"{size - pos} stray bytes at the end"
            n, kind = struct.unpack(">I4s", head[:8])
            if n == 1:
                if len(head) < 16:
                    return "a box header cut short"
                n = struct.unpack(">Q", head[8:16])[0]
            elif n == 0:
                n = size - pos
            if n < 8 or pos + n > size:
                return f"box {kind!r} runs past the end of the file"
            seen.add(kind)
            pos += n
    missing = [k.decode() for k in (b"ftyp", b"mdat", b"moov") if k not in seen]
    return f"no {', '.join(missing)} box" if missing else None


def _scene_inputs(bpy, scene) -> list[str]:
    """Files the render reads (the .blend, the sound strips' files): the output may not be one of them."""
    found = [bpy.data.filepath] if bpy.data.filepath else []
    se = scene.sequence_editor
    if se:
        for st in se.strips_all:
            if st.type == "SOUND" and st.sound is not None and st.sound.filepath:
                found.append(bpy.path.abspath(st.sound.filepath))
    return found


def nearest_aa(samples: int) -> str:
    if samples <= 1:
        return "FXAA"  # one sample plus FXAA: the fast default (multi-sampling costs ~linear time)
    opts = [5, 8, 11, 16, 32]
    return str(min(opts, key=lambda o: abs(o - samples)))
