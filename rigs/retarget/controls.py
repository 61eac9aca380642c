"""Control rigs: which animator controls reproduce a retargeted deform pose, and their pose values (numpy only).

A generated Rigify rig moves its ``DEF-`` bones through constraints from ``ORG-``/``MCH-`` bones that follow the
controls an animator keys (``torso``, the FK and IK limb controls, ``neck``, ``head``...); keys written on
``DEF-`` bones are overridden by those constraints and do nothing. A retarget map's ``controls`` section lists,
parents first, the controls that reproduce the deform pose (:class:`ControlSpec`): each control *follows* one
deform bone (it must move rigidly with it, as Rigify's FK controls, IK hand/foot controls and the torso do),
relative to the motion of an earlier control (its *parent*) or of the armature (none). Two Rigify parenting
tricks are modelled: a *blend* (a Copy Rotation / Copy Transforms constraint with an influence slider such as
``neck_follow``, ``head_follow``, ``FK_limb_follow``, ``eyes_follow``: the parent's rotation slerps toward
another control's, or the armature's) and an *aim* (a Damped Track: the parent's Y axis swings toward another
control's head, as Rigify's IK swing bones do). The root control of a two-bone IK chain with a hinged middle
joint (Rigify's ``upper_arm_ik``/``thigh_ik``: the forearm and shin bend about their X axis only) gets an
*ik* orientation instead of a copy of its deform bone's: its Y axis along the desired upper segment and its X
axis normal to the plane through the desired elbow (knee) and wrist (ankle), so Blender's IK solver, reaching
for the hand (foot) control, lands the elbow where the deform pose has it.

With ``D_x(t)`` the rigid motion (4x4, armature space) that takes bone ``x``'s rest placement to its pose, a
control ``c`` with rest matrix ``B_c`` gets the pose basis ``B_c^-1 D_parent^-1 D_c B_c`` (Blender's pose-bone
convention), where ``D_c`` is its deform bone's motion about the control's anchor point. Keying both the FK
and the IK controls of every limb leaves Rigify's IK/FK switches where the artist put them and shows the
motion either way.

References: Blender 5.0 manual, Rigify (human meta-rig, limbs.super_limb, spines.basic_spine, face
properties ``neck_follow``/``head_follow``/``FK_limb_follow``/``IK_FK``); Blender pose-bone matrix convention
(``matrix = parent_pose @ parent_rest^-1 @ rest @ basis``); Shoemake 1985 (slerp).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import RigError
from ..core.rotations import continuous_quaternions, matrix_to_quaternion, quaternion_to_matrix
from .solve import shortest_rotation


@dataclass(frozen=True)
class ControlSpec:
    """One control bone of a control rig (see the module docstring).

    bone: the control; follows: the deform bone it moves with; parent: the earlier control whose motion
    it is keyed relative to (None: the armature); anchor: the bone whose head pins the control's motion
    (default ``follows``); location/rotation: which channels are keyed; blend: ``(toward, (bone,
    property), default, mix)`` with toward a control name or None (the armature) and mix ``"rotation"``
    or ``"transforms"``; aim: a control whose head the parent's Y axis tracks; ik: ``(mid, end)`` deform
    bones of a hinged two-bone chain this control roots (see the module docstring); optional: skipped when
    its bones are missing instead of disabling the whole control rig.
    """

    bone: str
    follows: str
    parent: str | None = None
    anchor: str | None = None
    location: bool = False
    rotation: bool = True
    blend: tuple | None = None
    aim: str | None = None
    ik: tuple | None = None
    optional: bool = False

    @classmethod
    def from_json(cls, d: dict, source: str = "controls") -> "ControlSpec":
        try:
            blend = None
            if d.get("blend"):
                b = d["blend"]
                prop = tuple(b["influence"]) if b.get("influence") else None
                mix = b.get("mix", "rotation")
                if mix not in ("rotation", "transforms"):
                    raise RigError(f"{source}: {d['bone']}: blend mix must be 'rotation' or 'transforms'")
                blend = (b.get("toward"), prop, float(b.get("default", 0.0)), mix)
            return cls(bone=str(d["bone"]), follows=str(d["follows"]), parent=d.get("parent"),
                       anchor=d.get("anchor"), location=bool(d.get("location", False)),
                       rotation=bool(d.get("rotation", True)), blend=blend, aim=d.get("aim"),
                       ik=tuple(d["ik"]) if d.get("ik") else None, optional=bool(d.get("optional", False)))
        except (KeyError, TypeError) as e:
            raise RigError(f"{source}: not a valid control entry {d!r} ({e})") from None

    def bones_needed(self) -> set[str]:
        need = {self.bone, self.follows, self.anchor or self.follows} | set(self.ik or ())
        if self.blend and self.blend[1]:
            need.add(self.blend[1][0])
        return need

    def motion_bones(self) -> set[str]:
        """The deform bones whose motion the control needs."""
        return {self.follows, self.anchor or self.follows} | set(self.ik or ())


@dataclass(frozen=True)
class ControlPose:
    """Pose values for one control: ``quaternions`` (T, 4) w-first or None, ``locations`` (T, 3) or None,
    both in the bone's own rest frame (Blender's ``rotation_quaternion`` and ``location``)."""

    quaternions: np.ndarray | None
    locations: np.ndarray | None


def usable_controls(specs, bone_names) -> tuple[ControlSpec, ...]:
    """The specs a rig can use: () unless every required control (and its bones) exists; optional
    controls whose bones or parent are missing are dropped."""
    have = set(bone_names)
    kept: list[ControlSpec] = []
    names: set[str] = set()
    for s in specs:
        ok = s.bones_needed() <= have and (s.parent is None or s.parent in names) \
            and (s.aim is None or s.aim in names) and (not s.blend or s.blend[0] is None or s.blend[0] in names)
        if not ok:
            if s.optional:
                continue
            return ()
        kept.append(s)
        names.add(s.bone)
    return tuple(kept)


def rigid_motion(world_rotations: np.ndarray, world_positions: np.ndarray, rest_rotation: np.ndarray,
                 rest_head: np.ndarray) -> np.ndarray:
    """(T, 4, 4) rigid motion of a bone: its world rotation change and the translation that takes its rest
    head to its posed head (armature space)."""
    W = np.asarray(world_rotations, dtype=np.float64)
    T = W.shape[0]
    D = np.zeros((T, 4, 4))
    D[:, :3, :3] = W @ np.asarray(rest_rotation, dtype=np.float64).T
    D[:, :3, 3] = np.asarray(world_positions) - D[:, :3, :3] @ np.asarray(rest_head, dtype=np.float64)
    D[:, 3, 3] = 1.0
    return D


def _about(R: np.ndarray, point_rest: np.ndarray, point_now: np.ndarray) -> np.ndarray:
    """(T, 4, 4) rotations R (T, 3, 3) that take ``point_rest`` (3,) to ``point_now`` (T, 3)."""
    T = R.shape[0]
    D = np.zeros((T, 4, 4))
    D[:, :3, :3] = R
    D[:, :3, 3] = point_now - R @ point_rest
    D[:, 3, 3] = 1.0
    return D


def _apply(D: np.ndarray, p: np.ndarray) -> np.ndarray:
    return D[:, :3, :3] @ np.asarray(p, dtype=np.float64) + D[:, :3, 3]


def _slerp(Ra: np.ndarray, Rb: np.ndarray, w: float) -> np.ndarray:
    """(T, 3, 3) rotations a fraction ``w`` of the way from Ra to Rb (quaternion slerp, as Blender blends
    constraint results)."""
    if w <= 0.0:
        return Ra
    if w >= 1.0:
        return Rb
    qa, qb = matrix_to_quaternion(Ra), matrix_to_quaternion(Rb)
    dot = np.sum(qa * qb, axis=-1, keepdims=True)
    qb = np.where(dot < 0, -qb, qb)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    s = np.sin(theta)
    small = s < 1e-9
    a = np.where(small, 1.0 - w, np.sin((1.0 - w) * theta) / np.where(small, 1.0, s))
    b = np.where(small, w, np.sin(w * theta) / np.where(small, 1.0, s))
    q = a * qa + b * qb
    return quaternion_to_matrix(q / np.linalg.norm(q, axis=-1, keepdims=True))


def _hinge_rotation(R_follow: np.ndarray, B: np.ndarray, root: np.ndarray, mid: np.ndarray,
                    end: np.ndarray) -> np.ndarray:
    """(T, 3, 3) world rotation change for the root control of a hinged chain (rest 3x3 ``B``): its Y axis
    along root -> mid, its X axis normal to the root-mid-end plane on the side of the deform bone's own X
    (``R_follow @ B``); where the chain is straight, the deform bone's twist is kept."""
    W_follow = R_follow @ B                                 # (T, 3, 3) desired orientation of the deform bone
    y = mid - root
    y = y / np.maximum(np.linalg.norm(y, axis=-1, keepdims=True), 1e-12)
    x_ref = W_follow[:, :, 0]
    n = np.cross(y, end - root)
    nn = np.linalg.norm(n, axis=-1, keepdims=True)
    x_ref_perp = x_ref - y * np.sum(x_ref * y, axis=-1, keepdims=True)
    x = np.where(nn > 1e-6, n * np.sign(np.sum(n * x_ref, axis=-1, keepdims=True) + 1e-30), x_ref_perp)
    x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    W = np.stack([x, y, np.cross(x, y)], axis=-1)          # columns x, y, z
    return W @ np.asarray(B, dtype=np.float64).T


