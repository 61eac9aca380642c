"""Rest skeletons: what any rig provides to retargeting (numpy only).

A :class:`RestSkeleton` is what any rig provides: joint/bone ``names``, ``parents`` (parents before
children, -1 for roots), rest ``positions`` (J, 3) of each joint (Blender: bone heads in armature
space) and rest ``rotations`` (J, 3, 3) of each bone frame (Blender: ``bone.matrix_local`` 3x3; the
identity for BVH, SMPL-X and the canonical skeleton, whose joint frames are parallel to the world
axes), plus the rig's ``up``/``forward`` axes. Local rotations follow Blender's pose convention::

    W_j = W_parent @ (Rrest_parent^T @ Rrest_j) @ L_j          (world rotation of bone j)
    P_j = P_parent + W_parent @ Rrest_parent^T @ (rest_j - rest_parent) + W_parent @ Rrel_j @ loc_j

so ``L_j`` is ``pose_bone.matrix_basis`` rotation and ``loc_j`` its ``location``; for the canonical
skeleton ``L_j`` is the clip's axis-angle joint rotation and ``loc_root`` the clip's root translation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import RigError
from ..core.rotations import axis_angle_to_matrix
from ..core.skeleton import canonical_skeleton, forward_kinematics, parents_first


@dataclass(frozen=True)
class RestSkeleton:
    """A rig's rest pose; see the module docstring for the conventions."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    positions: np.ndarray  # (J, 3)
    rotations: np.ndarray  # (J, 3, 3)
    up: str = "Y"
    forward: str = "Z"

    def __post_init__(self):
        J = len(self.names)
        if len(self.parents) != J or np.shape(self.positions) != (J, 3) or np.shape(self.rotations) != (J, 3, 3):
            raise RigError("rest skeleton: names, parents, positions and rotations disagree in length")
        for i, p in enumerate(self.parents):
            if not -1 <= p < i:
                raise RigError(f"rest skeleton: bone {self.names[i]!r} must come after its parent")
        if len(set(self.names)) != J:
            raise RigError("rest skeleton: duplicate bone names")

    @classmethod
    def from_bones(cls, names, parent_names, positions, rotations, *, up: str = "Z",
                   forward: str = "-Y") -> "RestSkeleton":
        """Build from bones in any order (parents are reordered first), e.g. from a Blender armature::

            bones = arm.data.bones
            RestSkeleton.from_bones([b.name for b in bones],
                                    [b.parent.name if b.parent else None for b in bones],
                                    [b.head_local[:] for b in bones],
                                    [[r[:3] for r in b.matrix_local.to_3x3()] for b in bones])
        """
        names = list(names)
        par = dict(zip(names, parent_names))
        pos = dict(zip(names, np.asarray(positions, dtype=np.float64)))
        rot = dict(zip(names, np.asarray(rotations, dtype=np.float64)))
        order = parents_first(names, parent_names)
        idx = {n: i for i, n in enumerate(order)}
        parents = tuple(idx[par[n]] if par[n] in idx else -1 for n in order)
        return cls(tuple(order), parents, np.array([pos[n] for n in order]), np.array([rot[n] for n in order]),
                   up=up, forward=forward)

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise RigError(f"skeleton has no bone named {name!r}") from None

    def relative_rest(self) -> np.ndarray:
        """(J, 3, 3) rest rotation of each bone relative to its parent's (``Rrest_p^T Rrest_j``)."""
        out = np.array(self.rotations, dtype=np.float64)
        for j, p in enumerate(self.parents):
            if p >= 0:
                out[j] = self.rotations[p].T @ self.rotations[j]
        return out

    def is_descendant(self, j: int, ancestor: int) -> bool:
        while j >= 0:
            if j == ancestor:
                return True
            j = self.parents[j]
        return False

    def forward_kinematics(self, local_rotations: np.ndarray, translations: np.ndarray | None = None):
        """World rotations (T, J, 3, 3) and positions (T, J, 3) from local rotations (T, J, 3, 3)
        and optional local translations (T, J, 3) (pose ``location`` in each bone's rest frame)."""
        L = np.asarray(local_rotations, dtype=np.float64)  # (T, J, 3, 3)
        T, J = L.shape[:2]
        rel = self.relative_rest()
        R0 = np.asarray(self.rotations, dtype=np.float64)
        local = np.empty_like(L)
        off = np.empty((T, J, 3))
        for j, p in enumerate(self.parents):
            if p < 0:  # the root: rest rotation then pose; translation in its rest frame
                local[:, j] = R0[j] @ L[:, j]
                off[:, j] = self.positions[j]
                if translations is not None:
                    off[:, j] += translations[:, j] @ R0[j].T
            else:  # rest offset in the parent's rest frame, pose translation in the bone's rest frame
                local[:, j] = rel[j] @ L[:, j]
                off[:, j] = R0[p].T @ (self.positions[j] - self.positions[p])
                if translations is not None:
                    off[:, j] += translations[:, j] @ rel[j].T
        return forward_kinematics(self.parents, local, off)


def canonical_rest() -> RestSkeleton:
    """The canonical (SMPL-X body) skeleton as a :class:`RestSkeleton` (metres, Y up, +Z forward)."""
    sk = canonical_skeleton()
    J = sk.num_joints
    return RestSkeleton(sk.names, sk.parents, sk.rest_positions_m(), np.broadcast_to(np.eye(3), (J, 3, 3)).copy())


def bvh_rest(bvh, *, up: str = "Y", forward: str = "Z") -> RestSkeleton:
    """A BVH hierarchy as a :class:`RestSkeleton` (file units; joint frames parallel to the axes)."""
    J = bvh.num_joints
    return RestSkeleton(bvh.names, bvh.parents, bvh.rest_positions(), np.broadcast_to(np.eye(3), (J, 3, 3)).copy(),
                        up=up, forward=forward)


def bvh_motion(bvh) -> tuple[np.ndarray, np.ndarray]:
    """(local rotations (F, J, 3, 3), translations (F, J, 3)) of a BVH in :class:`RestSkeleton` terms."""
    trans = bvh.local_translations() - bvh.offsets[None]
    return bvh.local_rotations(), trans


def clip_motion(joint_angles_rad: np.ndarray, root_translation_m: np.ndarray | None = None):
    """(local rotations (T, J, 3, 3), translations (T, J, 3)) of a clip's canonical joint motion."""
    a = np.asarray(joint_angles_rad, dtype=np.float64)
    trans = np.zeros(a.shape[:2] + (3,))
    if root_translation_m is not None:
        trans[:, 0] = root_translation_m
    return axis_angle_to_matrix(a), trans
