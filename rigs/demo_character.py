"""The demo character: the ICT FaceKit head with 52 ARKit shape keys on a skinned mannequin (bpy).

What :func:`build` makes (Blender axes: Z up, the character faces -Y, +X is its left):

* ``parley_armature``: one bone per canonical joint (:func:`rigs.skeleton.canonical_skeleton`), named by
  the canonical joint names, heads at the rest joint positions; the eye bones sit at the ICT eyeball
  centres so eye rotations pivot correctly.
* ``parley_head``: the ICT head (:mod:`rigs.ict`) in metres with shape keys named by the 52 canonical
  ARKit channels (``browInnerUp``/``cheekPuff`` merged from ICT's halves, ``tongueOut`` synthesised),
  smooth shaded with normals recomputed (the OBJ carries none). Vertex order is the template's, so lip
  vertex ids of a clip index it directly; the transparent eye shells (lacrimal fluid, eye occlusion,
  eye blend) keep their vertices but lose their faces. Teeth and tongue follow the jaw through ICT's own
  jaw shapes (``jawOpen``/``jawLeft``/``jawRight``/``jawForward`` move gums, tongue and lower teeth);
  eyeballs are weighted to the ``left_eye``/``right_eye`` bones, the skin to ``head`` blended into
  ``neck`` below the jaw.
* ``parley_body``: a mannequin generated from the skeleton graph: a Skin modifier over the joints with
  per-joint radii, subdivided, applied, smooth shaded and skinned to the armature with automatic (bone
  heat) weights, falling back to distance weights if bone heat fails.
* materials: neutral grey for perceptual studies (``material="grey"``) or a skin-like one
  (``material="skin"``); the Workbench colour is each material's ``diffuse_color``.

References: Li et al. 2020 (ICT FaceKit); Pavlakos et al. 2019 (SMPL-X skeleton); Blender manual,
"Skin Modifier".
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ARMATURE_NAME = "parley_armature"
HEAD_NAME = "parley_head"
BODY_NAME = "parley_body"
NO_FACE_PARTS = ("lacrimal_fluid", "eye_blend", "eye_occlusion")
CORNEA_DEG = 24.0
NECK_CUT_ABOVE_JOINT_M = 0.01
# the body's neck tube around the head's cut edge: (extra radius at the cut, how far the tube rises above the
# cut, radius lost at its top) in metres; the tube sheathes the cut and tapers into the head's neck
NECK_COLLAR_M = (0.01, 0.03, 0.02)

# Skin-modifier radii (metres): (side-to-side, front-to-back) around each joint of the body graph.
_RADII = {
    "pelvis": (0.15, 0.105), "left_hip": (0.085, 0.085), "right_hip": (0.085, 0.085),
    "spine1": (0.135, 0.095), "left_knee": (0.055, 0.055), "right_knee": (0.055, 0.055),
    "spine2": (0.145, 0.10), "left_ankle": (0.04, 0.04), "right_ankle": (0.04, 0.04),
    "spine3": (0.155, 0.105), "left_foot": (0.04, 0.03), "right_foot": (0.04, 0.03),
    "neck": (0.052, 0.052), "left_collar": (0.065, 0.06), "right_collar": (0.065, 0.06),
    "left_shoulder": (0.058, 0.058), "right_shoulder": (0.058, 0.058),
    "left_elbow": (0.042, 0.042), "right_elbow": (0.042, 0.042),
    "left_wrist": (0.032, 0.025), "right_wrist": (0.032, 0.025),
}
_EXTRA_TIPS = {  # extra skin vertices beyond leaf joints: (parent joint, offset Y-up metres, radii)
    "left_hand": ("left_wrist", (0.085, 0.0, 0.0), (0.038, 0.016)),
    "right_hand": ("right_wrist", (-0.085, 0.0, 0.0), (0.038, 0.016)),
    "left_toe": ("left_foot", (0.0, -0.005, 0.09), (0.038, 0.022)),
    "right_toe": ("right_foot", (0.0, -0.005, 0.09), (0.038, 0.022)),
}
_COLOURS = {  # material -> part -> RGBA
    "grey": {"skin": (0.55, 0.55, 0.55, 1), "body": (0.5, 0.5, 0.5, 1), "sclera": (0.85, 0.85, 0.85, 1),
             "iris": (0.12, 0.12, 0.12, 1), "teeth": (0.8, 0.8, 0.78, 1), "gums": (0.30, 0.24, 0.24, 1),
             "lashes": (0.1, 0.1, 0.1, 1)},
    "skin": {"skin": (0.80, 0.58, 0.47, 1), "body": (0.32, 0.36, 0.45, 1), "sclera": (0.9, 0.88, 0.85, 1),
             "iris": (0.20, 0.12, 0.07, 1), "teeth": (0.9, 0.88, 0.8, 1), "gums": (0.45, 0.18, 0.18, 1),
             "lashes": (0.05, 0.04, 0.03, 1)},
}
_PART_MATERIAL = {"face": "skin", "back_head": "skin", "gums_tongue": "gums", "teeth": "teeth",
                  "sclera_left": "sclera", "sclera_right": "sclera", "iris_left": "iris",
                  "iris_right": "iris", "eyelashes": "lashes"}


def bone_layout(head_offset_m: np.ndarray, eye_centres_m: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Bone (head, tail) per canonical joint in Y-up metres (pure numpy; converted to Z-up by the caller)."""
    from rigs.skeleton import canonical_skeleton

    sk = canonical_skeleton()
    pos = sk.rest_positions_m()
    for side in ("left", "right"):
        pos[sk.index(f"{side}_eye")] = eye_centres_m[side] + head_offset_m
    main_child = {"pelvis": "spine1", "spine3": "neck"}
    children: dict[int, list[int]] = {}
    for i, p in enumerate(sk.parents):
        if p >= 0:
            children.setdefault(p, []).append(i)
    leaf_tail = {"head": (0, 0.16, 0.0), "jaw": (0, -0.03, 0.07), "left_eye": (0, 0, 0.025),
                 "right_eye": (0, 0, 0.025), "left_foot": (0, -0.005, 0.09), "right_foot": (0, -0.005, 0.09),
                 "left_wrist": (0.08, 0, 0), "right_wrist": (-0.08, 0, 0)}
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
    from rigs.skeleton import canonical_skeleton

    sk = canonical_skeleton()
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
    band above the cut and the centre is the band's centre at the cut height. The body's neck tube is
    sized from this ring (:data:`NECK_COLLAR_M`) so that it sheathes the head's cut edge."""
    from rigs.ict import VERTEX_PARTS
    from rigs.skeleton import canonical_skeleton

    sk = canonical_skeleton()
    cut = float(sk.rest_positions_m()[sk.index("neck"), 1] + NECK_CUT_ABOVE_JOINT_M)
    v = head.neutral_m[slice(*VERTEX_PARTS["skin"])] + offset_m
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


