"""Phones -> mouth and jaw curves over ARKit channels, with coarticulation.

Each ARPAbet phone has a viseme target over the mouth channels and a *dominance* per articulator:
the frame value is the dominance-weighted mean of the targets of nearby phones (Cohen & Massaro,
"Modeling coarticulation in synthetic visual speech", 1993). Following JALI (Edwards et al.,
"JALI: an animator-centric viseme model for expressive lip synchronization", SIGGRAPH 2016) the jaw and
the lips are blended separately (an alveolar raises the jaw but leaves the lips to the vowels around it)
and vowel jaw opening scales with loudness.

Lip contacts are not left to blending: bilabials (P B M) and labiodentals (F V) are *dominant* and
produce a contact kernel that is exactly 1 on every frame inside the phone (on the frame nearest its
centre when a very short phone holds no frame) with raised-cosine anticipation and release ramps that
borrow at most part of the neighbouring phones. :func:`apply_contacts` imposes the contact on the final
expression (after emotion overlays): lip-opening channels fade out, ``mouthPress`` rises and
``mouthClose`` follows ``jawOpen`` (ARKit's ``mouthClose`` closes the lips relative to the jaw; on the
ICT FaceKit head the lips meet at ``mouthClose ~= 0.78 * jawOpen``, so 0.9 closes with a little press).

The tongue tip (``tongueOut``) is not blended: it shows only inside TH/DH phones (:func:`tongue_curve`).
Amplitudes of both JALI axes (jaw, and each lip channel) are calibrated on a real capture of speech (see
``CoarticulationConfig``).

Diphthongs (AW AY EY OW OY) are split into an onset and an offglide target. Phone classes and label
normalisation come from :mod:`rigs.core.phones`; a label outside its inventory animates as silence.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rigs.core.arkit import ARKIT_INDEX
from rigs.core.phones import PHONE_CLASSES, SIL, normalize_label

A = ARKIT_INDEX
BILABIALS = PHONE_CLASSES["bilabial"]
LABIODENTALS = PHONE_CLASSES["labiodental"]

# jaw opening per vowel at full loudness (JALI's "JA" axis); diphthongs take their two parts' values
_VOWEL_JAW = {"AA": 0.55, "AE": 0.48, "AH": 0.42, "AO": 0.46, "EH": 0.34, "ER": 0.2,
              "IH": 0.2, "IY": 0.14, "UH": 0.22, "UW": 0.14}
_DIPHTHONGS = {"AW": ("AA", "UH"), "AY": ("AA", "IY"), "EY": ("EH", "IY"), "OW": ("AO", "UH"), "OY": ("AO", "IY")}

# lip targets (JALI's "LI" axis), channel -> weight
_LIPS: dict[str, dict[str, float]] = {
    "AA": {"mouthLowerDown": 0.25}, "AE": {"mouthLowerDown": 0.2, "mouthUpperUp": 0.15, "mouthStretch": 0.2},
    "AH": {"mouthLowerDown": 0.2}, "AO": {"mouthFunnel": 0.35, "mouthPucker": 0.15, "mouthLowerDown": 0.1},
    "EH": {"mouthLowerDown": 0.15, "mouthStretch": 0.2}, "ER": {"mouthFunnel": 0.25, "mouthPucker": 0.2},
    "IH": {"mouthStretch": 0.25, "mouthSmile": 0.05},
    "IY": {"mouthStretch": 0.4, "mouthSmile": 0.15, "mouthUpperUp": 0.05},
    "UH": {"mouthFunnel": 0.3, "mouthPucker": 0.4}, "UW": {"mouthPucker": 0.75, "mouthFunnel": 0.3},
    "W": {"mouthPucker": 0.8, "mouthFunnel": 0.2}, "R": {"mouthPucker": 0.35, "mouthFunnel": 0.25},
    "SH": {"mouthFunnel": 0.45, "mouthPucker": 0.25, "mouthUpperUp": 0.1},
    "ZH": {"mouthFunnel": 0.45, "mouthPucker": 0.25, "mouthUpperUp": 0.1},
    "CH": {"mouthFunnel": 0.4, "mouthPucker": 0.25, "mouthUpperUp": 0.1},
    "JH": {"mouthFunnel": 0.4, "mouthPucker": 0.25, "mouthUpperUp": 0.1},
    "S": {"mouthStretch": 0.2, "mouthUpperUp": 0.05}, "Z": {"mouthStretch": 0.2, "mouthUpperUp": 0.05},
    "Y": {"mouthStretch": 0.25}, "TH": {}, "DH": {},
    "P": {}, "B": {}, "M": {}, "F": {}, "V": {},
}
# jaw height per consonant (every ARPAbet consonant)
_CONS_JAW = {"P": 0.05, "B": 0.05, "M": 0.05, "F": 0.06, "V": 0.06, "TH": 0.13, "DH": 0.12,
             "S": 0.05, "Z": 0.05, "SH": 0.08, "ZH": 0.08, "CH": 0.07, "JH": 0.07, "T": 0.1, "D": 0.1,
             "N": 0.1, "L": 0.16, "K": 0.14, "G": 0.14, "NG": 0.14, "R": 0.1,
             "Y": 0.08, "W": 0.06, "HH": 0.2}
# dominance (jaw, lips) per phone class of rigs.core.phones (these classes are disjoint): how strongly a
# phone holds each articulator against its neighbours. Phones in none of them (T D N L Y) take _OTHER_DOM.
_DOM = {"vowel": (1.0, 1.0), "bilabial": (0.9, 1.0), "labiodental": (0.8, 1.0), "dental": (0.8, 0.5),
        "alveolar_sibilant": (0.9, 0.5), "postalveolar_sibilant": (0.8, 0.9), "rounded_approximant": (0.5, 0.9),
        "velar": (0.5, 0.1), "glottal": (0.08, 0.05), "silence": (0.5, 0.5)}
_OTHER_DOM = (0.6, 0.15)   # alveolar stops, nasal and lateral (T D N L) and the palatal Y
_DOM_CLASS = {p: c for c in _DOM for p in PHONE_CLASSES[c]}   # phone -> its dominance class

# the lip channels blended over phones (sided ones are written to both sides)
LIP_CHANNELS = ("mouthFunnel", "mouthPucker", "mouthLowerDown", "mouthUpperUp", "mouthStretch", "mouthSmile")
# the tongue tip between the teeth: only inside TH/DH phones (see tongue_curve)
_TONGUE_OUT = {"TH": 1.0, "DH": 0.6}     # relative to CoarticulationConfig.tongue_out
_SIDED = {"mouthLowerDown", "mouthUpperUp", "mouthStretch", "mouthSmile", "mouthPress"}
# channels that part the lips (gap grows with them); faded out under a bilabial contact
LIP_OPENERS = ("mouthFunnel", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
               "mouthUpperUpRight", "mouthShrugUpper", "mouthRollUpper", "jawForward", "tongueOut",
               "noseSneerLeft", "noseSneerRight")


@dataclass(frozen=True)
class CoarticulationConfig:
    """Dominance spreads (seconds) and contact shapes."""

    anticipation_s: float = 0.07     # e-folding distance of dominance before a phone
    carryover_s: float = 0.08        # ... and after it
    dominance_power: float = 1.3     # Cohen-Massaro exponent c
    jaw_loudness_floor: float = 0.66  # vowel jaw = target * (floor + (1 - floor) * loudness)
    contact_anticipation_s: float = 0.06
    contact_release_s: float = 0.07
    contact_neighbour_share: float = 0.45  # ramps take at most this share of the neighbouring phone
    close_ratio: float = 0.9         # mouthClose = close_ratio * jawOpen at a full bilabial contact
    press: float = 0.45
    contact_jaw: float = 0.05        # jaw pulled toward this during a contact
    contact_jaw_pull: float = 0.6
    rest_min_s: float = 0.15          # silences at least this long close the lips at rest ...
    rest_close_after_s: float = 0.12  # ... this long after speech stops ...
    rest_open_before_s: float = 0.08  # ... and part again this long before it resumes
    labiodental_roll: float = 0.6
    labiodental_upper_up: float = 0.15
    # JALI's two axes: jaw opening (vowel and consonant jaw targets) and lip shapes (per lip channel).
    # These scales and jaw_loudness_floor are matched to the FACEGOOD capture's channel statistics on its
    # fit clips 01-03 by bench/fit_articulation.py (2026-12-01): 95th percentiles of the lip channels,
    # quantiles of jawOpen; stretch and smile, which the captured speaker hardly uses, at the floor 0.25.
    jaw_scale: float = 1.17
    consonant_jaw_scale: float = 0.25
    funnel_scale: float = 0.84
    pucker_scale: float = 0.83
    lower_down_scale: float = 0.95
    upper_up_scale: float = 0.56
    stretch_scale: float = 0.25
    smile_scale: float = 0.25
    tongue_out: float = 0.4           # tongueOut inside TH (DH: 0.6 of it) ...
    tongue_ramp_s: float = 0.04       # ... reached this long after the phone starts, released before it ends


@dataclass(frozen=True)
class _Seg:
    start_s: float
    end_s: float
    label: str
    jaw: float
    lips: dict
    dom: tuple[float, float]


def _segments(phones, loudness: np.ndarray, fps: float, cfg: CoarticulationConfig) -> list[_Seg]:
    T = len(loudness)
    out: list[_Seg] = []
    for ph in phones:
        lab = normalize_label(ph.label)
        s, e = float(ph.start_s), float(ph.end_s)
        i0, i1 = int(np.floor(s * fps)), int(np.ceil(e * fps)) + 1
        seg = loudness[max(0, min(i0, T - 1)):max(1, min(i1, T))]
        loud = float(np.max(seg)) if seg.size else 0.0
        gain = cfg.jaw_loudness_floor + (1.0 - cfg.jaw_loudness_floor) * loud
        parts = _DIPHTHONGS.get(lab)
        if parts:
            mid = s + 0.6 * (e - s)
            for (a, b), sub in (((s, mid), parts[0]), ((mid, e), parts[1])):
                out.append(_Seg(a, b, lab, _VOWEL_JAW[sub] * gain * cfg.jaw_scale, _LIPS[sub], _DOM["vowel"]))
            continue
        c = _DOM_CLASS.get(lab)
        lips = _LIPS.get(lab, {})
        if c == "vowel":
            jaw = _VOWEL_JAW[lab] * gain * cfg.jaw_scale
        elif c == "silence":
            jaw = 0.0
        else:
            jaw = _CONS_JAW[lab] * cfg.consonant_jaw_scale
        out.append(_Seg(s, e, lab, jaw, lips, _DOM.get(c, _OTHER_DOM)))
    return out


def mouth_curves(phones, loudness: np.ndarray, *, fps: float, n_frames: int, articulation: float = 1.0,
                 config: CoarticulationConfig = CoarticulationConfig()) -> np.ndarray:
    """Phones + loudness (T,) in [0, 1] -> (T, 52) jaw and lip weights (no contacts yet; see apply_contacts).

    ``articulation`` scales every target (emotion speaking style: >1 hyper-, <1 hypo-articulated).
    """
    T = int(n_frames)
    loud = np.zeros(T) if loudness is None else np.resize(np.asarray(loudness, np.float64), T)
    segs = _segments(phones, np.clip(loud, 0, 1), fps, config)
    t = np.arange(T) / float(fps)
    lip_names = list(LIP_CHANNELS)
    num_jaw = np.zeros(T)
    num_lip = np.zeros((T, len(lip_names)))
    den_jaw = np.full(T, 1e-6)
    den_lip = np.full(T, 1e-6)
    reach = 4.0 * max(config.anticipation_s, config.carryover_s)
    c = config.dominance_power
    for sg in segs:
        a, b = np.searchsorted(t, sg.start_s - reach), np.searchsorted(t, sg.end_s + reach)
        if a >= b:
            continue
        tt = t[a:b]
        before = np.clip(sg.start_s - tt, 0, None) / config.anticipation_s
        after = np.clip(tt - sg.end_s, 0, None) / config.carryover_s
        shape = np.exp(-(before + after) ** c)
        dj, dl = sg.dom[0] * shape, sg.dom[1] * shape
        num_jaw[a:b] += dj * sg.jaw
        den_jaw[a:b] += dj
        den_lip[a:b] += dl
        for k, n in enumerate(lip_names):
            v = sg.lips.get(n)
            if v:
                num_lip[a:b, k] += dl * v
    out = np.zeros((T, 52))
    out[:, A["jawOpen"]] = num_jaw / den_jaw * articulation
    lips = num_lip / den_lip[:, None] * (articulation * lip_scales(config))
    out[:, A["tongueOut"]] = tongue_curve(phones, fps=fps, n_frames=T, config=config)
    for k, n in enumerate(lip_names):
        if n in _SIDED:
            out[:, A[n + "Left"]] = lips[:, k]
            out[:, A[n + "Right"]] = lips[:, k]
        else:
            out[:, A[n]] = lips[:, k]
    return np.clip(out, 0.0, 1.0)


def lip_scales(config: CoarticulationConfig) -> np.ndarray:
    """(len(LIP_CHANNELS),) the lip axis's per-channel scales, in LIP_CHANNELS order."""
    return np.array([config.funnel_scale, config.pucker_scale, config.lower_down_scale, config.upper_up_scale,
                     config.stretch_scale, config.smile_scale])


