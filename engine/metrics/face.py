"""Face metrics: how a clip's mouth and face compare with reference phones, a real capture, or other takes.

The one home of these definitions; tests, the benchmarks (``bench/scoring.py`` re-exports them) and training
import them from here. numpy only; arrays are time-first, positions in metres, results in the unit their name
says (``_mm``, ``_mm2``, a rate in [0, 1]).

**Phones** (:func:`phone_scores`, :class:`PhoneScores`): a clip's inner-lip gap (T,) m and ``tongueOut`` weight
(T,) judged on reference phones (objects with ``start_s, end_s, label``), frame ``i`` at ``i / fps``:

- closure: a reference P/B/M phone whose gap falls below :data:`CLOSED_M` (1 mm) on some frame inside it
  (:func:`closure_rate`);
- open: a reference open vowel (AA AE AH AO AW AY) whose peak gap exceeds :data:`OPEN_M` (5 mm, half a lip's
  height; a typical open vowel opens 10-20 mm) (:func:`open_vowel_rate`);
- shut vowel (guards the two above against a mouth that closes or opens everywhere): any reference vowel whose
  gap stays below :data:`CLOSED_M` on every frame inside it;
- false closure (the cost of closing where no lips close): a reference phone other than P/B/M, F/V and silence,
  at least three frames long, whose gap falls below :data:`CLOSED_M` on a frame strictly inside it (its first
  and last frames are left out: a neighbouring closure may reach them);
- stray tongue, the ``tongueOut`` false positives: frames of reference speech (non-SIL phones) outside TH/DH
  with ``tongueOut`` above :data:`TONGUE_OUT_MAX` (0.2), over all speech frames
  (:func:`tongue_out_false_positive_rate`).

**Lip vertices against a capture** (the same mesh, vertex for vertex):

- LVE, :func:`lip_vertex_error_mm`: for each frame the largest Euclidean distance over the lip vertices, mean
  over frames (mm). The literature tabulates its squared variant, :func:`lip_vertex_error_sq_mm2`: the largest
  *squared* distance per frame, mean over frames (mm^2): MeshTalk (Richard et al., ICCV 2021) introduced LVE as
  the largest L2 error over the lip vertices of each frame, averaged over the frames, and the evaluation code of
  FaceFormer (Fan et al., CVPR 2022), CodeTalker (Xing et al., CVPR 2023, ``main/cal_metric.py``) and
  FaceDiffuser (Stan et al., MIG 2023, ``evaluation/compute_objective_metrics.py``) sums the squared coordinate
  differences per vertex, takes the max over the lip vertices and the mean over all test frames, i.e. squared
  distances; TorchMetrics' ``LipVertexError`` documents the same formula,
  ``mean_i max_v ||x_iv - x^_iv||_2^2``. Both are reported, the unsquared one being a length a reader can picture.
- vertical and horizontal lip distance errors, :func:`lip_distance_errors_mm` (Audio2Photoreal, Ng et al.,
  CVPR 2024, reports the two as "lip vert" and "lip horz" errors): the distance between an upper and a lower
  lip vertex (mouth opening) and between the two mouth corners (mouth width) per frame, the mean absolute
  difference from the capture's (mm).
- inner-lip gap, :func:`inner_lip_gap_m`: the vertical (Y up) distance between upper and lower inner-lip
  vertices at the mouth centre, averaged over the pairs given; negative when the lips press into each other
  (:class:`engine.animators.lips.LipModel` passes its own pairs).

**Curves**: :func:`correlation` (Pearson; NaN for a constant signal such as a still face) and
:func:`per_channel_correlation` for (T, C) weights.

**Upper-face dynamics deviation** (FDD, CodeTalker; also FaceDiffuser): :func:`upper_face_dynamics_mm2` is, for
each upper-face vertex, the squared distance from the template (neutral face) per frame, its standard deviation
over time, averaged over the vertices (mm^2); :func:`upper_face_dynamics_deviation_mm2` is the reference's minus
the prediction's (positive: the prediction moves the upper face too little), averaged over sequences by the
caller as CodeTalker does.

**Diversity across seeds**, :func:`seed_diversity`: the mean distance between two takes of the same audio made
with different seeds, over every pair of takes (the per-frame Euclidean distance over the last axis, mean over
frames and points); FaceDiffuser and Audio2Photoreal report sample diversity this way, as a spread between
samples of one input.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from itertools import combinations
from typing import Iterable, Sequence

import numpy as np

from rigs.core.phones import PHONE_CLASSES, SIL, VOWELS, normalize_label

CLOSED_M = 0.001        # lips meet: inner-lip gap below this (the neutral mouth rests at 0.8 mm)
OPEN_M = 0.005          # visibly open: inner-lip gap above this
TONGUE_OUT_MAX = 0.2    # tongueOut above this outside TH/DH is a false positive
BILABIAL = PHONE_CLASSES["bilabial"]
OPEN_VOWELS = PHONE_CLASSES["visibly_open_vowel"]
DENTAL = PHONE_CLASSES["dental"]
LIPS_MAY_MEET = BILABIAL | PHONE_CLASSES["labiodental"] | {SIL}     # phones not judged for false closures
M_TO_MM = 1000.0
_FLAT = 1e-12           # a signal whose standard deviation is below this is constant (no correlation)

__all__ = ["BILABIAL", "CLOSED_M", "DENTAL", "M_TO_MM", "OPEN_M", "OPEN_VOWELS", "TONGUE_OUT_MAX",
           "CaptureScores", "PhoneScores", "capture_scores", "closure_rate", "correlation", "frames_of",
           "inner_lip_gap_m", "lip_distance_errors_mm", "lip_distances_m", "lip_vertex_error_mm",
           "lip_vertex_error_sq_mm2", "open_vowel_rate", "per_channel_correlation", "phone_scores",
           "pooled_capture_scores", "seed_diversity", "tongue_out_false_positive_rate",
           "upper_face_dynamics_deviation_mm2", "upper_face_dynamics_mm2"]


# ----------------------------------------------------------------------------------------------
# phones


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
    falsely_closed: int = 0   # other phones (not P/B/M, F/V or silence) whose lips meet inside them
    judged_phones: int = 0    # ... out of these (at least three frames long)

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
    def false_closure_rate(self) -> float:
        return self.falsely_closed / self.judged_phones if self.judged_phones else float("nan")

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
        if lab not in LIPS_MAY_MEET and i.size >= 3:
            s.judged_phones += 1
            s.falsely_closed += bool(gap_m[i[1:-1]].min() < CLOSED_M)
    judged = speech & ~dental
    s.speech_frames = int(speech.sum())
    s.stray_tongue_frames = int((judged & (tongue_out > TONGUE_OUT_MAX)).sum())
    return s


def closure_rate(gap_m: np.ndarray, phones, fps: float) -> float:
    """Fraction of reference P/B/M phones where the lips meet (gap below :data:`CLOSED_M`); NaN without any."""
    gap_m = np.asarray(gap_m, np.float64)
    return phone_scores(gap_m, np.zeros_like(gap_m), phones, fps).closure_rate


def open_vowel_rate(gap_m: np.ndarray, phones, fps: float) -> float:
    """Fraction of reference open vowels whose peak gap exceeds :data:`OPEN_M`; NaN without any."""
    gap_m = np.asarray(gap_m, np.float64)
    return phone_scores(gap_m, np.zeros_like(gap_m), phones, fps).open_rate


def tongue_out_false_positive_rate(tongue_out: np.ndarray, phones, fps: float) -> float:
    """Fraction of reference speech frames outside TH/DH with ``tongueOut`` above :data:`TONGUE_OUT_MAX`."""
    tongue_out = np.asarray(tongue_out, np.float64)
    return phone_scores(np.zeros_like(tongue_out), tongue_out, phones, fps).stray_tongue_rate


# ----------------------------------------------------------------------------------------------
# lip vertices


def _paired(pred_m: np.ndarray, ref_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float64, cut to the shorter length; ValueError when the frames' shapes differ."""
    pred, ref = np.asarray(pred_m, np.float64), np.asarray(ref_m, np.float64)
    if pred.shape[1:] != ref.shape[1:]:
        raise ValueError(f"shapes differ beyond time: {pred.shape} vs {ref.shape}")
    T = min(len(pred), len(ref))
    return pred[:T], ref[:T]


