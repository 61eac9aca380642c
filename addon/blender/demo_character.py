"""The demo character: the ICT FaceKit head with 52 ARKit shape keys on a skinned mannequin (bpy).

What :func:`build` makes (Blender axes: Z up, the character faces -Y, +X is its left):

* ``parley_armature``: one bone per canonical joint (:func:`rigs.core.skeleton.canonical_skeleton`), named by
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
* ``parley_body``: the body in an outfit (:mod:`addon.blender.body_shape`): a long-sleeved top with a
  mock-neck collar that sheathes the head's cut edge, trousers, shoes, and hands with a thumb and four
  fingers, polygonised from lofted metaball chains (smooth joins at shoulders, armpits and hips), the top's
  hem cut straight at the waist, one material slot per part, and skinned to the armature with automatic
  (bone heat) weights, falling back to distance weights if bone heat fails; the collar follows the neck.
* materials: neutral grey skin for perceptual studies (``material="grey"``) or a skin-like one
  (``material="skin"``), with a dark outfit either way; the Workbench colour is each material's
  ``diffuse_color``, Eevee and Cycles use the same colour with a per-part roughness (:data:`SURFACE`).

References: Li et al. 2020 (ICT FaceKit); Pavlakos et al. 2019 (SMPL-X skeleton); Blender manual,
"Metaball".
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

from ..vocab import ict
from ..vocab import skeleton as skeleton_module
from ..vocab import arkit
from ..vocab import errors
from ..vocab import files
from ..vocab import rotations
from . import geometry
from . import body_shape
from .geometry import (COLOURS, PART_MATERIAL, ARMATURE_NAME, BODY_NAME, HEAD_NAME, NO_FACE_PARTS, bone_layout,
                       cornea_faces, cut_at_height, head_offset_m, neck_ring, segment_weights)

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


# (roughness, specular IOR level) of the Eevee/Cycles materials by part; fabric is rough and barely glossy
SURFACE = {"top": (0.92, 0.12), "trousers": (0.9, 0.15), "shoes": (0.45, 0.5), "sclera": (0.2, 0.5),
           "skin": (0.5, 0.4)}
DEFAULT_SURFACE = (0.55, 0.5)


def _material(bpy, name: str, rgba, part: str = "") -> object:
    mat = bpy.data.materials.new(name)
    mat.diffuse_color = rgba
    roughness, specular = SURFACE.get(part, DEFAULT_SURFACE)
    bsdf = next((n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED"), None)
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = rgba
        bsdf.inputs["Roughness"].default_value = roughness
        bsdf.inputs["Specular IOR Level"].default_value = specular
    mat.roughness = roughness
    return mat


def _build_armature(bpy, layout):

    sk = skeleton_module.canonical_skeleton()
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
            eb.head, eb.tail = tuple(rotations.yup_to_zup(h)), tuple(rotations.yup_to_zup(t))
            eb.roll = 0.0
            if p >= 0:
                eb.parent = arm.edit_bones[sk.names[p]]
            eb.use_deform = n not in ("jaw",)
        bpy.ops.object.mode_set(mode="OBJECT")
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    return obj


def _metaball_mesh(bpy, name: str, elements: body_shape.Elements, resolution_m: float):
    """Polygonise metaball ``elements`` (Y-up) with Blender's tessellation: (V,3) Z-up vertices, faces."""
    mb = bpy.data.metaballs.new(name)
    mb.resolution = mb.render_resolution = resolution_m
    mb.threshold = body_shape.THRESHOLD
    co = rotations.yup_to_zup(elements.co_m)
    frames = rotations.YUP_TO_ZUP @ elements.frames
    quats = rotations.matrix_to_quaternion(frames)
    for k in range(len(elements)):
        el = mb.elements.new(type="ELLIPSOID")
        el.co = tuple(co[k])
        el.radius = float(elements.radius_m[k])
        el.stiffness = body_shape.STIFFNESS
        el.size_x, el.size_y, el.size_z = (float(x) for x in elements.size[k])
        el.rotation = tuple(quats[k])
    obj = bpy.data.objects.new(name, mb)
    bpy.context.scene.collection.objects.link(obj)
    me = bpy.data.meshes.new_from_object(obj.evaluated_get(bpy.context.evaluated_depsgraph_get()))
    verts = np.empty(len(me.vertices) * 3, np.float32)
    me.vertices.foreach_get("co", verts)
    polys = [np.array(p.vertices, np.int64) for p in me.polygons]
    bpy.data.objects.remove(obj)
    bpy.data.metaballs.remove(mb)
    bpy.data.meshes.remove(me)
    return verts.reshape(-1, 3).astype(np.float64), polys