def tongue_curve(phones, *, fps: float, n_frames: int,
                 config: CoarticulationConfig = CoarticulationConfig()) -> np.ndarray:
    """(T,) ``tongueOut``: inside each TH/DH phone only, rising over ``tongue_ramp_s`` (at most a third of
    the phone) after it starts and falling as long before it ends; 0 everywhere else. The tongue tip is
    not blended with neighbours: real captures of speech barely show it (plausibility.py in phonetics)."""
    T = int(n_frames)
    t = np.arange(T) / float(fps)
    out = np.zeros(T)
    for ph in phones:
        peak = _TONGUE_OUT.get(normalize_label(ph.label))
        if not peak:
            continue
        s, e = float(ph.start_s), float(ph.end_s)
        r = max(1e-3, min(config.tongue_ramp_s, (e - s) / 3.0))
        inside = (t >= s + r) & (t <= e - r)
        v = _raised_cosine_plateau(t, inside, s + r, e - r, r, r) * ((t >= s) & (t <= e))
        np.maximum(out, config.tongue_out * peak * v, out=out)
    return out


def _raised_cosine_plateau(t: np.ndarray, inside: np.ndarray, start_s: float, end_s: float, rise_s: float,
                           fall_s: float) -> np.ndarray:
    """(T,) 1 on the frames ``inside``, a raised-cosine rise over ``rise_s`` before ``start_s`` and fall over
    ``fall_s`` after ``end_s`` (frame times ``t`` (T,) in seconds), 0 elsewhere."""
    v = np.where(inside, 1.0, 0.0)
    pre = (t < start_s) & (t > start_s - rise_s)
    v[pre] = 0.5 - 0.5 * np.cos(np.pi * (1.0 - (start_s - t[pre]) / rise_s))
    post = (t > end_s) & (t < end_s + fall_s)
    v[post] = 0.5 + 0.5 * np.cos(np.pi * (t[post] - end_s) / fall_s)
    return v


