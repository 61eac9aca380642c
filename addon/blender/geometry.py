"""The demo character's geometry without bpy: bone layout, the head's neck cut, eye corneas, palettes (numpy).

Y-up metres in canonical axes; :mod:`addon.blender.demo_character` converts to Blender's Z-up and builds
the objects. Bone tails of leaf joints are the skeleton's end sites (:func:`rigs.core.skeleton.end_sites_m`).
The body's shape is :mod:`addon.blender.body_shape`.
"""
from __future__ import annotations

import numpy as np

from ..vocab import ict
from ..vocab import skeleton

ARMATURE_NAME = "parley_armature"
HEAD_NAME = "parley_head"
BODY_NAME = "parley_body"
NO_FACE_PARTS = ("lacrimal_fluid", "eye_blend", "eye_occlusion")
CORNEA_DEG = 24.0
NECK_CUT_ABOVE_JOINT_M = 0.01
COLOURS = {  # material -> part -> RGBA
    "grey": {"skin": (0.40, 0.40, 0.40, 1), "top": (0.035, 0.035, 0.04, 1), "trousers": (0.08, 0.08, 0.085, 1),
             "shoes": (0.02, 0.02, 0.02, 1), "sclera": (0.85, 0.85, 0.85, 1),
             "iris": (0.12, 0.12, 0.12, 1), "teeth": (0.8, 0.8, 0.78, 1), "gums": (0.30, 0.24, 0.24, 1),
             "lashes": (0.1, 0.1, 0.1, 1)},
    "skin": {"skin": (0.80, 0.58, 0.47, 1), "top": (0.10, 0.11, 0.13, 1), "trousers": (0.25, 0.27, 0.32, 1),
             "shoes": (0.09, 0.07, 0.06, 1), "sclera": (0.9, 0.88, 0.85, 1),
             "iris": (0.20, 0.12, 0.07, 1), "teeth": (0.9, 0.88, 0.8, 1), "gums": (0.45, 0.18, 0.18, 1),
             "lashes": (0.05, 0.04, 0.03, 1)},
}
PART_MATERIAL = {"face": "skin", "back_head": "skin", "gums_tongue": "gums", "teeth": "teeth",
                  "sclera_left": "sclera", "sclera_right": "sclera", "iris_left": "iris",
                  "iris_right": "iris", "eyelashes": "lashes"}