def _build_body(bpy, arm_obj, layout, head, offset_m, ring):
    """The outfit (top, trousers, shoes), the hands and the collar as one skinned mesh with one material slot
    per :data:`body_shape.PARTS` (:mod:`addon.blender.body_shape`)."""
    body_el = body_shape.body_elements(layout)
    v_body, f_body = _metaball_mesh(bpy, "parley_body_mb", body_el, body_shape.BODY_RESOLUTION_M)
    v_hand, f_hand = _metaball_mesh(bpy, "parley_hands_mb", body_shape.hand_elements(layout),
                                    body_shape.HAND_RESOLUTION_M)
    cut, centre, _ = ring
    skin = head.neutral_m[slice(*ict.VERTEX_PARTS["skin"])] + offset_m
    contour = body_shape.neck_contour(skin, centre, cut)
    v_col, f_col = body_shape.collar_mesh(contour, centre, cut)
    v_col = rotations.yup_to_zup(v_col)
    # material of each body face: the part whose elements dominate the field at its centre
    centres = np.array([v_body[f].mean(0) for f in f_body])
    part_body = np.argmax(body_shape.part_fields(centres @ rotations.YUP_TO_ZUP, body_el), axis=1)
    n_b, n_h = len(v_body), len(v_hand)
    verts = np.concatenate([v_body, v_hand, v_col])
    polys = f_body + [f + n_b for f in f_hand] + [np.array(f) + n_b + n_h for f in f_col]
    parts = np.concatenate([part_body, np.full(len(f_hand), body_shape.PARTS.index("skin")),
                            np.full(len(f_col), body_shape.PARTS.index("top"))]).astype(np.int32)
    body_me = _mesh_from_arrays(bpy, BODY_NAME, verts, polys)
    body_me.polygons.foreach_set("material_index", parts)
    _hem(body_me, body_shape.WAIST_Y_M)
    body_me.shade_smooth()
    body = bpy.data.objects.new(BODY_NAME, body_me)
    bpy.context.scene.collection.objects.link(body)
    body.parent = arm_obj
    bones = [n for n in skeleton_module.canonical_skeleton().names if n not in ("jaw", "left_eye", "right_eye")]
    if not _bone_heat(bpy, body, arm_obj):
        _distance_weights(body, arm_obj, layout, bones)
    _collar_weights(body, np.arange(n_b + n_h, len(verts)), v_col[:, 2], cut)
    return body


def _hem(me, waist_m: float) -> None:
    """Cut the mesh along the waist plane and give the top's and the trousers' faces their side of it, so the
    top ends in a straight hem instead of a staircase of faces."""
    import bmesh

    top, trousers = body_shape.PARTS.index("top"), body_shape.PARTS.index("trousers")
    bm = bmesh.new()
    bm.from_mesh(me)
    geom = bm.verts[:] + bm.edges[:] + bm.faces[:]
    bmesh.ops.bisect_plane(bm, geom=geom, plane_co=(0.0, 0.0, waist_m), plane_no=(0.0, 0.0, 1.0))
    for f in bm.faces:
        if f.material_index in (top, trousers):
            f.material_index = top if f.calc_center_median().z >= waist_m else trousers
    bm.to_mesh(me)
    bm.free()
    me.update()


