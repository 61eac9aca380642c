"""Render a clip on a rig to an H.264/AAC MP4 through Blender's own FFmpeg output (bpy, headless).

:func:`render_scene` is the ONE render path: it renders the current scene's frame range (sound from its
sound strips) to a temporary file renamed onto ``out`` only when the render finished, and restores the
scene's render settings afterwards. The add-on's "Render Take" calls it on the artist's scene;
:func:`render_clip` builds a scene for it. :func:`render_clip` opens the rig (the cached demo character, built on first use, or a ``.blend``),
applies the clip with :func:`addon.bake.bake_clip` (the same code the add-on uses), adds the audio as a
sequencer sound strip, sets the frame rate and range from the clip, frames a camera (face, upper body or
full body), lights the scene and renders Workbench, Eevee or Cycles to a temporary file that is renamed
onto ``out`` only when the render finished (Ctrl-C or a failure leaves no broken file).
This module is vendored into the add-on for :func:`render_scene`; :func:`render_clip` (CLI only)
loads ``addon.bake`` from the checkout. ``side_by_side``
renders a second clip on a second copy of the rig beside the first, same camera and light, labelled
"A"/"B" unless ``labels=False``. Progress: one JSON line per frame on stderr.

References: Blender 5.0 Python API (RenderSettings, ImageFormatSettings.media_type, FFmpegSettings,
SequenceEditor.strips.new_sound, app.handlers).
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

ENGINES = {"workbench": "BLENDER_WORKBENCH", "eevee": "BLENDER_EEVEE", "cycles": "CYCLES"}
# camera framing: (target height above the floor m, visible height m at the target, spacing between
# characters m, downward tilt degrees). "face" is a head close-up for judging lips: the demo head
# (chin ~1.48 m to crown ~1.70 m) fills ~60% of the frame height, aimed just below the eyes, seen from
# slightly above as a presenter camera would. "upper-body" reaches down to the hips so beats at waist height
# stay in frame.
CAMERAS = {"face": (1.585, 0.37, 0.34, 6.0), "upper-body": (1.29, 0.92, 0.75, 0.0),
           "full": (0.92, 2.0, 1.0, 0.0)}
LENS_MM = 50.0
SENSOR_MM = 36.0


@dataclass(frozen=True)
class RenderResult:
    path: Path
    frames: int
    fps: float
    seconds: float
    has_audio: bool
    warnings: tuple[str, ...]


def camera_placement(camera: str, aspect: float, n_characters: int = 1) -> tuple[tuple, float]:
    """((x, y, z) camera location, distance) in Blender axes for a framing; the camera looks along +Y,
    tilted down by the framing's tilt onto its target point (0, 0, target height)."""
    h_m, vis_h, spacing, tilt_deg = CAMERAS[camera]
    fov_w = 2 * math.atan(SENSOR_MM / (2 * LENS_MM))  # sensor fit: width for landscape
    fov_h = 2 * math.atan(math.tan(fov_w / 2) / aspect) if aspect >= 1 else fov_w
    fov_w = fov_w if aspect >= 1 else 2 * math.atan(math.tan(fov_w / 2) * aspect)
    d = vis_h / (2 * math.tan(fov_h / 2))
    if n_characters > 1:
        need_w = spacing * n_characters + 0.2 * vis_h
        d = max(d, need_w / (2 * math.tan(fov_w / 2)))
    t = math.radians(tilt_deg)
    return (0.0, -d * math.cos(t), h_m + d * math.sin(t)), d


