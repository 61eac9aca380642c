"""Apply a Parley clip to a rig: the ONE apply code shared by the renderer and the add-on (bpy + numpy).

:func:`bake_clip` writes a clip's ARKit weights into shape-key values and its joint angles into pose-bone
rotations, each into a NEW Action (Blender 5.0 slotted/layered Actions: one layer, one keyframe strip,
one channelbag for the action slot of the animated ID), and places every Action as an NLA strip at
``start_frame`` on a new NLA track, so takes layer and an artist's existing Actions are never touched.
Keys are written in bulk (``keyframe_points.add(n)`` + ``foreach_set("co", ...)``, linear
interpolation), one key per scene frame, resampled when the scene frame rate (``fps / fps_base``)
differs from the clip's.

The numpy half (resampling and smoothing in :mod:`rigs.core.timebase`, region gains in
:mod:`rigs.core.arkit`, the bone plan in :mod:`rigs.retarget.plan`) lives in ``rigs``; this module holds
only what writes Blender data.

Bone rotations: clip angles are local axis-angle rotations in the canonical skeleton frame (Y up,
+Z forward, rest frames aligned with the world, SMPL-X convention). On a canonical-named rig in the
canonical T-pose (the demo character), with ``C`` the Y-up -> Z-up axis change and ``B`` a bone's rest
matrix in armature space, the pose-bone quaternion is ``Q = (C^T B)^T R (C^T B)`` and the root location
``L = B^T C t``. Every other rig is retargeted with :mod:`rigs.retarget` onto a RestSkeleton built
from the armature (bone heads and ``matrix_local``; up/forward axes read off the rig's hips and spine),
so A-pose arms, bone rolls and unmapped intermediate bones come out right (:func:`rigs.retarget.plan.plan_bones`).

References: Blender 5.0 Python API, bpy.types.Action / ActionSlot / ActionChannelbag / NlaStrip;
Shoemake 1985 (quaternion interpolation).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..vocab import arkit, errors, rotations, timebase
from ..vocab import clip as clip_format
from ..vocab import retarget as retargeting


@dataclass
class BakeResult:
    """What a bake created and what it could not map."""

    actions: list = field(default_factory=list)          # names of the new Actions
    tracks: list = field(default_factory=list)           # (id kind, id name, track name) per NLA track
    anim_data: list = field(default_factory=list)        # (id kind, id name) whose animation_data we created
    shape_keys: dict = field(default_factory=dict)       # canonical channel -> [shape keys driven]
    missing_channels: list = field(default_factory=list)  # channels that move in the clip, absent on the rig
    unmapped_keys: list = field(default_factory=list)    # rig shape keys no channel drives
    bones: dict = field(default_factory=dict)            # clip joint -> bone
    missing_joints: list = field(default_factory=list)   # clip joints that move but have no bone
    rotation_modes: list = field(default_factory=list)  # (armature, bone, previous mode) switched to QUATERNION
    layout: str | None = None                            # armature layout ("mixamo", "canonical", ...)
    retargeted: bool = False                             # bones retargeted onto the rig's own rest pose
    frame_start: int = 1
    frame_end: int = 1
    num_keys: int = 0
    warnings: list = field(default_factory=list)

    def summary(self) -> str:
        s = (f"baked frames {self.frame_start}-{self.frame_end}: {len(self.shape_keys)} channels, "
             f"{len(self.bones)} bones, {self.num_keys} keys")
        if self.missing_channels:
            s += f"; rig lacks {len(self.missing_channels)} channels: {', '.join(self.missing_channels)}"
        if self.missing_joints:
            s += f"; no bone for: {', '.join(self.missing_joints)}"
        return s


# ----------------------------------------------------------------------------------- pure numpy part

# ------------------------------------------------------------------------------------------ bpy part

def _new_action(bpy, name: str, id_type: str, slot_name: str):
    """A new layered Action with one slot, one layer, one keyframe strip; returns (action, slot, bag)."""
    act = bpy.data.actions.new(name)
    slot = act.slots.new(id_type=id_type, name=slot_name)
    layer = act.layers.new("Layer")
    strip = layer.strips.new(type="KEYFRAME")
    bag = strip.channelbag(slot, ensure=True)
    return act, slot, bag


def _write_fcurve(bag, data_path: str, index: int, frames: np.ndarray, values: np.ndarray, group: str) -> int:
    fc = bag.fcurves.new(data_path, index=index, group_name=group)
    n = len(frames)
    fc.keyframe_points.add(n)
    co = np.empty(2 * n, dtype=np.float32)
    co[0::2], co[1::2] = frames, values
    fc.keyframe_points.foreach_set("co", co)
    fc.keyframe_points.foreach_set("interpolation", np.ones(n, dtype=np.int32))  # LINEAR
    fc.update()
    return n


def _place_strip(id_data, act, slot, start_frame: int, name: str, blend: str, result: BakeResult, kind: str):
    if id_data.animation_data is None:
        id_data.animation_data_create()
        result.anim_data.append((kind, id_data.name))
    track = id_data.animation_data.nla_tracks.new()
    track.name = name
    strip = track.strips.new(name, int(start_frame), act)
    strip.action_slot = slot
    strip.blend_type = blend
    strip.extrapolation = "NOTHING"
    result.tracks.append((kind, id_data.name, track.name))
    return strip


def _unique_name(bpy, base: str) -> str:
    name, i = base, 1
    while name in bpy.data.actions:
        i += 1
        name = f"{base}.{i:03d}"
    return name


def find_rig(scene=None):
    """(mesh with shape keys, armature) of the scene: the demo rig's objects if present, else the active
    object and its armature/children. Either may be None."""
    import bpy

    scene = scene or bpy.context.scene
    objs = list(scene.objects)
    mesh = next((o for o in objs if o.get("parley_rig") and o.type == "MESH" and o.data.shape_keys), None)
    arm = next((o for o in objs if o.get("parley_rig") and o.type == "ARMATURE"), None)
    act = bpy.context.view_layer.objects.active if bpy.context.view_layer else None
    if mesh is None and act is not None:
        cands = [act] + list(act.children)
        mesh = next((o for o in cands if o.type == "MESH" and o.data.shape_keys), None)
    if arm is None and act is not None:
        arm = act if act.type == "ARMATURE" else (act.parent if act.parent and act.parent.type == "ARMATURE"
                                                   else None)
    return mesh, arm


def bake_clip(clip, *, mesh_obj=None, armature_obj=None, start_frame: int = 1, scene_fps: float | None = None,
              name: str | None = None, regions=None, intensity=1.0, smoothing_s: float = 0.0,
              latency_ms: float = 0.0, mapping: dict | None = None, retarget=None, bones: bool = True,
              blend: str = "REPLACE", scene=None) -> BakeResult:
    """Bake ``clip`` (a Clip or a path to a ``.npz``) onto a rig as new Actions placed as NLA strips.

    mesh_obj: mesh with shape keys (ARKit names matched by :func:`rigs.core.arkit.match_names`; ``mapping``
    ``{channel: [key, ...] | key}`` overrides). armature_obj: an armature whose layout is detected
    (:func:`rigs.retarget.detect_rig`: Rigify, Mixamo, UE5 Manny, SMPL-X/canonical joint names), or
    ``retarget``: a ``{joint: bone}`` dict, a map name/JSON path, or a callable ``(clip, armature_obj)
    -> {joint: bone}``. A canonical-named rig in the canonical T-pose gets the clip's rotations copied;
    any other rig (A-pose, other rolls, intermediate bones) is retargeted by bone directions onto its own
    rest pose (:func:`rigs.retarget.retarget`, root motion relative to the rest, scaled by leg length).
    Bones keyed are switched to quaternion rotation; the previous modes are in
    ``BakeResult.rotation_modes``. With neither object given, the scene's demo rig (or the active
    object) is used. ``scene_fps`` defaults to the scene's ``fps / fps_base``. ``regions``/``intensity``
    scale channels by ARKit region, ``smoothing_s`` is a Gaussian sigma, ``latency_ms`` delays the motion.
    Raises RigError when there is nothing to animate.
    """
    import bpy

    if not isinstance(clip, clip_format.Clip):
        clip = clip_format.load_clip(clip)
    scene = scene or bpy.context.scene
    if mesh_obj is None and armature_obj is None:
        mesh_obj, armature_obj = find_rig(scene)
    keys = mesh_obj.data.shape_keys if (mesh_obj is not None and mesh_obj.type == "MESH") else None
    if mesh_obj is not None and keys is None and armature_obj is None:
        raise errors.RigError(f"{mesh_obj.name}: has no shape keys and no armature was given; nothing to animate")
    if armature_obj is not None and armature_obj.type != "ARMATURE":
        raise errors.RigError(f"{armature_obj.name}: is not an armature")
    if keys is None and armature_obj is None:
        raise errors.RigError("no rig to animate: select a mesh with shape keys or an armature")
    fps_s = float(scene_fps) if scene_fps else scene.render.fps / scene.render.fps_base
    offs, t_s = timebase.timeline_samples(clip.duration_s, fps_s, latency_s=latency_ms / 1000.0)
    frames = (int(start_frame) + offs).astype(np.float64)
    res = BakeResult(frame_start=int(start_frame), frame_end=int(start_frame) + len(offs) - 1)
    base = name or str(clip.meta.get("take_name") or clip.meta.get("source_audio") or "clip")
    base = f"parley_{base}".replace("/", "_")[:50]

    matched = False
    if keys is not None:
        matched |= _bake_face(bpy, clip, keys, mesh_obj, frames, t_s, res, base, regions, intensity, smoothing_s,
                   mapping, int(start_frame), blend)
    if armature_obj is not None and bones:
        matched |= _bake_bones(bpy, clip, armature_obj, frames, t_s, res, base, retarget, smoothing_s,
                    int(start_frame), blend)
    if not matched:
        raise errors.RigError("the rig has none of the clip's channels: no ARKit-named shape keys and no bones "
                         "named by the canonical joints (give a mapping or a retarget map)")
    return res


def _bake_face(bpy, clip, keys, mesh_obj, frames, t_s, res, base, regions, intensity, smoothing_s, mapping,
               start_frame, blend):
    key_names = [kb.name for kb in keys.key_blocks if kb != keys.reference_key]
    auto, unmatched = arkit.match_names(key_names)
    if mapping:
        for ch, ks in mapping.items():
            ks = [ks] if isinstance(ks, str) else list(ks)
            ks = [k for k in ks if k in keys.key_blocks]
            if ks:
                auto[ch] = ks
            else:
                auto.pop(ch, None)
    names = list(clip.expression_names)
    gains = arkit.channel_gains(names, regions=regions, intensity=intensity)
    expr = timebase.smooth_gaussian(clip.expression, clip.fps, smoothing_s) * gains[None]
    vals = timebase.resample_linear(expr, clip.fps, t_s)
    driven = {k for ks in auto.values() for k in ks}
    res.unmapped_keys = [k for k in key_names if k not in driven]
    moving = np.abs(clip.expression).max(axis=0) * gains > 1e-6
    res.missing_channels = [n for i, n in enumerate(names) if moving[i] and n not in auto]
    todo = [(i, n) for i, n in enumerate(names) if n in auto and gains[i] > 0]
    if not todo:
        return bool(auto)
    act, slot, bag = _new_action(bpy, _unique_name(bpy, base + "_face"), "KEY", keys.name)
    for i, n in todo:
        for k in auto[n]:
            kb = keys.key_blocks[k]
            v = np.clip(vals[:, i], kb.slider_min, max(kb.slider_max, 1.0))
            res.num_keys += _write_fcurve(bag, f'key_blocks["{k}"].value', 0, frames, v, "ARKit")
        res.shape_keys[n] = list(auto[n])
    res.actions.append(act.name)
    _place_strip(keys, act, slot, start_frame, act.name, blend, res, "KEY")
    return True


def _set_quaternion_mode(pb, arm_obj, res: BakeResult):
    if pb.rotation_mode != "QUATERNION":
        res.rotation_modes.append((arm_obj.name, pb.name, pb.rotation_mode))
        pb.rotation_mode = "QUATERNION"
        res.warnings.append(f"{pb.name}: rotation mode set to quaternion")


def _bake_bones(bpy, clip, arm_obj, frames, t_s, res, base, retarget, smoothing_s, start_frame, blend):
    if callable(retarget):
        retarget = dict(retarget(clip, arm_obj))
    bl = arm_obj.data.bones
    plan = retargeting.plan_bones(clip.joint_names, [b.name for b in bl],
                                  [b.parent.name if b.parent else None for b in bl],
                                  [tuple(b.head_local) for b in bl], [[r[:3] for r in b.matrix_local.to_3x3()] for b in bl],
                                  retarget=retarget, rig_name=arm_obj.name)
    res.layout = plan.layout or ("canonical" if plan.direct else None)
    res.retargeted = not plan.direct
    jmap = plan.bones
    pbones = arm_obj.pose.bones
    aa = timebase.resample_axis_angle(clip.joint_angles, clip.fps, t_s)  # (K, J, 3)
    if smoothing_s > 0:
        aa = timebase.smooth_gaussian(aa, len(frames) / max(clip.duration_s, 1e-9), smoothing_s)
    moving = np.abs(clip.joint_angles).max(axis=(0, 2)) > 1e-6
    todo = []
    for j, jn in enumerate(clip.joint_names):
        bn = jmap.get(jn)
        if bn is None or bn not in pbones:
            if moving[j]:
                res.missing_joints.append(jn)
            continue
        todo.append((j, jn, bn))
    if not todo:
        return False
    root_moves = np.abs(clip.root_translation).max() > 1e-9
    act, slot, bag = _new_action(bpy, _unique_name(bpy, base + "_body"), "OBJECT", arm_obj.name)
    loc_bone, loc = None, None
    if plan.direct:
        quats = {}
        for j, _jn, bn in todo:
            quats[bn] = retargeting.bone_quaternions(aa[:, j], np.array(pbones[bn].bone.matrix_local.to_3x3()))
        root = clip.joint_names[0]
        if root in jmap and jmap[root] in pbones and root_moves:
            loc_bone = jmap[root]
            B = np.array(pbones[loc_bone].bone.matrix_local.to_3x3())
            loc = timebase.resample_linear(clip.root_translation, clip.fps, t_s) @ (B.T @ rotations.YUP_TO_ZUP).T
    else:
        quats, top, top_loc = retargeting.retarget_rotations(
            plan, clip.joint_names, aa, timebase.resample_linear(clip.root_translation, clip.fps, t_s))
        if root_moves:
            loc_bone, loc = top, top_loc
    for _j, jn, bn in todo:
        if bn not in quats:
            continue
        _set_quaternion_mode(pbones[bn], arm_obj, res)
        dp = f'pose.bones["{bn}"].rotation_quaternion'
        for c in range(4):
            res.num_keys += _write_fcurve(bag, dp, c, frames, quats[bn][:, c], bn)
        res.bones[jn] = bn
    if loc_bone is not None:
        for c in range(3):
            res.num_keys += _write_fcurve(bag, f'pose.bones["{loc_bone}"].location', c, frames, loc[:, c], loc_bone)
    res.actions.append(act.name)
    _place_strip(arm_obj, act, slot, start_frame, act.name, blend, res, "OBJECT")
    return True
