"""How a clip's canonical joints drive a rig's bones: the bake's bone plan, without bpy (numpy only).

:func:`plan_bones` takes an armature as plain lists (bone names, parents, heads and rest 3x3 in
armature space, Blender's Z up / -Y forward) and decides the joint -> bone map and whether the canonical
rotations can be copied (a canonical-named rig in the canonical T-pose, like the demo character) or must be
retargeted onto the rig's own rest pose (:mod:`rigs.retarget.solve`). :func:`retarget_rotations` and
:func:`bone_quaternions` then give per-bone pose quaternions. On a canonical T-pose rig, with ``C`` the
Y-up -> Z-up axis change and ``B`` a bone's armature-space rest matrix, the pose quaternion is
``Q = (C^T B)^T R (C^T B)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.errors import RigError
from ..core.rotations import (YUP_TO_ZUP, axis_angle_to_matrix, axis_vector, continuous_quaternions,
                              matrix_to_quaternion)
from .maps import detect_rig, load_map, resolve_bones
from .rest import RestSkeleton, canonical_rest, clip_motion
from .solve import DIRECTION_CHILDREN, retarget


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
    is retargeted by bone directions onto its own rest pose (A-pose, rolls, axes). Raises RigError for
    an armature of unknown layout.
    """
    bone_names = list(bone_names)
    heads = dict(zip(bone_names, (tuple(h) for h in heads)))
    layout, options = None, {}
    if isinstance(retarget, dict):
        bones = {j: b for j, b in retarget.items() if b in heads}
        layout = detect_rig(bone_names)
        options = dict(load_map(layout).options) if layout else {}
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
    up, fwd = rig_axes(heads, bones)
    rest = RestSkeleton.from_bones(bone_names, parent_names, [heads[b] for b in bone_names], rest_3x3,
                                 up=up, forward=fwd)
    canon_names = set(canonical_rest().names)
    bones = {j: b for j, b in bones.items() if j in canon_names}
    return BonePlan(bones=bones, direct=False, layout=layout, rest=rest, options=options)


def retarget_rotations(plan: BonePlan, joint_names, angles_rad: np.ndarray, root_m: np.ndarray):
    """Canonical joint motion (K, J, 3) axis-angle + (K, 3) root metres -> (bone -> (K, 4) quaternion,
    top bone, (K, 3) top bone location) on ``plan.rest`` (root motion relative to the rig's rest)."""
    src = canonical_rest()
    idx = [list(joint_names).index(n) for n in src.names]
    L, tr = clip_motion(np.asarray(angles_rad)[:, idx], root_m)
    out = retarget(src, L, plan.rest, source_bones={n: n for n in src.names}, target_bones=plan.bones,
                      source_translations=tr, options=plan.options, root_mode="relative")
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
