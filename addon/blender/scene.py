"""A scene for a clip: open a rig, apply the clip, frame a camera, light it, then render (bpy).

:func:`prepare_scene` opens the rig (the cached demo character, built on first use, or a ``.blend``),
applies the clip with :func:`addon.blender.bake.bake_clip` (the same code the add-on uses), adds the audio
as a sequencer sound strip, sets the frame rate and range from the clip and frames a camera (face, upper
body or full body, or "cuts" between upper body and face in the clip's pauses); the demo character stands
in a studio (:mod:`addon.blender.studio`: a cyclorama backdrop and key, fill and rim lights).
:func:`render_clip` then renders it with :func:`addon.blender.encode.render_scene`.

A ``.blend`` of the artist's is rendered through its own scene camera when it has one (its lights too).
Without one, a camera is framed on what the file shows: the bounding box of its face mesh for the
``face`` framing, of all its visible meshes otherwise, seen from the front (the character facing -Y)
whatever its size or place. A file with nothing to render (no visible mesh, curve or text) is a
RenderError, not a video of empty frames. An active Action on the rig that would play over the clip is
muted in the render (and reported as a warning).
``side_by_side`` renders a second clip on a second copy of the rig beside the first, same camera and
light, labelled "A"/"B" unless ``labels=False``.

Everything is checked before the rig is opened: the output (an ``.mp4`` that is none of the inputs:
:func:`rigs.core.files.check_output`), the size (:func:`addon.blender.encode.check_resolution`), the clips,
the audio (a given file that is missing or not audio is an error, not a silent video) and the rig (a real
``.blend``).

References: Blender 5.0 Python API (SequenceEditor.strips.new_sound, Camera, Light, ``aud.Sound``); the
.blend header (``BLENDER``, or a gzip or Zstandard stream for compressed files).
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..vocab import errors, files
from ..vocab import clip as clip_format
from . import bake, studio
from .demo_character import cached_demo_rig
from .encode import ENGINES, VIDEO_SUFFIXES, RenderResult, check_resolution, nearest_aa, render_scene

log = logging.getLogger(__name__)

# camera framing: (target height above the floor m, visible height m at the target, spacing between
# characters m, downward tilt degrees). "face" is a head close-up for judging lips: the demo head (chin
# ~1.475 m to crown ~1.70 m) fills ~66% of the frame height with the lips in the lower third, seen from
# slightly above as a presenter camera would. "upper-body" reaches down to the hips so beats at waist height
# stay in frame.
CAMERAS = {"face": (1.59, 0.39, 0.34, 6.0), "upper-body": (1.29, 0.92, 0.75, 0.0),
           "full": (0.92, 2.0, 1.0, 0.0)}
# "cuts" edits between the CUT_SHOTS framings (starting with the first), one shot about SHOT_S long, each cut in
# the middle of a pause of the clip's phones (at least MIN_PAUSE_S) when one is near, no shot under MIN_SHOT_S
CUTS = "cuts"
CUT_SHOTS = ("upper-body", "face")
SHOT_S = 3.5
MIN_SHOT_S = 1.5
MIN_PAUSE_S = 0.15
FRAMINGS = (*CAMERAS, CUTS)
LENS_MM = 50.0
SENSOR_MM = 36.0
LABEL_HEIGHT = 0.33   # A/B label centre above the target, as a fraction of the visible height
LABEL_SIZE = 0.07     # A/B label size, as a fraction of the visible height
# first bytes of a .blend: plain, gzip-compressed (before 3.0) or Zstandard-compressed (3.0 on)
BLEND_MAGICS = (b"BLENDER", b"\x1f\x8b", b"\x28\xb5\x2f\xfd")


def vertical_half_fov(aspect: float) -> float:
    """Half the vertical field of view (radians) of the lens on a sensor fitted to the longer side."""
    fov_w = 2 * math.atan(SENSOR_MM / (2 * LENS_MM))
    return math.atan(math.tan(fov_w / 2) / aspect) if aspect >= 1 else fov_w / 2


def camera_placement(camera: str, aspect: float, n_characters: int = 1) -> tuple[tuple, float]:
    """((x, y, z) camera location, distance) in Blender axes for a framing; the camera looks along +Y,
    tilted down by the framing's tilt onto its target point (0, 0, target height)."""
    h_m, vis_h, spacing, tilt_deg = CAMERAS[camera]
    half_v = vertical_half_fov(aspect)
    half_w = math.atan(math.tan(half_v) * aspect)
    d = vis_h / (2 * math.tan(half_v))
    if n_characters > 1:
        need_w = spacing * n_characters + 0.2 * vis_h
        d = max(d, need_w / (2 * math.tan(half_w)))
    t = math.radians(tilt_deg)
    return (0.0, -d * math.cos(t), h_m + d * math.sin(t)), d