def _setup_camera_and_light(bpy, scene, camera: str, engine: str, n: int):
    aspect = scene.render.resolution_x / scene.render.resolution_y
    loc, d = camera_placement(camera, aspect, n)
    cam_data = bpy.data.cameras.new("parley_camera")
    cam_data.lens, cam_data.sensor_width = LENS_MM, SENSOR_MM
    cam_data.clip_start, cam_data.clip_end = 0.05, 100.0
    cam = bpy.data.objects.new("parley_camera", cam_data)
    scene.collection.objects.link(cam)
    cam.location = loc
    cam.rotation_euler = (math.pi / 2 - math.radians(CAMERAS[camera][3]), 0.0, 0.0)  # along +Y, tilted down
    scene.camera = cam
    if engine == "workbench":
        sh = scene.display.shading
        sh.light = "STUDIO"
        sh.color_type = "MATERIAL"
        sh.show_cavity = False
        sh.show_specular_highlight = True
        return
    world = bpy.data.worlds.new("parley_world")
    scene.world = world
    world.use_nodes = True
    bg = world.node_tree.nodes.get("Background")
    if bg is not None:
        bg.inputs["Color"].default_value = (0.18, 0.18, 0.19, 1.0)
        bg.inputs["Strength"].default_value = 0.6
    target = np.array([0.0, 0.0, loc[2]])
    for name, pos, energy, size in (("key", (-1.2, -2.0, 0.9), 220.0, 1.2), ("fill", (1.5, -1.8, 0.2), 90.0, 1.5),
                                    ("rim", (0.6, 2.0, 1.0), 150.0, 1.0)):
        ld = bpy.data.lights.new(f"parley_{name}", "AREA")
        ld.energy, ld.size = energy * max(1.0, d / 1.5) ** 2, size
        lo = bpy.data.objects.new(f"parley_{name}", ld)
        scene.collection.objects.link(lo)
        p = target + np.array(pos) * max(1.0, d / 1.5)
        lo.location = tuple(p)
        direction = target - p
        lo.rotation_euler = _look_rotation(direction)


def _look_rotation(direction):
    """Euler XYZ rotating -Z (a light's/camera's axis) onto ``direction``."""
    from mathutils import Vector

    return Vector(tuple(direction)).to_track_quat("-Z", "Y").to_euler()


def _add_label(bpy, scene, text: str, x: float, z: float, size: float):
    cu = bpy.data.curves.new(f"parley_label_{text}", "FONT")
    cu.body, cu.size, cu.align_x = text, size, "CENTER"
    ob = bpy.data.objects.new(f"parley_label_{text}", cu)
    ob.location = (x, -0.3, z)
    ob.rotation_euler = (math.pi / 2, 0, 0)
    mat = bpy.data.materials.new("parley_label")
    mat.diffuse_color = (0.05, 0.05, 0.05, 1)
    cu.materials.append(mat)
    scene.collection.objects.link(ob)


def _second_copy(bpy, scene, mesh, arm):
    """Duplicate the rig (armature, its child meshes with their own data and shape keys); returns the
    copies of (mesh, armature). Called before baking, so no animation is shared."""
    root = arm if arm is not None else mesh
    new_root = root.copy()
    new_root.data = root.data.copy()
    scene.collection.objects.link(new_root)
    new_mesh = new_root if root is mesh else None
    if arm is not None:
        for ch in list(arm.children):
            c = ch.copy()
            c.data = ch.data.copy()
            c.parent = new_root
            for m in c.modifiers:
                if m.type == "ARMATURE" and m.object == arm:
                    m.object = new_root
            scene.collection.objects.link(c)
            if ch == mesh:
                new_mesh = c
    return new_mesh, (new_root if arm is not None else None)


def _open_rig(bpy, rig, material: str) -> Path:
    from engine.errors import RenderError

    if rig in (None, "demo"):
        from rigs.demo_character import cached_demo_rig

        path = cached_demo_rig(material=material)
    else:
        path = Path(rig)
        if not path.is_file() or path.suffix.lower() != ".blend":
            raise RenderError(f"rig {rig!r}: give 'demo' or an existing .blend file")
    bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
    return path


def _set_fps(scene, fps: float):
    base = 1.001 if abs(fps * 1.001 - round(fps * 1.001)) < 1e-3 and abs(fps - round(fps)) > 1e-3 else 1.0
    scene.render.fps = int(round(fps * base))
    scene.render.fps_base = base


def _bake_module():
    """``addon.bake`` from the checkout (render_clip runs outside the add-on, which never calls it)."""
    from engine.errors import RenderError

    try:
        return importlib.import_module("addon.bake")
    except ImportError as e:
        raise RenderError(f"render_clip needs the Parley checkout's addon.bake ({e})") from None


