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
from .blender import actions, bake, takes
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
    fallbacks = mapping.fallback_summary(names) if "jawOpen" not in found.mapping else ""
    if not found.mapping and not fallbacks:
        raise UserError(f"no ARKit shape keys recognised on {mesh_obj.name!r}; map them in the Mapping panel")
    if store:
        s.set_mapping(found.mapping)
        s.mapping_report = mapping.summary(found, fallbacks=fallbacks)
    return found.mapping


def bone_mapping(arm_obj, context=None) -> mapping.BoneMatch:
    """The joint -> bone map for ``arm_obj``: the Mapping panel's bone rows when there are any (checked
    against the armature), else the detected layout. An armature whose bones are mostly unknown (only a
    neck and head recognised, say) is refused with a request for a bone map instead of baking two bones."""
    names = [b.name for b in arm_obj.data.bones]
    rows = settings(context).bone_mapping_dict() if context is not None else {}
    if rows:
        try:
            return mapping.bones_from_rows(rows, names)
        except mapping.MappingError as e:
            raise UserError(f"armature {arm_obj.name!r}: {e}") from None
    found = mapping.match_bones(names)
    if found.layout is None or found.partial:
        what = (f"only {', '.join(sorted(found.bones))} recognised among its {len(names)} bones" if found.bones
                else "unknown bone layout")
        raise UserError(f"armature {arm_obj.name!r}: {what} (Parley knows Rigify, Mixamo, UE5 Manny, SMPL-X and "
                        "canonical names); map its bones in Mapping > Bones or load a preset")
    return found


def target_meshes(context, face: bool = True) -> list:
    """The face mesh first, then the other meshes to drive (teeth, tongue...), without repeats."""
    s = settings(context)
    out = [s.target_mesh] if face and s.target_mesh is not None else []
    if face:
        for item in s.extra_meshes:
            if item.obj is not None and item.obj not in out and item.obj.type == 'MESH' \
                    and item.obj.data.shape_keys is not None:
                out.append(item.obj)
    return out


def start_frame(context) -> int:
    return int(settings(context).start_frame)


def bake_report(result) -> list[str]:
    """Lines for the status bar about what the artist should know after a bake."""
    out = []
    if result.missing_channels and "jawOpen" in result.missing_channels:
        fb = result.fallbacks
        if fb:
            via = " and ".join(filter(None, [fb.get("jawOpen"), f"{len(fb['visemes'])} visemes"
                                             if fb.get("visemes") else None]))
            out.append(f"no jawOpen shape key: the mouth is driven through {via}")
        elif not result.jaw_from_expression:
            out.append("no jawOpen shape key: the mouth will not open (map one, or add mouthOpen/viseme keys)")
    if result.jaw_from_expression:
        out.append(f"jaw bone {result.bones.get('jaw')!r} rotated from jawOpen")
    if result.missing_joints:
        out.append(f"no bone for {len(result.missing_joints)} moving joints: {', '.join(result.missing_joints)}")
    for _kind, idname, action in result.hidden:
        if not any(r[1] == idname and r[3] == action for r in result.resolved):
            out.append(f"{idname}: active Action {action!r} plays over the bake; use Takes > Push Down or Mute")
    return out


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
    """Bake ``clip`` onto the targets as a new take; returns the take (its ``report`` lists what the artist
    should know). Rolls back on any failure."""
    s = settings(context)
    meshes = target_meshes(context, face)
    arm_obj = s.target_armature if body else None
    if not meshes and arm_obj is None:
        raise UserError("pick a face mesh or an armature to apply the clip to")
    face_map = face_mapping(context, meshes[0]) if meshes else None
    bones = bone_mapping(arm_obj, context) if arm_obj is not None else None
    scene = context.scene
    frame = start_frame(context)
    before = takes.snapshot()
    try:
        result = bake.bake_clip(adjust.scale_joints(clip, s.intensities()), mesh_obj=meshes or None,
                                armature_obj=arm_obj, start_frame=frame,
                                scene_fps=scene.render.fps / scene.render.fps_base, name=name,
                                intensity=adjust.face_intensity(s.intensities()), smoothing_s=float(s.smoothing),
                                latency_ms=float(s.latency_ms), mapping=face_map,
                                retarget=(bones.bones or None) if bones else None, bones=arm_obj is not None,
                                active_action=s.active_action.lower())
    except BaseException:
        takes.remove(takes.diff(before))
        raise
    created = takes.diff(before)
    take = s.take_list.add()
    take.name, take.seed, take.clip_path = name, int(seed), clip_path
    takes.record(take, created, rotation_modes=result.rotation_modes, restore=result.restore,
                 resolved=result.resolved, others=list(s.take_list)[:-1])
    take.frame_start = frame
    take.frame_end = int(result.frame_end)
    take.hidden_by = "\n".join(f"{k}|{i}|{a}" for k, i, a in result.hidden
                               if not any(r[1] == i and r[3] == a for r in result.resolved))
    take.report = "; ".join(bake_report(result))
    s.take_index = len(s.take_list) - 1
    takes.activate(s.take_list, s.take_index)
    scene.frame_end = max(scene.frame_end, take.frame_end)
    return take


def resolve_hidden(context, take, how: str) -> int:
    """Mute (``how="mute"``) or push down (``"push_down"``) the artist's active Actions that hide ``take``,
    recording it on the take so Remove Bake undoes it. Returns how many were handled."""
    rows = []
    for line in [x for x in take.hidden_by.split("\n") if x]:
        kind, idname, action = line.split("|", 2)
        idb = (bpy.data.objects if kind == "OBJECT" else bpy.data.shape_keys).get(idname)
        ad = idb.animation_data if idb is not None else None
        if ad is None or ad.action is None or ad.action.name != action:
            continue
        probe = bake.BakeResult()
        actions.resolve_active_action(idb, kind, actions.active_action_paths(ad), probe, how)
        rows += probe.resolved
    takes.record_resolved(take, rows)
    take.hidden_by = ""
    return len(rows)


def next_take_name(context, stem: str) -> str:
    existing = {t.name for t in settings(context).take_list}
    k = 1
    while f"{stem}{k:02d}" in existing:
        k += 1
    return f"{stem}{k:02d}"


def find_sound_strip(context, path: str, frame: int):
    """The scene's sound strip of ``path`` at ``frame``, or None."""
    se = context.scene.sequence_editor
    for st in (se.strips_all if se is not None else ()):
        if st.type == 'SOUND' and st.sound and bpy.path.abspath(st.sound.filepath) == path \
                and st.frame_start == frame:
            return st
    return None


def add_sound_strip(context, path: str, frame: int):
    st = find_sound_strip(context, path, frame)
    if st is not None:
        return st
    scene = context.scene
    se = scene.sequence_editor or scene.sequence_editor_create()
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