def shot_plan(duration_s: float, phonemes=None, *, shot_s: float = SHOT_S) -> list[tuple[float, str]]:
    """[(start s, framing)] of the "cuts" framing: shots alternate through :data:`CUT_SHOTS`, each cut placed in
    the middle of the pause (a SIL phone of at least :data:`MIN_PAUSE_S`) nearest to ``shot_s`` after the
    previous cut, within half a shot of it, else at ``shot_s``; no shot is shorter than :data:`MIN_SHOT_S`."""
    pauses = sorted(0.5 * (float(p.start_s) + float(p.end_s)) for p in (phonemes or ())
                    if str(p.label).upper() == "SIL" and float(p.end_s) - float(p.start_s) >= MIN_PAUSE_S)
    plan, t = [(0.0, CUT_SHOTS[0])], 0.0
    while True:
        target = t + shot_s
        ok = [m for m in pauses if t + MIN_SHOT_S <= m <= duration_s - MIN_SHOT_S and abs(m - target) <= shot_s / 2]
        cut = min(ok, key=lambda m: abs(m - target)) if ok else target
        if cut > duration_s - MIN_SHOT_S:
            return plan
        plan.append((cut, CUT_SHOTS[len(plan) % len(CUT_SHOTS)]))
        t = cut


FRAME_MARGIN = 1.15   # a box framed for a file without a camera fills 1/1.15 of the frame


def box_camera_placement(lo, hi, aspect: float) -> tuple[tuple, float]:
    """((x, y, z) camera location, distance to the box centre) looking along +Y at the box ``lo``..``hi``
    (world, metres) so the whole box fits the frame with :data:`FRAME_MARGIN`."""
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    c, size = 0.5 * (lo + hi), np.maximum(hi - lo, 1e-3)
    fov_w = 2 * math.atan(SENSOR_MM / (2 * LENS_MM))
    fov_h = 2 * math.atan(math.tan(fov_w / 2) / aspect) if aspect >= 1 else fov_w
    fov_w = fov_w if aspect >= 1 else 2 * math.atan(math.tan(fov_w / 2) * aspect)
    d = FRAME_MARGIN * max(size[2] / (2 * math.tan(fov_h / 2)), size[0] / (2 * math.tan(fov_w / 2)))
    d += 0.5 * size[1]  # from the front of the box
    return (float(c[0]), float(c[1] - d), float(c[2])), d


RENDERABLE = ("MESH", "CURVE", "SURFACE", "META", "FONT", "CURVES", "POINTCLOUD", "VOLUME")


def renderable_objects(scene) -> list:
    """The scene's objects that show up in a render (visible, render-enabled geometry)."""
    return [o for o in scene.objects if o.type in RENDERABLE and not o.hide_render and o.visible_get()]


