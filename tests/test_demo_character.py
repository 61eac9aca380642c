"""The ICT loader (numpy) and the demo character (bpy): 52 ARKit shape keys, canonical bones, eyes, neck."""
import numpy as np
import pytest

from rigs.core.arkit import ARKIT_NAMES
from rigs.core.skeleton import canonical_skeleton


@pytest.fixture(scope="module")
def ict(data_dir):
    from rigs.ict import load_ict

    return load_ict()


def test_ict_loader_keys_units_and_merged_halves(ict, data_dir):
    assert set(ict.deltas_m) == set(ARKIT_NAMES)
    assert ict.neutral_m.shape == (26719, 3)
    assert 0.15 < np.ptp(ict.neutral_m[:, 1]) < 0.5  # metres, not centimetres
    raw = np.load(data_dir / "ict_facekit" / "ict_facekit_light.npz")
    names = [str(s) for s in raw["expr_names"]]
    want = (raw["expr_deltas"][names.index("browInnerUp_L")] + raw["expr_deltas"][names.index("browInnerUp_R")]) * 0.01
    np.testing.assert_allclose(ict.deltas_m["browInnerUp"], want, atol=1e-6)
    np.testing.assert_allclose(ict.deltas_m["eyeBlinkLeft"], raw["expr_deltas"][names.index("eyeBlink_L")] * 0.01,
                               atol=1e-6)


def test_tongue_out_moves_only_tongue_forward(ict):
    from rigs.ict import VERTEX_PARTS, tongue_vertices

    d = ict.deltas_m["tongueOut"]
    moved = np.nonzero(np.abs(d).sum(1) > 0)[0]
    assert len(moved) > 50
    a, b = VERTEX_PARTS["gums_tongue"]
    assert moved.min() >= a and moved.max() < b
    assert d[:, 2].max() > 0.01 and d[:, 2].min() >= 0  # forward (+Z, Y up)
    assert np.abs(ict.neutral_m[tongue_vertices(ict), 0]).max() < 0.025  # inside the dental arch


def test_yup_to_zup():
    from rigs.core.rotations import yup_to_zup

    np.testing.assert_array_equal(yup_to_zup(np.array([[1.0, 2.0, 3.0]])), [[1.0, -3.0, 2.0]])


