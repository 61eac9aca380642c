"""The face metrics (engine/metrics/face.py) on hand-computable cases, in mm, mm^2 and rates."""
import numpy as np
import pytest

from engine.metrics import face as fm
from rigs.core.phones import Phone

FPS = 100.0
MM = 0.001

# 0.1 s of silence, M, AA, P, TH, IY, silence: frames at 100 fps
PHONES = [Phone(0.0, 0.10, "SIL"), Phone(0.10, 0.20, "M"), Phone(0.20, 0.40, "AA"), Phone(0.40, 0.50, "P"),
          Phone(0.50, 0.60, "TH"), Phone(0.60, 0.80, "IY"), Phone(0.80, 1.00, "SIL")]


def _gap(mm_by_span, n=100):
    g = np.full(n, 3 * MM)
    for (a, b), mm in mm_by_span.items():
        g[a:b] = mm * MM
    return g


def test_lve_is_the_mean_of_each_frames_worst_vertex_and_the_squared_variant_squares_it():
    ref = np.zeros((2, 3, 3))
    pred = ref.copy()
    pred[0, 1] = [3 * MM, 4 * MM, 0]      # frame 0: one vertex 5 mm off, another 1 mm off
    pred[0, 2, 2] = 1 * MM
    pred[1, 0, 0] = -1 * MM               # frame 1: worst 1 mm
    assert fm.lip_vertex_error_mm(pred, ref) == pytest.approx((5 + 1) / 2)
    assert fm.lip_vertex_error_sq_mm2(pred, ref) == pytest.approx((25 + 1) / 2)
    # the shorter sequence decides the frames judged
    assert fm.lip_vertex_error_mm(pred[:1], ref) == pytest.approx(5.0)
    with pytest.raises(ValueError):
        fm.lip_vertex_error_mm(pred[:, :2], ref)


def test_inner_lip_gap_and_lip_distance_errors_in_mm():
    # vertices: 0 upper lip, 1 lower lip, 2 left corner, 3 right corner
    ref = np.zeros((2, 4, 3))
    ref[:, 0, 1], ref[:, 1, 1] = 4 * MM, -3 * MM          # 7 mm opening
    ref[:, 2, 0], ref[:, 3, 0] = -26 * MM, 26 * MM        # 52 mm wide
    pred = ref.copy()
    pred[:, 0, 1] = 7 * MM                                # 10 mm opening: 3 mm too open
    pred[:, 3, 0] = 24 * MM                               # 50 mm wide: 2 mm too narrow
    assert fm.inner_lip_gap_m(ref, [0], [1]) == pytest.approx(np.full(2, 7 * MM))
    assert fm.inner_lip_gap_m(ref[0], [0, 0], [1, 1]) == pytest.approx(7 * MM)
    pressed = ref.copy()
    pressed[:, 0, 1] = -4 * MM                            # upper below lower: lips pressed 1 mm into each other
    assert fm.inner_lip_gap_m(pressed, [0], [1]) == pytest.approx(np.full(2, -1 * MM))
    v, h = fm.lip_distance_errors_mm(pred, ref, vertical=(0, 1), horizontal=(2, 3))
    assert (v, h) == (pytest.approx(3.0), pytest.approx(2.0))
    with pytest.raises(ValueError):
        fm.inner_lip_gap_m(ref, [0, 1], [1])


def test_closure_open_vowel_and_tongue_false_positive_rates():
    # M closed (0.5 mm) inside its span, P never below 1 mm: half the closures
    assert fm.closure_rate(_gap({(15, 16): 0.5, (40, 51): 1.2}), PHONES, FPS) == pytest.approx(0.5)
    assert fm.closure_rate(_gap({(15, 16): 0.5, (45, 46): 0.9}), PHONES, FPS) == pytest.approx(1.0)
    assert fm.open_vowel_rate(_gap({(20, 41): 4.9}), PHONES, FPS) == pytest.approx(0.0)
    assert fm.open_vowel_rate(_gap({(30, 31): 5.5}), PHONES, FPS) == pytest.approx(1.0)
    tongue = np.zeros(100)
    tongue[50:60] = 0.9          # inside TH: allowed
    tongue[0:10] = 0.9           # silence: not judged
    tongue[70:77] = 0.25         # inside IY: 7 false-positive frames
    speech = len(fm.frames_of(0.10, 0.80, 100, FPS))
    assert fm.tongue_out_false_positive_rate(tongue, PHONES, FPS) == pytest.approx(7 / speech)
    assert np.isnan(fm.closure_rate(_gap({}), [Phone(0.0, 1.0, "AA")], FPS))


def test_correlations_of_curves_and_channels():
    t = np.linspace(0, 1, 50)
    assert fm.correlation(t, 2 * t + 1) == pytest.approx(1.0)
    assert fm.correlation(t, -t) == pytest.approx(-1.0)
    assert np.isnan(fm.correlation(t, np.zeros(50)))          # a still face has no correlation
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    got = fm.per_channel_correlation(a, b)
    assert got == pytest.approx([np.corrcoef(a[:, k], b[:, k])[0, 1] for k in range(3)])
    c = fm.per_channel_correlation(np.stack([t, t, t], 1), np.stack([3 * t, -t, np.ones(50)], 1))
    assert c[:2] == pytest.approx([1.0, -1.0]) and np.isnan(c[2])


def test_upper_face_dynamics_deviation():
    template = np.zeros((2, 3))
    ref = np.zeros((4, 2, 3))
    ref[1::2, 0, 1] = 2 * MM     # vertex 0 alternates 0 / 2 mm: squared distance 0, 4 mm^2 -> std 2 mm^2
    # vertex 1 still -> 0; mean over the two vertices: 1 mm^2
    assert fm.upper_face_dynamics_mm2(ref, template) == pytest.approx(1.0)
    still = np.zeros_like(ref)
    assert fm.upper_face_dynamics_deviation_mm2(still, ref, template) == pytest.approx(1.0)    # too still
    assert fm.upper_face_dynamics_deviation_mm2(ref, ref, template) == pytest.approx(0.0)
    lively = ref * 2             # 0 / 16 mm^2 -> std 8, mean 4
    assert fm.upper_face_dynamics_deviation_mm2(lively, ref, template) == pytest.approx(1.0 - 4.0)


def test_seed_diversity_is_the_mean_pairwise_distance():
    base = np.zeros((5, 4, 3))
    takes = [base, base + np.array([1 * MM, 0, 0]), base + np.array([2 * MM, 0, 0])]
    assert fm.seed_diversity(takes, scale=fm.M_TO_MM) == pytest.approx((1 + 2 + 1) / 3)
    assert fm.seed_diversity([base, base]) == 0.0
    assert np.isnan(fm.seed_diversity([base]))
    with pytest.raises(ValueError):
        fm.seed_diversity([base, base[:3]])


def test_inner_lip_gap_agrees_with_the_lip_model(data_dir):
    from engine.animators.lips import load_lip_model
    from rigs.core.arkit import ARKIT_INDEX

    lm = load_lip_model()
    x = np.zeros((3, 52))
    x[1, ARKIT_INDEX["jawOpen"]] = 0.6
    x[2, ARKIT_INDEX["mouthClose"]] = 0.5
    p = lm.positions_m(x)
    got = fm.inner_lip_gap_m(p, lm.gap_upper, lm.gap_lower)
    assert got == pytest.approx(lm.inner_lip_gap_m(p))
    assert got[1] > fm.OPEN_M > fm.CLOSED_M > 0    # an open jaw opens the lips past 5 mm
