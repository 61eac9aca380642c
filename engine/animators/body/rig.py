"""Skeleton bookkeeping of the procedural body: joint indices, Euler limits and rest positions of the
canonical SMPL-X skeleton (:func:`rigs.core.skeleton.canonical_skeleton`), and the mirrored arm poses.

Pose arrays in this package are XYZ Euler degrees (or radians) per joint, shape (..., J, 3).
"""
from __future__ import annotations

import numpy as np

from rigs.core.skeleton import canonical_skeleton, joint_limits_rad

# (x, y, z) Euler sign that mirrors a left-side rotation onto the right side (the rig is symmetric in X)
RIGHT_MIRROR = np.array([1.0, -1.0, -1.0])


class BodyRig:
    """Joint indices, limits and leg geometry of the canonical skeleton (built per call; cheap).

    ``sk`` the skeleton; ``J`` its joint count; ``i`` {joint name: index}; ``lo``/``hi`` (J, 3) XYZ Euler
    limits in radians; ``rest`` (J, 3) rest world positions in metres.
    """

    def __init__(self):
        sk = canonical_skeleton()
        self.sk = sk
        self.J = sk.num_joints
        self.i = {n: k for k, n in enumerate(sk.names)}
        lim = joint_limits_rad()
        self.lo = np.stack([lim[n][:, 0] for n in sk.names])  # (J, 3)
        self.hi = np.stack([lim[n][:, 1] for n in sk.names])
        self.rest = sk.rest_positions_m()


def add_arm(pose: np.ndarray, rig: BodyRig, side: str, **parts) -> None:
    """Add left-side Euler degrees to ``pose`` (..., J, 3) for ``side``; mirrored (x, -y, -z) on the right.

    ``parts``: {joint suffix (``collar``, ``shoulder``, ``elbow``, ``wrist``): (3,) Euler degrees}.
    """
    sign = np.array([1.0, 1.0, 1.0]) if side == "left" else RIGHT_MIRROR
    for part, v in parts.items():
        pose[..., rig.i[f"{side}_{part}"], :] += sign * np.asarray(v, dtype=np.float64)