def test_missing_head_names_what_to_download(tmp_path, monkeypatch):
    from rigs.core.errors import DataMissingError
    from rigs.ict import load_ict

    monkeypatch.setenv("PARLEY_DATA", str(tmp_path / "nodata"))
    monkeypatch.setenv("PARLEY_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataMissingError, match="ICT-FaceKit.*FaceXModel|FaceXModel.*ICT-FaceKit"):
        load_ict()


@pytest.fixture(scope="module")
def demo_blend(tmp_path_factory, data_dir):
    pytest.importorskip("bpy")
    from addon.blender.demo_character import build

    return build(tmp_path_factory.mktemp("rig") / "demo.blend")


@pytest.mark.blender
def test_demo_character_shape_keys_bones_and_groups(demo_blend):
    import bpy

    from addon.blender.demo_character import ARMATURE_NAME, BODY_NAME, HEAD_NAME

    bpy.ops.wm.open_mainfile(filepath=str(demo_blend))
    head, arm, body = (bpy.data.objects[n] for n in (HEAD_NAME, ARMATURE_NAME, BODY_NAME))
    keys = [kb.name for kb in head.data.shape_keys.key_blocks][1:]
    assert sorted(keys) == sorted(ARKIT_NAMES) and len(keys) == 52
    assert all(kb.value == 0.0 for kb in head.data.shape_keys.key_blocks[1:])
    assert len(head.data.vertices) == 26719  # template vertex order kept (lip vertex ids index it)
    sk = canonical_skeleton()
    assert sorted(b.name for b in arm.data.bones) == sorted(sk.names)
    assert all((arm.data.bones[n].parent.name if arm.data.bones[n].parent else None) ==
               (sk.names[p] if p >= 0 else None) for n, p in zip(sk.names, sk.parents))
    assert {"left_eye", "right_eye", "head", "neck"} <= {g.name for g in head.vertex_groups}
    assert head.parent == arm and body.parent == arm
    assert any(m.type == "ARMATURE" and m.object == arm for m in body.modifiers)
    # the head sits on the body: the lowest head vertex is close to the top of the body's neck
    used = {i for poly in head.data.polygons for i in poly.vertices if i < 14062}
    hz = min(head.data.vertices[i].co.z for i in used)
    bz = max(v.co.z for v in body.data.vertices)
    assert abs(hz - bz) < 0.05 and 1.3 < hz < 1.6
    # every body vertex is skinned
    assert all(len(v.groups) for v in body.data.vertices)
    # the outfit: one material slot per part (top, trousers, shoes, skin of the hands), each part present
    from addon.blender.body_shape import PARTS

    assert len(body.data.materials) == len(PARTS)
    assert {p.material_index for p in body.data.polygons} == set(range(len(PARTS)))
    # the top ends in a straight hem at the waist: no top face below it, no trouser face above it
    from addon.blender.body_shape import WAIST_Y_M

    low = {p.material_index for p in body.data.polygons if p.center.z < WAIST_Y_M - 1e-4}
    high = {p.material_index for p in body.data.polygons if p.center.z > WAIST_Y_M + 1e-4}
    assert PARTS.index("top") not in low and PARTS.index("trousers") not in high


@pytest.mark.blender
def test_eye_bone_rotates_eyeball_only(demo_blend):
    import bpy
    from mathutils import Quaternion

    bpy.ops.wm.open_mainfile(filepath=str(demo_blend))
    head, arm = bpy.data.objects["parley_head"], bpy.data.objects["parley_armature"]
    from rigs.ict import VERTEX_PARTS

    def co():
        dg = bpy.context.evaluated_depsgraph_get()
        me = head.evaluated_get(dg).to_mesh()
        a = np.array([v.co[:] for v in me.vertices])
        head.evaluated_get(dg).to_mesh_clear()
        return a

    rest = co()
    arm.pose.bones["left_eye"].rotation_quaternion = Quaternion((0, 0, 1), 0.3)
    bpy.context.view_layer.update()
    moved = np.linalg.norm(co() - rest, axis=1) > 1e-5
    a, b = VERTEX_PARTS["eye_left"]
    assert moved[a:b].mean() > 0.9 and moved[:a].sum() == 0 and moved[b:].sum() == 0


def test_cut_at_height_gives_a_level_edge_and_keeps_vertex_order():
    from addon.blender.geometry import cut_at_height

    # a 3x3-vertex grid on a slanted (x, y) plane, quads, cut at y = 0.25
    xs, ys = np.meshgrid([0.0, 1.0, 2.0], [0.0, 0.5, 1.0])
    v = np.stack([xs.ravel(), ys.ravel() + 0.1 * xs.ravel(), np.zeros(9)], 1)
    f = np.array([[0, 1, 4, 3], [1, 2, 5, 4], [3, 4, 7, 6], [4, 5, 8, 7]])
    keep, out = cut_at_height(v, f, np.ones(4, bool), 0.25)
    assert out.shape == v.shape and keep.all()  # every quad straddles or lies above the cut
    used_low = np.nonzero(v[:, 1] < 0.25)[0]
    np.testing.assert_allclose(out[used_low, 1], 0.25, atol=1e-9)
    np.testing.assert_array_equal(out[3:], v[3:])  # vertices above the cut are untouched
    keep2, _ = cut_at_height(v, f, np.ones(4, bool), 0.75)  # the lower row lies wholly below
    assert keep2.tolist() == [False, False, True, True]


def test_cache_key_follows_the_builder_source(tmp_path):
    from addon.blender.demo_character import builder_digest, builder_sources

    sources = builder_sources()
    names = {p.name for p in sources}
    assert {"demo_character.py", "geometry.py", "ict.py", "skeleton.py", "skeleton_smplx.json"} <= names
    copies = []
    for k, p in enumerate(sources):
        c = tmp_path / f"{k}_{p.name}"
        c.write_bytes(p.read_bytes())
        copies.append(c)
    d = builder_digest()
    assert len(d) == 12 and d == builder_digest() == builder_digest(copies)
    for c in copies:   # an edit to any one source gives another key
        original = c.read_bytes()
        c.write_bytes(original + b"\n")
        assert builder_digest(copies) != d, c.name
        c.write_bytes(original)
