"""How a clip's canonical joints drive a rig's bones: the bake's bone plan, without bpy (numpy only).

:func:`plan_bones` takes an armature as plain lists (bone names, parents, heads and rest 3x3 in
armature space, Blender's Z up / -Y forward) and decides the joint -> bone map and whether the canonical
rotations can be copied (a canonical-named rig in the canonical T-pose, like the demo character) or must be
retargeted onto the rig's own rest pose (:mod:`rigs.retarget.solve`). :func:`retarget_rotations` and
:func:`bone_quaternions` then give per-bone pose quaternions. On a canonical T-pose rig, with ``C`` the
Y-up -> Z-up axis change and ``B`` a bone's armature-space rest matrix, the pose quaternion is
``Q = (C^T B)^T R (C^T B)``.

A bake retargets as rest-relative motion: every joint keeps the rig's own rest posture relative to its
parent and adds the clip's motion (retarget mode ``"rest"``), except the upper arms
(:data:`POSE_CONVENTION_JOINTS`), whose rest direction is a modelling convention (A-pose or T-pose) and
which follow the clip's world directions. So a Mixamo rig's raised collars, a UE5 Manny's head tilt or an
avatar's lowered eye bones stay as modelled where the clip is at rest.

Control rigs: when the detected map lists ``controls`` and the rig has them (a generated Rigify rig), the
plan keeps them (:attr:`BonePlan.controls`); :func:`control_poses` turns the retargeted deform motion into
pose values for those controls (:mod:`rigs.retarget.controls`). The rest skeleton is then built with
*logical* parents (each mapped bone under the bone of its nearest mapped canonical ancestor) because the
rig's own hierarchy routes deform bones through constraint-driven helper bones.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.errors import RigError
from ..core.rotations import (YUP_TO_ZUP, axis_angle_to_matrix, axis_vector, continuous_quaternions,
                              matrix_to_quaternion)
from ..core.skeleton import canonical_skeleton
from .controls import ControlPose, ControlSpec, rigid_motion, solve_controls, usable_controls
from .maps import detect_rig, load_map, resolve_bones
from .rest import RestSkeleton, canonical_rest, clip_motion
from .solve import DIRECTION_CHILDREN, RetargetResult, retarget


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
    controls: tuple = ()  # ControlSpec of a control rig, parents first; () keys the mapped bones directly


TPOSE_TOL_DEG = 10.0  # canonical-named rigs whose segments lie this close to the T-pose copy rotations
# joints whose rest direction is a modelling convention (A-pose vs T-pose arms) rather than the character's
# posture: a bake matches their world direction to the clip; every other joint moves relative to its rest
POSE_CONVENTION_JOINTS = ("left_shoulder", "right_shoulder")


def bake_options(map_options: dict | None = None) -> dict:
    """Per-joint retarget options of a bake: ``"rest"`` for every canonical joint but
    :data:`POSE_CONVENTION_JOINTS` (``"direction"``); a map's own options win."""
    out = {j: {"mode": "direction" if j in POSE_CONVENTION_JOINTS else "rest"} for j in canonical_skeleton().names}
    out.update({k: dict(v) for k, v in (map_options or {}).items()})
    return out


def _logical_parents(bone_names, parent_names, bones: dict) -> list:
    """Each mapped bone under the bone of its nearest mapped canonical ancestor (None at the top); other
    bones keep their parent."""
    sk = canonical_skeleton()
    of_bone = {b: j for j, b in bones.items()}
    out = []
    for b, p in zip(bone_names, parent_names):
        j = of_bone.get(b)
        if j is None or j not in sk.names:
            out.append(p)
            continue
        a = sk.parents[sk.index(j)]
        while a >= 0 and sk.names[a] not in bones:
            a = sk.parents[a]
        out.append(bones[sk.names[a]] if a >= 0 else None)
    return out


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
    return up, _snap_axis(np.cross(axis_vector(lf), axis_vector(up)))


