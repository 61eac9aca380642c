"""Apply a Parley clip to a rig: the ONE apply code shared by the renderer and the add-on (bpy + numpy).

:func:`bake_clip` writes a clip's ARKit weights into shape-key values and its joint angles into pose-bone
rotations, each into a NEW Action (Blender 5.0 slotted/layered Actions: one layer, one keyframe strip,
one channelbag for the action slot of the animated ID), and places every Action as an NLA strip at
``start_frame`` on a new NLA track, so takes layer and an artist's existing Actions are never touched.
Keys are written in bulk (``keyframe_points.add(n)`` + ``foreach_set("co", ...)``, linear
interpolation), one key per scene frame, resampled when the scene frame rate (``fps / fps_base``)
differs from the clip's.

Pure logic (resampling, smoothing, region gains, rotation conversion) is numpy in plain functions
above the bpy part. It imports ``engine.clip`` / ``rigs.*`` only at function level through
:func:`_mod`, so the add-on can supply vendored copies (``addon._deps``).

Bone rotations: clip angles are local axis-angle rotations in the canonical skeleton frame (Y up,
+Z forward, rest frames aligned with the world, SMPL-X convention). With ``C`` the Y-up -> Z-up axis
change and ``B`` a bone's rest matrix in armature space, the pose-bone quaternion is
``Q = (C^T B)^T R (C^T B)`` and the root location ``L = B^T C t``.

References: Blender 5.0 Python API, bpy.types.Action / ActionSlot / ActionChannelbag / NlaStrip;
Shoemake 1985 (quaternion interpolation).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

# Y-up (canonical skeleton, ICT) -> Blender Z-up: (x, y, z) -> (x, -z, y)
C_YUP_TO_ZUP = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])


def _mod(name: str):
    """Import ``engine.*``/``rigs.*`` from the checkout, else from the add-on's vendored copy."""
    try:
        return importlib.import_module(name)
    except ImportError:
        try:
            deps = importlib.import_module(__package__ + "._deps") if __package__ else None
        except ImportError:
            deps = None
        if deps is None:
            raise
        return deps.module(name)


def _rig_error(msg: str):
    return _mod("engine.errors").RigError(msg)


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

def scene_times_s(duration_s: float, scene_fps: float, *, latency_ms: float = 0.0):
    """Frame offsets (K,) and the clip time sampled at each, for a clip laid on a ``scene_fps`` timeline.

    K = num_frames(duration_s, scene_fps); frame k shows the clip at ``k / scene_fps - latency_s``
    (a positive latency delays the motion), clamped to the clip.
    """
    K = max(1, int(round(duration_s * scene_fps)))
    t = np.arange(K) / scene_fps - latency_ms / 1000.0
    return np.arange(K), np.clip(t, 0.0, duration_s)


def resample_linear(values: np.ndarray, fps: float, t_s: np.ndarray) -> np.ndarray:
    """(T, ...) samples at ``fps`` -> (K, ...) at times ``t_s`` by linear interpolation (held at the ends)."""
    values = np.asarray(values, dtype=np.float64)
    T = values.shape[0]
    x = np.clip(np.asarray(t_s, dtype=np.float64) * fps, 0, T - 1)
    i0 = np.floor(x).astype(int)
    i1 = np.minimum(i0 + 1, T - 1)
    w = (x - i0).reshape((-1,) + (1,) * (values.ndim - 1))
    return values[i0] * (1 - w) + values[i1] * w


def smooth_gaussian(values: np.ndarray, fps: float, sigma_s: float) -> np.ndarray:
    """Gaussian smoothing along time (axis 0) with ``sigma_s`` seconds; edges padded by reflection."""
    if sigma_s <= 0 or values.shape[0] < 3:
        return np.asarray(values, dtype=np.float64)
    sig = sigma_s * fps
    r = max(1, int(np.ceil(3 * sig)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sig) ** 2)
    k /= k.sum()
    v = np.asarray(values, dtype=np.float64)
    pad = np.pad(v, [(r, r)] + [(0, 0)] * (v.ndim - 1), mode="reflect" if v.shape[0] > r else "edge")
    out = np.zeros_like(v)
    for j, kj in enumerate(k):
        out += kj * pad[j:j + v.shape[0]]
    return out