def rest_kernel(phones, *, fps: float, n_frames: int,
                config: CoarticulationConfig = CoarticulationConfig()) -> np.ndarray:
    """(T,) lips-together-at-rest strength: 1 inside long silences (minus a settling margin at each end)."""
    T = int(n_frames)
    t = np.arange(T) / float(fps)
    out = np.zeros(T)
    phones = list(phones)
    for i, ph in enumerate(phones):
        if normalize_label(ph.label) != SIL or float(ph.end_s) - float(ph.start_s) < config.rest_min_s:
            continue
        prev_lab = normalize_label(phones[i - 1].label) if i > 0 else None
        next_lab = normalize_label(phones[i + 1].label) if i + 1 < len(phones) else None
        s = float(ph.start_s) + (config.rest_close_after_s if prev_lab and prev_lab not in BILABIALS else 0.0)
        e = float(ph.end_s) - (config.rest_open_before_s if next_lab and next_lab not in BILABIALS else 0.0)
        if e <= s:
            continue
        v = _raised_cosine_plateau(t, (t >= s) & (t <= e), s, e, config.rest_close_after_s, config.rest_open_before_s)
        np.maximum(out, v, out=out)
    return out


def contact_kernels(phones, *, fps: float, n_frames: int,
                    config: CoarticulationConfig = CoarticulationConfig()) -> tuple[np.ndarray, np.ndarray]:
    """(bilabial (T,), labiodental (T,)) contact strengths in [0, 1].

    Exactly 1 on every frame whose time lies in a P/B/M (F/V) phone, or on the frame nearest the centre of
    a phone too short to hold one; raised-cosine ramps before and after, each no longer than the
    configured time nor than ``contact_neighbour_share`` of the neighbouring phone.
    """
    T = int(n_frames)
    t = np.arange(T) / float(fps)
    bil, lab = np.zeros(T), np.zeros(T)
    phones = list(phones)
    for i, ph in enumerate(phones):
        name = normalize_label(ph.label)
        if name in BILABIALS:
            k = bil
        elif name in LABIODENTALS:
            k = lab
        else:
            continue
        s, e = float(ph.start_s), float(ph.end_s)
        prev_d = (s - float(phones[i - 1].start_s)) if i > 0 else config.contact_anticipation_s
        next_d = (float(phones[i + 1].end_s) - e) if i + 1 < len(phones) else config.contact_release_s
        ra = max(1e-3, min(config.contact_anticipation_s, config.contact_neighbour_share * prev_d))
        rr = max(1e-3, min(config.contact_release_s, config.contact_neighbour_share * next_d))
        inside = (t >= s - 1e-9) & (t <= e + 1e-9)
        if not inside.any():
            j = int(np.clip(round(0.5 * (s + e) * fps), 0, T - 1))
            inside[j] = True
            s = e = t[j]
        np.maximum(k, _raised_cosine_plateau(t, inside, s, e, ra, rr), out=k)
    return bil, lab


