"""The procedural body driven causally: the streaming counterpart of :func:`engine.animators.body.animate_body`.

The offline body makes whole-clip signals (breath phase and depth, smoothed speaking activity, weight
shift, listener nods, gesture keyframes, the speaking turn, accent nods) and then poses the clip block by
block with closed-form per-frame parts. This module keeps that block assembly (the public
:func:`engine.animators.body.pose_block` with a :class:`engine.animators.body.ClipSignals`: the same idle
pose, breath, sway, arm carriage, torso, noise, head/eye split, limits and leg IK) and replaces each
whole-clip signal by a causal one:

- speaking activity: a causal exponential of the speech mask (offline: a zero-phase one);
- breath: the same seeded rate and drift, the phase accumulated frame by frame; depth shallow while speaking
  and deeper after a long utterance, smoothed causally;
- weight shift, liveliness noise and the speaking torso sway: closed-form functions of the stream time with
  the seeded parameters;
- listener nods: seeded times, started only when the last ``NOD_QUIET_S`` were silent;
- the speaking turn (arm carriage, torso lean and sway, x ``Style.carriage``): on while speech is heard and
  for ``BodyConfig.relax_pause_s`` after it stops, then off, smoothed by a causal exponential of
  ``TURN_TAU_S``. Offline bridges exactly the pauses shorter than ``relax_pause_s`` because it knows whether
  speech resumes; a causal body holds the carriage that long into every pause and relaxes after it, so the
  arms start to relax ``relax_pause_s`` into a long pause (offline: smoothly from its start);
- accent nods: started when :class:`engine.audio.causal.CausalAccents` confirms an accent in speech (its
  decision delay after the accent; offline they peak ``NOD_ACCENT_DELAY_S`` after it), amplitude by the
  loudness at the decision and one seeded draw per accent;
- gestures: scheduled when an accent is confirmed, with the gesture library of
  :func:`engine.animators.body.gestures.gesture_keys` (shape, amplitude by loudness, McNeill's
  preparation -> stroke -> hold -> retraction, the left/right arm weights that hand the carriage over to the
  gesture); the preparation starts at the decision, so the stroke's apex lands :func:`gesture_apex_s` after it
  (offline strokes end on the accent itself: a causal body cannot prepare before it has heard the accent).
  A new gesture starts from the current pose.

The random streams are the offline body's (``SeedSequence(seed).spawn(N_STREAMS)``, same roles: breath,
sway, gestures, listener nods, noise, accent nods, torso sway, stance), so a seed means the same speaker:
same breathing rate, sway, noise, torso sway, stance (how wide and high the arms are carried) and dominant
hand. Streams drawn per event (gestures, nods) are consumed in event order, which does not depend on how
the audio was chunked.
"""
from __future__ import annotations

import copy

import numpy as np

from engine.animators.body import N_STREAMS, BodyConfig, ClipSignals, pose_block
from engine.animators.body.animator import ACTIVITY_TAU_S
from engine.animators.body.carriage import (NOD_ACCENT_S, NOD_AMP_RANGE as ACCENT_NOD_AMP_RANGE, NOD_LOUDNESS,
                                            SWAY_BAND_HZ, SWAY_CHANNELS, TURN_TAU_S, speaking_stance)
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