def _collar_weights(obj, ids: np.ndarray, z_m: np.ndarray, cut: float) -> None:
    """The collar follows the neck bone at its top edge (as the head's skin at the cut does) and the chest
    (spine3) at its foot."""
    w_neck = np.clip((z_m - (cut - 0.03)) / 0.03, 0.0, 1.0)
    for vg in obj.vertex_groups:
        vg.remove(ids.tolist())
    g_neck = obj.vertex_groups.get("neck") or obj.vertex_groups.new(name="neck")
    g_chest = obj.vertex_groups.get("spine3") or obj.vertex_groups.new(name="spine3")
    wq = np.round(w_neck, 2)
    for wt in np.unique(wq):
        sel = ids[wq == wt].tolist()
        if wt > 0:
            g_neck.add(sel, float(wt), "REPLACE")
        if wt < 1:
            g_chest.add(sel, float(1 - wt), "REPLACE")


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

    co = np.empty(len(obj.data.vertices) * 3, np.float32)
    obj.data.vertices.foreach_get("co", co)
    heads = rotations.yup_to_zup(np.array([layout[b][0] for b in bones]))
    tails = rotations.yup_to_zup(np.array([layout[b][1] for b in bones]))
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

    keep_rows = np.ones(len(head.faces), bool)
    mat_index = np.zeros(len(head.faces), np.int32)
    slots = []
    for part, (a, b) in ict.FACE_GROUPS.items():
        if part in NO_FACE_PARTS:
            keep_rows[a:b] = False
            continue
        m = PART_MATERIAL.get(part, "skin")
        if m not in slots:
            slots.append(m)
        mat_index[a:b] = slots.index(m)
    for side in ("left", "right"):  # the sclera ball's cornea hides the iris ball: open it
        a, b = ict.FACE_GROUPS[f"sclera_{side}"]
        keep_rows[a:b] &= ~cornea_faces(head, side, head.faces[a:b])
    skin_rows = np.zeros(len(head.faces), bool)
    for part in ("face", "back_head"):
        skin_rows[slice(*ict.FACE_GROUPS[part])] = True
    # the bust below the neck is the body's: cut the skin along a level contour (vertex order kept)
    skin_keep, verts = cut_at_height(head.neutral_m + offset_m, head.faces, skin_rows, neck_cut)
    keep_rows &= ~skin_rows | skin_keep
    basis = rotations.yup_to_zup(verts).astype(np.float32)
    faces = head.faces[keep_rows]
    polys = [f[f >= 0] for f in faces]
    me = _mesh_from_arrays(bpy, HEAD_NAME, basis, polys)
    me.polygons.foreach_set("material_index", mat_index[keep_rows])
    me.shade_smooth()
    obj = bpy.data.objects.new(HEAD_NAME, me)
    bpy.context.scene.collection.objects.link(obj)
    obj["parley_slots"] = slots
    obj.shape_key_add(name="Basis", from_mix=False)
    for n in arkit.ARKIT_NAMES:
        kb = obj.shape_key_add(name=n, from_mix=False)
        kb.data.foreach_set("co", (basis + rotations.yup_to_zup(head.deltas_m[n]).astype(np.float32)).ravel())
        kb.slider_max = 1.0
        kb.value = 0.0  # Blender 5.0 creates new keys at 1.0
    obj.data.shape_keys.name = "parley_face_keys"
    # vertex groups: eyeballs to eye bones; skin to head, blended into neck below the jaw line
    y = head.neutral_m[:, 1] + offset_m[1]
    neck_top = layout["jaw"][0][1] - 0.01
    neck_bot = neck_cut
    w_neck = np.clip((neck_top - y) / max(neck_top - neck_bot, 1e-3), 0.0, 1.0) ** 1.5
    eye_ids = {s: np.arange(*ict.VERTEX_PARTS[f"eye_{s}"]) for s in ("left", "right")}
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


    if material not in COLOURS:
        raise errors.ConfigError(f"material must be one of {sorted(COLOURS)}, got {material!r}")
    out_path = Path(out_path)
    head = ict.load_ict(ict_path)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    offset = head_offset_m(head)
    eyes = {s: head.eye_center_m(s) for s in ("left", "right")}
    layout = bone_layout(offset, eyes)
    arm = _build_armature(bpy, layout)
    ring = neck_ring(head, offset)
    body = _build_body(bpy, arm, layout, head, offset, ring)
    head_obj, slots = _build_head(bpy, arm, head, offset, layout, ring[0])
    cols = COLOURS[material]
    for s in slots:
        head_obj.data.materials.append(_material(bpy, f"parley_{material}_{s}", cols[s], s))
    for part in body_shape.PARTS:
        body.data.materials.append(_material(bpy, f"parley_{material}_{part}", cols[part], part))
    for o in (arm, head_obj, body):
        o["parley_rig"] = "demo"
    arm["parley_material"] = material
    arm["parley_head_source"] = head.source
    if len(head_obj.data.shape_keys.key_blocks) != 53:
        raise errors.RigError("demo character: shape keys were not all created")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with files.atomic_path(out_path) as tmp:
        try:
            bpy.ops.wm.save_as_mainfile(filepath=str(tmp), check_existing=False, compress=True)
        finally:
            Path(f"{tmp}1").unlink(missing_ok=True)  # Blender's backup of the (empty) file it replaced
    return out_path


def builder_sources() -> list[Path]:
    """The files that shape the rig: this builder, its geometry, the ICT loader, the skeleton and its data."""
    mods = [Path(m.__file__) for m in (sys.modules[__name__], geometry, body_shape, ict, skeleton_module)]
    return mods + [Path(skeleton_module.__file__).parent / "data" / "skeleton_smplx.json"]


def builder_digest(sources=None) -> str:
    """12 hex digits of SHA-256 over ``sources`` (default :func:`builder_sources`) and Blender's version: the
    cache key, so an edited builder never serves a stale .blend."""
    h = hashlib.sha256()
    for path in (builder_sources() if sources is None else sources):
        h.update(Path(path).read_bytes())
    try:
        import bpy

        h.update(bpy.app.version_string.encode())
    except ImportError:
        pass
    return h.hexdigest()[:12]


def cached_demo_rig(*, material: str = "grey", rebuild: bool = False) -> Path:
    """Path of the demo rig .blend in the cache, built on first use."""
    p = files.cache_dir() / f"demo_character_{material}_{builder_digest()}.blend"
    if rebuild or not p.is_file():
        build(p, material=material)
    return p
