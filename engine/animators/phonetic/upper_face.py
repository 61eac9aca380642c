"""Upper face, head and eyes from prosody and accents: brow raises, blinks, head motion, saccades.

- Brows rise with pitch accents (:mod:`engine.audio.accents`; Cavé et al. 1996; Granström & House 2005).
- Blinks: a seeded renewal process at ~17/min with a refractory gap, extra blinks at phrase boundaries
  (Bentivoglio et al. 1997 report ~17/min in conversation, more at pauses); asymmetric lid profile with a
  fast close and slower open (VanderWerf et al. 2003), peak placed on a frame so it is never missed.
- Head: pitch follows the f0 contour and nods at accents; yaw/roll are smooth seeded noise whose energy
  follows loudness (Busso et al. 2007; Graf et al. 2002).
- Eyes: fixations with small saccades and occasional gaze aversion while speaking (Lee, Badler & Badler,
  "Eyes Alive", SIGGRAPH 2002).

Angles are in the canonical skeleton frame (Y up, +Z forward, +X the character's left) as small
rotation vectors: x = pitch (+ looks down), y = yaw (+ turns to the character's left), z = roll.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.audio.accents import f0_semitones
from rigs.core.timebase import smooth_gaussian


MIN_SMOOTH_FRAMES = 0.5     # Gaussian smoothing is at least this many frames wide (sigma)


@dataclass(frozen=True)
class UpperFaceConfig:
    brow_raise: float = 0.35
    blinks_per_min: float = 15.0    # renewal rate; boundary blinks add ~2-4/min
    blink_refractory_s: float = 1.2
    blink_close_s: float = 0.05
    blink_open_s: float = 0.10
    boundary_blink_prob: float = 0.7
    pause_min_s: float = 0.25
    head_pitch_per_st_rad: float = 0.006  # head rises with pitch
    nod_rad: float = 0.045
    head_yaw_rad: float = 0.07
    head_roll_rad: float = 0.03
    head_pitch_noise_rad: float = 0.02
    eye_h_range_rad: float = 0.5          # eyeLookIn/Out weight 1 at this angle
    eye_v_range_rad: float = 0.4
    saccade_amp_rad: float = 0.06
    aversion_prob: float = 0.25
    aversion_amp_rad: float = 0.2


def brow_curve(accent_frames, strengths, T: int, fps: float, gain: float) -> np.ndarray:
    """(T,) brow raise: quick rise ~100 ms before the accent peak, slower decay ~350 ms after."""
    t = np.arange(T) / fps
    out = np.zeros(T)
    for f, s in zip(accent_frames, strengths):
        dt = t - f / fps
        bump = np.where(dt < 0, np.exp(-0.5 * (dt / 0.1) ** 2), np.exp(-0.5 * (dt / 0.3) ** 2))
        np.maximum(out, gain * s * bump, out=out)
    return out


def pause_boundaries(speech: np.ndarray, fps: float, min_pause_s: float) -> np.ndarray:
    """Frame indices where a pause of at least ``min_pause_s`` begins after speech (phrase ends)."""
    s = speech.astype(np.int8)
    ends = np.nonzero((s[:-1] == 1) & (s[1:] == 0))[0] + 1
    out = []
    for e in ends:
        nxt = np.nonzero(s[e:])[0]
        length = (nxt[0] if len(nxt) else len(s) - e) / fps
        if length >= min_pause_s:
            out.append(e)
    return np.asarray(out, dtype=np.int64)


def blink_times(rng: np.random.Generator, duration_s: float, boundaries_s, rate_per_min: float,
                cfg: UpperFaceConfig) -> np.ndarray:
    """Seeded blink peak times (s): boundary blinks first, then a renewal process filling the gaps."""
    times: list[float] = []
    for b in boundaries_s:
        if rng.random() < cfg.boundary_blink_prob:
            times.append(float(b) + rng.uniform(0.05, 0.2))
    mean_gap = 60.0 / max(rate_per_min, 1e-3)
    t = rng.uniform(0.2, min(mean_gap, max(0.3, duration_s)))
    while t < duration_s:
        if all(abs(t - u) > cfg.blink_refractory_s for u in times):
            times.append(t)
        # gamma-distributed intervals (shape 3): more regular than Poisson, mean = mean_gap minus boundary share
        t += max(cfg.blink_refractory_s, rng.gamma(3.0, mean_gap / 3.0))
    times = sorted(u for u in times if 0.0 <= u < duration_s)
    kept: list[float] = []
    for u in times:
        if not kept or u - kept[-1] > cfg.blink_refractory_s * 0.7:
            kept.append(u)
    return np.asarray(kept)


def blink_curve(peaks_s: np.ndarray, T: int, fps: float, cfg: UpperFaceConfig) -> np.ndarray:
    """(T,) eyelid closure: each blink closes in ``blink_close_s`` and opens in ``blink_open_s``; the peak is
    snapped to a frame so every blink fully closes at any fps."""
    t = np.arange(T) / fps
    out = np.zeros(T)
    for p in peaks_s:
        p = round(p * fps) / fps
        dt = t - p
        v = np.where(dt < 0, 1 - np.clip(-dt / cfg.blink_close_s, 0, 1) ** 2,
                     1 - np.clip(dt / cfg.blink_open_s, 0, 1) ** 1.5)
        np.maximum(out, v, out=out)
    return np.clip(out, 0, 1)


def _smooth(x: np.ndarray, fps: float, sigma_s: float) -> np.ndarray:
    """Gaussian smoothing along time (axis 0), at least half a frame wide (numpy: no scipy import)."""
    return smooth_gaussian(np.asarray(x, np.float64), fps, max(MIN_SMOOTH_FRAMES / fps, sigma_s))


def _smooth_noise(rng: np.random.Generator, T: int, fps: float, corr_s: float) -> np.ndarray:
    """Unit-variance smooth noise with correlation time ``corr_s``."""
    pad = int(3 * corr_s * fps) + 1
    x = _smooth(rng.standard_normal(T + 2 * pad), fps, corr_s)[pad:pad + T]
    sd = x.std()
    return x / sd if sd > 1e-9 else x


def head_angles(rng: np.random.Generator, pa: dict, accent_frames, strengths, fps: float, energy: float,
                pitch_bias_rad: float, cfg: UpperFaceConfig) -> np.ndarray:
    """(T, 3) head rotation (pitch, yaw, roll) in radians."""
    T = len(pa["loudness"])
    t = np.arange(T) / fps
    act = _smooth(pa["loudness"] * pa["speech"], fps, 0.3)
    act = 0.35 + 0.65 * np.clip(act / max(act.max(), 1e-6), 0, 1) if act.max() > 1e-6 else np.full(T, 0.35)
    st = _smooth(f0_semitones(pa["f0_hz"], pa["voiced"]), fps, 0.15)
    pitch = -cfg.head_pitch_per_st_rad * np.clip(st, -8, 8) * energy
    for f, s in zip(accent_frames, strengths):   # nod: down at the accent, back up after
        dt = t - f / fps
        pitch += cfg.nod_rad * energy * s * np.exp(-0.5 * ((dt - 0.05) / 0.12) ** 2)
    pitch += cfg.head_pitch_noise_rad * energy * act * _smooth_noise(rng, T, fps, 0.6)
    yaw = cfg.head_yaw_rad * energy * act * _smooth_noise(rng, T, fps, 0.9)
    roll = cfg.head_roll_rad * energy * act * _smooth_noise(rng, T, fps, 1.1)
    out = np.stack([pitch + pitch_bias_rad, yaw, roll], axis=1)
    return np.clip(out, -0.5, 0.5)


def eye_angles(rng: np.random.Generator, pa: dict, fps: float, head_rad: np.ndarray,
               cfg: UpperFaceConfig) -> np.ndarray:
    """(T, 2, 3) eye rotations (left, right): fixations, saccades, aversions; partly counter-rotating the head."""
    T = len(pa["loudness"])
    target = np.zeros((T, 2))
    i = 0
    while i < T:
        speaking = bool(pa["speech"][i])
        hold = rng.gamma(2.0, (0.4 if speaking else 0.7)) + 0.15
        n = max(1, int(hold * fps))
        if speaking and rng.random() < cfg.aversion_prob:
            ang = rng.uniform(0, 2 * np.pi)
            amp = cfg.aversion_amp_rad * rng.uniform(0.5, 1.0)
        else:
            ang = rng.uniform(0, 2 * np.pi)
            amp = cfg.saccade_amp_rad * rng.uniform(0.2, 1.0)
        target[i:i + n] = [amp * np.sin(ang) * 0.6, amp * np.cos(ang)]
        i += n
    # saccades last ~30-60 ms: soften by one frame at most
    if fps > 40:
        target = _smooth(target, fps, 0.02)
    # vestibulo-ocular reflex: eyes compensate half the head rotation so gaze stays near the listener
    target[:, 0] -= 0.5 * head_rad[:, 0]
    target[:, 1] -= 0.5 * head_rad[:, 1]
    out = np.zeros((T, 2, 3))
    out[:, :, 0] = target[:, None, 0]
    out[:, :, 1] = target[:, None, 1]
    return np.clip(out, -0.6, 0.6)


def eye_channels(eye_rad: np.ndarray, cfg: UpperFaceConfig) -> dict[str, np.ndarray]:
    """ARKit eyeLook* weights matching eye rotations (pitch + = down; yaw + = to the character's left)."""
    out = {}
    for e, side in ((0, "Left"), (1, "Right")):
        pitch, yaw = eye_rad[:, e, 0], eye_rad[:, e, 1]
        out["eyeLookDown" + side] = np.clip(pitch / cfg.eye_v_range_rad, 0, 1)
        out["eyeLookUp" + side] = np.clip(-pitch / cfg.eye_v_range_rad, 0, 1)
        toward_left = np.clip(yaw / cfg.eye_h_range_rad, 0, 1)
        toward_right = np.clip(-yaw / cfg.eye_h_range_rad, 0, 1)
        # the left eye looks *out* toward the character's left; the right eye looks *in*
        out["eyeLookOut" + side] = toward_left if side == "Left" else toward_right
        out["eyeLookIn" + side] = toward_right if side == "Left" else toward_left
    return out
