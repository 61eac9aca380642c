"""BVH export of procedural-body motion on the canonical skeleton and on a retargeted rig (Mixamo names and an
A-pose with bone rolls), read back by the project's own reader and by Blender's BVH importer: joint rotations
compared with the clip in degrees at a few frames."""
from types import SimpleNamespace

import numpy as np
import pytest

from engine.animators.body import animate_body
from rigs.core.clip import neutral_clip
from rigs.core.errors import ClipError
from rigs.core.rotations import axes_matrix
from rigs.core.skeleton import canonical_skeleton
from rigs.formats import bvh as bvh_format
from rigs.formats.bvh import read_bvh
from rigs.retarget import retarget_clip, synthetic_rest

FPS = 30.0
SK = canonical_skeleton()
FRAMES = (0, 17, 41, 58)
TOL_DEG = 0.01    # the file keeps six decimals of degrees
TOL_M = 1e-4


def body_clip(seconds=2.0, seed=1):
    """A clip whose body is the procedural body talking with accents (arms, torso and head moving)."""
    T = int(seconds * FPS)
    sp = np.ones(T, bool)
    pro = SimpleNamespace(loudness=np.full(T, 0.6), speech=sp, voiced=sp)
    aa, root = animate_body(fps=FPS, n_frames=T, prosody=pro, head_angles_rad=None, eye_angles_rad=None,
                            accent_times_s=[0.5, 1.2, 1.7], emotion={"joy": 0.5}, seed=seed)
    c = neutral_clip(T / FPS, fps=FPS)
    c.joint_angles, c.root_translation = aa, root
    return c.validate()


def angle_deg(A, B):
    """Geodesic angle (degrees) between rotation matrices (..., 3, 3): |A - B|_F = 2 sqrt(2) sin(angle / 2),
    precise for small angles (arccos of the trace is not, in float32)."""
    d = np.linalg.norm(np.asarray(A, np.float64) - np.asarray(B, np.float64), axis=(-2, -1))
    return np.degrees(2 * np.arcsin(np.clip(d / (2 * np.sqrt(2)), 0, 1)))


@pytest.fixture(scope="module")
def mixamo():
    rest = synthetic_rest("mixamo", seed=3)
    c = body_clip()
    res = retarget_clip(c.joint_angles, c.root_translation, rest, "mixamo")
    return c, rest, res


def test_retargeted_bvh_reproduces_the_rig_motion(tmp_path, mixamo):
    c, rest, res = mixamo
    p = bvh_format.export_retargeted_bvh(rest, res.world_rotations, res.world_positions, tmp_path / "mixamo.bvh",
                                         fps=c.fps)
    b = read_bvh(p)
    assert set(b.names) == set(rest.names) and "mixamorig:LeftForeArm" in b.names
    assert b.num_frames == c.num_frames and b.fps == pytest.approx(FPS)
    R, P = b.forward_kinematics()                    # BVH: world rotation change from rest, Y up, cm
    C = axes_matrix(rest.up, rest.forward).T          # rig space -> BVH axes
    idx = [b.index(n) for n in rest.names]
    D = C @ res.world_rotations @ np.swapaxes(rest.rotations, -1, -2) @ C.T
    assert angle_deg(R[:, idx], D).max() < TOL_DEG
    np.testing.assert_allclose(P[:, idx] / 100.0, res.world_positions @ C.T, atol=TOL_M)
    # the motion is really there: the forearm swings by many degrees over the clip
    j = b.index("mixamorig:LeftForeArm")
    assert angle_deg(R[:1, j], R[:, j]).max() > 15.0


def test_retargeted_bvh_bad_input(tmp_path, mixamo):
    c, rest, res = mixamo
    with pytest.raises(ClipError):
        bvh_format.retargeted_bvh_text(rest, res.world_rotations[:, :3], res.world_positions, fps=FPS)
    with pytest.raises(ClipError):
        bvh_format.retargeted_bvh_text(rest, res.world_rotations, res.world_positions, fps=FPS, length_scale=0.0)


def _import(bpy, path):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    res = bpy.ops.import_anim.bvh(filepath=str(path), global_scale=0.01, axis_forward="-Z", axis_up="Y",
                                  frame_start=1, use_fps_scale=False, rotate_mode="NATIVE")
    assert res == {"FINISHED"}
    return next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")


def _blender_pose(bpy, arm, names, frames):
    """World rotation change from rest (F, J, 3, 3) and heads (F, J, 3), Blender space, at ``frames``."""
    R = np.empty((len(frames), len(names), 3, 3))
    P = np.empty((len(frames), len(names), 3))
    for k, f in enumerate(frames):
        bpy.context.scene.frame_set(f + 1)          # Blender frame 1 = BVH frame 0
        bpy.context.view_layer.update()
        for j, n in enumerate(names):
            pb = arm.pose.bones[n]
            M = arm.matrix_world @ pb.matrix
            rest = arm.matrix_world @ pb.bone.matrix_local
            R[k, j] = np.array(M.to_3x3()) @ np.array(rest.to_3x3()).T
            P[k, j] = np.array(M.translation)
    return R, P


