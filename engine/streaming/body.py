"""The procedural body driven causally: the streaming counterpart of :func:`engine.animators.body.animate_body`.

The offline body makes whole-clip signals (breath phase and depth, smoothed speaking activity, weight
shift, listener nods, gesture keyframes) and then poses the clip block by block with closed-form per-frame
parts. This module keeps that block assembly (``_pose_block`` of :mod:`engine.animators.body.animator`, the
same idle pose, breath, sway, noise, head/eye split, limits and leg IK) and replaces each whole-clip signal
by a causal one:

- speaking activity: a causal exponential of the speech mask (offline: a zero-phase one);
- breath: the same seeded rate and drift, the phase accumulated frame by frame; depth shallow while speaking
  and deeper after a long utterance, smoothed causally;
- weight shift and liveliness noise: closed-form functions of the stream time with the seeded parameters;
- listener nods: seeded times, started only when the last ``NOD_QUIET_S`` were silent;
- gestures: scheduled when :class:`engine.audio.causal.CausalAccents` confirms an accent, with the gesture
  library of :func:`engine.animators.body.gestures.gesture_keys` (shape, amplitude by loudness, McNeill's
  preparation -> stroke -> hold -> retraction); the preparation starts at the decision, so the stroke's apex
  lands ``GESTURE_APEX_S`` after it (offline strokes end on the accent itself: a causal body cannot prepare
  before it has heard the accent). A new gesture starts from the current pose.
"""
from __future__ import annotations

import copy

import numpy as np

from engine.animators.body import BodyConfig
from engine.animators.body.animator import ACTIVITY_TAU_S, N_STREAMS, _ClipSignals, _pose_block
from engine.animators.body.gestures import gesture_keys
from engine.animators.body.idle import (BREATH_ASYMMETRY, BREATH_DEPTH_TAU_S, BREATH_DRIFT, BREATH_DRIFT_BAND_HZ,
                                        BREATH_DRIFT_PARTS, NOD_AMP_RANGE, NOD_SWAY_EXPONENT, NOISE_CHANNELS,
                                        SECONDS_PER_MINUTE, idle_energy, idle_pose, weight_shift)
from engine.animators.body.rig import BodyRig
from engine.animators.body.signals import bump, keyframe_track, noise_params, sinusoid_noise
from engine.animators.body.style import blend_style
from rigs.core.skeleton import canonical_skeleton

GESTURE_WINDOW_S = 3.0   # local window a gesture is planned in
NOD_QUIET_S = 1.0        # a listener nod needs this much silence before it


