"""The canonical skeleton (SMPL-X body joints) and forward kinematics with numpy.

Joint angles in a clip are local axis-angle rotations (radians) relative to the rest pose, one per
joint in this order, exactly as SMPL-X stores ``global_orient``/``body_pose``/``jaw_pose``/eye poses,
so SMPL-X data (BEAT2, EMAGE) maps onto it one to one.

References: Pavlakos et al. 2019 (SMPL-X); Loper et al. 2015 (SMPL).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .rotations import axis_angle_to_matrix

_DATA = Path(__file__).resolve().parent / "data" / "skeleton_smplx.json"


@dataclass(frozen=True)
class Skeleton:
    """A joint hierarchy: names, parent indices (-1 for the root) and rest offsets in metres."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets_m: np.ndarray  # (J, 3) offset of each joint from its parent in the rest pose

    def __post_init__(self):
        if len(self.names) != len(self.parents) or self.offsets_m.shape != (len(self.names), 3):
            raise ValueError("skeleton names, parents and offsets disagree in length")
        for i, p in enumerate(self.parents):
            if p >= i:
                raise ValueError(f"joint {self.names[i]!r}: parent must come before the child")

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def rest_positions_m(self) -> np.ndarray:
        """(J, 3) world positions of the joints in the rest pose (root at its offset)."""
        pos = np.zeros((self.num_joints, 3))
        for i, p in enumerate(self.parents):
            pos[i] = self.offsets_m[i] + (pos[p] if p >= 0 else 0.0)
        return pos

    def forward_kinematics(self, angles_rad: np.ndarray, root_translation_m: np.ndarray | None = None):
        """World rotations and positions of every joint.

        angles_rad: (T, J, 3) local axis-angle rotations; root_translation_m: (T, 3) or None.
        Returns ``(rotations (T, J, 3, 3), positions_m (T, J, 3))``.
        """
        angles_rad = np.asarray(angles_rad, dtype=np.float64)
        T = angles_rad.shape[0]
        local = axis_angle_to_matrix(angles_rad)  # (T, J, 3, 3)
        rot = np.empty_like(local)
        pos = np.empty((T, self.num_joints, 3))
        for i, p in enumerate(self.parents):
            if p < 0:
                rot[:, i] = local[:, i]
                pos[:, i] = self.offsets_m[i]
                if root_translation_m is not None:
                    pos[:, i] += np.asarray(root_translation_m, dtype=np.float64)
            else:
                rot[:, i] = rot[:, p] @ local[:, i]
                pos[:, i] = pos[:, p] + np.einsum("tij,j->ti", rot[:, p], self.offsets_m[i])
        return rot, pos


@lru_cache(maxsize=1)
def _raw() -> dict:
    with open(_DATA, encoding="utf-8") as f:
        return json.load(f)


@lru_cache(maxsize=1)
def canonical_skeleton() -> Skeleton:
    """The SMPL-X body skeleton (25 joints: 22 body, jaw, two eyes)."""
    j = _raw()["joints"]
    return Skeleton(
        names=tuple(x["name"] for x in j),
        parents=tuple(int(x["parent"]) for x in j),
        offsets_m=np.array([x["offset_m"] for x in j], dtype=np.float64),
    )


def joint_limits_rad() -> dict[str, np.ndarray]:
    """Per-joint (3, 2) XYZ-Euler limits in radians; joints not listed get +-90 degrees."""
    lim = _raw()["limits_deg"]
    out = {}
    for n in canonical_skeleton().names:
        out[n] = np.deg2rad(np.array(lim.get(n, [[-90, 90]] * 3), dtype=np.float64))
    return out