def sheathe_neck(co_zup: np.ndarray, ring) -> np.ndarray:
    """(N,3) body vertices (Blender Z-up) with the neck tube reshaped to sheathe the head's cut edge.

    Around the cut the tube becomes an ellipse :data:`NECK_COLLAR_M` wider than the head's neck ring,
    blended into the Skin hull below; above the cut it tapers to inside the head's neck, so the cut edge
    (and the inside of the head) is never seen and the tube meets the neck along a smooth line."""
    extra, rise, lost = NECK_COLLAR_M
    cut, centre, (rx, rz) = ring
    cx, cy = centre[0], -centre[2]  # Y-up (x, z) -> Z-up (x, -y)
    co = np.array(co_zup, dtype=np.float64, copy=True)
    h = co[:, 2] - cut
    dx, dy = co[:, 0] - cx, co[:, 1] - cy
    rho = np.hypot(dx / rx, dy / rz)  # 1 on the head's neck ring
    below = np.clip((h + 0.05) / 0.035, 0.0, 1.0)
    w = below * below * (3 - 2 * below)  # smoothstep: 0 at 5 cm below the cut, 1 from 1.5 cm below
    up = np.clip((h - 0.004) / rise, 0.0, 1.0)
    target = 1.0 + (extra - up * (extra + lost)) / min(rx, rz)  # ring + extra -> ring - lost
    w = w * np.clip((1.7 - rho) / 0.5, 0.0, 1.0)  # leave the shoulders and chest alone
    new_rho = np.where(h > 0.004, np.minimum(rho, target), (1 - w) * rho + w * target)
    sel = (h > -0.05) & (rho > 1e-6)
    scale = np.where(sel, new_rho / np.maximum(rho, 1e-6), 1.0)
    co[:, 0] = cx + dx * scale
    co[:, 1] = cy + dy * scale
    return co


