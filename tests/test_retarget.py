"""Retargeting (rigs/retarget.py): bone directions survive rest-pose, roll and axis differences."""
import numpy as np
import pytest

from conftest import armature_from_rest
from rigs.core.errors import RigError
from rigs import retarget as rt
from rigs.formats.bvh import read_bvh
from rigs.core.rotations import axes_matrix, matrix_to_axis_angle

SHIPPED = ("smplx", "mixamo", "rigify", "ue5_manny")
TOL_DEG = 2.0


def direction_errors_deg(src, Ps, src_bones, tgt, Pt, tgt_bones):
    """Max angle (deg, over frames) between source and target world directions of every mapped bone."""
    C = axes_matrix(tgt.up, tgt.forward) @ axes_matrix(src.up, src.forward).T
    out = {}
    for c, kids in rt.DIRECTION_CHILDREN.items():
        for k in kids:
            if not all(x in src_bones and x in tgt_bones for x in (c, k)):
                continue
            a = (Ps[:, src.index(src_bones[k])] - Ps[:, src.index(src_bones[c])]) @ C.T
            b = Pt[:, tgt.index(tgt_bones[k])] - Pt[:, tgt.index(tgt_bones[c])]
            na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
            if na.min() < 1e-9 or nb.min() < 1e-9:
                continue  # zero-length source segment (CMU's lowerback sits on Hips)
            cos = np.clip(np.sum(a * b, -1) / (na * nb), -1, 1)
            out[f"{c}->{k}"] = float(np.degrees(np.arccos(cos)).max())
            break  # the primary (first usable) child
    return out


@pytest.fixture(scope="module")
def cmu(data_dir):
    b = read_bvh(data_dir / "bvh" / "cmu_131_03.bvh")
    src = rt.bvh_rest(b)
    L, tr = rt.bvh_motion(b)
    sl = slice(0, None, 4)  # every 4th frame keeps the test fast
    return b, src, L[sl], tr[sl]


def random_motion(T=120, seed=0):
    rng = np.random.default_rng(seed)
    ang = np.cumsum(rng.normal(0, 0.04, (T, 25, 3)), axis=0)
    ang = np.clip(ang, -1.2, 1.2)
    root = np.cumsum(rng.normal(0, 0.01, (T, 3)), axis=0)
    return rt.clip_motion(ang, root)


def test_axes_matrix_blender_convention():
    C = axes_matrix("Z", "-Y")
    assert np.linalg.det(C) == pytest.approx(1.0)
    np.testing.assert_allclose(C @ [0, 0, 1], [0, -1, 0], atol=1e-12)  # forward -> -Y
    np.testing.assert_allclose(C @ [0, 1, 0], [0, 0, 1], atol=1e-12)   # up -> Z
    np.testing.assert_allclose(C @ [1, 0, 0], [1, 0, 0], atol=1e-12)   # left stays +X
    with pytest.raises(RigError):
        axes_matrix("Z", "Z")


def test_cmu_onto_canonical(cmu):
    b, src, L, tr = cmu
    tgt = rt.canonical_rest()
    res = rt.retarget_with_maps(src, L, tgt, source_map="cmu_bvh", target_map="smplx", source_translations=tr)
    _, Ps = src.forward_kinematics(L, tr)
    sb = rt.resolve_bones(rt.load_map("cmu_bvh"), src.names)
    errs = direction_errors_deg(src, Ps, sb, tgt, res.world_positions, res.bones)
    assert len(errs) >= 14, errs
    assert max(errs.values()) < TOL_DEG, errs
    # the CMU rest pose (arms down, legs splayed) differs from the T-pose: rotations are not copied
    la = matrix_to_axis_angle(res.local_rotations)
    assert np.abs(la[:, tgt.index("left_shoulder")]).max() > 0.5
    # root motion comes out in metres: pelvis about 0.9 m above the floor
    h = res.world_positions[:, 0, 1]
    assert 0.75 < h.mean() < 1.05
    # unscaled the CMU hips would be ~17 units high: the leg-length ratio did the conversion
    assert 0.03 < res.root_scale < 0.08


