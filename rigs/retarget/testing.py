"""Synthetic rest rigs built from a map's recipe: A-pose, rolls and proportions, for tests and demos."""
from __future__ import annotations

import numpy as np

from ..core.rotations import axes_matrix, axis_angle_to_matrix
from ..core.skeleton import canonical_skeleton, parents_first
from .maps import RetargetMap, load_map
from .rest import RestSkeleton
from .solve import _unit


def _bone_frame(direction: np.ndarray, roll: float) -> np.ndarray:
    """Blender-style bone frame: Y along ``direction``, rolled by ``roll`` radians about it."""
    y = _unit(direction)
    ref = np.array([0.0, 0.0, 1.0]) if abs(y[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = _unit(np.cross(y, ref))
    z = np.cross(x, y)
    R = np.stack([x, y, z], axis=1)
    return axis_angle_to_matrix(y * roll) @ R


def synthetic_rest(rig_map, *, a_pose_deg: float = 40.0, seed: int = 0, proportions: float = 0.1,
                   roll: bool = True, elbow_bend_deg: float = 12.0, hip_spread_deg: float = 4.0,
                   collar_raise_deg: float = 0.0, neck_lean_deg: float = 0.0) -> RestSkeleton:
    """A representative rest skeleton for a map, for tests and demos.

    Starts from the canonical skeleton, bends it into an A-pose (arms down by ``a_pose_deg``, elbows
    bent by ``elbow_bend_deg``, legs apart by ``hip_spread_deg``), optionally gives it a posture of its
    own (collars raised by ``collar_raise_deg`` with the arms kept at the A-pose angle: Mixamo-like
    shrugged collars; the neck leaning forward by ``neck_lean_deg``: a bowed head), scales each segment
    by a random factor within +-``proportions``,
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
    a, c = np.deg2rad(a_pose_deg), np.deg2rad(collar_raise_deg)
    ang[0, sk.index("left_collar")] = [0, 0, c]
    ang[0, sk.index("right_collar")] = [0, 0, -c]
    ang[0, sk.index("left_shoulder")] = [0, 0, -a - c]
    ang[0, sk.index("right_shoulder")] = [0, 0, a + c]
    ang[0, sk.index("left_elbow")] = [0, -np.deg2rad(elbow_bend_deg), 0]
    ang[0, sk.index("right_elbow")] = [0, np.deg2rad(elbow_bend_deg), 0]
    ang[0, sk.index("left_hip")] = [0, 0, np.deg2rad(hip_spread_deg)]
    ang[0, sk.index("right_hip")] = [0, 0, -np.deg2rad(hip_spread_deg)]
    ang[0, sk.index("neck")] = [np.deg2rad(neck_lean_deg), 0, 0]
    from ..core.skeleton import Skeleton
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
    kids: dict[str | None, list[str]] = {}
    for n in names:
        kids.setdefault(parent_of[n], []).append(n)
    order = parents_first(names, [parent_of[n] for n in names])
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