def solve_controls(specs, motions: dict, rest: dict, *, settings: dict | None = None) -> dict[str, ControlPose]:
    """Pose values for control rig ``specs`` (parents first) that reproduce the deform motion.

    motions: deform bone -> (T, 4, 4) rigid motion (:func:`rigid_motion`); rest: bone -> (rest 3x3, head (3,))
    in armature space for every control and deform bone named; settings: ``(bone, property) -> value`` of
    the rig's blend sliders (a missing one takes the spec's default).
    Returns control name -> :class:`ControlPose`.
    """
    settings = settings or {}
    done: dict[str, np.ndarray] = {}  # control -> (T, 4, 4) motion it ends up with
    out: dict[str, ControlPose] = {}
    T = next(iter(motions.values())).shape[0] if motions else 0
    eye = np.broadcast_to(np.eye(4), (T, 4, 4))
    for s in specs:
        if s.follows not in motions:
            raise RigError(f"control {s.bone}: no motion for the bone it follows ({s.follows})")
        B, h = (np.asarray(x, dtype=np.float64) for x in rest[s.bone])
        anchor = s.anchor or s.follows
        D_follow = motions[s.follows]
        h_anchor = np.asarray(rest[anchor][1], dtype=np.float64)
        R_c = D_follow[:, :3, :3]
        if s.ik:
            R_c = _hinge_rotation(R_c, B, *(_apply(motions[b], rest[b][1]) for b in (s.follows, *s.ik)))
        D_c = _about(R_c, h_anchor, _apply(motions[anchor], h_anchor))
        # the parent's motion: an earlier control's, or the armature's, then blended and aimed
        P = done[s.parent] if s.parent else eye
        if s.blend:
            toward, prop, default, mix = s.blend
            w = float(settings.get(prop, default)) if prop else default
            Q = done[toward] if toward else eye
            R = _slerp(P[:, :3, :3], Q[:, :3, :3], w)
            if mix == "transforms":
                point = (1.0 - w) * _apply(P, h) + w * _apply(Q, h)
            else:
                point = _apply(P, h)
            P = _about(R, h, point)
        if s.aim:
            h_aim = np.asarray(rest[s.aim][1], dtype=np.float64)
            now = _apply(done[s.aim], h_aim) - _apply(P, h)
            swing = shortest_rotation(P[:, :3, :3] @ (h_aim - h), now)
            P = _about(swing @ P[:, :3, :3], h, _apply(P, h))
        # Blender: pose = P @ B @ basis  ==  D_c @ B   =>  basis = B^-1 P^-1 D_c B
        B4 = np.eye(4)
        B4[:3, :3], B4[:3, 3] = B, h
        basis = np.linalg.inv(B4)[None] @ np.linalg.inv(P) @ D_c @ B4[None]
        q = continuous_quaternions(matrix_to_quaternion(basis[:, :3, :3])) if s.rotation else None
        out[s.bone] = ControlPose(quaternions=q, locations=basis[:, :3, 3].copy() if s.location else None)
        done[s.bone] = D_c
    return out