def _worst_sq_mm2(pred_m: np.ndarray, ref_m: np.ndarray) -> np.ndarray:
    """(T,) the largest squared vertex distance of each frame (mm^2) of (T, L, 3) positions in metres."""
    pred, ref = _paired(pred_m, ref_m)
    d2 = np.sum((pred - ref) ** 2, axis=-1) * M_TO_MM ** 2        # (T, L) mm^2
    return d2.max(axis=1)                                        # (T,)


def lip_vertex_error_mm(pred_m: np.ndarray, ref_m: np.ndarray) -> float:
    """LVE: the mean over frames of the largest lip-vertex distance (mm) between (T, L, 3) positions in metres
    (the shorter length is used)."""
    return float(np.sqrt(_worst_sq_mm2(pred_m, ref_m)).mean())


def lip_vertex_error_sq_mm2(pred_m: np.ndarray, ref_m: np.ndarray) -> float:
    """The literature's LVE: the mean over frames of the largest *squared* lip-vertex distance (mm^2)."""
    return float(_worst_sq_mm2(pred_m, ref_m).mean())


def inner_lip_gap_m(positions_m: np.ndarray, upper: Sequence[int], lower: Sequence[int]) -> np.ndarray:
    """(T, L, 3) or (L, 3) positions (Y up) -> (T,) or () mean vertical gap between the ``upper`` and ``lower``
    inner-lip vertices (indices into L, paired in order), metres; negative when the lips press together."""
    p = np.asarray(positions_m)
    up, lo = np.asarray(upper, np.int64), np.asarray(lower, np.int64)
    if up.shape != lo.shape or up.size == 0:
        raise ValueError("inner_lip_gap_m: give as many upper as lower vertices, at least one")
    return (p[..., up, 1] - p[..., lo, 1]).mean(axis=-1)


