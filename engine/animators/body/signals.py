"""Small per-frame signal helpers of the procedural body, vectorised numpy over frames.

Minimum-jerk blends and keyframe tracks (Flash & Hogan 1985), a zero-phase exponential smoother, smooth
noise as closed-form sums of random sinusoids (so any block of frames can be evaluated on its own), a
C2 bump, a local-maximum picker, and the coercion of a prosody attribute to the clip's frame count.

The face's upper-face stage (:mod:`engine.animators.phonetic.upper_face`) has its own smoothing
(Gaussian), peak picking (:func:`scipy.signal.find_peaks`) and noise (filtered white noise), and resamples
prosody arrays of any length, whereas :func:`prosody_track` only absorbs +-``TRACK_SLACK_FRAMES``
frames of edge rounding and raises ConfigError otherwise. They are kept apart because the body's
outputs must not change.
"""
from __future__ import annotations

import logging

import numpy as np

from rigs.core.errors import ConfigError

log = logging.getLogger(__name__)

# peak speed of a minimum-jerk move over [0, 1]: max d/dtau (10t^3 - 15t^4 + 6t^5) = 15/8, at tau = 0.5
MIN_JERK_PEAK_SPEED = 1.875
# a prosody track this many frames longer or shorter than the clip is edge-padded/trimmed (edge rounding)
TRACK_SLACK_FRAMES = 2
# the exponential smoothing kernel is cut at this many time constants on each side
SMOOTH_SUPPORT_TAUS = 3
# default frequency band (Hz), sinusoids per channel and relative weight range of smooth noise
NOISE_BAND_HZ = (0.05, 0.35)
NOISE_PARTS = 3
NOISE_WEIGHT_RANGE = (0.5, 1.0)
# peak value of the bump 64 t^3 (1-t)^3 is 1 at t = 0.5
BUMP_NORM = 64.0


def min_jerk(tau: np.ndarray) -> np.ndarray:
    """Minimum-jerk blend 10t^3 - 15t^4 + 6t^5 on [0, 1] (Flash & Hogan 1985)."""
    tau = np.clip(tau, 0.0, 1.0)
    return tau * tau * tau * (10.0 + tau * (-15.0 + 6.0 * tau))


def keyframe_track(t_s: np.ndarray, key_t: np.ndarray, key_v: np.ndarray) -> np.ndarray:
    """Piecewise minimum-jerk interpolation of keys (K,), values (K, D) at times (T,) -> (T, D)."""
    i = np.clip(np.searchsorted(key_t, t_s, side="right") - 1, 0, len(key_t) - 1)
    j = np.minimum(i + 1, len(key_t) - 1)
    span = key_t[j] - key_t[i]
    tau = np.where(span > 0, (t_s - key_t[i]) / np.where(span > 0, span, 1.0), 1.0)
    s = min_jerk(tau)[:, None]
    return key_v[i] + (key_v[j] - key_v[i]) * s


def smooth(x: np.ndarray, fps: float, tau_s: float) -> np.ndarray:
    """Zero-phase smoothing: exponential kernel convolution (T,) -> (T,), edges extended."""
    n = max(1, int(round(SMOOTH_SUPPORT_TAUS * tau_s * fps)))
    k = np.exp(-np.abs(np.arange(-n, n + 1)) / max(tau_s * fps, 1e-6))
    k /= k.sum()
    pad = np.pad(x, n, mode="edge")
    return np.convolve(pad, k, mode="valid")


def noise_params(rng: np.random.Generator, channels: int, freq_hz: tuple[float, float] = NOISE_BAND_HZ,
                 parts: int = NOISE_PARTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequencies (Hz), phases (rad) and weights, each (channels, parts), of a :func:`sinusoid_noise`."""
    f = rng.uniform(*freq_hz, size=(channels, parts))
    ph = rng.uniform(0, 2 * np.pi, size=(channels, parts))
    a = rng.uniform(*NOISE_WEIGHT_RANGE, size=(channels, parts))
    a /= a.sum(axis=1, keepdims=True)
    return f, ph, a


def sinusoid_noise(t_s: np.ndarray, params: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """(T, channels) smooth zero-mean noise of about unit amplitude: sums of random sinusoids.

    A closed-form function of time, so any block of frames can be evaluated on its own."""
    f, ph, a = params
    return np.einsum("tcp,cp->tc", np.sin(2 * np.pi * t_s[:, None, None] * f + ph), a)


def bump(tau: np.ndarray) -> np.ndarray:
    """C2 bump 64 t^3 (1-t)^3 on [0, 1], peak 1 at 0.5, zero outside."""
    tau = np.clip(tau, 0.0, 1.0)
    return BUMP_NORM * tau ** 3 * (1.0 - tau) ** 3


def peaks(x: np.ndarray, *, height: float, prominence: float, min_gap: int) -> np.ndarray:
    """Indices of local maxima of (T,) ``x`` above ``height`` that rise ``prominence`` over the lower
    of the minima within ``min_gap`` frames on each side; greedy non-maximum suppression by height."""
    T = len(x)
    if T < 3:
        return np.zeros(0, dtype=np.int64)
    cand = np.flatnonzero((x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:]) & (x[1:-1] >= height)) + 1
    if len(cand) == 0:
        return cand
    w = max(1, min_gap)
    pad = np.pad(x, w, mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * w + 1)[cand]  # (N, 2w+1)
    base = np.maximum(win[:, :w].min(axis=1), win[:, w + 1:].min(axis=1))
    cand = cand[x[cand] - base >= prominence]
    keep: list[int] = []
    for c in cand[np.argsort(-x[cand], kind="stable")]:
        if all(abs(c - k) >= min_gap for k in keep):
            keep.append(int(c))
    return np.sort(np.asarray(keep, dtype=np.int64))


def prosody_track(prosody, name: str, T: int, dtype, default) -> np.ndarray:
    """(T,) attribute ``name`` of ``prosody`` as ``dtype``; ``default`` everywhere when it (or prosody) is None.

    A track within ``TRACK_SLACK_FRAMES`` of T frames is edge-padded or trimmed; any other length raises
    ConfigError."""
    if prosody is None or getattr(prosody, name, None) is None:
        return np.full(T, default, dtype=dtype)
    x = np.asarray(getattr(prosody, name)).reshape(-1).astype(dtype)
    if x.shape[0] == T:
        return x
    if abs(x.shape[0] - T) <= TRACK_SLACK_FRAMES and x.shape[0] > 0:  # rounding at the clip edges
        log.debug("prosody.%s has %d frames for %d; padding/trimming", name, x.shape[0], T)
        return np.pad(x, (0, max(0, T - x.shape[0])), mode="edge")[:T]
    raise ConfigError(f"prosody.{name} has {x.shape[0]} frames but the clip has {T}")
