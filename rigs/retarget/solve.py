"""Retargeting motion between skeletons with different rest poses, bone rolls and axes (numpy only).

All source quantities are first expressed in the target's axes (``C = axes(target) @ axes(source)^T``).
For every mapped bone ``j`` a *direction child* is chosen from a preference list (pelvis: spine1, then
the hips; spine3: neck, then the collars; limbs: the next joint down the chain), skipping children
that are not mapped, not descendants of ``j`` in the target, or at zero distance. Its rest direction
in source and target defines an alignment ``A_j`` (the shortest rotation taking the source rest
direction onto the target's, then a twist about it that best lines up the other children:
"rest-orientation delta"). Per frame the source bone's world rotation change ``D_s = W_s Rrest_s^T``
is corrected by the swing that takes ``D_s d_rest`` onto the bone's actual world direction (this
absorbs unmapped intermediate source joints), and the target bone gets
``W_t = D_s' A_j^T Rrest_t``: its world direction equals the source's while the source twist is
carried over. Bones without a usable child (hands, feet tips, head, jaw, eyes) inherit the
alignment of their nearest mapped ancestor, so an A-pose hand stays straight on its forearm.
Per-bone ``mode`` ``"rest"`` (what a bake uses for every joint but the upper arms) skips the
bone's own alignment and inherits its canonical parent's (identity at the root): the bone keeps its
rest posture relative to its parent and adds the source's motion, so a rig's shrugged collars, bowed
head or lowered eyes stay as modelled where the source is at rest, while the upper arms (``"direction"``)
still absorb the A-pose/T-pose convention. Unmapped target bones keep their rest pose relative to
their parent (intermediate spine/twist bones follow rigidly); local rotations are recovered from world ones by the convention above. The top
mapped bone also gets the source root motion, scaled by the ratio of leg lengths.

References: Gleicher 1998, "Retargetting Motion to New Characters" (direction/length separation);
Monzani et al. 2000 (intermediate skeleton, rest-pose alignment); Blender pose-bone matrix convention.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import RigError
from ..core.rotations import axes_matrix, axis_angle_to_matrix, matrix_to_axis_angle
from ..core.skeleton import canonical_skeleton
from .maps import RetargetMap, load_map, resolve_bones
from .rest import RestSkeleton, bvh_motion, bvh_rest, canonical_rest, clip_motion

# canonical joint -> children whose direction defines the bone, best first
DIRECTION_CHILDREN: dict[str, tuple[str, ...]] = {
    "pelvis": ("spine1", "left_hip", "right_hip"),
    "spine1": ("spine2",), "spine2": ("spine3",),
    "spine3": ("neck", "left_collar", "right_collar"),
    "neck": ("head",),
    "left_hip": ("left_knee",), "left_knee": ("left_ankle",), "left_ankle": ("left_foot",),
    "right_hip": ("right_knee",), "right_knee": ("right_ankle",), "right_ankle": ("right_foot",),
    "left_collar": ("left_shoulder",), "left_shoulder": ("left_elbow",), "left_elbow": ("left_wrist",),
    "right_collar": ("right_shoulder",), "right_shoulder": ("right_elbow",), "right_elbow": ("right_wrist",),
}


RETARGET_MODES = ("direction", "rest", "rotation")


@dataclass(frozen=True)
class RetargetResult:
    """Target motion: ``local_rotations`` (T, J, 3, 3) and ``translations`` (T, J, 3) in the target's
    pose convention, their ``world_rotations``/``world_positions``, the ``bones`` used (canonical ->
    target name) and ``root_scale`` (target/source length ratio applied to root motion)."""

    local_rotations: np.ndarray
    translations: np.ndarray
    world_rotations: np.ndarray
    world_positions: np.ndarray
    bones: dict
    root_scale: float


def _unit(v, eps=1e-12):
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, eps)


def shortest_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3) the smallest rotation taking direction(s) ``a`` onto ``b`` (both (..., 3))."""
    a, b = _unit(np.asarray(a, np.float64)), _unit(np.asarray(b, np.float64))
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1, keepdims=True)
    c = np.sum(a * b, axis=-1, keepdims=True)
    ang = np.arctan2(s, c)
    # anti-parallel: rotate by pi about any axis perpendicular to a
    anti = (s[..., 0] < 1e-9) & (c[..., 0] < 0)
    if np.any(anti):
        perp = np.cross(a, np.array([1.0, 0.0, 0.0]))
        perp = np.where(np.linalg.norm(perp, axis=-1, keepdims=True) < 1e-6, np.cross(a, np.array([0.0, 1.0, 0.0])), perp)
        axis = np.where(anti[..., None], perp, axis)
        s = np.where(anti[..., None], 1.0, s)
    return axis_angle_to_matrix(axis / np.maximum(s, 1e-300) * ang)