@pytest.mark.blender
def test_blender_imports_the_body_on_both_skeletons(tmp_path, mixamo):
    bpy = pytest.importorskip("bpy")
    c, rest, res = mixamo
    Z = axes_matrix("Z", "-Y")                        # canonical Y up -> Blender's Z up, -Y forward
    fr = list(FRAMES)
    # canonical skeleton: every joint's world rotation and head as the clip's forward kinematics
    arm = _import(bpy, bvh_format.export_bvh(c, tmp_path / "canonical.bvh"))
    Rb, Pb = _blender_pose(bpy, arm, SK.names, fr)
    Rc, Pc = SK.forward_kinematics(c.joint_angles, c.root_translation)
    err = angle_deg(Rb, Z @ Rc[fr] @ Z.T)
    print(f"canonical: worst rotation {err.max():.4f} deg, worst head {np.abs(Pb - Pc[fr] @ Z.T).max():.2e} m")
    assert err.max() < TOL_DEG, SK.names[int(np.argmax(err.max(0)))]
    assert np.abs(Pb - Pc[fr] @ Z.T).max() < TOL_M
    # the elbows' local flexion as Blender shows it equals the clip's, in degrees
    for side in ("left", "right"):
        j, p = SK.index(f"{side}_elbow"), SK.index(f"{side}_shoulder")
        local_b = np.swapaxes(Rb[:, p], -1, -2) @ Rb[:, j]
        local_c = Z @ (np.swapaxes(Rc[fr, p], -1, -2) @ Rc[fr, j]) @ Z.T
        assert angle_deg(local_b, local_c).max() < TOL_DEG
    # retargeted rig (A-pose, rolls, other proportions): Blender's bones turn as the rig's bones do; the
    # rig's own space is already Blender's (Z up, -Y forward)
    arm = _import(bpy, bvh_format.export_retargeted_bvh(rest, res.world_rotations, res.world_positions,
                                                        tmp_path / "mixamo.bvh", fps=c.fps))
    Rb, Pb = _blender_pose(bpy, arm, rest.names, fr)
    D = res.world_rotations[fr] @ np.swapaxes(rest.rotations, -1, -2)
    err = angle_deg(Rb, D)
    print(f"mixamo: worst rotation {err.max():.4f} deg, worst head {np.abs(Pb - res.world_positions[fr]).max():.2e} m")
    assert err.max() < TOL_DEG, rest.names[int(np.argmax(err.max(0)))]
    assert np.abs(Pb - res.world_positions[fr]).max() < TOL_M
    fa = rest.names.index("mixamorig:LeftForeArm")
    assert angle_deg(Rb[:1, fa], Rb[:, fa]).max() > 10.0   # and it moves


def test_cli_exports_onto_a_bvh_skeleton(tmp_path, data_dir, capsys):
    """``parley export clip.npz --bvh out.bvh --bvh-skeleton cmu.bvh``: the body on the CMU file's joints
    (names, proportions, units), with the CMU map detected from the names; what the file holds is the
    retarget of the clip, joint by joint, within 0.01 degrees."""
    from engine.cli import main
    from rigs.core.clip import save_clip
    from rigs.retarget import bvh_rest, detect_rig

    cmu = data_dir / "bvh" / "cmu_131_01.bvh"
    c = body_clip()
    src = save_clip(c, tmp_path / "talk.npz")
    out = tmp_path / "talk_cmu.bvh"
    assert main(["export", str(src), "--bvh", str(out), "--bvh-skeleton", str(cmu)]) == 0
    b, skel = read_bvh(out), read_bvh(cmu)
    assert b.names == skel.names and b.num_frames == c.num_frames
    np.testing.assert_allclose(b.offsets, skel.offsets, atol=1e-5)     # the CMU proportions and units
    rest = bvh_rest(skel)
    assert detect_rig(rest.names) == "cmu_bvh"
    res = retarget_clip(c.joint_angles, c.root_translation, rest, "cmu_bvh")
    R, P = b.forward_kinematics()
    assert angle_deg(R, res.world_rotations).max() < TOL_DEG
    np.testing.assert_allclose(P, res.world_positions, atol=1e-3)      # file units (about cm), 6 decimals
    j = b.index("LeftForeArm") if "LeftForeArm" in b.names else b.index(res.bones["left_elbow"])
    assert angle_deg(R[:1, j], R[:, j]).max() > 10.0
    # the options go together; a skeleton no map knows is an error naming the fix
    assert main(["export", str(src), "--json", str(tmp_path / "x.json"), "--bvh-skeleton", str(cmu)]) == 2
    odd = tmp_path / "odd.bvh"
    odd.write_text(cmu.read_text().replace("JOINT ", "JOINT zz").replace("ROOT ", "ROOT zz"))  # no map knows
    assert main(["export", str(src), "--bvh", str(tmp_path / "y.bvh"), "--bvh-skeleton", str(odd)]) == 2
    assert "--bvh-map" in capsys.readouterr().err
