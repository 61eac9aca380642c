"""Apply a Parley clip to a rig: the ONE apply code shared by the renderer and the add-on (bpy + numpy).

:func:`bake_clip` writes a clip's ARKit weights into shape-key values and its joint angles into pose-bone
rotations, each into a NEW Action (Blender 5.0 slotted/layered Actions: one layer, one keyframe strip,
one channelbag for the action slot of the animated ID), and places every Action as an NLA strip at
``start_frame`` on a new NLA track, so takes layer and an artist's existing Actions are never touched.
Keys are written in bulk (``keyframe_points.add(n)`` + ``foreach_set("co", ...)``, linear
interpolation), one key per scene frame, resampled when the scene frame rate (``fps / fps_base``)
differs from the clip's.

The numpy half (resampling and smoothing in :mod:`rigs.core.timebase`, region gains in
:mod:`rigs.core.arkit`, the bone plan and control rigs in :mod:`rigs.retarget`, the jaw and viseme
fallbacks in :mod:`rigs.retarget.face`) lives in ``rigs``; this module holds only what writes Blender data.

The artist's data is never overwritten:

* every bone is keyed in its own rotation mode (Euler bones as Euler in their order, quaternion bones as
  quaternions, axis-angle as axis-angle), so the artist's own Euler keys keep working outside the bake;
* other rigs are retargeted as rest-relative motion (:mod:`rigs.retarget.plan`): the character's rest
  posture is kept where the clip is at rest;
* on a control rig (a generated Rigify rig) the animator controls are keyed, FK and IK alike, and the
  IK/FK switches are left as they are; the ``DEF-`` bones follow through the rig's own constraints;
* an active Action that keys the same channels plays over the NLA and would hide the bake: it is
  reported (``BakeResult.hidden``) and, if asked (``active_action="mute"`` or ``"push_down"``), muted
  (influence 0) or pushed down into an NLA track below the bake (``BakeResult.resolved``);
* every channel keyed is listed with its value before the bake (``BakeResult.restore``), so removing the
  bake can put the static pose and shape-key values back exactly (:mod:`addon.blender.takes`).

Bone rotations: clip angles are local axis-angle rotations in the canonical skeleton frame (Y up,
+Z forward, rest frames aligned with the world, SMPL-X convention). On a canonical-named rig in the
canonical T-pose (the demo character), with ``C`` the Y-up -> Z-up axis change and ``B`` a bone's rest
matrix in armature space, the pose-bone quaternion is ``Q = (C^T B)^T R (C^T B)`` and the root location
``L = B^T C t``. Every other rig is retargeted with :mod:`rigs.retarget` onto a RestSkeleton built
from the armature (bone heads and ``matrix_local``; up/forward axes read off the rig's hips and spine).

References: Blender 5.0 Python API, bpy.types.Action / ActionSlot / ActionChannelbag / NlaStrip /
AnimData.action_influence; Shoemake 1985 (quaternion interpolation).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..vocab import arkit, errors, rotations, timebase
from ..vocab import clip as clip_format
from ..vocab import retarget as retargeting
from .actions import (TRACK_PREFIX, new_action, place_strip, record_values, resolve_active_action, undo_resolved,
                      unique_name, write_fcurve)

log = logging.getLogger(__name__)
face_fallbacks = retargeting.face

ACTIVE_ACTION_POLICIES = ("warn", "mute", "push_down")
MOVING = 1e-6   # a channel or joint that moves more than this in the clip is animated


@dataclass
class BakeResult:
    """What a bake created and what it could not map."""

    actions: list = field(default_factory=list)          # names of the new Actions
    tracks: list = field(default_factory=list)           # (id kind, id name, track name) per NLA track
    anim_data: list = field(default_factory=list)        # (id kind, id name) whose animation_data we created
    shape_keys: dict = field(default_factory=dict)       # canonical channel -> [shape keys driven]
    meshes: list = field(default_factory=list)           # mesh objects whose shape keys were baked
    missing_channels: list = field(default_factory=list)  # channels that move in the clip, absent on the rig
    unmapped_keys: list = field(default_factory=list)    # rig shape keys no channel drives
    fallbacks: dict = field(default_factory=dict)        # "jawOpen" -> mouthOpen key, "visemes" -> {viseme: key}
    bones: dict = field(default_factory=dict)            # clip joint -> bone
    controls: list = field(default_factory=list)         # control bones keyed on a control rig (Rigify)
    missing_joints: list = field(default_factory=list)   # clip joints that move but have no bone
    rotation_modes: list = field(default_factory=list)   # (armature, bone, previous mode) switched (none now)
    jaw_from_expression: bool = False                    # the jaw bone was driven from jawOpen
    restore: list = field(default_factory=list)          # (id kind, id name, data path, index, value before)
    hidden: list = field(default_factory=list)           # (id kind, id name, action) active Actions over the bake
    resolved: list = field(default_factory=list)         # (kind, id, how, action, slot, track, influence before)
    layout: str | None = None                            # armature layout ("mixamo", "canonical", ...)
    retargeted: bool = False                             # bones retargeted onto the rig's own rest pose
    frame_start: int = 1
    frame_end: int = 1
    num_keys: int = 0
    warnings: list = field(default_factory=list)

    def summary(self) -> str:
        s = (f"baked frames {self.frame_start}-{self.frame_end}: {len(self.shape_keys)} channels, "
             f"{len(self.bones)} bones, {self.num_keys} keys")
        if self.controls:
            s += f" ({len(self.controls)} {self.layout or 'rig'} controls)"
        if self.missing_channels:
            lead = [c for c in self.missing_channels if c == "jawOpen"]
            rest = [c for c in self.missing_channels if c != "jawOpen"]
            s += f"; rig lacks {len(self.missing_channels)} channels: {', '.join(lead + rest)}"
        if self.missing_joints:
            s += f"; no bone for: {', '.join(self.missing_joints)}"
        return s


# --------------------------------------------------------------------------------------------- bake

def find_rig(scene=None):
    """(mesh with shape keys, armature) of the scene: the demo rig's objects if present, else the active
    object and its armature/children, else the mesh with the most shape keys and the armature deforming
    it (or the scene's only armature). Either may be None."""
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
    if mesh is None:
        keyed = [o for o in objs if o.type == "MESH" and o.data.shape_keys is not None]
        mesh = max(keyed, key=lambda o: len(o.data.shape_keys.key_blocks), default=None)
    if arm is None and mesh is not None:
        arm = next((m.object for m in mesh.modifiers if m.type == "ARMATURE" and m.object is not None), None)
    if arm is None:
        arms = [o for o in objs if o.type == "ARMATURE"]
        arm = arms[0] if len(arms) == 1 else None
    return mesh, arm


def bake_clip(clip, *, mesh_obj=None, armature_obj=None, start_frame: int = 1, scene_fps: float | None = None,
              name: str | None = None, regions=None, intensity=1.0, smoothing_s: float = 0.0,
              latency_ms: float = 0.0, mapping: dict | None = None, retarget=None, bones: bool = True,
              blend: str = "REPLACE", active_action: str = "warn", scene=None) -> BakeResult:
    """Bake ``clip`` (a Clip or a path to a ``.npz``) onto a rig as new Actions placed as NLA strips.

    mesh_obj: a mesh with shape keys, or a list of them (face, teeth, tongue...: one Action each; the
    first is the face whose missing channels are reported). ARKit names are matched by
    :func:`rigs.core.arkit.match_names`; ``mapping`` ``{channel: [key, ...] | key}`` overrides them where
    those keys exist. A face without ``jawOpen`` drives a ``mouthOpen`` key and Oculus viseme keys instead
    (:mod:`rigs.retarget.face`). armature_obj: an armature whose layout is detected
    (:func:`rigs.retarget.detect_rig`: Rigify, Mixamo, UE5 Manny, SMPL-X/canonical joint names), or
    ``retarget``: a ``{joint: bone}`` dict, a map name/JSON path, or a callable ``(clip, armature_obj)
    -> {joint: bone}``. A canonical-named rig in the canonical T-pose gets the clip's rotations copied;
    any other rig is retargeted as rest-relative motion onto its own rest pose, through its animator
    controls on a generated Rigify rig. A jaw bone is driven from ``jawOpen`` when the clip's jaw joint
    does not move and no ``jawOpen`` shape key is baked. Bones keep their rotation modes.
    active_action: what to do about an active Action that would hide the bake: ``"warn"`` (report it in
    ``BakeResult.hidden``/``warnings``), ``"mute"`` or ``"push_down"``. With neither object given, the
    scene's demo rig (or the active object) is used. ``scene_fps`` defaults to the scene's
    ``fps / fps_base``. ``regions``/``intensity`` scale channels by ARKit region, ``smoothing_s`` is a
    Gaussian sigma, ``latency_ms`` delays the motion. Raises RigError when there is nothing to animate.
    """
    import bpy

    if active_action not in ACTIVE_ACTION_POLICIES:
        raise errors.RigError(f"active_action must be one of {ACTIVE_ACTION_POLICIES}, got {active_action!r}")
    if not isinstance(clip, clip_format.Clip):
        clip = clip_format.load_clip(clip)
    scene = scene or bpy.context.scene
    if mesh_obj is None and armature_obj is None:
        mesh_obj, armature_obj = find_rig(scene)
    meshes = [m for m in (mesh_obj if isinstance(mesh_obj, (list, tuple)) else [mesh_obj]) if m is not None]
    with_keys = [m for m in meshes if m.type == "MESH" and m.data.shape_keys is not None]
    if meshes and not with_keys and armature_obj is None:
        raise errors.RigError(f"{meshes[0].name}: has no shape keys and no armature was given; nothing to animate")
    if armature_obj is not None and armature_obj.type != "ARMATURE":
        raise errors.RigError(f"{armature_obj.name}: is not an armature")
    if not with_keys and armature_obj is None:
        raise errors.RigError("no rig to animate: select a mesh with shape keys or an armature")
    fps_s = float(scene_fps) if scene_fps else scene.render.fps / scene.render.fps_base
    offs, t_s = timebase.timeline_samples(clip.duration_s, fps_s, latency_s=latency_ms / 1000.0)
    frames = (int(start_frame) + offs).astype(np.float64)
    res = BakeResult(frame_start=int(start_frame), frame_end=int(start_frame) + len(offs) - 1)
    base = name or str(clip.meta.get("take_name") or clip.meta.get("source_audio") or "clip")
    base = f"{TRACK_PREFIX}{base}".replace("/", "_")[:50]

    try:
        _bake_all(bpy, clip, with_keys, armature_obj, bones, frames, t_s, res, base, regions, intensity,
                  smoothing_s, mapping, retarget, int(start_frame), blend, active_action)
    except BaseException:
        for row in reversed(res.resolved):  # the artist's Actions back as they were
            undo_resolved(row)
        raise
    for w in res.warnings:
        log.warning("%s", w)
    return res


def _bake_all(bpy, clip, with_keys, armature_obj, bones, frames, t_s, res, base, regions, intensity, smoothing_s,
              mapping, retarget, start_frame, blend, active_action) -> None:
    matched = False
    jaw_keys = False  # a jawOpen shape key opens the mouth in this bake
    for k, me in enumerate(with_keys):
        hit, drives_jaw = _bake_face(bpy, clip, me, frames, t_s, res, base, regions, intensity, smoothing_s,
                                     mapping, int(start_frame), blend, active_action, primary=k == 0)
        matched |= hit
        jaw_keys |= drives_jaw
    if armature_obj is not None and bones:
        angles = clip.joint_angles
        if not jaw_keys and "jawOpen" in clip.expression_names \
                and face_fallbacks.jaw_is_static(clip.joint_angles, clip.joint_names) \
                and np.abs(clip.channel("jawOpen")).max() > MOVING and "jaw" in clip.joint_names:
            angles = np.array(clip.joint_angles, copy=True)
            angles[:, clip.joint_names.index("jaw")] = face_fallbacks.jaw_angles_from_expression(
                clip.expression, clip.expression_names)
            res.jaw_from_expression = True
        matched |= _bake_bones(bpy, clip, angles, armature_obj, frames, t_s, res, base, retarget, smoothing_s,
                               int(start_frame), blend, active_action)
        if res.jaw_from_expression and "jaw" not in res.bones:
            res.jaw_from_expression = False
    if not matched:
        raise errors.RigError("the rig has none of the clip's channels: no ARKit-named shape keys and no bones "
                              "named by the canonical joints (give a mapping or a retarget map)")


def _face_channels(keys, mapping: dict | None, strict: bool) -> dict[str, list[str]]:
    """channel -> shape keys of one mesh: name matching, then ``mapping`` where its keys exist (``strict``:
    a mapped channel whose keys are all missing is dropped, as on the face the mapping was made for)."""
    key_names = [kb.name for kb in keys.key_blocks if kb != keys.reference_key]
    auto, _ = arkit.match_names(key_names)
    for ch, ks in (mapping or {}).items():
        ks = [ks] if isinstance(ks, str) else list(ks)
        ks = [k for k in ks if k in keys.key_blocks]
        if ks:
            auto[ch] = ks
        elif strict:
            auto.pop(ch, None)
    return auto


def _bake_face(bpy, clip, mesh_obj, frames, t_s, res, base, regions, intensity, smoothing_s, mapping,
               start_frame, blend, policy, *, primary: bool) -> tuple[bool, bool]:
    """Bake one mesh's shape keys; returns (anything matched, a jawOpen key is driven)."""
    keys = mesh_obj.data.shape_keys
    key_names = [kb.name for kb in keys.key_blocks if kb != keys.reference_key]
    auto = _face_channels(keys, mapping, strict=primary)
    names = list(clip.expression_names)
    gains = arkit.channel_gains(names, regions=regions, intensity=intensity)
    expr = timebase.smooth_gaussian(clip.expression, clip.fps, smoothing_s) * gains[None]
    vals = timebase.resample_linear(expr, clip.fps, t_s)
    moving = np.abs(clip.expression).max(axis=0) * gains > MOVING
    # keys standing in for a missing jawOpen: mouthOpen, then the visemes
    taken = {k for ks in auto.values() for k in ks}
    extra: list[tuple[str, np.ndarray]] = []
    if "jawOpen" not in auto:
        mouth, visemes = face_fallbacks.match_fallbacks([k for k in key_names if k not in taken])
        jaw = names.index("jawOpen") if "jawOpen" in names else None
        if mouth is not None and jaw is not None and gains[jaw] > 0:
            extra.append((mouth, vals[:, jaw]))
            res.fallbacks["jawOpen"] = mouth
        if visemes:
            W = face_fallbacks.visemes_from_expression(vals, names)
            for v, k in visemes.items():
                extra.append((k, W[:, face_fallbacks.VISEMES.index(v)]))
            res.fallbacks["visemes"] = dict(visemes)
    driven = {k for ks in auto.values() for k in ks} | {k for k, _ in extra}
    if primary:
        res.unmapped_keys = [k for k in key_names if k not in driven]
        res.missing_channels = [n for i, n in enumerate(names) if moving[i] and n not in auto]
    todo = [(i, n) for i, n in enumerate(names) if n in auto and gains[i] > 0]
    if not todo and not extra:
        return bool(auto), False
    act, slot, bag = new_action(bpy, unique_name(bpy, base + ("_face" if primary else f"_{mesh_obj.name}")),
                                 "KEY", keys.name)
    paths = set()
    for i, n in todo:
        for k in auto[n]:
            kb = keys.key_blocks[k]
            v = np.clip(vals[:, i], kb.slider_min, max(kb.slider_max, 1.0))
            dp = f'key_blocks["{bpy.utils.escape_identifier(k)}"].value'
            record_values(res, "KEY", keys, dp, 1)
            res.num_keys += write_fcurve(bag, dp, 0, frames, v, "ARKit")
            paths.add(dp)
        res.shape_keys.setdefault(n, [])
        res.shape_keys[n] += [k for k in auto[n] if k not in res.shape_keys[n]]
    for k, v in extra:
        kb = keys.key_blocks[k]
        dp = f'key_blocks["{bpy.utils.escape_identifier(k)}"].value'
        record_values(res, "KEY", keys, dp, 1)
        res.num_keys += write_fcurve(bag, dp, 0, frames, np.clip(v, kb.slider_min, max(kb.slider_max, 1.0)),
                                      "Fallback")
        paths.add(dp)
    res.actions.append(act.name)
    res.meshes.append(mesh_obj.name)
    resolve_active_action(keys, "KEY", paths, res, policy)
    place_strip(keys, act, slot, start_frame, act.name, blend, res, "KEY")
    drives_jaw = any(n == "jawOpen" for _, n in todo)
    return True, drives_jaw


def _key_rotation(bpy, bag, arm_obj, pb, quats: np.ndarray, frames, res: BakeResult, paths: set) -> int:
    """Key ``quats`` (K, 4) on pose bone ``pb`` in its own rotation mode; returns the number of keys."""
    mode = pb.rotation_mode
    bn = bpy.utils.escape_identifier(pb.name)
    if mode == "QUATERNION":
        dp, vals = f'pose.bones["{bn}"].rotation_quaternion', quats
    elif mode == "AXIS_ANGLE":
        dp, vals = f'pose.bones["{bn}"].rotation_axis_angle', rotations.quaternions_to_angle_axis(quats)
    else:
        dp, vals = f'pose.bones["{bn}"].rotation_euler', rotations.quaternions_to_extrinsic_euler(quats, mode)
    record_values(res, "OBJECT", arm_obj, dp, vals.shape[1])
    paths.add(dp)
    return sum(write_fcurve(bag, dp, c, frames, vals[:, c], pb.name) for c in range(vals.shape[1]))


def _key_location(bpy, bag, arm_obj, pb, loc: np.ndarray, frames, res: BakeResult, paths: set) -> int:
    """Key ``loc`` (K, 3), given in the bone's own rest frame, as ``pb.location`` (in the parent's frame for a
    bone without Local Location, as Rigify's IK controls are)."""
    b = pb.bone
    if not b.use_local_location:
        R = np.array(b.matrix_local.to_3x3())
        if b.parent is not None:
            R = np.array(b.parent.matrix_local.to_3x3()).T @ R
        loc = loc @ R.T
    dp = f'pose.bones["{bpy.utils.escape_identifier(pb.name)}"].location'
    record_values(res, "OBJECT", arm_obj, dp, 3)
    paths.add(dp)
    return sum(write_fcurve(bag, dp, c, frames, loc[:, c], pb.name) for c in range(3))


def _slider_settings(arm_obj, plan) -> dict:
    """The control rig's follow sliders (``(bone, property) -> value``) as the artist set them."""
    out = {}
    for c in plan.controls:
        if c.blend and c.blend[1]:
            bone, prop = c.blend[1]
            pb = arm_obj.pose.bones.get(bone)
            if pb is not None and prop in pb.keys():
                try:
                    out[(bone, prop)] = float(pb[prop])
                except (TypeError, ValueError):
                    pass
    return out


def _bake_bones(bpy, clip, angles, arm_obj, frames, t_s, res, base, retarget, smoothing_s, start_frame, blend,
                policy):
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
    aa = timebase.resample_axis_angle(angles, clip.fps, t_s)  # (K, J, 3)
    if smoothing_s > 0:
        aa = timebase.smooth_gaussian(aa, len(frames) / max(clip.duration_s, 1e-9), smoothing_s)
    moving = np.abs(angles).max(axis=(0, 2)) > MOVING
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
    root_m = timebase.resample_linear(clip.root_translation, clip.fps, t_s)
    quats: dict[str, np.ndarray] = {}
    locs: dict[str, np.ndarray] = {}
    if plan.direct:
        for j, _jn, bn in todo:
            quats[bn] = retargeting.bone_quaternions(aa[:, j], np.array(pbones[bn].bone.matrix_local.to_3x3()))
        root = clip.joint_names[0]
        if root in jmap and jmap[root] in pbones and root_moves:
            B = np.array(pbones[jmap[root]].bone.matrix_local.to_3x3())
            locs[jmap[root]] = root_m @ (B.T @ rotations.YUP_TO_ZUP).T
    elif plan.controls:
        motion = retargeting.retarget_motion(plan, clip.joint_names, aa, root_m)
        poses = retargeting.control_poses(plan, motion, settings=_slider_settings(arm_obj, plan))
        for c in plan.controls:
            p = poses[c.bone]
            if p.quaternions is not None:
                quats[c.bone] = p.quaternions
            if p.locations is not None:
                locs[c.bone] = p.locations
        res.controls = [c.bone for c in plan.controls]
    else:
        q, top, top_loc = retargeting.retarget_rotations(plan, clip.joint_names, aa, root_m)
        quats.update({bn: q[bn] for _j, _jn, bn in todo if bn in q})
        if root_moves:
            locs[top] = top_loc
    act, slot, bag = new_action(bpy, unique_name(bpy, base + "_body"), "OBJECT", arm_obj.name)
    paths: set[str] = set()
    for bn, q in quats.items():
        res.num_keys += _key_rotation(bpy, bag, arm_obj, pbones[bn], q, frames, res, paths)
    for bn, loc in locs.items():
        res.num_keys += _key_location(bpy, bag, arm_obj, pbones[bn], loc, frames, res, paths)
    for _j, jn, bn in todo:
        if plan.controls or bn in quats:
            res.bones[jn] = bn
    res.actions.append(act.name)
    resolve_active_action(arm_obj, "OBJECT", paths, res, policy)
    place_strip(arm_obj, act, slot, start_frame, act.name, blend, res, "OBJECT")
    return True
