"""A scene for a clip: open a rig, apply the clip, frame a camera, light it, then render (bpy).

:func:`prepare_scene` opens the rig (the cached demo character, built on first use, or a ``.blend``),
applies the clip with :func:`addon.blender.bake.bake_clip` (the same code the add-on uses), adds the audio
as a sequencer sound strip, sets the frame rate and range from the clip, frames a camera (face, upper body
or full body, or "cuts" between upper body and face in the clip's pauses) and puts the character in a studio (:mod:`addon.blender.studio`: a cyclorama backdrop and
key, fill and rim lights); :func:`render_clip` then renders it with
:func:`addon.blender.encode.render_scene`.
``side_by_side`` renders a second clip on a second copy of the rig beside the first, same camera and
light, labelled "A"/"B" unless ``labels=False``.

References: Blender 5.0 Python API (SequenceEditor.strips.new_sound, Camera, Light).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path


from ..vocab import errors
from ..vocab import clip as clip_format
from . import bake, studio
from .demo_character import cached_demo_rig
from .encode import ENGINES, RenderResult, nearest_aa, render_scene

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


def _setup_camera(bpy, scene, camera: str, n: int, name: str = "parley_camera"):
    """Add the framing's camera as the scene's camera; returns (the camera object, its distance to the target m)."""
    aspect = scene.render.resolution_x / scene.render.resolution_y
    loc, d = camera_placement(camera, aspect, n)
    cam_data = bpy.data.cameras.new(name)
    cam_data.lens, cam_data.sensor_width = LENS_MM, SENSOR_MM
    cam_data.clip_start, cam_data.clip_end = 0.05, 100.0
    cam = bpy.data.objects.new(name, cam_data)
    scene.collection.objects.link(cam)
    cam.location = loc
    cam.rotation_euler = (math.pi / 2 - math.radians(CAMERAS[camera][3]), 0.0, 0.0)  # along +Y, tilted down
    scene.camera = cam
    return cam, d


def _setup_cuts(bpy, scene, plan, n: int, fps: float) -> None:
    """One camera per framing of ``plan`` and a timeline marker bound to a camera at each cut."""
    cams = {}
    for framing in dict.fromkeys(f for _, f in plan):
        cams[framing], _ = _setup_camera(bpy, scene, framing, n, name=f"parley_camera_{framing}")
    for k, (start_s, framing) in enumerate(plan):
        marker = scene.timeline_markers.new(f"parley_shot_{k + 1}_{framing}", frame=1 + int(round(start_s * fps)))
        marker.camera = cams[framing]
    scene.camera = cams[plan[0][1]]


def _setup_camera_and_light(bpy, scene, camera: str, engine: str, n: int):
    """Camera, studio backdrop and three-point lighting for ``engine`` (:mod:`addon.blender.studio`)."""
    _, d = _setup_camera(bpy, scene, camera, n)
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


def _open_rig(bpy, rig, material: str) -> Path:
    if rig in (None, "demo"):
        path = cached_demo_rig(material=material)
    else:
        path = Path(rig)
        if not path.is_file() or path.suffix.lower() != ".blend":
            raise errors.RenderError(f"rig {rig!r}: give 'demo' or an existing .blend file")
    bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
    return path


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

    Everything :func:`render_clip` does short of rendering (stills and tests use it on its own).
    Raises errors.RenderError (bad options), ClipError, DataMissingError.
    """
    import bpy

    if engine not in ENGINES:
        raise errors.RenderError(f"engine must be one of {sorted(ENGINES)}, got {engine!r}")
    if camera not in FRAMINGS:
        raise errors.RenderError(f"camera must be one of {sorted(FRAMINGS)}, got {camera!r}")
    w, h = (int(resolution[0]), int(resolution[1]))
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise errors.RenderError(f"resolution {w}x{h}: H.264 needs even sizes of at least 16 pixels")
    clip = clip_path if isinstance(clip_path, clip_format.Clip) else clip_format.load_clip(clip_path)
    clip_b = None
    if side_by_side is not None:
        clip_b = side_by_side if isinstance(side_by_side, clip_format.Clip) else clip_format.load_clip(side_by_side)
    warnings = []
    audio_path = Path(audio) if audio else None
    if audio_path is None or not audio_path.is_file():
        msg = ("no audio given" if audio_path is None else f"audio file {audio_path} not found") + \
              ": rendering a silent video"
        warnings.append(msg)
        log.warning(msg)
        audio_path = None

    _open_rig(bpy, rig, material)
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
    framing = CUT_SHOTS[0] if camera == CUTS else camera   # sets spacing, labels, backdrop and lights
    spacing = CAMERAS[framing][2]
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
        h_m, vis_h = CAMERAS[framing][:2]
        for k, text in enumerate(("A", "B")):
            _add_label(bpy, scene, text, (-0.5 + k) * spacing, h_m + LABEL_HEIGHT * vis_h, LABEL_SIZE * vis_h)
    _setup_camera_and_light(bpy, scene, framing, engine, len(rigs_))
    if camera == CUTS:
        _setup_cuts(bpy, scene, shot_plan(clip.duration_s, clip.phonemes), len(rigs_),
                    scene.render.fps / scene.render.fps_base)
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
    out = Path(out)
    if not out.parent.is_dir():
        raise errors.RenderError(f"cannot write {out}: folder {out.parent} does not exist")
    cs = prepare_scene(clip_path, audio=audio, engine=engine, rig=rig, camera=camera, resolution=resolution,
                       samples=samples, side_by_side=side_by_side, labels=labels, material=material, fps=fps)
    r = render_scene(cs.scene, out, engine=engine, frame_start=1, frame_end=cs.n_frames, progress=progress)
    return RenderResult(r.path, r.frames, r.fps, r.seconds, r.has_audio, cs.warnings + r.warnings)