def matches_tpose(heads: dict, bones: dict, *, tol_deg: float = TPOSE_TOL_DEG) -> bool:
    """Whether every mapped segment (joint -> its direction child) of a Blender rig (Z up, facing -Y)
    points within ``tol_deg`` of the canonical T-pose segment."""
    cs = canonical_rest()
    for c, kids in DIRECTION_CHILDREN.items():
        for k in kids:
            if c in bones and k in bones and bones[c] in heads and bones[k] in heads:
                a = np.asarray(heads[bones[k]]) - np.asarray(heads[bones[c]])
                b = YUP_TO_ZUP @ (cs.positions[cs.index(k)] - cs.positions[cs.index(c)])
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
    names), a ``{joint: bone}`` dict, or a map name/JSON path for :func:`rigs.retarget.maps.load_map`.
    Canonical-named rigs in the canonical T-pose get the rotations copied (``direct``); every other rig
    is retargeted onto its own rest pose as rest-relative motion (see the module docstring), through the
    map's animator controls on a control rig. Raises RigError for an armature of unknown layout.
    """
    bone_names = list(bone_names)
    heads = dict(zip(bone_names, (tuple(h) for h in heads)))
    layout, options, controls, m = None, {}, (), None
    if isinstance(retarget, dict):
        bones = {j: b for j, b in retarget.items() if b in heads}
        layout = detect_rig(bone_names)
        m = load_map(layout) if layout else None
        options = dict(m.options) if m else {}
    elif isinstance(retarget, str):
        m = load_map(retarget)
        layout, options, bones = m.name, dict(m.options), resolve_bones(m, bone_names)
    else:
        canon = {j: j for j in joint_names if j in heads}
        layout = detect_rig(bone_names)
        if layout is not None and layout != "smplx":
            m = load_map(layout)
            options, bones = dict(m.options), resolve_bones(m, bone_names)
        elif canon:
            bones = canon
        else:
            raise RigError(f"{rig_name}: unknown bone layout (Parley knows Rigify, Mixamo, UE5 Manny and "
                             "SMPL-X/canonical joint names); give a joint -> bone map")
    if not bones:
        raise RigError(f"{rig_name}: none of the mapped bones exist on the armature")
    if all(j == b for j, b in bones.items()) and matches_tpose(heads, bones):
        return BonePlan(bones=bones, direct=True, layout=layout)
    canon_names = set(canonical_rest().names)
    bones = {j: b for j, b in bones.items() if j in canon_names}
    if m is not None:
        specs = [ControlSpec.from_json(c, f"{m.name} map") for c in m.controls]
        controls = usable_controls(specs, bone_names)
        if set(bones.values()) & {c.bone for c in controls}:
            controls = ()  # the joints are mapped onto controls themselves: key those
    up, fwd = rig_axes(heads, bones)
    parents = _logical_parents(bone_names, parent_names, bones) if controls else list(parent_names)
    rest = RestSkeleton.from_bones(bone_names, parents, [heads[b] for b in bone_names], rest_3x3,
                                   up=up, forward=fwd)
    return BonePlan(bones=bones, direct=False, layout=layout, rest=rest, options=bake_options(options),
                    controls=controls)


def retarget_motion(plan: BonePlan, joint_names, angles_rad: np.ndarray, root_m: np.ndarray) -> RetargetResult:
    """Canonical joint motion (K, J, 3) axis-angle + (K, 3) root metres retargeted onto ``plan.rest``
    with the plan's options (root motion relative to the rig's rest)."""
    src = canonical_rest()
    idx = [list(joint_names).index(n) for n in src.names]
    L, tr = clip_motion(np.asarray(angles_rad)[:, idx], root_m)
    return retarget(src, L, plan.rest, source_bones={n: n for n in src.names}, target_bones=plan.bones,
                    source_translations=tr, options=plan.options, root_mode="relative")


def control_poses(plan: BonePlan, motion: RetargetResult, *, settings: dict | None = None) -> dict[str, ControlPose]:
    """Pose values (bone's rest frame) for ``plan.controls`` that reproduce ``motion`` (from
    :func:`retarget_motion`) on a control rig; ``settings``: the rig's ``(bone, property) -> value``
    follow sliders."""
    rest = plan.rest
    need = set()
    for c in plan.controls:
        need |= {c.bone} | c.motion_bones()
        if c.aim:
            need.add(c.aim)
    rest_of = {b: (rest.rotations[rest.index(b)], rest.positions[rest.index(b)]) for b in need}
    motions = {}
    for c in plan.controls:
        for b in c.motion_bones():
            i = rest.index(b)
            motions[b] = rigid_motion(motion.world_rotations[:, i], motion.world_positions[:, i],
                                      rest.rotations[i], rest.positions[i])
    return solve_controls(plan.controls, motions, rest_of, settings=settings)


def retarget_rotations(plan: BonePlan, joint_names, angles_rad: np.ndarray, root_m: np.ndarray):
    """Canonical joint motion (K, J, 3) axis-angle + (K, 3) root metres -> (bone -> (K, 4) quaternion,
    top bone, (K, 3) top bone location) on ``plan.rest`` (root motion relative to the rig's rest)."""
    out = retarget_motion(plan, joint_names, angles_rad, root_m)
    Q = matrix_to_quaternion(out.local_rotations)
    quats = {b: continuous_quaternions(Q[:, plan.rest.index(b)]) for b in out.bones.values()}
    top = min(out.bones.values(), key=plan.rest.index)
    return quats, top, out.translations[:, plan.rest.index(top)]


def bone_quaternions(angles_rad: np.ndarray, bone_rest_3x3: np.ndarray) -> np.ndarray:
    """(K, 3) canonical local axis-angle -> (K, 4) pose-bone quaternions (w, x, y, z) for a bone whose
    armature-space rest rotation is ``bone_rest_3x3``; signs made continuous for interpolation."""
    R = axis_angle_to_matrix(angles_rad)
    A = YUP_TO_ZUP.T @ np.asarray(bone_rest_3x3, dtype=np.float64)
    Q = matrix_to_quaternion(np.einsum("ji,kjl,lm->kim", A, R, A))
    return continuous_quaternions(Q)