def channel_gains(names, *, regions=None, intensity=1.0) -> np.ndarray:
    """(52,) gain per channel: 0 outside ``regions`` (None: all), times ``intensity`` (a number or a
    ``{region: gain}`` dict; regions per :data:`rigs.arkit.REGIONS`)."""
    REGIONS = _mod("rigs.arkit").REGIONS
    g = np.ones(len(names))
    if regions is not None:
        bad = [r for r in regions if r not in REGIONS]
        if bad:
            raise _mod("engine.errors").ConfigError(f"unknown region(s) {bad}; known: {sorted(REGIONS)}")
        keep = {c for r in regions for c in REGIONS[r]}
        g *= np.array([n in keep for n in names], dtype=float)
    if isinstance(intensity, dict):
        for r, v in intensity.items():
            if r not in REGIONS:
                raise _mod("engine.errors").ConfigError(f"unknown region {r!r}; known: {sorted(REGIONS)}")
            members = set(REGIONS[r])
            g *= np.array([float(v) if n in members else 1.0 for n in names])
    else:
        g *= float(intensity)
    return g


def bone_quaternions(angles_rad: np.ndarray, bone_rest_3x3: np.ndarray) -> np.ndarray:
    """(K, 3) canonical local axis-angle -> (K, 4) pose-bone quaternions (w, x, y, z) for a bone whose
    armature-space rest rotation is ``bone_rest_3x3``; signs made continuous for interpolation."""
    rot = _mod("rigs.rotations")
    R = rot.axis_angle_to_matrix(angles_rad)
    A = C_YUP_TO_ZUP.T @ np.asarray(bone_rest_3x3, dtype=np.float64)
    Q = rot.matrix_to_quaternion(np.einsum("ji,kjl,lm->kim", A, R, A))
    return continuous_quaternions(Q)


def continuous_quaternions(q: np.ndarray) -> np.ndarray:
    """Flip signs so consecutive quaternions lie in the same hemisphere."""
    q = np.array(q, dtype=np.float64)
    if len(q) > 1:
        flips = np.cumsum(np.einsum("ki,ki->k", q[1:], q[:-1]) < 0) % 2
        q[1:][flips == 1] *= -1
    return q


