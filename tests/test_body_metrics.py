"""engine.metrics.body: Frechet distances, diversity and beat consistency on hand-computable cases, and the
physical body measures (degrees) on posed skeletons."""
import numpy as np
import pytest

from engine.metrics import body as M
from rigs.core.errors import ConfigError
from rigs.core.skeleton import canonical_skeleton

SK = canonical_skeleton()


def test_frechet_of_two_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(0)
    n = 200_000
    # N(0, diag(1, 4)) vs N((3, 0), diag(4, 1)): |mu|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2) = 9 + 10 - 2 * (2 + 2) = 11
    x = rng.standard_normal((n, 2)) * [1.0, 2.0]
    y = rng.standard_normal((n, 2)) * [2.0, 1.0] + [3.0, 0.0]
    assert M.frechet_distance(x, y) == pytest.approx(11.0, abs=0.1)
    assert M.fd_g(x, y) == pytest.approx(11.0, abs=0.1)
    # a shift alone: the squared distance of the means
    assert M.frechet_distance(x, x + [0.0, 0.5]) == pytest.approx(0.25, abs=1e-9)


def test_identical_sets_give_zero_and_constant_sets_are_handled():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((500, 6))
    assert M.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    const = np.tile(x.mean(0), (300, 1))       # the mean-pose baseline: a singular covariance
    d = M.frechet_distance(const, x)
    assert np.isfinite(d) and d == pytest.approx(np.trace(np.cov(x, rowvar=False)), rel=1e-6)
    with pytest.raises(ConfigError):
        M.frechet_distance(x, x[:, :3])


def test_fd_k_compares_velocities_not_poses():
    t = np.arange(300)[:, None] * np.ones((1, 3))
    slow, fast = 0.01 * t, 0.03 * t               # constant velocities 0.01 and 0.03 per frame
    assert M.fd_k(slow, slow + 5.0) == pytest.approx(0.0, abs=1e-12)   # offset poses, same motion
    assert M.fd_k(slow, fast) == pytest.approx(3 * 0.02 ** 2, rel=1e-6)
    assert M.fd_k_sets([slow, slow], [fast]) == pytest.approx(3 * 0.02 ** 2, rel=1e-6)


def test_diversity_hand_cases():
    # two poses 5 apart (3-4-5 triangle): the only pair
    assert M.div_g(np.array([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)
    # corners of a unit square: 4 sides of 1 and 2 diagonals of sqrt 2
    sq = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], float)
    assert M.div_g(sq) == pytest.approx((4 + 2 * np.sqrt(2)) / 6)
    assert M.div_k(np.zeros((50, 3))) == 0.0
    ramp = np.cumsum(np.tile([[1.0, 0.0], [0.0, 1.0]], (10, 1)), axis=0)   # velocities alternate (1,0), (0,1)
    assert M.div_k(ramp) == pytest.approx(np.sqrt(2) * 90 / 171, rel=1e-9)  # 10 x 9 of 171 pairs differ
    # many vectors: sampled pairs, deterministic per seed, close to the exact value
    big = np.random.default_rng(2).standard_normal((1000, 4))
    assert M.div_g(big) == M.div_g(big)
    assert M.div_g(big) == pytest.approx(np.sqrt(2) * 1.88, rel=0.05)   # E|x-y| for 4-D N(0, 2I) ~ 2.66


def test_cross_sample_diversity():
    a = np.zeros((3, 40, 25, 3))
    assert M.cross_sample_diversity(a) == 0.0
    a[1] += 1.0   # sample 1 differs from the others by 1 on each of 75 coordinates
    assert M.cross_sample_diversity(a) == pytest.approx(2 / 3 * np.sqrt(75))
    with pytest.raises(ConfigError):
        M.cross_sample_diversity(a[:1])


def test_beat_consistency():
    onsets = np.array([1.0, 2.0, 3.0])
    assert M.beat_consistency([1.0, 2.0, 3.0], onsets) == pytest.approx(1.0)
    # every motion beat 0.3 s off: exp(-0.5)
    assert M.beat_consistency([1.3, 2.3], onsets) == pytest.approx(np.exp(-0.5))
    assert M.beat_consistency([], onsets) == 0.0
    assert M.beat_consistency([5.0], [5.3]) == pytest.approx(np.exp(-0.5))
    # motion beats are the speed minima: a joint swinging at 1 Hz stops at every 0.5 s
    fps = 30.0
    t = np.arange(int(4 * fps)) / fps
    pose = np.zeros((len(t), 2, 3))
    pose[:, 0, 0] = np.sin(2 * np.pi * t)
    beats = M.motion_beats(pose, fps=fps)
    np.testing.assert_allclose(beats, np.arange(0.25, 3.9, 0.5), atol=1 / fps)


def _pose(**deg):
    aa = np.zeros((2, SK.num_joints, 3))
    for name, v in deg.items():
        aa[:, SK.index(name)] = np.deg2rad(v)
    return aa


def test_body_kinematics_in_degrees():
    # T-pose: upper arms about horizontal (SMPL-X rest arms droop ~3 degrees, elbows bend ~6), hands out to
    # the sides (not in front)
    k = M.body_kinematics(_pose(), fps=30)
    abd_t, flex_t = k.abduction_deg, k.elbow_flexion_deg
    assert 85 < abd_t <= 90 and flex_t < 7
    assert k.gesture_space_share == 0.0 and k.torso_speed_deg_s == 0.0
    # arms lowered 70 degrees about Z (left +X side: a negative Z rotation lowers it): 70 degrees less
    # abduction, and elbows bent 90 degrees about Y (the canonical elbow's flexion axis)
    k = M.body_kinematics(_pose(left_shoulder=(0, 0, -70), right_shoulder=(0, 0, 70),
                                left_elbow=(0, -90, 0), right_elbow=(0, 90, 0)), fps=30)
    assert k.abduction_deg == pytest.approx(abd_t - 70, abs=0.5)
    assert k.elevation_deg == pytest.approx(abd_t - 70, abs=1.0)
    assert 90 <= k.elbow_flexion_deg <= 90 + flex_t   # plus at most the rest bend
    assert k.gesture_space_share == 1.0   # the forearms point forward: both hands in front of the torso
    # torso turning 30 degrees per second about its vertical axis
    T = 31
    aa = np.zeros((T, SK.num_joints, 3))
    aa[:, SK.index("spine3"), 1] = np.deg2rad(np.arange(T))   # 1 degree per frame at 30 fps
    k = M.body_kinematics(aa, fps=30)
    assert k.torso_speed_deg_s == pytest.approx(30, rel=1e-3)
    assert k.head_speed_deg_s == pytest.approx(30, rel=1e-3)   # the head rides on the torso
    assert k.torso_range_deg == pytest.approx(0.9 * 30, rel=0.02)