def cornea_faces(head, side: str, faces: np.ndarray, *, half_angle_deg: float = CORNEA_DEG) -> np.ndarray:
    """(F,) bool: faces of an eyeball whose centre lies within ``half_angle_deg`` of the eye's forward
    axis (+Z, Y up). ICT's sclera ball includes the (transparent) cornea over the iris ball."""
    c = head.eye_center_m(side)
    v = np.where(faces[..., None] >= 0, head.neutral_m[np.maximum(faces, 0)], np.nan)
    centre = np.nanmean(v, axis=1) - c
    ang = np.degrees(np.arccos(np.clip(centre[:, 2] / np.linalg.norm(centre, axis=1), -1, 1)))
    return ang < half_angle_deg


# ------------------------------------------------------------------------------------------ bpy part

def _mesh_from_arrays(bpy, name: str, verts: np.ndarray, polys: list[np.ndarray]):
    me = bpy.data.meshes.new(name)
    me.vertices.add(len(verts))
    me.vertices.foreach_set("co", np.ascontiguousarray(verts, dtype=np.float32).ravel())
    sizes = np.array([len(p) for p in polys], dtype=np.int32)
    loops = np.concatenate(polys).astype(np.int32) if polys else np.zeros(0, np.int32)
    me.loops.add(len(loops))
    me.loops.foreach_set("vertex_index", loops)
    me.polygons.add(len(polys))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
    me.polygons.foreach_set("loop_start", starts)
    me.update(calc_edges=True)
    me.validate(clean_customdata=False)
    return me