def _align(src_primary, tgt_primary, src_others, tgt_others) -> np.ndarray:
    """Rotation taking src_primary onto tgt_primary, twisted about it to best match the others."""
    A = shortest_rotation(src_primary, tgt_primary)
    if not src_others:
        return A
    ax = _unit(np.asarray(tgt_primary, np.float64))
    sin_sum = cos_sum = 0.0
    for s, t in zip(src_others, tgt_others):
        u = A @ np.asarray(s, np.float64)
        u = u - ax * (u @ ax)
        v = np.asarray(t, np.float64) - ax * (np.asarray(t) @ ax)
        sin_sum += ax @ np.cross(u, v)
        cos_sum += u @ v
    if abs(sin_sum) + abs(cos_sum) < 1e-12:
        return A
    return axis_angle_to_matrix(ax * np.arctan2(sin_sum, cos_sum)) @ A


def _chain(canon: str, mapped) -> str | None:
    """The first mapped joint following ``canon`` down its preferred chain (itself if mapped)."""
    while canon is not None:
        if canon in mapped:
            return canon
        kids = DIRECTION_CHILDREN.get(canon, ())
        canon = kids[0] if kids else None
    return None


def retarget(source: RestSkeleton, source_rotations: np.ndarray, target: RestSkeleton, *,
             source_bones: dict, target_bones: dict, source_translations: np.ndarray | None = None,
             options: dict | None = None, scale_root: bool = True,
             root_mode: str = "absolute") -> RetargetResult:
    """Retarget motion from ``source`` to ``target`` (see the module docstring).

    source_rotations: (T, Js, 3, 3) source local rotations; source_translations: (T, Js, 3) or None.
    source_bones / target_bones: canonical joint -> bone name in each skeleton; joints present in
    both are retargeted. options: per canonical joint ``{"mode": "direction" | "rest" | "rotation"}``
    (see the module docstring; default ``"direction"``).
    root_mode: ``"absolute"`` (default) places the top mapped bone at ``root_scale`` times the source
    root's position, both measured from their world origins (the floor under the character in
    BVH, SMPL-X and Blender rigs); ``"relative"`` adds the scaled displacement from the source rest
    position to the target rest position instead.
    """
    options = options or {}
    Ls = np.asarray(source_rotations, dtype=np.float64)
    if Ls.ndim != 4 or Ls.shape[1:] != (source.num_joints, 3, 3):
        raise RigError(f"source rotations: shape {Ls.shape} does not match (T, {source.num_joints}, 3, 3)")
    T = Ls.shape[0]
    common = [c for c in canonical_skeleton().names if c in source_bones and c in target_bones]
    if not common:
        raise RigError("retarget: source and target share no mapped bones")
    s_idx = {c: source.index(source_bones[c]) for c in common}
    t_idx = {c: target.index(target_bones[c]) for c in common}
    t_canon = {v: k for k, v in t_idx.items()}
    # bring the source into the target's axes
    C = axes_matrix(target.up, target.forward) @ axes_matrix(source.up, source.forward).T
    Ws, Ps = source.forward_kinematics(Ls, source_translations)
    Ws = C @ Ws
    Ps = Ps @ C.T
    Rs0 = C @ np.asarray(source.rotations)
    ps0 = np.asarray(source.positions) @ C.T
    pt0 = np.asarray(target.positions, dtype=np.float64)
    Ds = Ws @ np.swapaxes(Rs0, -1, -2)[None]  # (T, Js, 3, 3) world rotation change of each source joint

    s_size = max(np.ptp(ps0, axis=0).max(), 1e-9)
    t_size = max(np.ptp(pt0, axis=0).max(), 1e-9)

    def src_rest_vec(c0, c):
        """Source rest vector c0 -> c, extended down c's chain while degenerate; (vec, exact)."""
        v = ps0[s_idx[c]] - ps0[s_idx[c0]]
        exact = np.linalg.norm(v) > 1e-4 * s_size
        while np.linalg.norm(v) <= 1e-4 * s_size:
            nxt = DIRECTION_CHILDREN.get(c, ())
            nxt = _chain(nxt[0], s_idx) if nxt else None
            if nxt is None:
                return None, False
            c = nxt
            v = ps0[s_idx[c]] - ps0[s_idx[c0]]
        return v, exact

    # per mapped joint: alignment, primary child, whether per-frame swing correction applies
    align: dict[str, np.ndarray] = {}
    primary: dict[str, tuple[str, bool, np.ndarray]] = {}
    canon_parents = canonical_skeleton().parents
    canon_names = canonical_skeleton().names
    for c in common:
        cands = []
        for k in DIRECTION_CHILDREN.get(c, ()):
            kc = _chain(k, t_idx)
            if kc is None or kc not in s_idx:
                continue
            if not target.is_descendant(t_idx[kc], t_idx[c]):
                continue
            tv = pt0[t_idx[kc]] - pt0[t_idx[c]]
            if np.linalg.norm(tv) <= 1e-4 * t_size:
                continue
            sv, exact = src_rest_vec(c, kc)
            if sv is None:
                continue
            cands.append((kc, exact, sv, tv))
        mode = options.get(c, {}).get("mode", "direction")
        if mode not in RETARGET_MODES:
            raise RigError(f"retarget option for {c!r}: mode must be one of {RETARGET_MODES}, got {mode!r}")
        if mode == "rotation":
            align[c] = np.eye(3)
            continue
        if not cands or mode == "rest":
            # inherit from the nearest mapped canonical ancestor
            a = canon_parents[canon_names.index(c)]
            while a >= 0 and canon_names[a] not in align:
                a = canon_parents[a]
            align[c] = align[canon_names[a]] if a >= 0 else np.eye(3)
            continue
        cands.sort(key=lambda x: not x[1])  # exact source segments first, keeping preference order
        kc, exact, sv, tv = cands[0]
        others = cands[1:]
        align[c] = _align(sv, tv, [o[2] for o in others], [o[3] for o in others])
        primary[c] = (kc, exact, sv)

    # world rotations of every target bone
    Jt = target.num_joints
    Rt0 = np.asarray(target.rotations, dtype=np.float64)
    rel = target.relative_rest()
    Wt = np.empty((T, Jt, 3, 3))
    for j, p in enumerate(target.parents):
        c = t_canon.get(j)
        if c is None:
            Wt[:, j] = Rt0[j] if p < 0 else Wt[:, p] @ rel[j]
            continue
        D = Ds[:, s_idx[c]]
        if c in primary and primary[c][1]:
            kc, _, sv = primary[c]
            actual = Ps[:, s_idx[kc]] - Ps[:, s_idx[c]]
            predicted = D @ sv
            D = shortest_rotation(predicted, actual) @ D
        Wt[:, j] = D @ align[c].T @ Rt0[j]
    # local rotations
    Lt = np.empty_like(Wt)
    for j, p in enumerate(target.parents):
        parent_w = Rt0[None, j] if p < 0 else Wt[:, p] @ rel[j]
        Lt[:, j] = np.swapaxes(parent_w, -1, -2) @ Wt[:, j]
    # root motion on the top mapped bone
    top = min(common, key=lambda c: t_idx[c])
    scale = 1.0
    if scale_root:
        def leg(pos, idx):
            if all(k in idx for k in ("left_hip", "left_knee", "left_ankle")):
                return (np.linalg.norm(pos[idx["left_knee"]] - pos[idx["left_hip"]])
                        + np.linalg.norm(pos[idx["left_ankle"]] - pos[idx["left_knee"]]))
            return None
        ls, lt = leg(ps0, s_idx), leg(pt0, t_idx)
        scale = float(lt / ls) if ls and lt else float(t_size / s_size)
    if root_mode == "absolute":
        desired = scale * Ps[:, s_idx[top]]
    elif root_mode == "relative":
        desired = pt0[t_idx[top]] + scale * (Ps[:, s_idx[top]] - ps0[s_idx[top]])
    else:
        raise RigError(f"root_mode must be 'absolute' or 'relative', got {root_mode!r}")
    trans = np.zeros((T, Jt, 3))
    jt = t_idx[top]
    _, P_tmp = target.forward_kinematics(Lt)  # positions without root motion
    frame = (np.broadcast_to(Rt0[jt], (T, 3, 3)) if target.parents[jt] < 0
             else Wt[:, target.parents[jt]] @ rel[jt])
    trans[:, jt] = np.einsum("tji,tj->ti", frame, desired - P_tmp[:, jt])
    Wt2, Pt = target.forward_kinematics(Lt, trans)
    return RetargetResult(local_rotations=Lt, translations=trans, world_rotations=Wt2, world_positions=Pt,
                          bones={c: target.names[t_idx[c]] for c in common}, root_scale=scale)