def apply_contacts(expression: np.ndarray, bilabial: np.ndarray, labiodental: np.ndarray,
                   config: CoarticulationConfig = CoarticulationConfig(), rest: np.ndarray | None = None) -> np.ndarray:
    """Impose lip contacts on a full (T, 52) expression (after overlays). Returns a new array.

    ``rest`` (T,) optionally closes the lips without pressing (silence at rest)."""
    x = np.array(expression, dtype=np.float64, copy=True)
    if rest is not None:
        x[:, A["mouthClose"]] = np.maximum(x[:, A["mouthClose"]], config.close_ratio * rest * x[:, A["jawOpen"]])
    kb, kl = bilabial[:, None], labiodental
    jaw = A["jawOpen"]
    pull = config.contact_jaw_pull * np.maximum(bilabial, labiodental)
    x[:, jaw] = (1 - pull) * x[:, jaw] + pull * np.minimum(x[:, jaw], config.contact_jaw)
    openers = [A[n] for n in LIP_OPENERS]
    x[:, openers] *= 1.0 - kb
    for n in ("mouthPressLeft", "mouthPressRight"):
        x[:, A[n]] = np.maximum(x[:, A[n]], config.press * bilabial)
    close = A["mouthClose"]
    x[:, close] = np.maximum(x[:, close] * (1 - bilabial), config.close_ratio * bilabial * x[:, jaw])
    # labiodental: lower lip tucked under the upper teeth, rounding suppressed
    x[:, A["mouthRollLower"]] = np.maximum(x[:, A["mouthRollLower"]], config.labiodental_roll * kl)
    for n in ("mouthUpperUpLeft", "mouthUpperUpRight"):
        x[:, A[n]] = (1 - kl) * x[:, A[n]] + kl * np.maximum(x[:, A[n]], config.labiodental_upper_up)
    for n in ("mouthFunnel", "mouthPucker", "mouthLowerDownLeft", "mouthLowerDownRight"):
        x[:, A[n]] *= 1.0 - 0.8 * kl
    # ARKit: mouthClose is meaningful only up to jawOpen
    x[:, close] = np.minimum(x[:, close], x[:, jaw])
    return np.clip(x, 0.0, 1.0)