def render_clip(clip_path, *, audio=None, out, engine: str = "workbench", rig="demo", camera: str = "face",
                resolution=(1280, 720), samples: int | None = None, side_by_side=None, labels: bool = True,
                material: str = "grey", progress=None, fps: float | None = None) -> RenderResult:
    """Render ``clip_path`` (a clip ``.npz`` or Clip) to ``out`` (.mp4). See the module docstring.

    progress: ``callback(frame_index, n_frames)`` after each frame (besides the JSON lines on stderr).
    Raises RenderError (bad options, render failure), ClipError, DataMissingError.
    """
    import bpy

    from engine.clip import Clip, load_clip
    from engine.errors import RenderError

    if engine not in ENGINES:
        raise RenderError(f"engine must be one of {sorted(ENGINES)}, got {engine!r}")
    if camera not in CAMERAS:
        raise RenderError(f"camera must be one of {sorted(CAMERAS)}, got {camera!r}")
    w, h = (int(resolution[0]), int(resolution[1]))
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise RenderError(f"resolution {w}x{h}: H.264 needs even sizes of at least 16 pixels")
    out = Path(out)
    if not out.parent.is_dir():
        raise RenderError(f"cannot write {out}: folder {out.parent} does not exist")
    bake = _bake_module()
    clip = clip_path if isinstance(clip_path, Clip) else load_clip(clip_path)
    clip_b = None
    if side_by_side is not None:
        clip_b = side_by_side if isinstance(side_by_side, Clip) else load_clip(side_by_side)
    warnings = []
    audio_path = Path(audio) if audio else None
    if audio_path is None or not audio_path.is_file():
        msg = ("no audio given" if audio_path is None else f"audio file {audio_path} not found") + \
              ": rendering a silent video"
        warnings.append(msg)
        log.warning(msg)
        print(json.dumps({"warning": msg}), file=sys.stderr, flush=True)
        audio_path = None

    blend = _open_rig(bpy, rig, material)
    scene = bpy.context.scene
    scene.render.engine = ENGINES[engine]
    scene.render.resolution_x, scene.render.resolution_y = w, h
    scene.render.resolution_percentage = 100
    _set_fps(scene, float(fps or clip.fps))
    mesh_a, arm_a = bake.find_rig(scene)
    rigs_ = [(clip, mesh_a, arm_a)]
    if clip_b is not None:
        mesh_b, arm_b = _second_copy(bpy, scene, mesh_a, arm_a)
        rigs_.append((clip_b, mesh_b, arm_b))
    spacing = CAMERAS[camera][2]
    results = []
    for k, (c, me, ar) in enumerate(rigs_):
        if len(rigs_) > 1:  # A on the viewer's left (-X seen from the camera at -Y)
            (ar if ar is not None else me).location.x = (-0.5 + k) * spacing
        results.append(bake.bake_clip(c, mesh_obj=me, armature_obj=ar, start_frame=1, scene=scene,
                                      name="A" if k == 0 else "B"))
    for r in results:
        if r.missing_channels:
            warnings.append(f"rig lacks channels: {', '.join(r.missing_channels)}")
    n_frames = max(r.frame_end for r in results)
    scene.frame_start, scene.frame_end = 1, n_frames
    if len(rigs_) > 1 and labels:
        h_m, vis_h = CAMERAS[camera][:2]
        for k, text in enumerate(("A", "B")):
            _add_label(bpy, scene, text, (-0.5 + k) * spacing, h_m + 0.33 * vis_h, 0.07 * vis_h)
    _setup_camera_and_light(bpy, scene, camera, engine, len(rigs_))
    if engine == "workbench":
        scene.display.render_aa = "FXAA" if samples is None else _nearest_aa(samples)
    elif engine == "eevee":
        scene.eevee.taa_render_samples = int(samples or 16)
    else:
        scene.cycles.samples = int(samples or 32)
        scene.cycles.device = "CPU"
    if audio_path is not None:
        se = scene.sequence_editor_create()
        strip = se.strips.new_sound("parley_audio", str(audio_path.resolve()), 1, 1)
        strip.frame_start = 1

    def on_frame(i, n):
        print(json.dumps({"frame": i, "of": n, "elapsed_s": round(time.perf_counter() - t0, 3)}),
              file=sys.stderr, flush=True)
        if progress is not None:
            progress(i, n)

    t0 = time.perf_counter()
    r = render_scene(scene, out, engine=engine, frame_start=1, frame_end=n_frames, progress=on_frame)
    return RenderResult(r.path, r.frames, r.fps, r.seconds, r.has_audio, tuple(warnings) + r.warnings)