def test_cmu_onto_apose_rolled_targets(cmu):
    b, src, L, tr = cmu
    _, Ps = src.forward_kinematics(L, tr)
    sb = rt.resolve_bones(rt.load_map("cmu_bvh"), src.names)
    for name in SHIPPED:
        tgt = rt.synthetic_rest(name, seed=5, a_pose_deg=45)
        res = rt.retarget_with_maps(src, L, tgt, source_map="cmu_bvh", target_map=name, source_translations=tr)
        errs = direction_errors_deg(src, Ps, sb, tgt, res.world_positions, res.bones)
        assert len(errs) >= 14, (name, errs)
        assert max(errs.values()) < TOL_DEG, (name, errs)


@pytest.mark.parametrize("name", SHIPPED)
def test_canonical_onto_each_map(name):
    L, tr = random_motion()
    src = rt.canonical_rest()
    tgt = rt.synthetic_rest(name, seed=11)
    res = rt.retarget_clip(matrix_to_axis_angle(L), tr[:, 0], tgt, name)
    _, Ps = src.forward_kinematics(L, tr)
    errs = direction_errors_deg(src, Ps, {n: n for n in src.names}, tgt, res.world_positions, res.bones)
    assert len(errs) >= 15, errs
    assert max(errs.values()) < TOL_DEG, errs
    # unmapped intermediates (UE spine_02, Rigify DEF-thigh.L.001...) keep their rest pose locally
    mapped = set(res.bones.values())
    for j, n in enumerate(tgt.names):
        if n not in mapped:
            np.testing.assert_allclose(res.local_rotations[:, j], np.broadcast_to(np.eye(3), (len(L), 3, 3)),
                                       atol=1e-9)
    # leaf bones (hands) keep their bend relative to the forearm, although the A-pose rest differs
    Ws, _ = src.forward_kinematics(L, tr)
    el, wr = src.index("left_elbow"), src.index("left_wrist")
    rel_s = np.swapaxes(Ws[:, el], -1, -2) @ Ws[:, wr]
    te, tw = tgt.index(res.bones["left_elbow"]), tgt.index(res.bones["left_wrist"])
    Wt = res.world_rotations
    R0 = tgt.rotations
    rel_t = np.swapaxes(Wt[:, te] @ R0[te].T, -1, -2) @ (Wt[:, tw] @ R0[tw].T)
    ang = lambda R: np.linalg.norm(matrix_to_axis_angle(R), axis=-1)
    np.testing.assert_allclose(ang(rel_t), ang(rel_s), atol=1e-6)


def test_root_motion_scaled_by_leg_length():
    L, tr = random_motion(T=30, seed=2)
    tgt = rt.synthetic_rest("ue5_manny", seed=0)  # centimetres, Z up
    res = rt.retarget_clip(matrix_to_axis_angle(L), tr[:, 0], tgt, "ue5_manny")
    src = rt.canonical_rest()
    _, Ps = src.forward_kinematics(L, tr)
    C = axes_matrix("Z", "-Y")
    pel = tgt.index("pelvis")
    np.testing.assert_allclose(res.world_positions[:, pel], res.root_scale * Ps[:, 0] @ C.T, atol=1e-6)
    assert 80 < res.root_scale < 120  # metres -> centimetres, give or take proportions


def test_rest_pose_source_gives_tpose_target():
    tgt = rt.synthetic_rest("mixamo", seed=3, a_pose_deg=45)
    L = np.broadcast_to(np.eye(3), (1, 25, 3, 3)).copy()
    res = rt.retarget_with_maps(rt.canonical_rest(), L, tgt, source_map="smplx", target_map="mixamo")
    P = res.world_positions[0]
    arm = P[tgt.index("mixamorig:LeftForeArm")] - P[tgt.index("mixamorig:LeftArm")]
    # the arm points where the canonical T-pose arm points (converted to Blender axes)
    cs = rt.canonical_rest()
    want = axes_matrix("Z", "-Y") @ (cs.positions[cs.index("left_elbow")] - cs.positions[cs.index("left_shoulder")])
    cos = arm @ want / (np.linalg.norm(arm) * np.linalg.norm(want))
    assert np.degrees(np.arccos(min(cos, 1.0))) < 0.01
    rest_arm = tgt.positions[tgt.index("mixamorig:LeftForeArm")] - tgt.positions[tgt.index("mixamorig:LeftArm")]
    assert rest_arm[2] < -0.5 * np.linalg.norm(rest_arm)  # the target rest really was an A-pose


