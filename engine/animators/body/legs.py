"""Planted feet for the procedural body: analytic two-bone leg IK on the canonical leg offsets.

While the pelvis sways, the hip, knee and ankle rotations are solved so that each ankle keeps its rest
world position and each foot its rest world orientation; the knee flexes about its X axis and the hip
takes the minimal rotation onto the hip-ankle direction (the knee keeps facing forward). Wherever a leg
would have to extend beyond its rest hip-ankle length, the pelvis is lowered smoothly instead
(:func:`reach_drop`). The leg rotations are clamped to :func:`rigs.core.skeleton.joint_limits_rad`
(the feet may then slide).
"""
from __future__ import annotations

import numpy as np

from rigs.core.rotations import axis_angle_to_matrix, euler_to_axis_angle, matrix_to_axis_angle, matrix_to_euler

from .rig import BodyRig

# softplus sharpness (metres) of the pelvis drop: smooth, and never below the drop the legs need
REACH_SOFTPLUS_M = 0.0005


def leg_ik(rig: BodyRig, R_pelvis: np.ndarray, pelvis_pos: np.ndarray) -> dict[str, np.ndarray]:
    """Analytic two-bone IK keeping each ankle at its rest world position and each foot level.

    R_pelvis: (T, 3, 3) pelvis world rotation; pelvis_pos: (T, 3) pelvis world position.
    Returns {joint: (T, 3, 3) local rotation} for hips, knees and ankles.
    """
    off = rig.sk.offsets_m
    out = {}
    for sd in ("left", "right"):
        ih, ik, ia = rig.i[f"{sd}_hip"], rig.i[f"{sd}_knee"], rig.i[f"{sd}_ankle"]
        a, b = off[ik], off[ia]                      # thigh and shin offsets (rest frames = world)
        target = rig.rest[ia]                        # ankle stays where it is at rest
        hip = pelvis_pos + R_pelvis @ off[ih]        # (T, 3)
        w = target - hip                             # hip -> ankle, world
        d = np.linalg.norm(w, axis=-1)
        # knee flexion about X: |a + Rx(th) b| = d  ->  cos(th + ang(q) - ang(p)) = C
        p_ang = np.arctan2(a[2], a[1])
        q_ang = np.arctan2(b[2], b[1])
        pn, qn = np.hypot(a[1], a[2]), np.hypot(b[1], b[2])
        C = (d * d - a @ a - b @ b - 2 * a[0] * b[0]) / (2 * pn * qn)
        th = np.arccos(np.clip(C, -1.0, 1.0)) + p_ang - q_ang   # the flexing branch (rest: th = 0)
        th = np.where(th > np.pi, th - 2 * np.pi, th)
        c, s = np.cos(th), np.sin(th)
        Rk = np.zeros((len(th), 3, 3))
        Rk[:, 0, 0] = 1.0
        Rk[:, 1, 1], Rk[:, 1, 2], Rk[:, 2, 1], Rk[:, 2, 2] = c, -s, s, c
        v = a + Rk @ b                               # hip -> ankle in the hip's rest frame
        # world hip rotation: the minimal rotation taking v onto w (keeps the knee facing forward)
        axis = np.cross(v, w)
        sin_ = np.linalg.norm(axis, axis=-1)
        cos_ = np.einsum("ti,ti->t", v, w)
        ang = np.arctan2(sin_, cos_)
        aa = axis * (ang / np.where(sin_ > 1e-12, sin_, 1.0))[:, None]
        R_hip_w = axis_angle_to_matrix(aa)
        R_knee_w = R_hip_w @ Rk
        out[f"{sd}_hip"] = np.swapaxes(R_pelvis, -1, -2) @ R_hip_w
        out[f"{sd}_knee"] = Rk
        out[f"{sd}_ankle"] = np.swapaxes(R_knee_w, -1, -2)   # foot keeps its rest world orientation
    return out


def reach_drop(rig: BodyRig, R_pelvis: np.ndarray, pelvis_pos: np.ndarray) -> np.ndarray:
    """(T,) extra (>= 0) pelvis lowering in metres so neither leg must extend beyond its rest hip-ankle length."""
    off = rig.sk.offsets_m
    need = np.zeros(len(pelvis_pos))
    for sd in ("left", "right"):
        ih, ik, ia = rig.i[f"{sd}_hip"], rig.i[f"{sd}_knee"], rig.i[f"{sd}_ankle"]
        reach = np.linalg.norm(off[ik] + off[ia])
        hip = pelvis_pos + R_pelvis @ off[ih]
        w = hip - rig.rest[ia]
        horiz2 = w[:, 0] ** 2 + w[:, 2] ** 2
        allowed = np.sqrt(np.maximum(reach ** 2 - horiz2, 0.0))
        need = np.maximum(need, w[:, 1] - allowed)
    beta = REACH_SOFTPLUS_M
    return beta * np.logaddexp(0.0, need / beta)


def put_legs(aa: np.ndarray, rig: BodyRig, legs: dict[str, np.ndarray], clamped: set[str]) -> None:
    """Write the :func:`leg_ik` rotations into the axis-angles ``aa`` (n, J, 3), clamped to the joint limits;
    the names of clamped joints are added to ``clamped``."""
    for name, Rl in legs.items():
        j = rig.i[name]
        e = matrix_to_euler(Rl)
        if np.any(e < rig.lo[j]) or np.any(e > rig.hi[j]):
            clamped.add(name)
            aa[:, j] = euler_to_axis_angle(np.clip(e, rig.lo[j], rig.hi[j]))
        else:
            aa[:, j] = matrix_to_axis_angle(Rl)
