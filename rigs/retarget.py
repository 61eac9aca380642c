"""Retargeting motion between skeletons with different rest poses, bone rolls and axes (numpy only).

The add-on, the renderer and the BVH tools call these functions; nothing here needs Blender.

Skeletons
---------
A :class:`RestSkeleton` is what any rig provides: joint/bone ``names``, ``parents`` (parents before
children, -1 for roots), rest ``positions`` (J, 3) of each joint (Blender: bone heads in armature
space) and rest ``rotations`` (J, 3, 3) of each bone frame (Blender: ``bone.matrix_local`` 3x3; the
identity for BVH, SMPL-X and the canonical skeleton, whose joint frames are parallel to the world
axes), plus the rig's ``up``/``forward`` axes. Local rotations follow Blender's pose convention::

    W_j = W_parent @ (Rrest_parent^T @ Rrest_j) @ L_j          (world rotation of bone j)
    P_j = P_parent + W_parent @ Rrest_parent^T @ (rest_j - rest_parent) + W_parent @ Rrel_j @ loc_j

so ``L_j`` is ``pose_bone.matrix_basis`` rotation and ``loc_j`` its ``location``; for the canonical
skeleton ``L_j`` is the clip's axis-angle joint rotation and ``loc_root`` the clip's root translation.

Retarget maps (``rigs/data/maps/<name>.json``)
----------------------------------------------
::

    {
      "name": "mixamo",
      "description": "...",
      "space": {"up": "Z", "forward": "-Y"},      # default axes of the rig's armature space
      "bones": {"pelvis": ["mixamorig:Hips"], ...},  # canonical joint -> candidate bone names
      "optional": ["left_eye", "right_eye"],       # not required by detect_rig()
      "options": {"left_eye": {"mode": "rotation"}},
      "synthetic_rest": {...}                      # test skeleton recipe, see synthetic_rest()
    }

Canonical joint names are those of :func:`rigs.skeleton.canonical_skeleton`. Candidate names match
exactly first, then case-insensitively after dropping any namespace (``mixamorig1:Hips`` matches
``mixamorig:Hips``). Per-bone ``options.mode``: ``"direction"`` (default) aligns the bone's world
direction with the source's; ``"rotation"`` copies the world rotation change unaligned (for bones
whose rest frames already agree).

Algorithm
---------
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
Unmapped target bones keep their rest pose relative to their parent (intermediate spine/twist bones
follow rigidly); local rotations are recovered from world ones by the convention above. The top
mapped bone also gets the source root motion, scaled by the ratio of leg lengths.

References: Gleicher 1998, "Retargetting Motion to New Characters" (direction/length separation);
Monzani et al. 2000 (intermediate skeleton, rest-pose alignment); Blender pose-bone matrix convention.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.errors import RigError
from .rotations import axis_angle_to_matrix, matrix_to_axis_angle
from .skeleton import canonical_skeleton

MAPS_DIR = Path(__file__).resolve().parent / "data" / "maps"

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

_AXES = {"X": (1, 0, 0), "Y": (0, 1, 0), "Z": (0, 0, 1)}


def axes_matrix(up: str = "Y", forward: str = "Z") -> np.ndarray:
    """(3, 3) rotation taking canonical axes (+X left, +Y up, +Z forward) to a space with the given
    ``up``/``forward`` axes (``"Z"``, ``"-Y"``...). Blender rigs: ``up="Z", forward="-Y"``."""
    def vec(a):
        a = a.strip().upper()
        s = -1.0 if a.startswith("-") else 1.0
        try:
            return s * np.array(_AXES[a.lstrip("+-")], dtype=np.float64)
        except KeyError:
            raise RigError(f"unknown axis {a!r}: use X, Y, Z, -X, -Y or -Z") from None
    u, f = vec(up), vec(forward)
    if abs(u @ f) > 0.5:
        raise RigError(f"up {up!r} and forward {forward!r} must be different axes")
    return np.stack([np.cross(u, f), u, f], axis=1)


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
        kids: dict = {}
        for n in names:
            p = par[n] if par[n] in pos else None
            kids.setdefault(p, []).append(n)
        order, stack = [], list(reversed(kids.get(None, [])))
        while stack:
            n = stack.pop()
            order.append(n)
            stack.extend(reversed(kids.get(n, [])))
        if len(order) != len(names):
            raise RigError("rest skeleton: bone parents form a cycle")
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
        L = np.asarray(local_rotations, dtype=np.float64)
        T, J = L.shape[:2]
        rel = self.relative_rest()
        W = np.empty_like(L)
        P = np.empty((T, J, 3))
        R0 = np.asarray(self.rotations, dtype=np.float64)
        for j, p in enumerate(self.parents):
            if p < 0:
                W[:, j] = R0[j] @ L[:, j]
                P[:, j] = self.positions[j]
                if translations is not None:
                    P[:, j] += translations[:, j] @ R0[j].T
            else:
                W[:, j] = W[:, p] @ rel[j] @ L[:, j]
                off = R0[p].T @ (self.positions[j] - self.positions[p])
                P[:, j] = P[:, p] + W[:, p] @ off
                if translations is not None:
                    P[:, j] += np.einsum("tij,tj->ti", W[:, p] @ rel[j], translations[:, j])
        return W, P


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


# ----------------------------------------------------------------------------------------- maps

@dataclass(frozen=True)
class RetargetMap:
    """A parsed ``rigs/data/maps/*.json`` file (see the module docstring)."""

    name: str
    bones: dict  # canonical -> tuple of candidate names
    up: str = "Y"
    forward: str = "Z"
    optional: tuple[str, ...] = ()
    options: dict = field(default_factory=dict)
    description: str = ""
    synthetic: dict = field(default_factory=dict)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(k for k in self.bones if k not in self.optional)


def _parse_map(data: dict, source: str) -> RetargetMap:
    try:
        bones = {}
        canon = set(canonical_skeleton().names)
        for k, v in data["bones"].items():
            if k not in canon:
                raise RigError(f"{source}: {k!r} is not a canonical joint name")
            bones[k] = (v,) if isinstance(v, str) else tuple(v)
        space = data.get("space", {})
        return RetargetMap(name=str(data["name"]), bones=bones, up=space.get("up", "Y"),
                           forward=space.get("forward", "Z"), optional=tuple(data.get("optional", ())),
                           options=dict(data.get("options", {})), description=data.get("description", ""),
                           synthetic=dict(data.get("synthetic_rest", {})))
    except (KeyError, TypeError, AttributeError) as e:
        raise RigError(f"{source}: not a valid retarget map ({e})") from None


def list_maps() -> tuple[str, ...]:
    """Names of the shipped retarget maps."""
    return tuple(sorted(p.stem for p in MAPS_DIR.glob("*.json")))


@lru_cache(maxsize=32)
def _load_shipped(name: str) -> RetargetMap:
    path = MAPS_DIR / f"{name}.json"
    if not path.is_file():
        raise RigError(f"no retarget map named {name!r} (have: {', '.join(list_maps())})")
    with open(path, encoding="utf-8") as f:
        return _parse_map(json.load(f), str(path))


def load_map(name_or_path) -> RetargetMap:
    """A shipped map by name (``"mixamo"``) or a map JSON file by path."""
    p = Path(str(name_or_path))
    if p.suffix == ".json" and p.is_file():
        try:
            with open(p, encoding="utf-8") as f:
                return _parse_map(json.load(f), str(p))
        except json.JSONDecodeError as e:
            raise RigError(f"{p}: invalid JSON ({e})") from None
    return _load_shipped(str(name_or_path))


def _norm(name: str) -> str:
    return name.rsplit(":", 1)[-1].lower()


def resolve_bones(rig_map: RetargetMap, bone_names) -> dict[str, str]:
    """canonical joint -> the rig's bone name, for every map entry found in ``bone_names``."""
    names = list(bone_names)
    exact = set(names)
    loose: dict[str, str] = {}
    for n in names:
        loose.setdefault(_norm(n), n)
    out = {}
    for canon, cands in rig_map.bones.items():
        hit = next((c for c in cands if c in exact), None)
        if hit is None:
            hit = next((loose[_norm(c)] for c in cands if _norm(c) in loose), None)
        if hit is not None:
            out[canon] = hit
    return out


def detect_rig(bone_names, *, maps=None, min_score: float = 0.75) -> str | None:
    """The shipped map that best fits a rig's bone names, or None.

    Score = fraction of the map's required bones present (after namespace-tolerant matching); the
    best map must reach ``min_score``; ties go to the map with more required bones.
    """
    names = list(bone_names)
    best, best_key = None, (min_score - 1e-9, -1)
    for name in (maps or list_maps()):
        m = load_map(name)
        req = m.required
        if not req:
            continue
        found = resolve_bones(m, names)
        score = sum(1 for k in req if k in found) / len(req)
        key = (score, len(req))
        if key > best_key:
            best, best_key = m.name, key
    return best


# ------------------------------------------------------------------------------------- retarget

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
    both are retargeted. options: per canonical joint ``{"mode": "direction" | "rotation"}``.
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
        if mode == "rotation":
            align[c] = np.eye(3)
            continue
        if not cands:
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


def clip_motion(joint_angles_rad: np.ndarray, root_translation_m: np.ndarray | None = None):
    """(local rotations (T, J, 3, 3), translations (T, J, 3)) of a clip's canonical joint motion."""
    a = np.asarray(joint_angles_rad, dtype=np.float64)
    trans = np.zeros(a.shape[:2] + (3,))
    if root_translation_m is not None:
        trans[:, 0] = root_translation_m
    return axis_angle_to_matrix(a), trans


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


# ------------------------------------------------------------------------- synthetic rest rigs

def _bone_frame(direction: np.ndarray, roll: float) -> np.ndarray:
    """Blender-style bone frame: Y along ``direction``, rolled by ``roll`` radians about it."""
    y = _unit(direction)
    ref = np.array([0.0, 0.0, 1.0]) if abs(y[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = _unit(np.cross(y, ref))
    z = np.cross(x, y)
    R = np.stack([x, y, z], axis=1)
    return axis_angle_to_matrix(y * roll) @ R


def synthetic_rest(rig_map, *, a_pose_deg: float = 40.0, seed: int = 0, proportions: float = 0.1,
                   roll: bool = True) -> RestSkeleton:
    """A representative rest skeleton for a map, for tests and demos.

    Starts from the canonical skeleton, bends it into an A-pose (arms down by ``a_pose_deg``, elbows
    and hips slightly bent), scales each segment by a random factor within +-``proportions``,
    renames mapped joints (dropping unmapped ones), inserts the map's ``synthetic_rest.insert``
    intermediate bones (``{"name", "between": [a, b]}``), ``extra`` leaf bones (``{"name", "parent",
    "toward", "t"}``) and an optional unmapped ``root`` bone on the floor, converts to the map's axes
    and ``unit_scale``, and gives every bone a Blender-style frame (Y along the bone) with a random
    roll when ``roll``.
    """
    m = rig_map if isinstance(rig_map, RetargetMap) else load_map(rig_map)
    rng = np.random.default_rng(seed)
    sk = canonical_skeleton()
    J = sk.num_joints
    ang = np.zeros((1, J, 3))
    a = np.deg2rad(a_pose_deg)
    ang[0, sk.index("left_shoulder")] = [0, 0, -a]
    ang[0, sk.index("right_shoulder")] = [0, 0, a]
    ang[0, sk.index("left_elbow")] = [0, np.deg2rad(-12), 0]
    ang[0, sk.index("right_elbow")] = [0, np.deg2rad(12), 0]
    ang[0, sk.index("left_hip")] = [0, 0, np.deg2rad(4)]
    ang[0, sk.index("right_hip")] = [0, 0, np.deg2rad(-4)]
    from .skeleton import Skeleton
    offs = sk.offsets_m * (1 + proportions * rng.uniform(-1, 1, size=(J, 1)))
    offs[0] = sk.offsets_m[0]
    _, pos = Skeleton(sk.names, sk.parents, offs).forward_kinematics(ang)
    pos = pos[0]
    spec = m.synthetic
    # bones: name -> [parent name, position]
    names: list[str] = []
    parent_of: dict[str, str | None] = {}
    where: dict[str, np.ndarray] = {}
    first = {c: cands[0] for c, cands in m.bones.items()}
    for i, c in enumerate(sk.names):
        if c not in first:
            continue
        p = sk.parents[i]
        while p >= 0 and sk.names[p] not in first:
            p = sk.parents[p]
        names.append(first[c])
        parent_of[first[c]] = first[sk.names[p]] if p >= 0 else None
        where[first[c]] = pos[i]
    if spec.get("root"):
        r = spec["root"]
        pel = where[names[0]]
        names.insert(0, r)
        parent_of[r] = None
        where[r] = np.array([pel[0], 0.0, pel[2]])
        for n in names[1:]:
            if parent_of[n] is None:
                parent_of[n] = r
    for ins in spec.get("insert", ()):
        a_, b_ = (first[x] for x in ins["between"])
        n = ins["name"]
        names.append(n)
        parent_of[n] = a_
        parent_of[b_] = n
        where[n] = 0.5 * (where[a_] + where[b_])
    for ex in spec.get("extra", ()):
        par, tow = first[ex["parent"]], first[ex["toward"]]
        n = ex["name"]
        names.append(n)
        parent_of[n] = par
        where[n] = where[par] + float(ex.get("t", 0.5)) * (where[tow] - where[par])
    # parents-first order (depth-first from roots, keeping insertion order among siblings)
    kids: dict[str | None, list[str]] = {}
    for n in names:
        kids.setdefault(parent_of[n], []).append(n)
    order: list[str] = []
    stack = list(reversed(kids.get(None, [])))
    while stack:
        n = stack.pop()
        order.append(n)
        stack.extend(reversed(kids.get(n, [])))
    C = axes_matrix(m.up, m.forward)
    scale = float(spec.get("unit_scale", 1.0))
    P = np.array([C @ where[n] * scale for n in order])
    idx = {n: i for i, n in enumerate(order)}
    parents = tuple(idx[parent_of[n]] if parent_of[n] is not None else -1 for n in order)
    R = np.empty((len(order), 3, 3))
    for i, n in enumerate(order):
        ch = kids.get(n, [])
        if ch:
            d = P[idx[ch[0]]] - P[i]
        elif parents[i] >= 0:
            d = P[i] - P[parents[i]]
        else:
            d = C @ np.array([0.0, 1.0, 0.0])
        if np.linalg.norm(d) < 1e-9:
            d = C @ np.array([0.0, 1.0, 0.0])
        R[i] = _bone_frame(d, rng.uniform(-np.pi, np.pi) if roll else 0.0)
    return RestSkeleton(tuple(order), parents, P, R, up=m.up, forward=m.forward)
