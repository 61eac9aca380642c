"""What the add-on's operators do, apart from the UI: resolve inputs, load clips, bake and record takes,
add sound, choose how the engine runs (bpy; the operators in :mod:`addon.operators` stay thin).

Every problem a user can fix is a :class:`UserError` (part of Parley's one error family), shown by the
operator as one line with the scene unchanged.
"""
from __future__ import annotations

import os
from pathlib import Path

import bpy

from . import adjust, mapping, prefs, runner
from .blender import bake, takes
from .vocab import clip as clip_format
from .vocab import errors, livelink

ParleyError = errors.ParleyError


class UserError(errors.ParleyError):
    """A problem the user can fix; shown as one line in the status bar."""


def settings(context):
    return context.scene.parley


# --------------------------------------------------------------------------- inputs

def resolve_audio(context) -> str:
    s = settings(context)
    if s.audio_source == 'STRIP':
        se = context.scene.sequence_editor
        strip = se.strips_all.get(s.sound_strip) if se and s.sound_strip else None
        if strip is None or strip.type != 'SOUND' or strip.sound is None:
            raise UserError("no sound strip selected")
        path = bpy.path.abspath(strip.sound.filepath)
    else:
        if not s.audio_path:
            raise UserError("no audio file selected")
        path = bpy.path.abspath(s.audio_path)
    if not os.path.isfile(path):
        raise UserError(f"audio file not found: {path}")
    return path


def face_mapping(context, mesh_obj, *, store: bool = True) -> dict[str, list[str]]:
    s = settings(context)
    keys = mesh_obj.data.shape_keys if mesh_obj is not None and mesh_obj.type == 'MESH' else None
    if keys is None or len(keys.key_blocks) < 2:
        raise UserError(f"mesh {mesh_obj.name!r} has no shape keys to animate")
    names = [k.name for k in keys.key_blocks]
    m = s.mapping_dict()
    if m:
        missing = sorted({k for ks in m.values() for k in ks} - set(names))
        if missing:
            raise UserError(f"mapping names shape keys not on {mesh_obj.name!r}: {', '.join(missing[:4])}")
        return m
    found = mapping.match_shape_keys(names, basis=keys.reference_key.name)
    if not found.mapping:
        raise UserError(f"no ARKit shape keys recognised on {mesh_obj.name!r}; map them in the Mapping panel")
    if store:
        s.set_mapping(found.mapping)
        s.mapping_report = mapping.summary(found)
    return found.mapping


def bone_mapping(arm_obj) -> mapping.BoneMatch:
    found = mapping.match_bones([b.name for b in arm_obj.data.bones])
    if found.layout is None:
        raise UserError(f"armature {arm_obj.name!r}: unknown bone layout (supported: Rigify, Mixamo, UE5 "
                        "Manny, SMPL-X, canonical names)")
    return found


def load_clip_file(path: str):
    """A Clip from a ``.npz`` clip or a Live Link Face ``.csv``; raises UserError/ParleyError."""
    path = bpy.path.abspath(path)
    if not path:
        raise UserError("no clip file selected")
    if not os.path.isfile(path):
        raise UserError(f"clip file not found: {path}")
    if path.lower().endswith(".csv"):
        return livelink.read_livelink_csv(path)
    return clip_format.load_clip(path)


# --------------------------------------------------------------------------- bake

def bake_take(context, clip, *, name: str, seed: int = 0, clip_path: str = "", face=True, body=True):
    """Bake ``clip`` onto the targets as a new take; returns the take. Rolls back on any failure."""
    s = settings(context)
    mesh_obj = s.target_mesh if face else None
    arm_obj = s.target_armature if body else None
    if mesh_obj is None and arm_obj is None:
        raise UserError("pick a face mesh or an armature to apply the clip to")
    face_map = face_mapping(context, mesh_obj) if mesh_obj is not None else None
    bones = bone_mapping(arm_obj) if arm_obj is not None else None
    scene = context.scene
    before = takes.snapshot()
    try:
        result = bake.bake_clip(adjust.scale_joints(clip, s.intensities()), mesh_obj=mesh_obj, armature_obj=arm_obj,
                            start_frame=int(s.start_frame), scene_fps=scene.render.fps / scene.render.fps_base,
                            name=name, intensity=adjust.face_intensity(s.intensities()),
                            smoothing_s=float(s.smoothing), latency_ms=float(s.latency_ms), mapping=face_map,
                            retarget=(bones.bones or None) if bones else None, bones=arm_obj is not None)
    except BaseException:
        takes.remove(takes.diff(before))
        raise
    created = takes.diff(before)
    take = s.take_list.add()
    take.name, take.seed, take.clip_path = name, int(seed), clip_path
    takes.record(take, created, rotation_modes=result.rotation_modes)
    take.frame_start = int(s.start_frame)
    take.frame_end = int(result.frame_end)
    s.take_index = len(s.take_list) - 1
    takes.activate(s.take_list, s.take_index)
    scene.frame_end = max(scene.frame_end, take.frame_end)
    return take


def next_take_name(context, stem: str) -> str:
    existing = {t.name for t in settings(context).take_list}
    k = 1
    while f"{stem}{k:02d}" in existing:
        k += 1
    return f"{stem}{k:02d}"


def add_sound_strip(context, path: str, frame: int):
    scene = context.scene
    se = scene.sequence_editor or scene.sequence_editor_create()
    for st in se.strips_all:
        if st.type == 'SOUND' and st.sound and bpy.path.abspath(st.sound.filepath) == path \
                and st.frame_start == frame:
            return st
    used = {st.channel for st in se.strips_all}
    channel = next(c for c in range(1, 129) if c not in used)
    return se.strips.new_sound(name=Path(path).stem, filepath=path, channel=channel, frame_start=frame)


# --------------------------------------------------------------------------- engine

def choose_runner(context, spec: runner.GenerateSpec) -> runner.Run:
    p = prefs.get(context)
    mode = p.engine_mode if p else 'AUTO'
    if mode == 'IN_PROCESS' or (mode == 'AUTO' and runner.engine_in_process()):
        if not runner.engine_in_process():
            raise UserError("the engine is not importable inside Blender; use the subprocess mode")
        return runner.InProcessRun(spec)
    python = p.python() if p else prefs.detected_python()
    try:
        return runner.SubprocessRun(python, spec, engine_root=(p.root() if p else prefs.detected_engine_root())
                                    or None)
    except runner.RunError as e:
        raise UserError(str(e)) from None




def keep_dir(run) -> Path:
    """Where generated clips are kept: ``//parley_clips`` beside the saved .blend, else a temp folder."""
    if bpy.data.filepath:
        d = Path(bpy.path.abspath("//parley_clips"))
    else:
        d = Path(bpy.app.tempdir or run.workdir.parent) / "parley_clips"
    d.mkdir(parents=True, exist_ok=True)
    return d