def bone_layout(head_offset_m: np.ndarray, eye_centres_m: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Bone (head, tail) per canonical joint in Y-up metres (pure numpy; converted to Z-up by the caller)."""

    sk = skeleton.canonical_skeleton()
    pos = sk.rest_positions_m()
    for side in ("left", "right"):
        pos[sk.index(f"{side}_eye")] = eye_centres_m[side] + head_offset_m
    main_child = {"pelvis": "spine1", "spine3": "neck"}
    children: dict[int, list[int]] = {}
    for i, p in enumerate(sk.parents):
        if p >= 0:
            children.setdefault(p, []).append(i)
    leaf_tail = sk.end_sites_m()
    out = {}
    for i, n in enumerate(sk.names):
        kids = children.get(i, [])
        if n in main_child:
            tail = pos[sk.index(main_child[n])]
        elif n in leaf_tail:
            tail = pos[i] + np.array(leaf_tail[n])
        elif len(kids) == 1:
            tail = pos[kids[0]]
        else:
            tail = pos[i] + np.array([0, 0.05, 0])
        if np.linalg.norm(tail - pos[i]) < 1e-3:
            tail = pos[i] + np.array([0, 0.05, 0])
        out[n] = (pos[i].copy(), np.asarray(tail, dtype=np.float64))
    return out


def head_offset_m(head) -> np.ndarray:
    """(3,) Y-up translation putting the ICT eyeball centres on the skeleton's eye joints."""

    sk = skeleton.canonical_skeleton()
    pos = sk.rest_positions_m()
    skel_mid = 0.5 * (pos[sk.index("left_eye")] + pos[sk.index("right_eye")])
    ict_mid = 0.5 * (head.eye_center_m("left") + head.eye_center_m("right"))
    return skel_mid - ict_mid


def segment_weights(points: np.ndarray, heads: np.ndarray, tails: np.ndarray, *, power: float = 6.0,
                    keep: int = 2) -> np.ndarray:
    """(N, B) skinning weights from the distance of each point to each bone segment (inverse-distance
    ``power``, the ``keep`` nearest bones, rows summing to 1). Fallback when bone heat fails."""
    ab = tails - heads  # (B, 3)
    ap = points[:, None, :] - heads[None]  # (N, B, 3)
    t = np.clip(np.einsum("nbk,bk->nb", ap, ab) / np.maximum((ab * ab).sum(1), 1e-12), 0, 1)
    d = np.linalg.norm(ap - t[..., None] * ab[None], axis=2) + 1e-4
    w = d ** -power
    if keep < w.shape[1]:
        cut = np.sort(w, axis=1)[:, -keep][:, None]
        w = np.where(w >= cut, w, 0.0)
    return w / w.sum(1, keepdims=True)


def neck_ring(head, offset_m: np.ndarray) -> tuple[float, np.ndarray, tuple[float, float]]:
    """Where the ICT skin is cut at the neck: (cut height y, ring centre (3,), (x, z) radii), Y-up metres.

    The cut sits just above the skeleton's neck joint; the radii are the ICT neck's half-extents in a 1 cm
    band above the cut and the centre is the band's centre at the cut height. The body's collar is sized
    around this ring (:func:`addon.blender.body_shape.collar_mesh`) so that it sheathes the head's cut edge."""

    sk = skeleton.canonical_skeleton()
    cut = float(sk.rest_positions_m()[sk.index("neck"), 1] + NECK_CUT_ABOVE_JOINT_M)
    v = head.neutral_m[slice(*ict.VERTEX_PARTS["skin"])] + offset_m
    band = v[(v[:, 1] > cut) & (v[:, 1] < cut + 0.01)]
    lo, hi = band.min(0), band.max(0)
    centre = np.array([0.0, cut, 0.5 * (lo[2] + hi[2])])
    return cut, centre, (0.5 * (hi[0] - lo[0]), 0.5 * (hi[2] - lo[2]))


def cut_at_height(verts: np.ndarray, faces: np.ndarray, keep: np.ndarray, cut_y: float) -> tuple[np.ndarray, np.ndarray]:
    """Cut a (quad/tri, -1 padded) mesh along the plane y = ``cut_y`` without changing its vertex order.

    Rows of ``faces`` flagged in ``keep`` that lie wholly below the plane are dropped; rows straddling it
    are kept and their below-plane vertices are slid along an edge to an above-plane neighbour onto the
    plane (the mean of the crossings), or, with no such edge, flattened onto the plane. The open
    boundary is therefore a smooth planar contour instead of a ragged row of quads.
    Returns (new keep (F,) bool, new verts (V,3)); pure numpy, Y-up."""
    verts = np.array(verts, dtype=np.float64, copy=True)
    keep = np.asarray(keep, bool)
    ymax = np.where(faces >= 0, verts[np.maximum(faces, 0), 1], -np.inf).max(axis=1)
    keep = keep & (ymax > cut_y)
    rows = faces[keep]
    below = verts[:, 1] < cut_y
    acc, cnt = np.zeros_like(verts), np.zeros(len(verts))
    n = (rows >= 0).sum(1)
    for k in range(rows.shape[1]):  # each edge (a -> b) of each kept polygon, both directions
        a = rows[:, k]
        b = np.where(k + 1 < n, rows[:, (k + 1) % rows.shape[1]], rows[:, 0])
        ok = (a >= 0) & (b >= 0)
        a, b = a[ok], b[ok]
        for p, q in ((a, b), (b, a)):
            m = below[p] & ~below[q]
            p, q = p[m], q[m]
            t = ((cut_y - verts[p, 1]) / np.maximum(verts[q, 1] - verts[p, 1], 1e-9))[:, None]
            np.add.at(acc, p, verts[p] + t * (verts[q] - verts[p]))
            np.add.at(cnt, p, 1)
    used = np.zeros(len(verts), bool)
    used[rows[rows >= 0]] = True
    hit = cnt > 0
    verts[hit] = acc[hit] / cnt[hit, None]
    lone = used & below & ~hit  # below-plane corners with no edge up: the mean of their faces' cut corners
    acc[:], cnt[:] = 0.0, 0
    for k in range(rows.shape[1]):
        for j in range(rows.shape[1]):
            a, b = rows[:, k], rows[:, j]
            m = (a >= 0) & (b >= 0) & lone[np.maximum(a, 0)] & hit[np.maximum(b, 0)]
            np.add.at(acc, a[m], verts[b[m]])
            np.add.at(cnt, a[m], 1)
    fix = lone & (cnt > 0)
    verts[fix] = acc[fix] / cnt[fix, None]
    verts[lone & ~fix, 1] = cut_y
    return keep, verts


def cornea_faces(head, side: str, faces: np.ndarray, *, half_angle_deg: float = CORNEA_DEG) -> np.ndarray:
    """(F,) bool: faces of an eyeball whose centre lies within ``half_angle_deg`` of the eye's forward
    axis (+Z, Y up). ICT's sclera ball includes the (transparent) cornea over the iris ball."""
    c = head.eye_center_m(side)
    v = np.where(faces[..., None] >= 0, head.neutral_m[np.maximum(faces, 0)], np.nan)
    centre = np.nanmean(v, axis=1) - c
    ang = np.degrees(np.arccos(np.clip(centre[:, 2] / np.linalg.norm(centre, axis=1), -1, 1)))
    return ang < half_angle_deg
