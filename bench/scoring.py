"""Scores of the lip-sync benchmark: what a clip's mouth does on reference phones, and how close it is to a
real capture. The definitions live in :mod:`engine.metrics.face` (the one home shared with tests and training);
this module re-exports the ones the benchmark scripts use, and holds the RMS baseline.

Phone scores (:func:`phone_scores`) use the inner-lip gap at the mouth centre of the ICT FaceKit lip model
(:meth:`engine.animators.lips.LipModel.inner_lip_gap_m`; the neutral mouth rests at 0.8 mm): closures on P/B/M
(gap below ``CLOSED_M``, 1 mm), open vowels visibly open (peak above ``OPEN_M``, 5 mm), vowels shut throughout,
stray ``tongueOut`` frames (above ``TONGUE_OUT_MAX`` outside TH/DH). Capture scores (:func:`capture_scores`):
LVE (mm) and its squared variant (mm^2), inner-lip-gap correlation and MAE, ``jawOpen`` correlation; a
correlation of a constant signal (the still face) is NaN.

Baseline: :func:`rms_expression`, ``jawOpen = RMS / p98(RMS)`` clipped to [0, 1], every other channel 0.
"""
from __future__ import annotations

import numpy as np

from engine.metrics.face import (BILABIAL, CLOSED_M, DENTAL, M_TO_MM, OPEN_M, OPEN_VOWELS,  # noqa: F401
                                 TONGUE_OUT_MAX, CaptureScores, PhoneScores, capture_scores, frames_of,
                                 phone_scores, pooled_capture_scores)

RMS_BASELINE_PCT = 98.0


def rms_expression(rms: np.ndarray, jaw_index: int, n_channels: int = 52) -> np.ndarray:
    """The RMS baseline: (T, n_channels) zeros with ``jawOpen = rms / p98(rms)`` clipped to [0, 1]."""
    rms = np.asarray(rms, np.float64)
    out = np.zeros((rms.size, n_channels), np.float32)
    out[:, jaw_index] = np.clip(rms / max(float(np.percentile(rms, RMS_BASELINE_PCT)), 1e-9), 0, 1)
    return out
