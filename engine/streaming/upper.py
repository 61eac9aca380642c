"""The causal upper face of the streaming animator: blinks, brows, head and eyes, one frame at a time.

The streaming counterpart of :mod:`engine.animators.phonetic.upper_face` (same constants, same
:class:`~engine.animators.phonetic.upper_face.UpperFaceConfig`) where every whole-clip step is replaced by a
causal one:

- blinks: the seeded renewal process (gamma intervals, refractory gap), plus a blink at a pause once the
  pause has lasted ``pause_min_s`` (offline places it at the pause's start); the lid closes over
  ``blink_close_s`` from the moment a blink is decided, so the peak is ``blink_close_s`` later;
- brows and nods rise at a pitch accent when :class:`engine.audio.causal.CausalAccents` confirms it (its
  decision delay late; offline they lead the accent by ~100 ms);
- head activity: loudness x speech smoothed by a causal exponential (``ACTIVITY_TAU_S``) over a peak
  that decays slowly (``ACTIVITY_PEAK_MEMORY_S``), instead of over the whole clip's maximum; head pitch
  follows the semitone f0 over the running median (exponentially smoothed); yaw/roll/pitch noise are
  closed-form sums of sinusoids of the stream time (:func:`engine.animators.body.signals.sinusoid_noise`);
- eyes: fixations, saccades and aversions drawn as the stream goes, the vestibulo-ocular half compensation
  of the head as offline.
"""
from __future__ import annotations

import numpy as np

from engine.animators.body.signals import noise_params, sinusoid_noise
from engine.animators.phonetic.upper_face import UpperFaceConfig, eye_channels
from rigs.core.arkit import ARKIT_INDEX

ACTIVITY_TAU_S = 0.3            # causal smoothing of loudness x speech (offline: Gaussian 0.3 s)
ACTIVITY_PEAK_MEMORY_S = 20.0   # the activity peak decays with this time constant
ST_TAU_S = 0.15                 # causal smoothing of the semitone contour for head pitch
ACTIVITY_FLOOR = 0.35           # head motion scale at rest (as offline)
HEAD_LIMIT_RAD = 0.5
EYE_LIMIT_RAD = 0.6
BROW_RISE_S, BROW_DECAY_S = 0.1, 0.3
NOD_DELAY_S, NOD_WIDTH_S = 0.05, 0.12
# correlation times of the head noise channels (pitch, yaw, roll), as offline; sinusoid band from them
NOISE_CORR_S = (0.6, 0.9, 1.1)
NOISE_PARTS = 4