def world_box(objs) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) world-space bounding box of ``objs`` (their evaluated bound boxes)."""
    from mathutils import Vector

    pts = [np.array(o.matrix_world @ Vector(c)) for o in objs for c in o.bound_box]
    P = np.array(pts)
    return P.min(axis=0), P.max(axis=0)


def _add_camera(bpy, scene, loc, rotation, clip=(0.05, 100.0), name: str = "parley_camera"):
    cam_data = bpy.data.cameras.new(name)
    cam_data.lens, cam_data.sensor_width = LENS_MM, SENSOR_MM
    cam_data.clip_start, cam_data.clip_end = clip
    cam = bpy.data.objects.new(name, cam_data)
    scene.collection.objects.link(cam)
    cam.location = loc
    cam.rotation_euler = rotation
    scene.camera = cam
    return cam


def _setup_camera_and_light(bpy, scene, camera: str, engine: str, n: int, box=None, lights: bool = True):
    """Frame a new camera (``box``: (lo, hi) to frame, else the demo framing ``camera``) and light the scene."""
    aspect = scene.render.resolution_x / scene.render.resolution_y
    if box is not None:
        loc, d = box_camera_placement(box[0], box[1], aspect)
        _add_camera(bpy, scene, loc, (math.pi / 2, 0.0, 0.0), clip=(min(0.05, 0.01 * d), max(100.0, 10.0 * d)))
        target = 0.5 * (np.asarray(box[0]) + np.asarray(box[1]))
    else:
        loc, d = camera_placement(camera, aspect, n)
        _add_camera(bpy, scene, loc, (math.pi / 2 - math.radians(CAMERAS[camera][3]), 0.0, 0.0))
        target = np.array([0.0, 0.0, loc[2]])
    _light(bpy, scene, engine, target, d, lights)


def _light(bpy, scene, engine: str, target, d: float, lights: bool = True):
    if engine == "workbench":
        sh = scene.display.shading
        sh.light = "STUDIO"
        sh.color_type = "MATERIAL"
        sh.show_cavity = False
        sh.show_specular_highlight = True
        return
    if not lights:
        return
    world = bpy.data.worlds.new("parley_world")
    scene.world = world
    world.use_nodes = True
    bg = world.node_tree.nodes.get("Background")
    if bg is not None:
        bg.inputs["Color"].default_value = (0.18, 0.18, 0.19, 1.0)
        bg.inputs["Strength"].default_value = 0.6
    target = np.asarray(target, dtype=np.float64)
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


def _framing_camera(bpy, scene, camera: str, n: int, name: str = "parley_camera"):
    """Add the framing's camera as the scene's camera; returns (the camera object, its distance to the target m)."""
    aspect = scene.render.resolution_x / scene.render.resolution_y
    loc, d = camera_placement(camera, aspect, n)
    cam = _add_camera(bpy, scene, loc, (math.pi / 2 - math.radians(CAMERAS[camera][3]), 0.0, 0.0), name=name)
    return cam, d


def _setup_cuts(bpy, scene, plan, n: int, fps: float) -> None:
    """One camera per framing of ``plan`` and a timeline marker bound to a camera at each cut."""
    cams = {}
    for framing in dict.fromkeys(f for _, f in plan):
        cams[framing], _ = _framing_camera(bpy, scene, framing, n, name=f"parley_camera_{framing}")
    for k, (start_s, framing) in enumerate(plan):
        marker = scene.timeline_markers.new(f"parley_shot_{k + 1}_{framing}", frame=1 + int(round(start_s * fps)))
        marker.camera = cams[framing]
    scene.camera = cams[plan[0][1]]


def _setup_studio(bpy, scene, camera: str, engine: str, n: int):
    """The demo character's camera, studio backdrop and three-point lighting for ``engine``
    (:mod:`addon.blender.studio`)."""
    _, d = _framing_camera(bpy, scene, camera, n)
    aspect = scene.render.resolution_x / scene.render.resolution_y
    (_, cam_y, cam_z), _ = camera_placement(camera, aspect, n)
    to_wall = studio.CYC_WALL_Y_M - cam_y
    look_z = cam_z - to_wall * math.tan(math.radians(CAMERAS[camera][3]))
    studio.add_backdrop(bpy, scene, engine, look_z_m=look_z,
                        seen_half_height_m=to_wall * math.tan(vertical_half_fov(aspect)))
    if engine == "workbench":
        studio.workbench_lighting(bpy, scene)
    else:
        studio.add_lights(bpy, scene, target=(0.0, 0.0, CAMERAS[camera][0]), scale=max(1.0, d / 1.5))


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


def _check_rig(rig) -> Path | None:
    """The rig's .blend path (None for the demo character); RenderError unless it is a real .blend file."""
    if rig in (None, "demo"):
        return None
    path = Path(rig)
    if not path.is_file() or path.suffix.lower() != ".blend":
        raise errors.RenderError(f"rig {rig!r}: give 'demo' or an existing .blend file")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise errors.RenderError(f"rig {rig!r}: cannot read it ({e.strerror})") from None
    if not head.startswith(BLEND_MAGICS):
        raise errors.RenderError(f"rig {rig!r} is not a Blender file")
    return path