def _material(bpy, name: str, rgba) -> object:
    mat = bpy.data.materials.new(name)
    mat.diffuse_color = rgba
    mat.use_nodes = True
    bsdf = next((n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED"), None)
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = rgba
        bsdf.inputs["Roughness"].default_value = 0.55 if "sclera" not in name else 0.2
    mat.roughness = 0.55
    return mat


def _build_armature(bpy, layout):
    from rigs.ict import yup_to_zup
    from rigs.skeleton import canonical_skeleton

    sk = canonical_skeleton()
    arm = bpy.data.armatures.new(ARMATURE_NAME)
    obj = bpy.data.objects.new(ARMATURE_NAME, arm)
    bpy.context.scene.collection.objects.link(obj)
    arm.display_type = "STICK"
    with bpy.context.temp_override(active_object=obj, object=obj, selected_objects=[obj]):
        bpy.context.view_layer.objects.active = obj
        bpy.ops.object.mode_set(mode="EDIT")
        for n, p in zip(sk.names, sk.parents):
            eb = arm.edit_bones.new(n)
            h, t = layout[n]
            eb.head, eb.tail = tuple(yup_to_zup(h)), tuple(yup_to_zup(t))
            eb.roll = 0.0
            if p >= 0:
                eb.parent = arm.edit_bones[sk.names[p]]
            eb.use_deform = n not in ("jaw",)
        bpy.ops.object.mode_set(mode="OBJECT")
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    return obj


def _build_body(bpy, arm_obj, layout, ring):
    from rigs.ict import yup_to_zup
    from rigs.skeleton import canonical_skeleton

    sk = canonical_skeleton()
    names = [n for n in sk.names if n in _RADII]
    pts = {n: layout[n][0] for n in names}
    radii = {n: _RADII[n] for n in names}
    pts["neck"] = ring[1] + np.array([0.0, 0.05, 0.0])  # a leaf inside the head (its end cap shrinks)
    radii["neck"] = (ring[2][0] - 0.008, ring[2][1] - 0.008)
    edges_named = [(sk.names[p], n) for n, p in zip(sk.names, sk.parents) if n in _RADII and p >= 0
                   and sk.names[p] in _RADII]
    for tip, (par, off, r) in _EXTRA_TIPS.items():
        pts[tip] = layout[par][0] + np.array(off)
        radii[tip] = r
        names.append(tip)
        edges_named.append((par, tip))
    idx = {n: i for i, n in enumerate(names)}
    verts = yup_to_zup(np.array([pts[n] for n in names]))
    me = bpy.data.meshes.new("parley_body_graph")
    me.from_pydata([tuple(v) for v in verts], [(idx[a], idx[b]) for a, b in edges_named], [])
    obj = bpy.data.objects.new("parley_body_graph", me)
    bpy.context.scene.collection.objects.link(obj)
    skin = obj.modifiers.new("skin", "SKIN")
    skin.branch_smoothing = 0.5
    sub = obj.modifiers.new("subsurf", "SUBSURF")
    sub.levels = sub.render_levels = 2
    for n, sv in zip(names, me.skin_vertices[0].data):
        sv.radius = radii[n]
        sv.use_root = n == "pelvis"
    deps = bpy.context.evaluated_depsgraph_get()
    body_me = bpy.data.meshes.new_from_object(obj.evaluated_get(deps))
    bpy.data.objects.remove(obj)
    bpy.data.meshes.remove(me)
    body_me.name = BODY_NAME
    import bmesh

    bm = bmesh.new()  # the Skin hull is not mirror-symmetric at branch joints: mirror the -X half
    bm.from_mesh(body_me)
    bmesh.ops.symmetrize(bm, input=bm.verts[:] + bm.edges[:] + bm.faces[:], direction="-X", dist=1e-4)
    bm.to_mesh(body_me)
    bm.free()
    co = np.empty(len(body_me.vertices) * 3, np.float32)
    body_me.vertices.foreach_get("co", co)
    co = sheathe_neck(co.reshape(-1, 3).astype(np.float64), ring)
    body_me.vertices.foreach_set("co", co.astype(np.float32).ravel())
    body_me.update()
    body_me.shade_smooth()
    body = bpy.data.objects.new(BODY_NAME, body_me)
    bpy.context.scene.collection.objects.link(body)
    body.parent = arm_obj
    if not _bone_heat(bpy, body, arm_obj):
        _distance_weights(body, arm_obj, layout, [n for n in sk.names if n in _RADII])
    return body


def _bone_heat(bpy, obj, arm_obj) -> bool:
    """Parent with automatic weights; True if every vertex got some weight."""
    for o in bpy.context.scene.objects:
        o.select_set(False)
    obj.select_set(True)
    arm_obj.select_set(True)
    bpy.context.view_layer.objects.active = arm_obj
    try:
        bpy.ops.object.parent_set(type="ARMATURE_AUTO")
    except RuntimeError:
        return False
    n = len(obj.data.vertices)
    weighted = np.zeros(n, bool)
    for v in obj.data.vertices:
        if any(g.weight > 1e-4 for g in v.groups):
            weighted[v.index] = True
    if not weighted.all():
        for vg in list(obj.vertex_groups):
            obj.vertex_groups.remove(vg)
        return False
    return True


def _distance_weights(obj, arm_obj, layout, bones):
    from rigs.ict import yup_to_zup

    co = np.empty(len(obj.data.vertices) * 3, np.float32)
    obj.data.vertices.foreach_get("co", co)
    heads = yup_to_zup(np.array([layout[b][0] for b in bones]))
    tails = yup_to_zup(np.array([layout[b][1] for b in bones]))
    w = segment_weights(co.reshape(-1, 3).astype(np.float64), heads, tails)
    for j, b in enumerate(bones):
        vg = obj.vertex_groups.get(b) or obj.vertex_groups.new(name=b)
        for wt in np.unique(np.round(w[:, j], 3)):
            if wt <= 0:
                continue
            ids = np.nonzero(np.round(w[:, j], 3) == wt)[0].tolist()
            vg.add(ids, float(wt), "REPLACE")
    if not any(m.type == "ARMATURE" for m in obj.modifiers):
        obj.modifiers.new("armature", "ARMATURE").object = arm_obj
    obj.parent = arm_obj


def _build_head(bpy, arm_obj, head, offset_m, layout, neck_cut: float):
    from rigs.arkit import ARKIT_NAMES
    from rigs.ict import FACE_GROUPS, VERTEX_PARTS, yup_to_zup

    keep_rows = np.ones(len(head.faces), bool)
    mat_index = np.zeros(len(head.faces), np.int32)
    slots = []
    for part, (a, b) in FACE_GROUPS.items():
        if part in NO_FACE_PARTS:
            keep_rows[a:b] = False
            continue
        m = _PART_MATERIAL.get(part, "skin")
        if m not in slots:
            slots.append(m)
        mat_index[a:b] = slots.index(m)
    for side in ("left", "right"):  # the sclera ball's cornea hides the iris ball: open it
        a, b = FACE_GROUPS[f"sclera_{side}"]
        keep_rows[a:b] &= ~cornea_faces(head, side, head.faces[a:b])
    skin_rows = np.zeros(len(head.faces), bool)
    for part in ("face", "back_head"):
        skin_rows[slice(*FACE_GROUPS[part])] = True
    # the bust below the neck is the body's: cut the skin along a level contour (vertex order kept)
    skin_keep, verts = cut_at_height(head.neutral_m + offset_m, head.faces, skin_rows, neck_cut)
    keep_rows &= ~skin_rows | skin_keep
    basis = yup_to_zup(verts).astype(np.float32)
    faces = head.faces[keep_rows]
    polys = [f[f >= 0] for f in faces]
    me = _mesh_from_arrays(bpy, HEAD_NAME, basis, polys)
    me.polygons.foreach_set("material_index", mat_index[keep_rows])
    me.shade_smooth()
    obj = bpy.data.objects.new(HEAD_NAME, me)
    bpy.context.scene.collection.objects.link(obj)
    obj["parley_slots"] = slots
    obj.shape_key_add(name="Basis", from_mix=False)
    for n in ARKIT_NAMES:
        kb = obj.shape_key_add(name=n, from_mix=False)
        kb.data.foreach_set("co", (basis + yup_to_zup(head.deltas_m[n]).astype(np.float32)).ravel())
        kb.slider_max = 1.0
        kb.value = 0.0  # Blender 5.0 creates new keys at 1.0
    obj.data.shape_keys.name = "parley_face_keys"
    # vertex groups: eyeballs to eye bones; skin to head, blended into neck below the jaw line
    y = head.neutral_m[:, 1] + offset_m[1]
    neck_top = layout["jaw"][0][1] - 0.01
    neck_bot = neck_cut
    w_neck = np.clip((neck_top - y) / max(neck_top - neck_bot, 1e-3), 0.0, 1.0) ** 1.5
    eye_ids = {s: np.arange(*VERTEX_PARTS[f"eye_{s}"]) for s in ("left", "right")}
    rest = np.ones(head.num_vertices, bool)
    for ids in eye_ids.values():
        rest[ids] = False
    for s, ids in eye_ids.items():
        obj.vertex_groups.new(name=f"{s}_eye").add(ids.tolist(), 1.0, "REPLACE")
    vg_head, vg_neck = obj.vertex_groups.new(name="head"), obj.vertex_groups.new(name="neck")
    others = np.nonzero(rest)[0]
    wq = np.round(w_neck[others], 2)
    for wt in np.unique(wq):
        ids = others[wq == wt].tolist()
        if wt < 1.0:
            vg_head.add(ids, float(1.0 - wt), "REPLACE")
        if wt > 0.0:
            vg_neck.add(ids, float(wt), "REPLACE")
    obj.parent = arm_obj
    obj.modifiers.new("armature", "ARMATURE").object = arm_obj
    return obj, slots


def build(out_path, *, material: str = "grey", ict_path=None) -> Path:
    """Build the demo character in a fresh scene and save it to ``out_path`` (.blend), atomically."""
    import bpy

    from engine.errors import ConfigError, RigError
    from rigs.ict import load_ict

    if material not in _COLOURS:
        raise ConfigError(f"material must be one of {sorted(_COLOURS)}, got {material!r}")
    out_path = Path(out_path)
    head = load_ict(ict_path)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    offset = head_offset_m(head)
    eyes = {s: head.eye_center_m(s) for s in ("left", "right")}
    layout = bone_layout(offset, eyes)
    arm = _build_armature(bpy, layout)
    ring = neck_ring(head, offset)
    body = _build_body(bpy, arm, layout, ring)
    head_obj, slots = _build_head(bpy, arm, head, offset, layout, ring[0])
    cols = _COLOURS[material]
    for s in slots:
        head_obj.data.materials.append(_material(bpy, f"parley_{material}_{s}", cols[s]))
    body.data.materials.append(_material(bpy, f"parley_{material}_body", cols["body"]))
    for o in (arm, head_obj, body):
        o["parley_rig"] = "demo"
    arm["parley_material"] = material
    arm["parley_head_source"] = head.source
    if len(head_obj.data.shape_keys.key_blocks) != 53:
        raise RigError("demo character: shape keys were not all created")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.stem}.", suffix=".blend", dir=out_path.parent)
    os.close(fd)
    try:
        bpy.ops.wm.save_as_mainfile(filepath=tmp, check_existing=False, compress=True)
        os.replace(tmp, out_path)
    finally:
        for p in (tmp, tmp + "1"):
            if os.path.exists(p):
                os.unlink(p)
    return out_path


def builder_digest() -> str:
    """12 hex digits of SHA-256 over the sources that shape the rig (this builder, the ICT loader, the
    skeleton) and Blender's version: the cache key, so an edited builder never serves a stale .blend."""
    import hashlib

    import rigs.ict
    import rigs.skeleton

    h = hashlib.sha256()
    for mod in (sys.modules[__name__], rigs.ict, rigs.skeleton):
        h.update(Path(mod.__file__).read_bytes())
    try:
        import bpy

        h.update(bpy.app.version_string.encode())
    except ImportError:
        pass
    return h.hexdigest()[:12]


def cached_demo_rig(*, material: str = "grey", rebuild: bool = False) -> Path:
    """Path of the demo rig .blend in the cache, built on first use."""
    from engine.data import cache_dir

    p = cache_dir() / f"demo_character_{material}_{builder_digest()}.blend"
    if rebuild or not p.is_file():
        build(p, material=material)
    return p


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="parley rig", description="Build the Parley demo character (.blend).")
    ap.add_argument("out", nargs="?", default="demo_character.blend", help="output .blend path")
    ap.add_argument("--material", choices=sorted(_COLOURS), default="grey")
    a = ap.parse_args(argv)
    from engine.errors import EngineError

    try:
        p = build(a.out, material=a.material)
    except EngineError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