def retarget_with_maps(source: RestSkeleton, source_rotations, target: RestSkeleton, *, source_map,
                       target_map, source_translations=None, root_mode: str = "absolute") -> RetargetResult:
    """:func:`retarget` with bones resolved from two maps (names or :class:`RetargetMap`)."""
    sm = source_map if isinstance(source_map, RetargetMap) else load_map(source_map)
    tm = target_map if isinstance(target_map, RetargetMap) else load_map(target_map)
    opts = {**sm.options, **tm.options}
    return retarget(source, source_rotations, target, source_bones=resolve_bones(sm, source.names),
                    target_bones=resolve_bones(tm, target.names), source_translations=source_translations,
                    options=opts, root_mode=root_mode)


def retarget_clip(joint_angles_rad, root_translation_m, target: RestSkeleton, target_map) -> RetargetResult:
    """Canonical clip motion (T, 25, 3) axis-angle + (T, 3) root metres onto a target rig."""
    L, tr = clip_motion(joint_angles_rad, root_translation_m)
    return retarget_with_maps(canonical_rest(), L, target, source_map="smplx", target_map=target_map,
                              source_translations=tr)


def bvh_to_canonical(bvh, *, source_map="cmu_bvh") -> tuple[np.ndarray, np.ndarray]:
    """A BVH's motion on the canonical skeleton: (joint_angles_rad (F, 25, 3), root_translation_m (F, 3)).

    Root motion is scaled by the leg-length ratio, so it comes out in metres whatever the file units.
    """
    L, tr = bvh_motion(bvh)
    res = retarget_with_maps(bvh_rest(bvh), L, canonical_rest(), source_map=source_map, target_map="smplx",
                             source_translations=tr)
    return matrix_to_axis_angle(res.local_rotations), res.translations[:, 0]
