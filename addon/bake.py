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
+Z forward, rest frames aligned with the world, SMPL-X convention). On a canonical-named rig in the
canonical T-pose (the demo character), with ``C`` the Y-up -> Z-up axis change and ``B`` a bone's rest
matrix in armature space, the pose-bone quaternion is ``Q = (C^T B)^T R (C^T B)`` and the root location
``L = B^T C t``. Every other rig is retargeted with :mod:`rigs.retarget` onto a RestSkeleton built
from the armature (bone heads and ``matrix_local``; up/forward axes read off the rig's hips and spine),
so A-pose arms, bone rolls and unmapped intermediate bones come out right (:func:`plan_bones`).

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


# ------------------------------------------------------------------------------- bone plan (numpy)

@dataclass
class BonePlan:
    """How a clip's joints reach an armature: ``bones`` joint -> bone; ``direct`` copies the canonical
    local rotations (rig in the canonical T-pose with canonical names), otherwise ``rest`` (the rig's
    :class:`rigs.retarget.RestSkeleton`) is the retarget target; ``layout`` the detected map name."""

    bones: dict
    direct: bool
    layout: str | None = None
    rest: object = None
    options: dict = field(default_factory=dict)


TPOSE_TOL_DEG = 10.0  # canonical-named rigs whose segments lie this close to the T-pose copy rotations


def _snap_axis(v) -> str | None:
    v = np.asarray(v, dtype=np.float64)
    n = np.linalg.norm(v)
    if n < 1e-9:
        return None
    i = int(np.argmax(np.abs(v)))
    return ("-" if v[i] < 0 else "") + "XYZ"[i]


def rig_axes(heads: dict, bones: dict) -> tuple[str, str]:
    """(up, forward) axis names of a rig's armature space from its rest joints: up from the pelvis to
    the neck, the character's left from the right hip (shoulder) to the left one; Blender's ``Z``/``-Y``
    when the rig does not tell."""
    def pos(*cands):
        return next((np.asarray(heads[bones[c]]) for c in cands if c in bones and bones[c] in heads), None)
    low, high = pos("pelvis", "spine1"), pos("neck", "spine3", "head", "spine2")
    left = None
    for a, b in (("left_hip", "right_hip"), ("left_shoulder", "right_shoulder"), ("left_collar", "right_collar")):
        pa, pb = pos(a), pos(b)
        if pa is not None and pb is not None:
            left = pa - pb
            break
    if low is None or high is None or left is None:
        return "Z", "-Y"
    up, lf = _snap_axis(high - low), _snap_axis(left)
    if up is None or lf is None or up[-1] == lf[-1]:
        return "Z", "-Y"
    u = np.array(_AXES_VEC[up[-1]]) * (-1 if up[0] == "-" else 1)
    l_ = np.array(_AXES_VEC[lf[-1]]) * (-1 if lf[0] == "-" else 1)
    return up, _snap_axis(np.cross(l_, u))


_AXES_VEC = {"X": (1.0, 0, 0), "Y": (0, 1.0, 0), "Z": (0, 0, 1.0)}


def matches_tpose(heads: dict, bones: dict, *, tol_deg: float = TPOSE_TOL_DEG) -> bool:
    """Whether every mapped segment (joint -> its direction child) of a Blender rig (Z up, facing -Y)
    points within ``tol_deg`` of the canonical T-pose segment."""
    rt = _mod("rigs.retarget")
    cs = rt.canonical_rest()
    for c, kids in rt.DIRECTION_CHILDREN.items():
        for k in kids:
            if c in bones and k in bones and bones[c] in heads and bones[k] in heads:
                a = np.asarray(heads[bones[k]]) - np.asarray(heads[bones[c]])
                b = C_YUP_TO_ZUP @ (cs.positions[cs.index(k)] - cs.positions[cs.index(c)])
                na, nb = np.linalg.norm(a), np.linalg.norm(b)
                if na < 1e-9 or nb < 1e-9:
                    continue
                if np.degrees(np.arccos(np.clip(a @ b / (na * nb), -1, 1))) > tol_deg:
                    return False
    return True


def plan_bones(joint_names, bone_names, parent_names, heads, rest_3x3, *, retarget=None,
               rig_name: str = "armature") -> BonePlan:
    """Decide how the clip's joints drive a rig (pure numpy; the armature given as lists per bone).

    retarget: None (detect the layout with :func:`rigs.retarget.detect_rig`, else canonical bone
    names), a ``{joint: bone}`` dict, or a map name/JSON path for :func:`rigs.retarget.load_map`.
    Canonical-named rigs in the canonical T-pose get the rotations copied (``direct``); every other rig
    is retargeted by bone directions onto its own rest pose (A-pose, rolls, axes). Raises RigError for
    an armature of unknown layout.
    """
    bone_names = list(bone_names)
    heads = dict(zip(bone_names, (tuple(h) for h in heads)))
    try:
        rt = _mod("rigs.retarget")
    except ImportError:
        rt = None
    layout, options = None, {}
    if isinstance(retarget, dict):
        bones = {j: b for j, b in retarget.items() if b in heads}
        layout = rt.detect_rig(bone_names) if rt is not None else None
        options = dict(rt.load_map(layout).options) if layout else {}
    elif isinstance(retarget, str) and rt is not None:
        m = rt.load_map(retarget)
        layout, options, bones = m.name, dict(m.options), rt.resolve_bones(m, bone_names)
    else:
        canon = {j: j for j in joint_names if j in heads}
        layout = rt.detect_rig(bone_names) if rt is not None else None
        if layout is not None and layout != "smplx":
            m = rt.load_map(layout)
            options, bones = dict(m.options), rt.resolve_bones(m, bone_names)
        elif canon:
            bones = canon
        else:
            raise _rig_error(f"{rig_name}: unknown bone layout (Parley knows Rigify, Mixamo, UE5 Manny and "
                             "SMPL-X/canonical joint names); give a joint -> bone map")
    if not bones:
        raise _rig_error(f"{rig_name}: none of the mapped bones exist on the armature")
    if rt is None or (all(j == b for j, b in bones.items()) and matches_tpose(heads, bones)):
        return BonePlan(bones=bones, direct=True, layout=layout)
    up, fwd = rig_axes(heads, bones)
    rest = rt.RestSkeleton.from_bones(bone_names, parent_names, [heads[b] for b in bone_names], rest_3x3,
                                      up=up, forward=fwd)
    canon_names = set(rt.canonical_rest().names)
    bones = {j: b for j, b in bones.items() if j in canon_names}
    return BonePlan(bones=bones, direct=False, layout=layout, rest=rest, options=options)


def retarget_rotations(plan: BonePlan, joint_names, angles_rad: np.ndarray, root_m: np.ndarray):
    """Canonical joint motion (K, J, 3) axis-angle + (K, 3) root metres -> (bone -> (K, 4) quaternion,
    top bone, (K, 3) top bone location) on ``plan.rest`` (root motion relative to the rig's rest)."""
    rt = _mod("rigs.retarget")
    rot = _mod("rigs.rotations")
    src = rt.canonical_rest()
    idx = [list(joint_names).index(n) for n in src.names]
    L, tr = rt.clip_motion(np.asarray(angles_rad)[:, idx], root_m)
    out = rt.retarget(src, L, plan.rest, source_bones={n: n for n in src.names}, target_bones=plan.bones,
                      source_translations=tr, options=plan.options, root_mode="relative")
    Q = rot.matrix_to_quaternion(out.local_rotations)
    quats = {b: continuous_quaternions(Q[:, plan.rest.index(b)]) for b in out.bones.values()}
    top = min(out.bones.values(), key=plan.rest.index)
    return quats, top, out.translations[:, plan.rest.index(top)]


def _set_quaternion_mode(pb, arm_obj, res: BakeResult):
    if pb.rotation_mode != "QUATERNION":
        res.rotation_modes.append((arm_obj.name, pb.name, pb.rotation_mode))
        pb.rotation_mode = "QUATERNION"
        res.warnings.append(f"{pb.name}: rotation mode set to quaternion")


def _bake_bones(bpy, clip, arm_obj, frames, t_s, res, base, retarget, smoothing_s, start_frame, blend):
    if callable(retarget):
        retarget = dict(retarget(clip, arm_obj))
    bl = arm_obj.data.bones
    plan = plan_bones(clip.joint_names, [b.name for b in bl], [b.parent.name if b.parent else None for b in bl],
                      [tuple(b.head_local) for b in bl], [[r[:3] for r in b.matrix_local.to_3x3()] for b in bl],
                      retarget=retarget, rig_name=arm_obj.name)
    res.layout = plan.layout or ("canonical" if plan.direct else None)
    res.retargeted = not plan.direct
    jmap = plan.bones
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
    root_moves = np.abs(clip.root_translation).max() > 1e-9
    act, slot, bag = _new_action(bpy, _unique_name(bpy, base + "_body"), "OBJECT", arm_obj.name)
    loc_bone, loc = None, None
    if plan.direct:
        quats = {}
        for j, jn, bn in todo:
            quats[bn] = bone_quaternions(aa[:, j], np.array(pbones[bn].bone.matrix_local.to_3x3()))
        root = clip.joint_names[0]
        if root in jmap and jmap[root] in pbones and root_moves:
            loc_bone = jmap[root]
            B = np.array(pbones[loc_bone].bone.matrix_local.to_3x3())
            loc = resample_linear(clip.root_translation, clip.fps, t_s) @ (B.T @ C_YUP_TO_ZUP).T
    else:
        quats, top, top_loc = retarget_rotations(plan, clip.joint_names, aa,
                                                 resample_linear(clip.root_translation, clip.fps, t_s))
        if root_moves:
            loc_bone, loc = top, top_loc
    for j, jn, bn in todo:
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