def test_detect_rig():
    for name in SHIPPED + ("cmu_bvh",):
        tgt = rt.synthetic_rest(name, seed=1)
        assert rt.detect_rig(tgt.names) == name
    mixamo = [n.replace("mixamorig:", "mixamorig1:") for n in rt.synthetic_rest("mixamo").names]
    assert rt.detect_rig(mixamo) == "mixamo"
    assert rt.detect_rig(["Bone", "Bone.001", "Cube"]) is None
    # half a rig is not enough
    half = [n for n in rt.synthetic_rest("rigify").names if not n.endswith(".L")]
    assert rt.detect_rig(half) is None


def test_detect_rig_on_cmu_file(cmu):
    b = cmu[0]
    assert rt.detect_rig(b.names) == "cmu_bvh"


def test_bvh_to_canonical_clip_shapes(cmu):
    b = cmu[0]
    ang, root = rt.bvh_to_canonical(b)
    assert ang.shape == (b.num_frames, 25, 3) and root.shape == (b.num_frames, 3)
    assert np.isfinite(ang).all() and np.abs(root).max() < 10


def test_from_bones_reorders_parents_first():
    tgt = rt.synthetic_rest("ue5_manny", seed=2)
    perm = np.random.default_rng(0).permutation(tgt.num_joints)
    names = [tgt.names[i] for i in perm]
    parents = [tgt.names[tgt.parents[i]] if tgt.parents[i] >= 0 else None for i in perm]
    again = rt.RestSkeleton.from_bones(names, parents, tgt.positions[perm], tgt.rotations[perm])
    for n in tgt.names:
        j = again.index(n)
        np.testing.assert_allclose(again.positions[j], tgt.positions[tgt.index(n)])
        p = again.parents[j]
        assert (again.names[p] if p >= 0 else None) == (tgt.names[tgt.parents[tgt.index(n)]]
                                                        if tgt.parents[tgt.index(n)] >= 0 else None)


def test_errors():
    src = rt.canonical_rest()
    L = np.broadcast_to(np.eye(3), (2, 25, 3, 3))
    with pytest.raises(RigError):
        rt.retarget(src, L, src, source_bones={"pelvis": "pelvis"}, target_bones={"spine1": "spine1"})
    with pytest.raises(RigError):
        rt.retarget(src, L[:, :3], src, source_bones={}, target_bones={})
    with pytest.raises(RigError):
        rt.load_map("no_such_rig")
    with pytest.raises(RigError):
        rt.RestSkeleton(("a", "b"), (1, -1), np.zeros((2, 3)), np.broadcast_to(np.eye(3), (2, 3, 3)))


@pytest.mark.blender
def test_pose_convention_matches_blender():
    """Local rotations/translations are Blender's pose-bone basis: a built armature reproduces them."""
    bpy = pytest.importorskip("bpy")
    from mathutils import Quaternion
    from rigs.core.rotations import matrix_to_quaternion

    tgt = rt.synthetic_rest("rigify", seed=9, a_pose_deg=45)
    L, tr = random_motion(T=6, seed=4)
    res = rt.retarget_clip(matrix_to_axis_angle(L), tr[:, 0], tgt, "rigify")
    arm = armature_from_rest(tgt)
    bpy.ops.object.mode_set(mode="POSE")
    q = matrix_to_quaternion(res.local_rotations)
    worst_p = worst_r = 0.0
    for f in range(len(L)):
        for j, n in enumerate(tgt.names):
            pb = arm.pose.bones[n]
            pb.rotation_mode = "QUATERNION"
            pb.rotation_quaternion = Quaternion(q[f, j].tolist())
            pb.location = res.translations[f, j].tolist()
        bpy.context.view_layer.update()
        for j, n in enumerate(tgt.names):
            pb = arm.pose.bones[n]
            worst_p = max(worst_p, np.abs(np.array(pb.head) - res.world_positions[f, j]).max())
            worst_r = max(worst_r, np.abs(np.array(pb.matrix.to_3x3()) - res.world_rotations[f, j]).max())
    bpy.ops.object.mode_set(mode="OBJECT")
    assert worst_p < 1e-4 and worst_r < 1e-4, (worst_p, worst_r)
