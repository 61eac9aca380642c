"""Scores of the lip-sync benchmark: what a clip's mouth does on reference phones, and how close it is to a
real capture. Pure numpy; the benchmark scripts and ``tests/test_bench_scoring.py`` import it.

Phone scores (:func:`phone_scores`) use the inner-lip gap at the mouth centre of the ICT FaceKit lip model
(:meth:`engine.animators.lips.LipModel.inner_lip_gap_m`; the neutral mouth rests at 0.8 mm):

- closure: a reference P/B/M phone whose gap falls below ``CLOSED_M`` (1 mm) on some frame inside it;
- open: a reference open vowel (AA AE AH AO AW AY) whose peak gap exceeds ``OPEN_M`` (5 mm, half a lip's
  height; a typical open vowel opens 10-20 mm);
- shut vowel (guards the two above against a mouth that closes or opens everywhere): any reference vowel
  whose gap stays below ``CLOSED_M`` on every frame inside it;
- stray tongue: frames of reference speech (non-SIL phones) outside TH/DH with ``tongueOut`` above
  ``TONGUE_OUT_MAX`` (0.2).

Capture scores (:func:`capture_scores`), against captured ARKit weights pushed through the same lip model:
LVE, the mean over frames of the largest lip-vertex distance (mm), and its squared variant (mean over frames
of the largest squared distance, mm^2; the lip vertex error of MeshTalk, Richard et al. ICCV 2021, and
FaceFormer, Fan et al. CVPR 2022); the Pearson correlation and mean absolute error of the inner-lip gap; the
correlation of ``jawOpen``. A correlation of a constant signal (the still face) is NaN.

Baseline: :func:`rms_expression`, ``jawOpen = RMS / p98(RMS)`` clipped to [0, 1], every other channel 0.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from rigs.core.phones import PHONE_CLASSES, SIL, VOWELS, normalize_label

CLOSED_M = 0.001
OPEN_M = 0.005
TONGUE_OUT_MAX = 0.2
BILABIAL = PHONE_CLASSES["bilabial"]
OPEN_VOWELS = PHONE_CLASSES["visibly_open_vowel"]
DENTAL = PHONE_CLASSES["dental"]
M_TO_MM = 1000.0
RMS_BASELINE_PCT = 98.0


def frames_of(start_s: float, end_s: float, n_frames: int, fps: float) -> np.ndarray:
    """Indices of the frames whose time ``i / fps`` lies in [start_s, end_s]; the frame nearest the centre
    when the span holds none."""
    a = max(0, int(np.ceil(start_s * fps - 1e-9)))
    b = min(n_frames - 1, int(np.floor(end_s * fps + 1e-9)))
    if b >= a:
        return np.arange(a, b + 1)
    return np.array([int(np.clip(round(0.5 * (start_s + end_s) * fps), 0, n_frames - 1))])


@dataclass
class PhoneScores:
    """Counts over reference phones (add them up over clips with ``+``)."""

    closed: int = 0           # P/B/M phones where the lips met
    bilabials: int = 0
    opened: int = 0           # open vowels visibly open
    open_vowels: int = 0
    shut_vowels: int = 0      # vowels with the lips shut throughout
    vowels: int = 0
    stray_tongue_frames: int = 0   # speech frames outside TH/DH with tongueOut > TONGUE_OUT_MAX
    speech_frames: int = 0

    def __add__(self, other: "PhoneScores") -> "PhoneScores":
        return PhoneScores(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def closure_rate(self) -> float:
        return self.closed / self.bilabials if self.bilabials else float("nan")

    @property
    def open_rate(self) -> float:
        return self.opened / self.open_vowels if self.open_vowels else float("nan")

    @property
    def shut_vowel_rate(self) -> float:
        return self.shut_vowels / self.vowels if self.vowels else float("nan")

    @property
    def stray_tongue_rate(self) -> float:
        return self.stray_tongue_frames / self.speech_frames if self.speech_frames else float("nan")


def phone_scores(gap_m: np.ndarray, tongue_out: np.ndarray, phones, fps: float) -> PhoneScores:
    """Scores of a clip's lip gap (T,) in metres and ``tongueOut`` weights (T,) on reference ``phones``
    (objects with ``start_s, end_s, label``). See the module docstring."""
    gap_m = np.asarray(gap_m, np.float64)
    tongue_out = np.asarray(tongue_out, np.float64)
    T = gap_m.size
    s = PhoneScores()
    speech = np.zeros(T, bool)
    dental = np.zeros(T, bool)
    for p in phones:
        lab = normalize_label(p.label)
        if lab == SIL:
            continue
        i = frames_of(float(p.start_s), float(p.end_s), T, fps)
        speech[i] = True
        if lab in DENTAL:
            dental[i] = True
        if lab in BILABIAL:
            s.bilabials += 1
            s.closed += bool(gap_m[i].min() < CLOSED_M)
        if lab in VOWELS:
            s.vowels += 1
            s.shut_vowels += bool(gap_m[i].max() < CLOSED_M)
        if lab in OPEN_VOWELS:
            s.open_vowels += 1
            s.opened += bool(gap_m[i].max() > OPEN_M)
    judged = speech & ~dental
    s.speech_frames = int(speech.sum())
    s.stray_tongue_frames = int((judged & (tongue_out > TONGUE_OUT_MAX)).sum())
    return s


@dataclass
class CaptureScores:
    """Closeness of an animation to a real capture (means over frames)."""

    lve_mm: float
    lve_sq_mm2: float
    gap_corr: float
    gap_mae_mm: float
    jaw_corr: float
    frames: int


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.std() < 1e-12 or b.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def capture_scores(vertices_m: np.ndarray, ref_vertices_m: np.ndarray, gap_m: np.ndarray, ref_gap_m: np.ndarray,
                   jaw: np.ndarray, ref_jaw: np.ndarray) -> CaptureScores:
    """Scores of lip vertices (T, L, 3) m, inner-lip gap (T,) m and ``jawOpen`` (T,) against a capture's
    (the same shapes; the shorter length is used)."""
    T = min(len(vertices_m), len(ref_vertices_m))
    d2 = np.sum((np.asarray(vertices_m[:T], np.float64) - np.asarray(ref_vertices_m[:T], np.float64)) ** 2,
                axis=-1) * M_TO_MM ** 2                                          # (T, L) mm^2
    worst = d2.max(axis=1)
    return CaptureScores(lve_mm=float(np.sqrt(worst).mean()), lve_sq_mm2=float(worst.mean()),
                         gap_corr=_corr(gap_m[:T], ref_gap_m[:T]),
                         gap_mae_mm=float(np.abs(np.asarray(gap_m[:T]) - np.asarray(ref_gap_m[:T])).mean() * M_TO_MM),
                         jaw_corr=_corr(jaw[:T], ref_jaw[:T]), frames=T)


def pooled_capture_scores(parts: list[CaptureScores]) -> CaptureScores:
    """Frame-weighted means of per-clip capture scores (correlations averaged by frames too)."""
    w = np.array([p.frames for p in parts], np.float64)

    def mean(name: str) -> float:
        v = np.array([getattr(p, name) for p in parts], np.float64)
        return float(np.sum(w * v) / w.sum()) if w.sum() else float("nan")

    return CaptureScores(mean("lve_mm"), mean("lve_sq_mm2"), mean("gap_corr"), mean("gap_mae_mm"),
                         mean("jaw_corr"), int(w.sum()))


def rms_expression(rms: np.ndarray, jaw_index: int, n_channels: int = 52) -> np.ndarray:
    """The RMS baseline: (T, n_channels) zeros with ``jawOpen = rms / p98(rms)`` clipped to [0, 1]."""
    rms = np.asarray(rms, np.float64)
    out = np.zeros((rms.size, n_channels), np.float32)
    out[:, jaw_index] = np.clip(rms / max(float(np.percentile(rms, RMS_BASELINE_PCT)), 1e-9), 0, 1)
    return out