class StreamingBody:
    """Joint angles frame by frame. :meth:`step` takes a block of frames' speech, loudness, head and eyes and
    the accents confirmed during it; returns ((n, J, 3) axis-angle float32, (n, 3) root translation)."""

    def __init__(self, *, fps: float, seed: int = 0, emotion: dict | None = None,
                 config: BodyConfig | None = None):
        config = config or BodyConfig()
        self.fps, self.cfg, self.seed = float(fps), config, int(seed)
        sk = canonical_skeleton()
        self.joint_names, self.joint_parents = sk.names, sk.parents
        self.rig = BodyRig()
        self.style = blend_style(emotion)
        streams = [np.random.default_rng(s) for s in
                   np.random.SeedSequence(int(seed) & 0xFFFFFFFF).spawn(N_STREAMS)]
        r_breath, self.r_sway, _, self.r_nod, r_noise = streams
        self.breath_rate_hz = r_breath.uniform(*config.breaths_per_min) / SECONDS_PER_MINUTE * self.style.breath_rate
        self.breath_drift = noise_params(r_breath, 1, BREATH_DRIFT_BAND_HZ, BREATH_DRIFT_PARTS)
        self.phase = float(r_breath.uniform(0, 2 * np.pi))
        self.noise = noise_params(r_noise, len(NOISE_CHANNELS))
        self.idle = idle_pose(self.rig, self.style, config)
        self.a_act = float(np.exp(-1.0 / (ACTIVITY_TAU_S * fps)))
        self.a_depth = float(np.exp(-1.0 / (BREATH_DEPTH_TAU_S * fps)))
        self.activity = 0.0
        self.depth = 1.0
        self.run = 0            # frames in the current speech run
        self.last_run = 0       # length of the last finished run
        self.since_end = -1     # frames since it ended (-1: none yet)
        self.quiet = 0          # silent frames in a row
        self.next_nod = float(self.r_nod.uniform(*config.nod_interval_s)) - 0.5 * config.nod_interval_s[0]
        self.nod_at: tuple[float, float] | None = None   # (start s, amplitude deg)
        self.key_t = np.zeros(1)
        self.key_v = np.zeros((1, self.rig.J * 3))
        self.n_gestures = 0
        self.i = 0
        self.clamped: set[str] = set()

    # -- per-frame scalar state -------------------------------------------------------------------
    def _scalars(self, speech: bool) -> tuple[float, float, float]:
        """(breath, energy, nod degrees) of the next frame."""
        cfg, fps, t = self.cfg, self.fps, self.i / self.fps
        self.activity = self.a_act * self.activity + (1 - self.a_act) * float(speech)
        energy = float(idle_energy(np.asarray([self.activity]), self.style, cfg)[0])
        # breath phase and depth
        drift = 1.0 + BREATH_DRIFT * float(sinusoid_noise(np.asarray([t]), self.breath_drift)[0, 0])
        self.phase += 2 * np.pi * self.breath_rate_hz * drift / fps
        if speech:
            self.run += 1
            self.quiet = 0
            target = cfg.breath_speech_depth
        else:
            if self.run:
                self.last_run, self.since_end, self.run = self.run, 0, 0
            elif self.since_end >= 0:
                self.since_end += 1
            self.quiet += 1
            rec = 0.0 if self.since_end < 0 else min(self.last_run / fps / cfg.breath_recovery_ref_s, 1.0) \
                * np.exp(-self.since_end / fps / cfg.breath_recovery_tau_s)
            target = 1.0 + cfg.breath_recovery_gain * rec
        self.depth = self.a_depth * self.depth + (1 - self.a_depth) * target
        wave = 0.5 - 0.5 * np.cos(self.phase + BREATH_ASYMMETRY * np.sin(self.phase))
        # listener nods
        nod = 0.0
        if self.nod_at is None and t >= self.next_nod:
            amp = cfg.nod_deg * float(self.r_nod.uniform(*NOD_AMP_RANGE))
            if self.quiet >= NOD_QUIET_S * fps:
                self.nod_at = (t, amp)
            self.next_nod = t + float(self.r_nod.uniform(*cfg.nod_interval_s))
        if self.nod_at is not None:
            a, amp = self.nod_at
            nod = amp * float(bump(np.asarray((t - a) / cfg.nod_s))) * self.style.sway ** NOD_SWAY_EXPONENT
            if t - a >= cfg.nod_s:
                self.nod_at = None
        return float(wave * self.depth), energy, nod

    def _gesture(self, t_now: float, loudness: float) -> None:
        """Plan a gesture at ``t_now`` (an accent was just confirmed) and splice its keys in."""
        cfg, fps = self.cfg, self.fps
        n = int(GESTURE_WINDOW_S * fps)
        tl = np.arange(n) / fps
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, 0x6E57, self.n_gestures])
        self.n_gestures += 1
        apex = gesture_apex_s(cfg)
        kt, kv = gesture_keys(tl, fps, np.ones(n, bool), np.full(n, float(loudness)), np.ones(n, bool), [apex],
                              self.style, cfg, rng, self.rig)
        if len(kt) <= 1:        # no gesture drawn for this accent
            return
        now_v = keyframe_track(np.asarray([t_now]), self.key_t, self.key_v)[0]
        keep = self.key_t < t_now
        kt = kt + t_now
        first = np.flatnonzero(np.any(kv != 0, axis=1))
        start = max(0, int(first[0]) - 1) if first.size else 0
        kt, kv = kt[start + 1:], kv[start + 1:]
        self.key_t = np.concatenate([self.key_t[keep], [t_now], kt])
        self.key_v = np.concatenate([self.key_v[keep], now_v[None], kv])

    def step(self, *, speech: np.ndarray, loudness: np.ndarray, head_rad: np.ndarray, eyes_rad: np.ndarray,
             accents_at: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
        """A block of n frames: speech (n,), loudness (n,), head (n, 3), eyes (n, 2, 3), and per frame the
        strengths of the accents confirmed at it."""
        n = len(speech)
        t = (self.i + np.arange(n)) / self.fps
        breath, energy, nods = np.zeros(n), np.zeros(n), np.zeros(n)
        aa = np.empty((n, self.rig.J, 3), np.float32)
        root = np.empty((n, 3), np.float32)
        done = 0
        for k in range(n):
            if accents_at[k]:
                # frames before the gesture were (or would have been) emitted with the old keys
                self._pose(t, breath, energy, nods, head_rad, eyes_rad, done, k, aa, root)
                done = k
                self._gesture(float(t[k]), float(loudness[k]))
            breath[k], energy[k], nods[k] = self._scalars(bool(speech[k]))
            self.i += 1
        self._pose(t, breath, energy, nods, head_rad, eyes_rad, done, n, aa, root)
        return aa, root

    def _pose(self, t, breath, energy, nods, head_rad, eyes_rad, a: int, b: int, aa, root) -> None:
        """Pose frames [a, b) of the block into ``aa``/``root`` with the current gesture keys."""
        if b <= a:
            return
        sl = slice(a, b)
        x_m, pelvis = weight_shift(t[sl], energy[sl], self.style, self.cfg, copy.deepcopy(self.r_sway))
        # keys before the first frame that no longer matter are dropped (bounded memory)
        old = np.flatnonzero(self.key_t <= t[a])
        if old.size > 1:
            self.key_t, self.key_v = self.key_t[old[-1]:], self.key_v[old[-1]:]
        sig = _ClipSignals(t_s=t[sl], breath=breath[sl], x_m=x_m, pelvis=pelvis, nods=nods[sl], energy=energy[sl],
                           head=np.asarray(head_rad)[sl], eyes=np.asarray(eyes_rad)[sl], key_t=self.key_t,
                           key_v=self.key_v, noise_params=self.noise, idle=self.idle)
        aa[sl], root[sl] = _pose_block(self.rig, self.cfg, sig, slice(0, b - a), self.clamped)

def gesture_apex_s(cfg: BodyConfig) -> float:
    """Seconds from an accent's confirmation to its gesture's apex: one preparation and one stroke."""
    return cfg.prep_s + cfg.stroke_s
