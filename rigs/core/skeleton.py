"""The canonical skeleton (SMPL-X body joints), its end sites, and the one forward kinematics with numpy.

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

from .errors import RigError
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
            raise RigError("skeleton names, parents and offsets disagree in length")
        for i, p in enumerate(self.parents):
            if p >= i:
                raise RigError(f"joint {self.names[i]!r}: parent must come before the child")

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def rest_positions_m(self) -> np.ndarray:
        """(J, 3) world positions of the joints in the rest pose (root at its offset)."""
        return rest_positions(self.parents, self.offsets_m)

    def end_sites_m(self) -> dict[str, np.ndarray]:
        """Tip (3,) of each leaf bone (and the head) from its joint, metres, canonical axes."""
        return end_sites_m() if self.names == canonical_skeleton().names else {}

    def forward_kinematics(self, angles_rad: np.ndarray, root_translation_m: np.ndarray | None = None):
        """World rotations and positions of every joint.

        angles_rad: (T, J, 3) local axis-angle rotations; root_translation_m: (T, 3) or None.
        Returns ``(rotations (T, J, 3, 3), positions_m (T, J, 3))``.
        """
        local = axis_angle_to_matrix(np.asarray(angles_rad, dtype=np.float64))  # (T, J, 3, 3)
        offsets = np.broadcast_to(self.offsets_m, local.shape[:2] + (3,)).copy()  # (T, J, 3)
        root = self.parents.index(-1)
        if root_translation_m is not None:
            offsets[:, root] += np.asarray(root_translation_m, dtype=np.float64)
        return forward_kinematics(self.parents, local, offsets)


def rest_positions(parents, offsets: np.ndarray) -> np.ndarray:
    """(J, 3) rest positions from parent indices (parents first, -1 for a root) and (J, 3) offsets."""
    offsets = np.asarray(offsets, dtype=np.float64)
    pos = np.zeros((len(parents), 3))
    for i, p in enumerate(parents):
        pos[i] = offsets[i] + (pos[p] if p >= 0 else 0.0)
    return pos


def forward_kinematics(parents, local_rotations: np.ndarray, local_offsets: np.ndarray):
    """The one forward kinematics of a joint chain (parents first, -1 for a root).

    local_rotations: (T, J, 3, 3) each joint's rotation in its parent's frame; local_offsets: (T, J, 3) each
    joint's position in its parent's frame (a root's is its world position). Returns world
    ``(rotations (T, J, 3, 3), positions (T, J, 3))``: ``R_j = R_p @ L_j``, ``p_j = p_p + R_p @ o_j``.
    """
    local = np.asarray(local_rotations, dtype=np.float64)
    off = np.asarray(local_offsets, dtype=np.float64)
    rot = np.empty_like(local)
    pos = np.empty(off.shape)
    for j, p in enumerate(parents):
        if p < 0:
            rot[:, j] = local[:, j]
            pos[:, j] = off[:, j]
        else:
            rot[:, j] = rot[:, p] @ local[:, j]
            pos[:, j] = pos[:, p] + np.einsum("tij,tj->ti", rot[:, p], off[:, j])
    return rot, pos


def parents_first(names, parent_names) -> list:
    """``names`` reordered so every parent comes before its children (depth first, input order kept among
    siblings); a parent name not among ``names`` makes a root. Raises RigError on a cycle."""
    names = list(names)
    par = dict(zip(names, parent_names))
    kids: dict = {}
    for n in names:
        kids.setdefault(par[n] if par[n] in par else None, []).append(n)
    order, stack = [], list(reversed(kids.get(None, [])))
    while stack:
        n = stack.pop()
        order.append(n)
        stack.extend(reversed(kids.get(n, [])))
    if len(order) != len(names):
        raise RigError("joint parents form a cycle")
    return order


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


def end_sites_m() -> dict[str, np.ndarray]:
    """The canonical skeleton's end sites (see :meth:`Skeleton.end_sites_m`)."""
    return {k: np.asarray(v, dtype=np.float64) for k, v in _raw()["end_sites_m"].items()}