class CausalUpperFace:
    """Per-frame brows, blinks, head and eyes. :meth:`step` takes frame ``i``'s prosody and the accents
    confirmed at it and returns (channel weights to add, head (3,), eyes (2, 3))."""

    def __init__(self, *, fps: float, seed: int = 0, config: UpperFaceConfig | None = None,
                 energy: float = 1.0):
        config = config or UpperFaceConfig()
        self.fps, self.cfg, self.energy = float(fps), config, float(energy)
        ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x57AE])
        self.r_blink, self.r_head, self.r_eye = (np.random.default_rng(s) for s in ss.spawn(3))
        self.noise = [noise_params(self.r_head, 1, (0.5 / (2 * np.pi * c), 2.0 / (2 * np.pi * c)), NOISE_PARTS)
                      for c in NOISE_CORR_S]
        self.mean_gap = 60.0 / max(config.blinks_per_min, 1e-3)
        self.next_blink = float(self.r_blink.uniform(0.2, self.mean_gap))
        self.blink_peaks: list[float] = []
        self.last_blink = -1e9
        self.a_act = float(np.exp(-1.0 / (ACTIVITY_TAU_S * fps)))
        self.a_peak = float(np.exp(-1.0 / (ACTIVITY_PEAK_MEMORY_S * fps)))
        self.a_st = float(np.exp(-1.0 / (ST_TAU_S * fps)))
        self.act = self.peak = self.st = 0.0
        self.silent_frames = 0
        self.spoke = False
        self.events: list[tuple[float, float]] = []   # (accent decision time s, strength)
        self.gaze = np.zeros(2)
        self.gaze_until = -1.0

    def _blink(self, t: float, speech: bool) -> float:
        cfg = self.cfg
        # pause boundary: a pause of pause_min_s after speech
        if speech:
            self.silent_frames, self.spoke = 0, True
        else:
            self.silent_frames += 1
            if self.spoke and self.silent_frames == max(1, int(round(cfg.pause_min_s * self.fps))):
                if self.r_blink.random() < cfg.boundary_blink_prob and t - self.last_blink > cfg.blink_refractory_s:
                    self._schedule(t + cfg.blink_close_s)
        if t >= self.next_blink:
            if t - self.last_blink > cfg.blink_refractory_s:
                self._schedule(t + cfg.blink_close_s)
            self.next_blink = t + max(cfg.blink_refractory_s, float(self.r_blink.gamma(3.0, self.mean_gap / 3.0)))
        v = 0.0
        for p in self.blink_peaks:
            dt = t - round(p * self.fps) / self.fps
            v = max(v, 1 - min(1.0, -dt / cfg.blink_close_s) ** 2 if dt < 0 else 1 - min(1.0, dt / cfg.blink_open_s) ** 1.5)
        self.blink_peaks = [p for p in self.blink_peaks if t - p < cfg.blink_open_s + 1.0 / self.fps]
        return float(np.clip(v, 0.0, 1.0))

    def _schedule(self, peak_s: float) -> None:
        self.blink_peaks.append(peak_s)
        self.last_blink = peak_s

    def step(self, i: int, *, loudness: float, speech: bool, st: float | None,
             accents: list[tuple[int, float]]) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
        cfg, t = self.cfg, i / self.fps
        for _, s in accents:
            self.events.append((t, s))
        self.events = [(a, s) for a, s in self.events if t - a < 2.0]
        brow = nod = 0.0
        for a, s in self.events:
            dt = t - (a + BROW_RISE_S)
            sig = BROW_RISE_S if dt < 0 else BROW_DECAY_S
            brow = max(brow, cfg.brow_raise * s * float(np.exp(-0.5 * (dt / sig) ** 2)))
            nod += cfg.nod_rad * self.energy * s * float(np.exp(-0.5 * ((t - a - NOD_DELAY_S) / NOD_WIDTH_S) ** 2))
        blink = self._blink(t, speech)
        # head
        x = loudness * float(speech)
        self.act = self.a_act * self.act + (1 - self.a_act) * x
        self.peak = max(self.act, self.a_peak * self.peak)
        act = ACTIVITY_FLOOR + (1 - ACTIVITY_FLOOR) * (self.act / self.peak if self.peak > 1e-6 else 0.0)
        if st is not None:
            self.st = self.a_st * self.st + (1 - self.a_st) * float(np.clip(st, -8, 8))
        tt = np.asarray([t])
        nz = [float(sinusoid_noise(tt, p)[0, 0]) * np.sqrt(2.0) for p in self.noise]
        pitch = -cfg.head_pitch_per_st_rad * self.st * self.energy + nod \
            + cfg.head_pitch_noise_rad * self.energy * act * nz[0]
        head = np.clip([pitch, cfg.head_yaw_rad * self.energy * act * nz[1],
                        cfg.head_roll_rad * self.energy * act * nz[2]], -HEAD_LIMIT_RAD, HEAD_LIMIT_RAD)
        # eyes
        if t >= self.gaze_until:
            hold = float(self.r_eye.gamma(2.0, 0.4 if speech else 0.7)) + 0.15
            ang = float(self.r_eye.uniform(0, 2 * np.pi))
            amp = (cfg.aversion_amp_rad * self.r_eye.uniform(0.5, 1.0) if speech and self.r_eye.random() < cfg.aversion_prob
                   else cfg.saccade_amp_rad * self.r_eye.uniform(0.2, 1.0))
            self.gaze = np.asarray([amp * np.sin(ang) * 0.6, amp * np.cos(ang)])
            self.gaze_until = t + max(1, int(hold * self.fps)) / self.fps
        g = self.gaze - 0.5 * head[:2]
        eyes = np.zeros((2, 3))
        eyes[:, 0], eyes[:, 1] = g[0], g[1]
        eyes = np.clip(eyes, -EYE_LIMIT_RAD, EYE_LIMIT_RAD)
        ch = {"browInnerUp": brow, "browOuterUpLeft": 0.8 * brow, "browOuterUpRight": 0.8 * brow,
              "eyeBlinkLeft": blink, "eyeBlinkRight": blink}
        for k, v in eye_channels(eyes[None], cfg).items():
            ch[k] = float(v[0])
        return ch, head.astype(np.float32), eyes.astype(np.float32)


def apply_channels(expression: np.ndarray, channels: dict[str, float]) -> np.ndarray:
    """Add upper-face ``channels`` to a (52,) expression; blinks close the lid fully whatever its tonic value."""
    e = np.asarray(expression, np.float64).copy()
    for k, v in channels.items():
        c = ARKIT_INDEX[k]
        e[c] = e[c] + (1.0 - e[c]) * v if k.startswith("eyeBlink") else e[c] + v
    return np.clip(e, 0.0, 1.0).astype(np.float32)
