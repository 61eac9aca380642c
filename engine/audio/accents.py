"""Pitch accents: the prominent syllables of an utterance, a prosody stage every animator shares.

Accents are peaks of the speaker-normalised f0 contour (semitones over the median voiced f0) that coincide
with energy, as in prosodic-prominence detectors (Tamburini 2003); with no usable f0, energy peaks alone.
The face raises the brows and nods on them (Cavé et al. 1996; Granström & House 2005) and the body times
its gesture strokes to them (McNeill 1992), whatever model made the face.

Also the per-frame view of a prosody track these stages read (:func:`prosody_arrays`) and the f0 contour
in semitones (:func:`f0_semitones`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.audio.peaks import find_peaks
from rigs.core.timebase import smooth_gaussian

SPEECH_LOUDNESS = 0.15        # loudness above which a frame counts as speech when no voice activity is given
LOUDNESS_SMOOTH_S = 0.04      # smoothing of loudness before peak picking
F0_SMOOTH_S = 0.05            # smoothing of the semitone contour before peak picking
LOUDNESS_WEIGHT_ST = 6.0      # semitones added per unit of loudness above its mean
MIN_ACCENT_LOUDNESS = 0.2     # an accent needs at least this loudness
MIN_VOICED_S = 0.1            # below this much voicing, accents come from energy alone
ENERGY_PROMINENCE = 0.2       # loudness prominence of an energy-only accent
MIN_SMOOTH_FRAMES = 0.5       # smoothing is at least this many frames wide (sigma)


@dataclass(frozen=True)
class AccentConfig:
    min_gap_s: float = 0.35         # accents at least this far apart
    prominence_st: float = 1.2      # semitones of f0 rise for a pitch accent


@dataclass(frozen=True)
class Accents:
    """``frames`` (K,) int frame indices at ``fps`` and ``strengths`` (K,) in [0.3, 1]."""

    frames: np.ndarray
    strengths: np.ndarray
    fps: float

    @property
    def times_s(self) -> np.ndarray:
        """(K,) float64 accent times in seconds."""
        return np.asarray(self.frames, np.float64) / self.fps

    @classmethod
    def none(cls, fps: float) -> "Accents":
        return cls(np.zeros(0, np.int64), np.zeros(0), float(fps))


def _arr(p, name: str, T: int, default=0.0) -> np.ndarray:
    a = getattr(p, name, None) if p is not None else None
    if a is None:
        return np.full(T, default, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    if len(a) == T:
        return a
    if len(a) == 0:
        return np.full(T, default, dtype=np.float64)
    return np.interp(np.linspace(0, len(a) - 1, T), np.arange(len(a)), a)


def prosody_arrays(prosody, T: int) -> dict[str, np.ndarray]:
    """The per-frame prosody arrays (T,) ``loudness, f0_hz, voiced, speech`` resampled to T frames (robust to
    off-by-one lengths; missing fields default to silence, a missing speech mask to loud frames)."""
    loud = np.clip(np.nan_to_num(_arr(prosody, "loudness", T)), 0, 1)
    f0 = np.nan_to_num(_arr(prosody, "f0_hz", T))
    voiced = _arr(prosody, "voiced", T) > 0.5
    voiced &= f0 > 0
    speech = _arr(prosody, "speech", T, default=np.nan)
    speech = (loud > SPEECH_LOUDNESS) if np.isnan(speech).all() else (np.nan_to_num(speech) > 0.5)
    return {"loudness": loud, "f0_hz": f0, "voiced": voiced, "speech": speech}


def f0_semitones(f0_hz: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """(T,) f0 in semitones relative to the median voiced f0, interpolated over unvoiced frames (0 if none)."""
    T = len(f0_hz)
    if voiced.sum() < 3:
        return np.zeros(T)
    st = 12.0 * np.log2(np.maximum(f0_hz, 1e-3) / np.median(f0_hz[voiced]))
    idx = np.nonzero(voiced)[0]
    return np.interp(np.arange(T), idx, st[idx])


def detect_accents(prosody, *, fps: float, n_frames: int, config: AccentConfig = AccentConfig()) -> Accents:
    """Pitch accents of a prosody track (any object with per-frame ``loudness, f0_hz, voiced, speech``)."""
    pa = prosody_arrays(prosody, int(n_frames))
    frames, strengths = _accents(pa, fps, config)
    return Accents(np.asarray(frames, np.int64), np.asarray(strengths, np.float64), float(fps))


def _accents(pa: dict, fps: float, cfg: AccentConfig) -> tuple[np.ndarray, np.ndarray]:
    T = len(pa["loudness"])
    loud = smooth_gaussian(pa["loudness"], fps, max(MIN_SMOOTH_FRAMES / fps, LOUDNESS_SMOOTH_S))
    st = smooth_gaussian(f0_semitones(pa["f0_hz"], pa["voiced"]), fps, max(MIN_SMOOTH_FRAMES / fps, F0_SMOOTH_S))
    dist = max(1, int(cfg.min_gap_s * fps))
    if pa["voiced"].sum() >= max(3, MIN_VOICED_S * fps):
        score = np.where(pa["speech"], st + LOUDNESS_WEIGHT_ST * (loud - loud.mean()), -np.inf)
        score[~np.isfinite(score)] = st.min() - 10 if T else 0
        pk, _ = find_peaks(score, distance=dist, prominence=cfg.prominence_st)
        pk = pk[pa["speech"][pk] & (loud[pk] > MIN_ACCENT_LOUDNESS)]
        if len(pk):
            prom = np.asarray([score[i] for i in pk]) - np.median(score[pa["speech"]])
            strength = np.clip(0.4 + prom / 8.0, 0.3, 1.0)
            return pk, strength
    pk, prom = find_peaks(loud, distance=dist, prominence=ENERGY_PROMINENCE)
    in_speech = pa["speech"][pk]
    return pk[in_speech], np.clip(prom[in_speech], 0.3, 1.0)