def _open_rig(bpy, rig, material: str) -> tuple[Path, bool]:
    """Open the rig's .blend; (its path, whether it is the demo character)."""
    demo = rig in (None, "demo")
    path = _check_rig(rig) or cached_demo_rig(material=material)
    try:
        bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
    except RuntimeError as e:
        raise errors.RenderError(f"rig {str(rig)!r}: Blender cannot open it ({str(e).strip()})") from None
    return path, demo


def _check_audio(audio) -> Path | None:
    """The audio path to mux (None when none was given); RenderError when it is missing or not audio that
    Blender can decode."""
    if audio is None or str(audio) == "":
        return None
    path = Path(audio)
    if not path.exists():
        raise errors.RenderError(f"audio file {audio} not found")
    if not path.is_file():
        raise errors.RenderError(f"audio {audio} is not a regular file")
    import aud

    try:
        sound = aud.Sound(str(path))
        rate_hz, channels = sound.specs
        frames = sound.length
    except Exception as e:  # aud raises its own untyped error
        raise errors.RenderError(f"audio file {audio} is not audio Blender can read ({e})") from None
    if rate_hz <= 0 or channels <= 0 or frames <= 0:
        raise errors.RenderError(f"audio file {audio} has no sound in it")
    return path


def _load_clip(c, what: str):
    if isinstance(c, clip_format.Clip):
        return c
    try:
        return clip_format.load_clip(c)
    except errors.ParleyError as e:
        raise type(e)(f"{what}: {e}") from None


def _set_fps(scene, fps: float):
    base = 1.001 if abs(fps * 1.001 - round(fps * 1.001)) < 1e-3 and abs(fps - round(fps)) > 1e-3 else 1.0
    scene.render.fps = int(round(fps * base))
    scene.render.fps_base = base


@dataclass(frozen=True)
class ClipScene:
    """A scene set up for a clip by :func:`prepare_scene`: frames 1..``n_frames``, camera and lights in place."""

    scene: object
    n_frames: int
    warnings: tuple[str, ...]