def resample_axis_angle(aa: np.ndarray, fps: float, t_s: np.ndarray) -> np.ndarray:
    """(T, J, 3) axis-angle at ``fps`` -> (K, J, 3) at ``t_s`` by normalised quaternion lerp."""
    rot = _mod("rigs.rotations")
    aa = np.asarray(aa, dtype=np.float64)
    if len(t_s) == aa.shape[0] and np.allclose(np.asarray(t_s) * fps, np.arange(aa.shape[0])):
        return aa
    q = rot.axis_angle_to_quaternion(aa)  # (T, J, 4)
    q = np.stack([continuous_quaternions(q[:, j]) for j in range(q.shape[1])], axis=1)
    qi = resample_linear(q, fps, t_s)
    qi /= np.linalg.norm(qi, axis=-1, keepdims=True)
    return rot.quaternion_to_axis_angle(qi)


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

    mesh_obj: mesh with shape keys (ARKit names matched by :func:`rigs.arkit.match_names`; ``mapping``
    ``{channel: [key, ...] | key}`` overrides); armature_obj: armature with bones named by canonical joint
    names, or ``retarget``: a ``{joint: bone}`` dict or a callable ``(clip, armature_obj) -> {joint: bone}``
    (e.g. from :mod:`rigs.retarget`). With neither given, the scene's demo rig (or the active object) is
    used. ``scene_fps`` defaults to the scene's ``fps / fps_base``. ``regions``/``intensity`` scale
    channels by ARKit region, ``smoothing_s`` is a Gaussian sigma, ``latency_ms`` delays the motion.
    Raises RigError when there is nothing to animate.
    """
    import bpy

    clip_mod = _mod("engine.clip")
    if not isinstance(clip, clip_mod.Clip):
        clip = clip_mod.load_clip(clip)
    scene = scene or bpy.context.scene
    if mesh_obj is None and armature_obj is None:
        mesh_obj, armature_obj = find_rig(scene)
    keys = mesh_obj.data.shape_keys if (mesh_obj is not None and mesh_obj.type == "MESH") else None
    if mesh_obj is not None and keys is None and armature_obj is None:
        raise _rig_error(f"{mesh_obj.name}: has no shape keys and no armature was given; nothing to animate")
    if armature_obj is not None and armature_obj.type != "ARMATURE":
        raise _rig_error(f"{armature_obj.name}: is not an armature")
    if keys is None and armature_obj is None:
        raise _rig_error("no rig to animate: select a mesh with shape keys or an armature")
    fps_s = float(scene_fps) if scene_fps else scene.render.fps / scene.render.fps_base
    offs, t_s = scene_times_s(clip.duration_s, fps_s, latency_ms=latency_ms)
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
        raise _rig_error("the rig has none of the clip's channels: no ARKit-named shape keys and no bones "
                         "named by the canonical joints (give a mapping or a retarget map)")
    return res


def _bake_face(bpy, clip, keys, mesh_obj, frames, t_s, res, base, regions, intensity, smoothing_s, mapping,
               start_frame, blend):
    arkit = _mod("rigs.arkit")
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
    gains = channel_gains(names, regions=regions, intensity=intensity)
    expr = smooth_gaussian(clip.expression, clip.fps, smoothing_s) * gains[None]
    vals = resample_linear(expr, clip.fps, t_s)
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


def _bake_bones(bpy, clip, arm_obj, frames, t_s, res, base, retarget, smoothing_s, start_frame, blend):
    if callable(retarget):
        jmap = dict(retarget(clip, arm_obj))
    elif isinstance(retarget, dict):
        jmap = dict(retarget)
    else:
        jmap = {j: j for j in clip.joint_names}
    pbones = arm_obj.pose.bones
    aa = resample_axis_angle(clip.joint_angles, clip.fps, t_s)  # (K, J, 3)
    if smoothing_s > 0:
        aa = smooth_gaussian(aa, len(frames) / max(clip.duration_s, 1e-9), smoothing_s)
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
    act, slot, bag = _new_action(bpy, _unique_name(bpy, base + "_body"), "OBJECT", arm_obj.name)
    for j, jn, bn in todo:
        pb = pbones[bn]
        B = np.array(pb.bone.matrix_local.to_3x3())
        q = bone_quaternions(aa[:, j], B)
        if pb.rotation_mode != "QUATERNION":
            pb.rotation_mode = "QUATERNION"
            res.warnings.append(f"{bn}: rotation mode set to quaternion")
        dp = f'pose.bones["{bn}"].rotation_quaternion'
        for c in range(4):
            res.num_keys += _write_fcurve(bag, dp, c, frames, q[:, c], bn)
        res.bones[jn] = bn
    root = clip.joint_names[0]
    if root in res.bones and np.abs(clip.root_translation).max() > 1e-9:
        bn = res.bones[root]
        B = np.array(arm_obj.pose.bones[bn].bone.matrix_local.to_3x3())
        tr = resample_linear(clip.root_translation, clip.fps, t_s) @ (B.T @ C_YUP_TO_ZUP).T
        for c in range(3):
            res.num_keys += _write_fcurve(bag, f'pose.bones["{bn}"].location', c, frames, tr[:, c], bn)
    res.actions.append(act.name)
    _place_strip(arm_obj, act, slot, start_frame, act.name, blend, res, "OBJECT")
    return True
