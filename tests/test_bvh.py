"""BVH reader, forward kinematics and writer (rigs/bvh.py)."""
import numpy as np
import pytest

from rigs.core.errors import RigError
from rigs.formats.bvh import format_bvh, parse_bvh, read_bvh
from rigs.core.rotations import axis_angle_to_matrix, euler_to_matrix

CMU = ("cmu_131_01.bvh", "cmu_131_02.bvh", "cmu_131_03.bvh")


@pytest.fixture(scope="module")
def cmu(data_dir):
    return {n: read_bvh(data_dir / "bvh" / n) for n in CMU}


def test_cmu_files_parse(cmu):
    for name, b in cmu.items():
        assert b.num_joints == 31, name
        assert abs(b.fps - 120.0) < 0.01
        assert b.num_frames > 900
        assert b.motion.shape == (b.num_frames, 6 + 3 * 30)
        assert b.names[0] == "Hips" and b.parents[0] == -1
        assert b.channels[0][:3] == ("Xposition", "Yposition", "Zposition")
        assert len(b.end_sites) == 7  # toes x2, head, fingers x2, thumbs x2
        assert b.parents[b.index("LeftKnee")] == b.index("LeftHip")


def test_cmu_forward_kinematics_is_rigid_and_upright(cmu):
    b = cmu["cmu_131_01.bvh"]
    R, P = b.forward_kinematics()
    # bone lengths stay equal to the rest offsets in every frame
    for j, p in enumerate(b.parents):
        if p >= 0:
            np.testing.assert_allclose(np.linalg.norm(P[:, j] - P[:, p], axis=-1), np.linalg.norm(b.offsets[j]),
                                       atol=1e-9)
    # world rotations are proper rotations
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-9)
    # a person walking: the head stays above the hips, the toes near the floor
    assert np.all(P[:, b.index("Head"), 1] > P[:, b.index("Hips"), 1])
    assert P[:, b.index("LeftToe"), 1].min() < 2.0
    ends = b.end_site_positions(R, P)
    assert set(ends) == {j for j in b.end_sites}


def test_channel_order_and_position_channels():
    text = """HIERARCHY
ROOT root
{
  OFFSET 1 2 3
  CHANNELS 6 Yrotation Xposition Zposition Yposition Xrotation Zrotation
  JOINT arm
  {
    OFFSET 0 0 2
    CHANNELS 3 Xrotation Zrotation Yrotation
    End Site
    {
      OFFSET 1 0 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.04
0 10 30 20 0 0   0 0 0
90 10 30 20 0 0   30 40 50
"""
    b = parse_bvh(text)
    assert b.fps == pytest.approx(25.0)
    R, P = b.forward_kinematics()
    # position channels replace the root offset
    np.testing.assert_allclose(P[:, 0], [[10, 20, 30], [10, 20, 30]])
    # frame 1: root turned 90 deg about Y moves the child (offset +Z) to +X
    np.testing.assert_allclose(P[1, 1], [12, 20, 30], atol=1e-9)
    want = euler_to_matrix(np.deg2rad([90, 0, 0]), "YXZ") @ euler_to_matrix(np.deg2rad([30, 40, 50]), "XZY")
    np.testing.assert_allclose(R[1, 1], want, atol=1e-12)


def test_write_read_round_trip():
    rng = np.random.default_rng(3)
    names = ("hips", "spine", "head", "leg")
    parents = (-1, 0, 1, 0)
    offsets = rng.normal(size=(4, 3))
    F = 12
    L = axis_angle_to_matrix(rng.normal(0, 0.8, size=(F, 4, 3)))
    root = rng.normal(size=(F, 3))
    for order in ("ZXY", "XYZ", "YZX"):
        b = parse_bvh(format_bvh(names, parents, offsets, L, root, frame_time_s=1 / 30, order=order,
                                 end_sites={2: np.array([0, 0.1, 0])}))
        assert b.names == names and b.parents == parents
        np.testing.assert_allclose(b.offsets, offsets, atol=1e-6)
        np.testing.assert_allclose(b.local_rotations(), L, atol=1e-6)
        np.testing.assert_allclose(b.local_translations()[:, 0], root, atol=1e-6)
        assert b.fps == pytest.approx(30.0, rel=1e-8)
        assert set(b.end_sites) == {2, 3}


@pytest.mark.parametrize("text", ["", "HIERARCHY\nROOT a\n{\nOFFSET 0 0\n", "MOTION\n",
                                  "HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\nCHANNELS 1 Wrotation\n}\nMOTION\n"])
def test_malformed_raises_rig_error(text):
    with pytest.raises(RigError):
        parse_bvh(text)


def test_short_motion_raises(tmp_path):
    p = tmp_path / "x.bvh"
    p.write_text("HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\nCHANNELS 3 Xrotation Yrotation Zrotation\n}\n"
                 "MOTION\nFrames: 3\nFrame Time: 0.1\n0 0 0\n")
    with pytest.raises(RigError, match="expected 3 frames"):
        read_bvh(p)
    with pytest.raises(RigError):
        read_bvh(tmp_path / "missing.bvh")