def prepare_scene(clip_path, *, audio=None, engine: str = "workbench", rig="demo", camera: str = "face",
                  resolution=(1280, 720), samples: int | None = None, side_by_side=None, labels: bool = True,
                  material: str = "grey", fps: float | None = None) -> ClipScene:
    """Open the rig, bake ``clip_path`` (and ``side_by_side``) on it, add the audio, camera, backdrop and lights.

    Everything :func:`render_clip` does short of rendering (stills and tests use it on its own). The clips,
    audio and rig are checked before the rig is opened. Raises RenderError (bad options), ClipError,
    DataMissingError.
    """
    import bpy

    if engine not in ENGINES:
        raise errors.RenderError(f"engine must be one of {sorted(ENGINES)}, got {engine!r}")
    if camera not in FRAMINGS:
        raise errors.RenderError(f"camera must be one of {sorted(FRAMINGS)}, got {camera!r}")
    w, h = check_resolution(resolution[0], resolution[1])
    clip = _load_clip(clip_path, "clip")
    clip_b = None if side_by_side is None else _load_clip(side_by_side, "side-by-side clip")
    _check_rig(rig)
    warnings = []
    audio_path = _check_audio(audio)
    if audio_path is None:
        warnings.append("no audio given: rendering a silent video")
        log.warning(warnings[-1])

    rig_path, demo = _open_rig(bpy, rig, material)
    scene = bpy.context.scene
    demo = demo or any(o.get("parley_rig") == "demo" for o in scene.objects)   # the demo character's own file
    shown = renderable_objects(scene)
    if not shown:
        raise errors.RenderError(f"{rig_path.name}: nothing to render (no visible mesh in its scene)")
    file_camera = None if demo else (scene.camera or next((o for o in scene.objects if o.type == "CAMERA"), None))
    scene.render.engine = ENGINES[engine]
    scene.render.resolution_x, scene.render.resolution_y = w, h
    scene.render.resolution_percentage = 100
    _set_fps(scene, float(fps or clip.fps))
    mesh_a, arm_a = bake.find_rig(scene)
    rigs_ = [(clip, mesh_a, arm_a)]
    if clip_b is not None:
        mesh_b, arm_b = _second_copy(bpy, scene, mesh_a, arm_a)
        rigs_.append((clip_b, mesh_b, arm_b))
    framing = CUT_SHOTS[0] if camera == CUTS else camera   # sets spacing, labels, backdrop and lights
    spacing = CAMERAS[framing][2]
    results = []
    for k, (c, me, ar) in enumerate(rigs_):
        if len(rigs_) > 1:  # A on the viewer's left (-X seen from the camera at -Y)
            (ar if ar is not None else me).location.x = (-0.5 + k) * spacing
        if me is None and ar is None:
            raise errors.RenderError(f"{rig_path.name}: no mesh with shape keys and no armature to apply the clip to")
        results.append(bake.bake_clip(c, mesh_obj=me, armature_obj=ar, start_frame=1, scene=scene,
                                      name="A" if k == 0 else "B", active_action="mute"))
    for r in results:
        if r.missing_channels:
            warnings.append(f"rig lacks channels: {', '.join(r.missing_channels)}")
        if r.missing_joints:
            warnings.append(f"no bone for moving joints: {', '.join(r.missing_joints)}")
        for _kind, idname, action in r.hidden:
            warnings.append(f"{idname}: its active Action {action!r} is muted so the clip shows")
    n_frames = max(r.frame_end for r in results)
    scene.frame_start, scene.frame_end = 1, n_frames
    if len(rigs_) > 1 and labels:
        h_m, vis_h = CAMERAS[framing][:2]
        for k, text in enumerate(("A", "B")):
            _add_label(bpy, scene, text, (-0.5 + k) * spacing, h_m + LABEL_HEIGHT * vis_h, LABEL_SIZE * vis_h)
    if file_camera is not None:
        scene.camera = file_camera
        warnings.append(f"rendering through the file's camera {file_camera.name!r}")
        has_lights = any(o.type == "LIGHT" for o in scene.objects)
        if not has_lights or engine == "workbench":
            _light(bpy, scene, engine, np.zeros(3), 1.5, lights=not has_lights)
    elif demo:
        _setup_studio(bpy, scene, framing, engine, len(rigs_))
        if camera == CUTS:
            _setup_cuts(bpy, scene, shot_plan(clip.duration_s, clip.phonemes), len(rigs_),
                        scene.render.fps / scene.render.fps_base)
    else:
        face = mesh_a if framing == "face" and mesh_a is not None and mesh_a in shown else None
        box = world_box([face] if face is not None else renderable_objects(scene))
        has_lights = any(o.type == "LIGHT" for o in scene.objects)
        _setup_camera_and_light(bpy, scene, framing, engine, len(rigs_), box=box, lights=not has_lights)
    if engine == "workbench":
        scene.display.render_aa = "FXAA" if samples is None else nearest_aa(samples)
    elif engine == "eevee":
        scene.eevee.taa_render_samples = int(samples or 16)
    else:
        scene.cycles.samples = int(samples or 32)
        scene.cycles.device = "CPU"
    if audio_path is not None:
        se = scene.sequence_editor_create()
        strip = se.strips.new_sound("parley_audio", str(audio_path.resolve()), 1, 1)
        strip.frame_start = 1
    return ClipScene(scene, n_frames, tuple(warnings))


def render_clip(clip_path, *, audio=None, out, engine: str = "workbench", rig="demo", camera: str = "face",
                resolution=(1280, 720), samples: int | None = None, side_by_side=None, labels: bool = True,
                material: str = "grey", progress=None, fps: float | None = None) -> RenderResult:
    """Render ``clip_path`` (a clip ``.npz`` or Clip) to ``out`` (.mp4). See the module docstring.

    progress: ``callback(frames_done, n_frames)`` after each frame.
    Raises errors.RenderError (bad options, render failure), ClipError, DataMissingError.
    """
    inputs = [x for x in (clip_path, side_by_side, audio, rig) if isinstance(x, (str, os.PathLike))]
    files.check_output(out, suffixes=VIDEO_SUFFIXES, inputs=inputs)
    out = Path(os.path.abspath(out))  # Blender reads a relative path as relative to the .blend
    cs = prepare_scene(clip_path, audio=audio, engine=engine, rig=rig, camera=camera, resolution=resolution,
                       samples=samples, side_by_side=side_by_side, labels=labels, material=material, fps=fps)
    r = render_scene(cs.scene, out, engine=engine, frame_start=1, frame_end=cs.n_frames, progress=progress)
    return RenderResult(r.path, r.frames, r.fps, r.seconds, r.has_audio, cs.warnings + r.warnings)
