"""The lip-sync benchmark's scores (bench/scoring.py) on hand-made lip gaps and captures, in mm."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from scoring import (CLOSED_M, OPEN_M, PhoneScores, capture_scores, frames_of, phone_scores,  # noqa: E402
                     pooled_capture_scores, rms_expression)
from rigs.core.phones import Phone  # noqa: E402

FPS = 100.0


def _gap(mm_by_span, n=100):
    """A (n,) lip gap in metres at FPS: 3 mm everywhere, ``mm`` on frames [a, b)."""
    g = np.full(n, 0.003)
    for (a, b), mm in mm_by_span.items():
        g[a:b] = mm / 1000.0
    return g


PHONES = [Phone(0.0, 0.10, "SIL"), Phone(0.10, 0.20, "M"), Phone(0.20, 0.40, "AA"), Phone(0.40, 0.50, "P"),
          Phone(0.50, 0.60, "TH"), Phone(0.60, 0.80, "IY"), Phone(0.80, 1.00, "SIL")]


def test_closure_counts_only_when_the_lips_meet_inside_the_phone():
    tongue = np.zeros(100)
    # M closed on one frame (0.5 mm) inside its span; P never below 1 mm (1.2 mm), closed just after it
    s = phone_scores(_gap({(15, 16): 0.5, (40, 51): 1.2, (52, 53): 0.2}), tongue, PHONES, FPS)
    assert (s.closed, s.bilabials) == (1, 2)
    assert s.closure_rate == pytest.approx(0.5)


def test_open_vowel_needs_a_peak_above_5_mm_and_shut_vowels_are_counted():
    tongue = np.zeros(100)
    s = phone_scores(_gap({(20, 41): 4.9, (60, 81): 0.5}), tongue, PHONES, FPS)
    assert (s.opened, s.open_vowels) == (0, 1)          # 4.9 mm is not visibly open
    assert (s.shut_vowels, s.vowels) == (1, 2)          # IY shut throughout
    s = phone_scores(_gap({(30, 31): 5.5}), tongue, PHONES, FPS)
    assert (s.opened, s.shut_vowels) == (1, 0)
    assert CLOSED_M < OPEN_M


def test_false_closures_are_lips_meeting_inside_other_phones():
    tongue = np.zeros(100)
    # judged: AA, TH, IY (SIL, M and P are not); AA closes inside, IY only on its first frame (a neighbour's)
    s = phone_scores(_gap({(25, 26): 0.5, (60, 61): 0.5, (0, 20): 0.2, (40, 51): 0.2}), tongue, PHONES, FPS)
    assert (s.falsely_closed, s.judged_phones) == (1, 3)
    assert s.false_closure_rate == pytest.approx(1 / 3)
    assert phone_scores(_gap({}), tongue, PHONES, FPS).falsely_closed == 0
    assert np.isnan(PhoneScores().false_closure_rate)


def test_stray_tongue_frames_exclude_dentals_and_silence():
    tongue = np.zeros(100)
    tongue[50:60] = 0.6     # inside TH: allowed
    tongue[0:10] = 0.6      # in silence: not speech
    tongue[70:75] = 0.3     # inside IY: stray
    s = phone_scores(_gap({}), tongue, PHONES, FPS)
    speech = len(frames_of(0.10, 0.80, 100, FPS))   # frames 10..80 inclusive
    assert s.speech_frames == speech
    assert s.stray_tongue_frames == 5
    assert s.stray_tongue_rate == pytest.approx(5 / speech)


def test_scores_add_up_over_clips():
    a = PhoneScores(closed=1, bilabials=2, speech_frames=10)
    b = PhoneScores(closed=2, bilabials=2, stray_tongue_frames=1, speech_frames=10)
    c = a + b
    assert (c.closed, c.bilabials, c.stray_tongue_frames, c.speech_frames) == (3, 4, 1, 20)
    assert np.isnan(PhoneScores().open_rate)


def test_frames_of_a_phone_too_short_for_a_frame_is_its_nearest_frame():
    assert list(frames_of(0.101, 0.104, 100, 30.0)) == [3]
    assert list(frames_of(0.0, 0.1, 100, 30.0)) == [0, 1, 2, 3]


def test_capture_scores_in_mm():
    T, L = 4, 3
    ref = np.zeros((T, L, 3))
    pred = ref.copy()
    pred[:, 0, 1] = [0.001, 0.002, 0.0, 0.003]     # one vertex off by 1, 2, 0, 3 mm
    pred[:, 1, 0] = 0.0005                          # another off by 0.5 mm everywhere
    gap, ref_gap = np.array([1.0, 2.0, 3.0, 4.0]) / 1000, np.array([1.0, 3.0, 3.0, 5.0]) / 1000
    jaw, ref_jaw = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.4, 0.3, 0.2, 0.1])
    sc = capture_scores(pred, ref, gap, ref_gap, jaw, ref_jaw)
    assert sc.lve_mm == pytest.approx((1 + 2 + 0.5 + 3) / 4)
    assert sc.lve_sq_mm2 == pytest.approx((1 + 4 + 0.25 + 9) / 4)
    assert sc.gap_mae_mm == pytest.approx(0.5)
    assert sc.jaw_corr == pytest.approx(-1.0)
    assert 0.9 < sc.gap_corr < 1.0
    still = capture_scores(np.zeros_like(ref), ref, np.full(T, 0.0008), ref_gap, np.zeros(T), ref_jaw)
    assert np.isnan(still.jaw_corr) and np.isnan(still.gap_corr) and still.lve_mm == 0.0
    pooled = pooled_capture_scores([sc, sc])
    assert pooled.lve_mm == pytest.approx(sc.lve_mm) and pooled.frames == 2 * T


def test_rms_baseline_opens_the_jaw_only():
    rms = np.linspace(0.0, 1.0, 101)
    x = rms_expression(rms, jaw_index=24)
    assert x.shape == (101, 52) and np.count_nonzero(x[:, :24]) == 0 and np.count_nonzero(x[:, 25:]) == 0
    assert x[-1, 24] == 1.0 and x[49, 24] == pytest.approx(0.49 / 0.98)