def lip_distances_m(positions_m: np.ndarray, a: int, b: int) -> np.ndarray:
    """(T,) Euclidean distance between vertices ``a`` and ``b`` of (T, L, 3) positions, metres."""
    p = np.asarray(positions_m, np.float64)
    return np.linalg.norm(p[:, a] - p[:, b], axis=-1)


def lip_distance_errors_mm(pred_m: np.ndarray, ref_m: np.ndarray, *, vertical: tuple[int, int],
                           horizontal: tuple[int, int]) -> tuple[float, float]:
    """(vertical, horizontal) lip distance errors (mm): the mean absolute difference of the distance between
    the ``vertical`` pair (upper and lower lip at the centre) and of the ``horizontal`` pair (the two mouth
    corners) between (T, L, 3) positions and the reference's."""
    pred, ref = _paired(pred_m, ref_m)
    v = np.abs(lip_distances_m(pred, *vertical) - lip_distances_m(ref, *vertical)).mean()
    h = np.abs(lip_distances_m(pred, *horizontal) - lip_distances_m(ref, *horizontal)).mean()
    return float(v * M_TO_MM), float(h * M_TO_MM)


# ----------------------------------------------------------------------------------------------
# curves


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two (T,) signals (the shorter length); NaN when either is constant."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    T = min(a.size, b.size)
    a, b = a[:T], b[:T]
    if T < 2 or a.std() < _FLAT or b.std() < _FLAT:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def per_channel_correlation(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(C,) Pearson correlation of each channel of (T, C) curves with the reference's (the shorter length);
    NaN for a channel that is constant in either."""
    pred = np.asarray(pred, np.float64).reshape(len(pred), -1)
    ref = np.asarray(ref, np.float64).reshape(len(ref), -1)
    pred, ref = _paired(pred, ref)
    pc, rc = pred - pred.mean(axis=0), ref - ref.mean(axis=0)
    ps, rs = pc.std(axis=0), rc.std(axis=0)
    out = np.full(pred.shape[1], np.nan)
    ok = (ps >= _FLAT) & (rs >= _FLAT) & (len(pred) >= 2)
    out[ok] = (pc[:, ok] * rc[:, ok]).mean(axis=0) / (ps[ok] * rs[ok])
    return out


# ----------------------------------------------------------------------------------------------
# upper face and diversity


def upper_face_dynamics_mm2(positions_m: np.ndarray, template_m: np.ndarray) -> float:
    """Upper-face dynamics of (T, V, 3) positions (m) of upper-face vertices around the (V, 3) template: each
    vertex's squared distance from the template per frame (mm^2), its standard deviation over time, the mean
    over vertices (CodeTalker's FDD term)."""
    motion = np.asarray(positions_m, np.float64) - np.asarray(template_m, np.float64)[None]
    sq = np.sum(motion ** 2, axis=-1) * M_TO_MM ** 2            # (T, V) mm^2
    return float(sq.std(axis=0).mean())


def upper_face_dynamics_deviation_mm2(pred_m: np.ndarray, ref_m: np.ndarray, template_m: np.ndarray) -> float:
    """FDD of one sequence: the reference's upper-face dynamics minus the prediction's (mm^2; positive when the
    prediction's upper face moves too little). Average it over sequences."""
    pred, ref = _paired(pred_m, ref_m)
    return upper_face_dynamics_mm2(ref, template_m) - upper_face_dynamics_mm2(pred, template_m)


def seed_diversity(takes: Iterable[np.ndarray], *, scale: float = 1.0) -> float:
    """Mean over every pair of takes (same shape (T, ..., D)) of the mean Euclidean distance over the last axis,
    times ``scale`` (``M_TO_MM`` for positions in metres). 0 for identical takes; NaN for fewer than two."""
    arrs = [np.asarray(t, np.float64) for t in takes]
    if len(arrs) < 2:
        return float("nan")
    if any(a.shape != arrs[0].shape for a in arrs):
        raise ValueError("seed_diversity: takes differ in shape")
    d = [np.linalg.norm(a - b, axis=-1).mean() for a, b in combinations(arrs, 2)]
    return float(np.mean(d) * scale)


# ----------------------------------------------------------------------------------------------
# closeness to a capture, as the lip-sync benchmark tabulates it


@dataclass
class CaptureScores:
    """Closeness of an animation to a real capture (means over frames)."""

    lve_mm: float
    lve_sq_mm2: float
    gap_corr: float
    gap_mae_mm: float
    jaw_corr: float
    frames: int


def capture_scores(vertices_m: np.ndarray, ref_vertices_m: np.ndarray, gap_m: np.ndarray, ref_gap_m: np.ndarray,
                   jaw: np.ndarray, ref_jaw: np.ndarray) -> CaptureScores:
    """Scores of lip vertices (T, L, 3) m, inner-lip gap (T,) m and ``jawOpen`` (T,) against a capture's
    (the same shapes; the shorter length is used)."""
    T = min(len(vertices_m), len(ref_vertices_m))
    worst = _worst_sq_mm2(vertices_m[:T], ref_vertices_m[:T])
    return CaptureScores(lve_mm=float(np.sqrt(worst).mean()), lve_sq_mm2=float(worst.mean()),
                         gap_corr=correlation(gap_m[:T], ref_gap_m[:T]),
                         gap_mae_mm=float(np.abs(np.asarray(gap_m[:T]) - np.asarray(ref_gap_m[:T])).mean() * M_TO_MM),
                         jaw_corr=correlation(jaw[:T], ref_jaw[:T]), frames=T)


def pooled_capture_scores(parts: list[CaptureScores]) -> CaptureScores:
    """Frame-weighted means of per-clip capture scores (correlations averaged by frames too)."""
    w = np.array([p.frames for p in parts], np.float64)

    def mean(name: str) -> float:
        v = np.array([getattr(p, name) for p in parts], np.float64)
        return float(np.sum(w * v) / w.sum()) if w.sum() else float("nan")

    return CaptureScores(mean("lve_mm"), mean("lve_sq_mm2"), mean("gap_corr"), mean("gap_mae_mm"),
                         mean("jaw_corr"), int(w.sum()))