class _GestureDraws:
    """The gesture stream as :func:`~engine.animators.body.gestures.gesture_keys` reads it, spread over the
    gestures of a stream: offline it draws the dominant hand once (a scalar ``random()``) and then one row of
    uniforms per candidate (``random((K, U_COLUMNS))``). Here the hand is drawn once when the stream starts,
    as offline, and every planned gesture gets it back with the next rows of the same stream."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.handed_u = float(rng.random())

    def random(self, size=None):
        return self.handed_u if size is None else self.rng.random(size)


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
        # the offline body's stream roles (engine.animators.body.animator.animate_body)
        r_breath, self.r_sway, r_gest, self.r_nod, r_noise, self.r_accent_nod, r_torso, r_stance = streams
        self.gesture_draws = _GestureDraws(r_gest)
        self.torso = noise_params(r_torso, len(SWAY_CHANNELS), SWAY_BAND_HZ)
        self.stance = speaking_stance(r_stance)
        self.breath_rate_hz = r_breath.uniform(*config.breaths_per_min) / SECONDS_PER_MINUTE * self.style.breath_rate
        self.breath_drift = noise_params(r_breath, 1, BREATH_DRIFT_BAND_HZ, BREATH_DRIFT_PARTS)
        self.phase = float(r_breath.uniform(0, 2 * np.pi))
        self.noise = noise_params(r_noise, len(NOISE_CHANNELS))
        self.idle = idle_pose(self.rig, self.style, config)
        self.a_act = float(np.exp(-1.0 / (ACTIVITY_TAU_S * fps)))
        self.a_depth = float(np.exp(-1.0 / (BREATH_DEPTH_TAU_S * fps)))
        self.a_turn = float(np.exp(-1.0 / (TURN_TAU_S * fps)))
        self.turn_hold = int(round(config.relax_pause_s * fps))   # silent frames the turn outlasts speech
        self.since_speech = -1  # frames since the last speech frame (-1: no speech yet)
        self.turn = 0.0
        self.accent_nods: list[tuple[float, float]] = []          # (start s, amplitude deg) of running nods
        self.activity = 0.0
        self.depth = 1.0
        self.run = 0            # frames in the current speech run
        self.last_run = 0       # length of the last finished run
        self.since_end = -1     # frames since it ended (-1: none yet)
        self.quiet = 0          # silent frames in a row
        self.next_nod = float(self.r_nod.uniform(*config.nod_interval_s)) - 0.5 * config.nod_interval_s[0]
        self.nod_at: tuple[float, float] | None = None   # (start s, amplitude deg)
        self.key_t = np.zeros(1)
        self.key_v = np.zeros((1, self.rig.J * 3 + 2))   # degrees relative to idle, left/right arm weights
        self.n_gestures = 0
        self.i = 0
        self.clamped: set[str] = set()

    # -- per-frame scalar state -------------------------------------------------------------------
    def _scalars(self, speech: bool) -> tuple[float, float, float, float, float]:
        """(breath, energy, nod degrees, turn activity, accent nod degrees) of the next frame."""
        cfg, fps, t = self.cfg, self.fps, self.i / self.fps
        self.activity = self.a_act * self.activity + (1 - self.a_act) * float(speech)
        # the speaking turn: held through pauses up to relax_pause_s, decided from the speech so far
        self.since_speech = 0 if speech else (self.since_speech + 1 if self.since_speech >= 0 else -1)
        on = 0 <= self.since_speech <= self.turn_hold
        self.turn = self.a_turn * self.turn + (1 - self.a_turn) * float(on)
        acc_nod = 0.0
        for a, amp in self.accent_nods:
            acc_nod = max(acc_nod, amp * float(bump(np.asarray((t - a) / NOD_ACCENT_S))))
        self.accent_nods = [(a, amp) for a, amp in self.accent_nods if t - a < NOD_ACCENT_S]
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
        return (float(wave * self.depth), energy, nod, self.turn * self.style.carriage,
                acc_nod * self.style.torso)

    def _accent_nod(self, t_now: float, loudness: float, speech: bool) -> None:
        """Start a head nod at ``t_now`` (an accent was just confirmed): one draw of the accent-nod stream per
        accent, used or not (as offline); nods only in speech."""
        u = float(self.r_accent_nod.random())
        if not speech:
            return
        lo, hi = ACCENT_NOD_AMP_RANGE
        amp = self.cfg.accent_nod_deg * (lo + (hi - lo) * u) * (NOD_LOUDNESS[0] + NOD_LOUDNESS[1] * loudness)
        self.accent_nods.append((t_now, amp))

    def _gesture(self, t_now: float, loudness: float) -> None:
        """Plan a gesture at ``t_now`` (an accent was just confirmed) and splice its keys in."""
        cfg, fps = self.cfg, self.fps
        n = int(GESTURE_WINDOW_S * fps)
        tl = np.arange(n) / fps
        self.n_gestures += 1
        apex = gesture_apex_s(cfg)
        kt, kv = gesture_keys(tl, fps, np.ones(n, bool), np.full(n, float(loudness)), np.ones(n, bool), [apex],
                              self.style, cfg, self.gesture_draws, self.rig)
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
        sc = np.zeros((5, n))   # per frame: breath, energy, listener nod, turn activity, accent nod
        aa = np.empty((n, self.rig.J, 3), np.float32)
        root = np.empty((n, 3), np.float32)
        done = 0
        for k in range(n):
            if accents_at[k]:
                # frames before the gesture were (or would have been) emitted with the old keys
                self._pose(t, sc, head_rad, eyes_rad, done, k, aa, root)
                done = k
                self._gesture(float(t[k]), float(loudness[k]))
                for _ in accents_at[k]:
                    self._accent_nod(float(t[k]), float(loudness[k]), bool(speech[k]))
            sc[:, k] = self._scalars(bool(speech[k]))
            self.i += 1
        self._pose(t, sc, head_rad, eyes_rad, done, n, aa, root)
        return aa, root

    def _pose(self, t, sc, head_rad, eyes_rad, a: int, b: int, aa, root) -> None:
        """Pose frames [a, b) of the block into ``aa``/``root`` with the current gesture keys; ``sc`` (5, n):
        the per-frame scalars of :meth:`_scalars`."""
        if b <= a:
            return
        sl = slice(a, b)
        breath, energy, nods, turn, acc_nod = sc[:, sl]
        x_m, pelvis = weight_shift(t[sl], energy, self.style, self.cfg, copy.deepcopy(self.r_sway))
        # keys before the first frame that no longer matter are dropped (bounded memory)
        old = np.flatnonzero(self.key_t <= t[a])
        if old.size > 1:
            self.key_t, self.key_v = self.key_t[old[-1]:], self.key_v[old[-1]:]
        sig = ClipSignals(t_s=t[sl], breath=breath, x_m=x_m, pelvis=pelvis, nods=nods, energy=energy,
                          head=np.asarray(head_rad)[sl], eyes=np.asarray(eyes_rad)[sl], key_t=self.key_t,
                          key_v=self.key_v, noise_params=self.noise, idle=self.idle, turn=turn,
                          accent_nods=acc_nod, style=self.style, torso_params=self.torso, stance=self.stance)
        aa[sl], root[sl] = pose_block(self.rig, self.cfg, sig, slice(0, b - a), self.clamped)


def gesture_apex_s(cfg: BodyConfig) -> float:
    """Seconds from an accent's confirmation to its gesture's apex: one preparation and one stroke."""
    return cfg.prep_s + cfg.stroke_s