def _engine_id(engine: str) -> str:
    from engine.errors import RenderError

    if engine in ENGINES:
        return ENGINES[engine]
    if engine in ENGINES.values():
        return engine
    raise RenderError(f"engine must be one of {sorted(ENGINES)}, got {engine!r}")


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
    progress: ``callback(frames_done, n_frames)`` after each frame. Raises RenderError.
    """
    import bpy

    from engine.errors import RenderError

    eng = _engine_id(engine)
    if scene.camera is None:
        raise RenderError("the scene has no camera to render from")
    out = Path(out)
    if not out.parent.is_dir():
        raise RenderError(f"cannot write {out}: folder {out.parent} does not exist")
    if resolution is not None:
        w, h = int(resolution[0]), int(resolution[1])
    else:
        pc = scene.render.resolution_percentage / 100.0
        w, h = int(scene.render.resolution_x * pc), int(scene.render.resolution_y * pc)
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise RenderError(f"resolution {w}x{h}: H.264 needs even sizes of at least 16 pixels")
    f0, f1 = int(frame_start), int(frame_end)
    if f1 < f0:
        raise RenderError(f"frame range {f0}-{f1} is empty")
    saved = []
    for path, attr in _SAVED:
        o = _owner(scene, path)
        if o is not None and hasattr(o, attr):
            saved.append((o, attr, getattr(o, attr)))
    se = scene.sequence_editor
    has_audio = bool(se) and any(st.type == "SOUND" and not st.mute for st in se.strips_all)
    fps = scene.render.fps / scene.render.fps_base
    n_frames = f1 - f0 + 1
    tmp = out.with_name(f".{out.stem}.partial-{os.getpid()}.mp4")
    t0 = time.perf_counter()
    state = {"done": 0}

    def on_write(sc, *_):
        if sc != scene:
            return
        state["done"] += 1
        if progress is not None:
            progress(state["done"], n_frames)

    try:
        r = scene.render
        r.engine = eng
        if resolution is not None:
            r.resolution_x, r.resolution_y, r.resolution_percentage = w, h, 100
        if samples is not None:
            if eng == "BLENDER_WORKBENCH":
                scene.display.render_aa = _nearest_aa(samples)
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
        ff.audio_mixrate, ff.audio_channels, ff.audio_bitrate = 48000, "STEREO", 160
        r.use_file_extension = False
        r.filepath = str(tmp)
        scene.frame_start, scene.frame_end = f0, f1
        bpy.app.handlers.render_write.append(on_write)
        bpy.ops.render.render(animation=True, write_still=False, scene=scene.name)
        if not tmp.is_file():
            raise RenderError(f"Blender did not write the video ({tmp.name}); see the log above")
        os.replace(tmp, out)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    finally:
        if on_write in bpy.app.handlers.render_write:
            bpy.app.handlers.render_write.remove(on_write)
        for o, attr, v in reversed(saved):
            try:
                setattr(o, attr, v)
            except (TypeError, AttributeError, ValueError):
                log.debug("could not restore %s", attr)
    return RenderResult(out, n_frames, fps, time.perf_counter() - t0, has_audio, ())


def _nearest_aa(samples: int) -> str:
    if samples <= 1:
        return "FXAA"  # one sample plus FXAA: the fast default (multi-sampling costs ~linear time)
    opts = [5, 8, 11, 16, 32]
    return str(min(opts, key=lambda o: abs(o - samples)))


def _parse_resolution(s: str) -> tuple[int, int]:
    try:
        a, b = s.lower().split("x")
        return int(a), int(b)
    except ValueError:
        raise argparse.ArgumentTypeError(f"resolution must look like 1280x720, got {s!r}") from None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="parley render", description="Render a clip on a rig to an MP4 (H.264 + AAC).")
    ap.add_argument("clip", help="clip .npz")
    ap.add_argument("--audio", help="audio file to mux (missing: silent video with a warning)")
    ap.add_argument("-o", "--out", required=True, help="output .mp4")
    ap.add_argument("--engine", choices=sorted(ENGINES), default="workbench")
    ap.add_argument("--rig", default="demo", help="'demo' or a .blend file with the rig")
    ap.add_argument("--camera", choices=sorted(CAMERAS), default="face")
    ap.add_argument("--resolution", type=_parse_resolution, default=(1280, 720))
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--material", choices=("grey", "skin"), default="grey", help="demo rig material")
    ap.add_argument("--side-by-side", dest="side_by_side", metavar="CLIP_B", help="second clip beside the first")
    ap.add_argument("--no-labels", dest="labels", action="store_false", help="no A/B labels in side-by-side")
    a = ap.parse_args(argv)
    from engine.errors import EngineError

    try:
        r = render_clip(a.clip, audio=a.audio, out=a.out, engine=a.engine, rig=a.rig, camera=a.camera,
                        resolution=a.resolution, samples=a.samples, side_by_side=a.side_by_side,
                        labels=a.labels, material=a.material)
    except EngineError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    print(json.dumps({"out": str(r.path), "frames": r.frames, "fps": r.fps, "seconds": round(r.seconds, 2),
                      "audio": r.has_audio, "warnings": list(r.warnings)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
