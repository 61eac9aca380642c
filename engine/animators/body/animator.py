"""Procedural body motion for a talking character on the canonical SMPL-X skeleton.

Turns prosody (per-frame loudness and voice activity), the face's head/eye rotations and its accent
times into local joint rotations and a root translation, without any training data:

* **Idle pose.** The rig rests in a T-pose; the idle pose lowers the arms ~78 degrees into a relaxed
  down pose by the sides with softly bent elbows and knees, plus an emotion-dependent posture (sadness slumps,
  fear closes the arms and raises the shoulders, joy/surprise open the chest).
* **Breathing.** A quasi-periodic 12-18 breaths/min oscillator lifts the chest (spine2/spine3
  extension) and the shoulders (collars), with the neck compensating so the gaze stays level. Breaths
  are shallower while speaking and deeper for a while after a long utterance (recovery breaths),
  as in speech breathing (Hixon et al. 1973; Winkworth et al. 1995).
* **Weight shift.** A slow pelvis sway (lateral shift, pelvic roll/yaw) with counter-rotation up the
  spine keeps the torso upright. The feet stay planted: the hip/knee/ankle rotations come from an
  analytic two-bone IK on the canonical leg offsets, so the ankles keep their rest world positions
  and the feet their rest world orientation, and the pelvis is lowered smoothly wherever a leg would
  otherwise have to over-extend.
* **Beat gestures.** Strokes are timed to the face's ``accent_times_s`` (stressed syllables) and to
  loudness peaks, with McNeill's preparation -> stroke -> hold -> retraction phases (McNeill 1992;
  Kendon 2004), the stroke's end (apex) on the accent. Consecutive gestures co-articulate (the
  retraction is skipped when the next preparation would start before it ends). Every phase is a
  minimum-jerk segment (Flash & Hogan 1985); the preparation is slower than the stroke. A small library of
  shapes (one-hand beat, two-hand beat, open palms, point, sweep, shrug), placed in the gesture space in
  front of the torso between waist and chest with the elbows low and the forearm doing the stroke, is
  drawn per gesture from a seeded generator; amplitude (emotion x loudness) enlarges mostly the stroke,
  only partly the pose, so hands reach chest height only on strong accents; emotion scales
  amplitude, speed and rate (anger/joy bigger and faster, sadness smaller and slower, fear closed);
  cf. the rule-based systems BEAT (Cassell et al. 2001) and the prosody/gesture timing in
  Levine et al. 2009.
* **Listening.** Where ``prosody.speech`` is False, gestures are suppressed, the idle is calmer, and
  occasional small nods are added to the neck.
* **Head and eyes.** The face's ``head_angles_rad`` (XYZ Euler: pitch, yaw, roll) is shared between
  ``neck`` and ``head`` (``neck_share``, default 40/60); ``eye_angles_rad`` goes onto ``left_eye`` /
  ``right_eye``. The ``jaw`` joint stays at rest: the face drives the jaw through the ``jawOpen``
  blendshape, so a jaw rotation here would open the mouth twice.

Every joint is composed as XYZ Euler (the rig's limit convention), clamped to
:func:`rigs.core.skeleton.joint_limits_rad` and converted to axis-angle (the clip format). All work is
vectorised numpy over frames; the only Python loops run over gestures, joints and blocks of frames.

Memory stays flat for long clips (an hour at 30 fps is 108000 frames): only per-frame scalars (breath,
sway, activity, nods) and the gesture keyframes are made for the whole clip, because the breath phase and
the smoothing need it; every (frames, joints, ...) quantity (Euler pose, gesture interpolation, noise,
leg IK, axis-angle conversion) is computed ``BodyConfig.block_frames`` frames at a time into the
preallocated float32 result. Those parts are closed-form per frame given the global signals, so the
result is identical whatever the block size.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from types import MappingProxyType

import numpy as np

from rigs.core.emotions import blend_weights
from rigs.core.errors import ConfigError
from rigs.core.rotations import (axis_angle_to_matrix, euler_to_matrix, matrix_to_axis_angle, matrix_to_euler,
                            quaternion_to_axis_angle)
from rigs.core.skeleton import canonical_skeleton, joint_limits_rad

log = logging.getLogger(__name__)

__all__ = ["BodyConfig", "animate_body", "GESTURE_SHAPES"]


@dataclass(frozen=True)
class BodyConfig:
    """Tuning of the procedural body. Angles in degrees, times in seconds, lengths in metres."""

    # idle pose
    arm_down_deg: float = 78.0          # shoulder rotation from the T-pose down to the sides
    arm_forward_deg: float = 5.0        # slight forward flexion of the hanging arms
    elbow_bend_deg: float = 14.0
    knee_soft_m: float = 0.006          # pelvis drop that softens the knees
    # breathing
    breaths_per_min: tuple[float, float] = (13.0, 17.0)  # seeded range of the base rate
    breath_chest_deg: float = 1.8
    breath_shoulder_deg: float = 1.5
    breath_speech_depth: float = 0.7    # depth factor while speaking
    breath_recovery_gain: float = 0.9   # extra depth after a long utterance ...
    breath_recovery_ref_s: float = 8.0  # ... of this length (saturates) ...
    breath_recovery_tau_s: float = 6.0  # ... decaying with this time constant
    # weight shift
    sway_m: float = 0.018               # lateral pelvis shift amplitude
    sway_period_s: tuple[float, float] = (7.0, 12.0)
    sway_roll_deg: float = 2.5          # pelvic roll at full shift
    sway_yaw_deg: float = 1.5
    listening_sway: float = 0.7         # idle amplitude factor while silent
    # gestures
    accent_prob: float = 0.85           # probability that an accent gets a gesture
    peak_prob: float = 0.35             # ... that a loudness peak (away from accents) does
    listening_gesture_prob: float = 0.05
    peak_min_loudness: float = 0.45
    peak_min_gap_s: float = 0.35
    prep_s: float = 0.42                # preparation: slower than the stroke
    min_prep_s: float = 0.2
    stroke_s: float = 0.16              # the stroke is the fast phase and ends on the accent
    min_stroke_s: float = 0.1
    hold_s: float = 0.1
    retract_s: float = 0.7
    gesture_amp: float = 1.0
    unit_gap_s: float = 1.6             # strokes closer than this stay in one gesture unit ...
    unit_pause_s: float = 0.4           # ... unless the speech pauses this long between them
    repeat_prob: float = 0.6            # chance a stroke in a unit repeats the previous shape
    prep_to_stroke: float = 2.5         # preparation at least this many times longer than the stroke
    prep_speed_ratio: float = 0.6      # preparation peak speed at most this share of the stroke's
    partial_retract: float = 0.85       # fraction of the stroke pose kept between strokes of a unit
    max_gesture_amp: float = 1.5        # cap of emotion x loudness x random amplitude scaling
    space_gain: float = 0.35            # share of the amplitude applied to the pose (the rest: stroke only)
    max_speed_deg_s: float = 480.0      # peak joint speed of any gesture phase (sets minimum durations)
    # head and listening
    neck_share: float = 0.4             # share of the face's head rotation put on the neck
    nod_interval_s: tuple[float, float] = (2.5, 6.0)
    nod_deg: float = 4.0
    nod_s: float = 0.7
    # liveliness noise
    noise_deg: float = 0.8
    # memory: frames per block of the per-frame pose computation (the result does not depend on it)
    block_frames: int = 2048

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            vals = v if isinstance(v, tuple) else (v,)
            if any(not np.isfinite(x) or x < 0 for x in vals):
                raise ConfigError(f"BodyConfig.{f.name} must be finite and >= 0, got {v!r}")
        for name in ("breaths_per_min", "sway_period_s", "nod_interval_s"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ConfigError(f"BodyConfig.{name} must be an increasing positive range, got {(lo, hi)}")
        if not 0.0 <= self.neck_share <= 1.0:
            raise ConfigError(f"BodyConfig.neck_share must be in [0, 1], got {self.neck_share}")
        if isinstance(self.block_frames, bool) or not float(self.block_frames).is_integer() \
                or self.block_frames < 1:
            raise ConfigError(f"BodyConfig.block_frames must be an integer >= 1, got {self.block_frames!r}")


# --------------------------------------------------------------------------------------------
# emotion styles


@dataclass(frozen=True)
class _Style:
    amp: float = 1.0            # gesture amplitude
    speed: float = 1.0          # gesture speed (time compression)
    rate: float = 1.0           # gesture probability factor
    sway: float = 1.0           # idle energy
    spine_flex_deg: float = 0.0  # + slumps forward, - opens the chest
    neck_flex_deg: float = 0.0
    collar_raise_deg: float = 0.0
    collar_forward_deg: float = 0.0  # rounded shoulders
    arm_close_deg: float = 0.0  # + adducts the arms and turns the forearms inwards
    elbow_extra_deg: float = 0.0
    breath_rate: float = 1.0
    # weights of GESTURE_SHAPES, same order
    weights: tuple[float, ...] = (0.3, 0.15, 0.2, 0.12, 0.13, 0.1)


GESTURE_SHAPES = ("beat", "beat_both", "open_palms", "point", "sweep", "shrug")

_STYLES = MappingProxyType({
    "neutral": _Style(),
    "joy": _Style(amp=1.15, speed=1.2, rate=1.2, sway=1.15, spine_flex_deg=-2.0, neck_flex_deg=-2.0,
                  arm_close_deg=-3.0, breath_rate=1.1, weights=(0.2, 0.15, 0.35, 0.05, 0.15, 0.1)),
    "sadness": _Style(amp=0.5, speed=0.7, rate=0.5, sway=0.6, spine_flex_deg=9.0, neck_flex_deg=9.0,
                      collar_raise_deg=-2.0, collar_forward_deg=6.0, arm_close_deg=2.0, elbow_extra_deg=4.0,
                      breath_rate=0.85, weights=(0.45, 0.2, 0.15, 0.0, 0.05, 0.15)),
    "anger": _Style(amp=1.5, speed=1.45, rate=1.3, sway=0.9, spine_flex_deg=3.0, neck_flex_deg=2.0,
                    collar_raise_deg=3.0, elbow_extra_deg=8.0, breath_rate=1.25,
                    weights=(0.35, 0.2, 0.0, 0.25, 0.2, 0.0)),
    "surprise": _Style(amp=1.3, speed=1.3, rate=1.0, sway=1.0, spine_flex_deg=-3.0, neck_flex_deg=-3.0,
                       collar_raise_deg=4.0, breath_rate=1.2, weights=(0.15, 0.1, 0.35, 0.05, 0.1, 0.25)),
    "fear": _Style(amp=0.7, speed=1.25, rate=0.7, sway=0.7, spine_flex_deg=5.0, neck_flex_deg=4.0,
                   collar_raise_deg=6.0, collar_forward_deg=4.0, arm_close_deg=8.0, elbow_extra_deg=22.0,
                   breath_rate=1.3, weights=(0.4, 0.3, 0.05, 0.0, 0.0, 0.25)),
    "disgust": _Style(amp=0.8, speed=1.0, rate=0.8, sway=0.9, spine_flex_deg=-2.0, neck_flex_deg=-3.0,
                      collar_raise_deg=2.0, arm_close_deg=3.0, breath_rate=1.0,
                      weights=(0.25, 0.1, 0.05, 0.05, 0.35, 0.2)),
})


def _blend_style(emotion) -> _Style:
    """Mix the emotion styles with the one blending rule (:func:`rigs.core.emotions.blend_weights`)."""
    items = blend_weights(emotion)
    base = _STYLES["neutral"]
    out = {}
    for f in fields(_Style):
        b = np.asarray(getattr(base, f.name), dtype=np.float64)
        v = b + sum(w * (np.asarray(getattr(_STYLES[n], f.name)) - b) for n, w in items.items())
        out[f.name] = tuple(float(x) for x in v) if f.name == "weights" else float(v)
    return _Style(**out)


# --------------------------------------------------------------------------------------------
# small signal helpers


def _min_jerk(tau: np.ndarray) -> np.ndarray:
    """Minimum-jerk blend 10t^3 - 15t^4 + 6t^5 on [0, 1] (Flash & Hogan 1985)."""
    tau = np.clip(tau, 0.0, 1.0)
    return tau * tau * tau * (10.0 + tau * (-15.0 + 6.0 * tau))


def _keyframe_track(t_s: np.ndarray, key_t: np.ndarray, key_v: np.ndarray) -> np.ndarray:
    """Piecewise minimum-jerk interpolation of keys (K,), values (K, D) at times (T,) -> (T, D)."""
    i = np.clip(np.searchsorted(key_t, t_s, side="right") - 1, 0, len(key_t) - 1)
    j = np.minimum(i + 1, len(key_t) - 1)
    span = key_t[j] - key_t[i]
    tau = np.where(span > 0, (t_s - key_t[i]) / np.where(span > 0, span, 1.0), 1.0)
    s = _min_jerk(tau)[:, None]
    return key_v[i] + (key_v[j] - key_v[i]) * s


def _smooth(x: np.ndarray, fps: float, tau_s: float) -> np.ndarray:
    """Zero-phase smoothing: exponential kernel convolution (T,) -> (T,)."""
    n = max(1, int(round(3 * tau_s * fps)))
    k = np.exp(-np.abs(np.arange(-n, n + 1)) / max(tau_s * fps, 1e-6))
    k /= k.sum()
    pad = np.pad(x, n, mode="edge")
    return np.convolve(pad, k, mode="valid")


def _noise_params(rng: np.random.Generator, channels: int, freq_hz: tuple[float, float] = (0.05, 0.35),
                  parts: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequencies, phases and weights, each (channels, parts), of a :func:`_smooth_noise` signal."""
    f = rng.uniform(*freq_hz, size=(channels, parts))
    ph = rng.uniform(0, 2 * np.pi, size=(channels, parts))
    a = rng.uniform(0.5, 1.0, size=(channels, parts))
    a /= a.sum(axis=1, keepdims=True)
    return f, ph, a


def _smooth_noise(t_s: np.ndarray, params: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """(T, channels) smooth zero-mean noise of about unit amplitude: sums of random sinusoids.

    A closed-form function of time, so any block of frames can be evaluated on its own."""
    f, ph, a = params
    return np.einsum("tcp,cp->tc", np.sin(2 * np.pi * t_s[:, None, None] * f + ph), a)


def _euler_xyz_to_axis_angle(e: np.ndarray) -> np.ndarray:
    """(..., 3) intrinsic XYZ Euler radians -> (..., 3) axis-angle via q = qx qy qz (no matrices)."""
    h = 0.5 * e
    c, s = np.cos(h), np.sin(h)
    w0, x0, y0, z0 = c[..., 0] * c[..., 1], s[..., 0] * c[..., 1], c[..., 0] * s[..., 1], s[..., 0] * s[..., 1]
    cc, sc = c[..., 2], s[..., 2]
    q = np.stack([w0 * cc - z0 * sc, x0 * cc + y0 * sc, y0 * cc - x0 * sc, z0 * cc + w0 * sc], axis=-1)
    return quaternion_to_axis_angle(q)


def _bump(tau: np.ndarray) -> np.ndarray:
    """C2 bump 64 t^3 (1-t)^3 on [0, 1], peak 1 at 0.5, zero outside."""
    tau = np.clip(tau, 0.0, 1.0)
    return 64.0 * tau ** 3 * (1.0 - tau) ** 3


# --------------------------------------------------------------------------------------------
# inputs


def _track(prosody, name: str, T: int, dtype, default) -> np.ndarray:
    if prosody is None or getattr(prosody, name, None) is None:
        return np.full(T, default, dtype=dtype)
    x = np.asarray(getattr(prosody, name)).reshape(-1).astype(dtype)
    if x.shape[0] == T:
        return x
    if abs(x.shape[0] - T) <= 2 and x.shape[0] > 0:  # rounding at the clip edges
        log.debug("prosody.%s has %d frames for %d; padding/trimming", name, x.shape[0], T)
        return np.pad(x, (0, max(0, T - x.shape[0])), mode="edge")[:T]
    raise ConfigError(f"prosody.{name} has {x.shape[0]} frames but the clip has {T}")


# --------------------------------------------------------------------------------------------
# skeleton bookkeeping


class _Rig:
    """Joint indices and leg geometry of the canonical skeleton (built per call; cheap)."""

    def __init__(self):
        sk = canonical_skeleton()
        self.sk = sk
        self.J = sk.num_joints
        self.i = {n: k for k, n in enumerate(sk.names)}
        lim = joint_limits_rad()
        self.lo = np.stack([lim[n][:, 0] for n in sk.names])  # (J, 3)
        self.hi = np.stack([lim[n][:, 1] for n in sk.names])
        self.rest = sk.rest_positions_m()


def _arm(pose: np.ndarray, rig: _Rig, side: str, **parts) -> None:
    """Add left-side Euler degrees to ``pose`` (..., J, 3) for ``side``; mirrored (x, -y, -z) on the right."""
    sign = np.array([1.0, 1.0, 1.0]) if side == "left" else np.array([1.0, -1.0, -1.0])
    for part, v in parts.items():
        pose[..., rig.i[f"{side}_{part}"], :] += sign * np.asarray(v, dtype=np.float64)


def _gesture_poses(shape: str, side: str, rig: _Rig) -> tuple[np.ndarray, np.ndarray]:
    """Preparation-end pose P and stroke-apex pose S of a gesture, (J, 3) degrees relative to idle.

    The shapes were solved (offline, by least squares on :mod:`rigs.core.skeleton` forward kinematics) for
    wrist and elbow targets in the conversational gesture space (McNeill 1992): hands in front of the
    torso between the waist (~1.05 m) and the lower chest (~1.2 m), 0.2-0.4 m ahead of the spine,
    elbows near the sides below the shoulders (1.38 m). The stroke is mostly elbow flexion (the
    forearm moves, the upper arm stays); shoulder flexion is 10-20 degrees except in the point.
    Shoulder Euler: X flexion (negative forward), Y humeral rotation (negative brings the forearm
    across the body), Z abduction (negative lowers); elbow Y flexion (negative); wrist X pronation
    (negative turns the palm up). Targets at amplitude 1, left arm (x = lateral, y = up, z = forward):

    ========== ===================== ======================
    shape      preparation wrist (m)  apex wrist (m)
    ========== ===================== ======================
    beat       (0.17, 1.13, 0.28)     (0.18, 1.01, 0.26): a ~12 cm down flick of the forearm
    beat_both  (0.19, 1.10, 0.27)     (0.20, 1.00, 0.25)
    open_palms (0.14, 1.08, 0.28)     (0.27, 1.10, 0.28), palms turned up and forward
    point      (0.16, 1.15, 0.25)     (0.20, 1.20, 0.41), the arm extends forward (upper arm too)
    sweep      (0.08, 1.12, 0.29)     (0.30, 1.10, 0.26), from the midline outwards
    shrug      (0.21, 1.03, 0.22)     (0.27, 1.06, 0.22), shoulders up ~3 cm, forearms turned out
    ========== ===================== ======================
    """
    P = np.zeros((rig.J, 3))
    S = np.zeros((rig.J, 3))
    sides = ("left", "right") if side == "both" else (side,)
    for sd in sides:
        if shape == "beat":        # forearm lifted a little, flicks down on the accent
            _arm(P, rig, sd, shoulder=(-14, -13, -7), elbow=(0, -58, 0), wrist=(-10, 0, 4))
            _arm(S, rig, sd, shoulder=(-16, -15, -8), elbow=(0, -28, 0), wrist=(-15, 0, -6))
        elif shape == "beat_both":
            _arm(P, rig, sd, shoulder=(-11, -13, -5), elbow=(0, -54, 0), wrist=(-10, 0, 4))
            _arm(S, rig, sd, shoulder=(-14, -14, -6), elbow=(0, -26, 0), wrist=(-15, 0, -6))
        elif shape == "open_palms":  # hands in front, then open outwards, palms up
            _arm(P, rig, sd, shoulder=(-16, -21, -9), elbow=(0, -43, 0), wrist=(-25, 0, 0))
            _arm(S, rig, sd, shoulder=(-15, 1, -1), elbow=(0, -47, 0), wrist=(-65, 0, 0))
        elif shape == "point":     # forearm up, then the arm extends forward
            _arm(P, rig, sd, shoulder=(-8, -15, -6), elbow=(0, -67, 0))
            _arm(S, rig, sd, shoulder=(-48, -17, -6), elbow=(0, -20, 0), wrist=(0, 0, -6))
        elif shape == "sweep":     # hand near the midline, sweeps outwards
            _arm(P, rig, sd, shoulder=(-22, -30, -14), elbow=(0, -46, 0), wrist=(-10, 0, -6))
            _arm(S, rig, sd, shoulder=(-13, 6, 2), elbow=(0, -49, 0), wrist=(-35, 0, 6))
        elif shape == "shrug":     # collars up (the arm compensated so it keeps hanging), forearms out
            _arm(P, rig, sd, collar=(0, 0, 4), shoulder=(-3, -10, -8), elbow=(0, -44, 0), wrist=(-20, 0, 0))
            _arm(S, rig, sd, collar=(0, 0, 12), shoulder=(-5, 7, -15), elbow=(0, -50, 0), wrist=(-50, 0, 0))
        else:  # pragma: no cover - guarded by GESTURE_SHAPES
            raise ConfigError(f"unknown gesture shape {shape!r}")
    # torso accompaniment
    if shape in ("beat", "beat_both", "point"):
        S[rig.i["spine3"]] += (1.5, 0, 0)
        S[rig.i["neck"]] += (2.0, 0, 0)
    elif shape in ("open_palms", "shrug"):
        S[rig.i["spine3"]] += (-1.5, 0, 0)
        if shape == "shrug":
            S[rig.i["neck"]] += (0, 0, 4.0 if side != "right" else -4.0)
    elif shape == "sweep":
        yaw = 4.0 if side == "left" else -4.0
        S[rig.i["spine3"]] += (0, yaw, 0)
    return P, S


# --------------------------------------------------------------------------------------------
# components


def _idle_pose(rig: _Rig, style: _Style, cfg: BodyConfig) -> np.ndarray:
    """(J, 3) degrees: arms down from the T-pose, posture of the emotion."""
    E = np.zeros((rig.J, 3))
    for sd in ("left", "right"):
        _arm(E, rig, sd,
             collar=(0, -style.collar_forward_deg, style.collar_raise_deg),
             shoulder=(-cfg.arm_forward_deg, -1.5 * style.arm_close_deg,
                       -cfg.arm_down_deg - style.collar_raise_deg - style.arm_close_deg),
             elbow=(0, -(cfg.elbow_bend_deg + style.elbow_extra_deg), 0))
    for n, share in (("spine1", 0.3), ("spine2", 0.35), ("spine3", 0.35)):
        E[rig.i[n], 0] += share * style.spine_flex_deg
    E[rig.i["neck"], 0] += style.neck_flex_deg - 0.5 * style.spine_flex_deg
    return E


def _breathing(t_s, fps, speech, style, cfg, rng) -> np.ndarray:
    """(T,) breath signal: 0 at full exhalation, ~depth at full inhalation."""
    rate_hz = rng.uniform(*cfg.breaths_per_min) / 60.0 * style.breath_rate
    drift = 1.0 + 0.06 * _smooth_noise(t_s, _noise_params(rng, 1, (0.01, 0.04), 2))[:, 0]
    phase = 2 * np.pi * rate_hz * np.cumsum(drift) / fps + rng.uniform(0, 2 * np.pi)
    wave = 0.5 - 0.5 * np.cos(phase + 0.3 * np.sin(phase))  # quicker inhale, longer exhale
    # depth: shallow while speaking, recovery breaths after long utterances
    T = len(t_s)
    idx = np.arange(T)
    sp = speech.astype(bool)
    starts = np.where(sp & ~np.concatenate([[False], sp[:-1]]), idx, -1)
    run_start = np.maximum.accumulate(starts)                      # start of the current/last run
    run_len = np.where(sp & (run_start >= 0), idx - run_start + 1, 0)
    # length of the most recent finished run and the time since it ended, for silent frames
    ends = sp & ~np.concatenate([sp[1:], [False]])
    end_len = np.where(ends, run_len, 0)
    end_idx = np.where(ends, idx, -1)
    last_end = np.maximum.accumulate(end_idx)
    last_len = np.where(last_end >= 0, end_len[np.maximum(last_end, 0)], 0)
    since_s = (idx - last_end) / fps
    recovery = np.where(~sp & (last_end >= 0),
                        np.minimum(last_len / fps / cfg.breath_recovery_ref_s, 1.0)
                        * np.exp(-since_s / cfg.breath_recovery_tau_s), 0.0)
    depth = np.where(sp, cfg.breath_speech_depth, 1.0) + cfg.breath_recovery_gain * recovery
    depth = _smooth(depth, fps, 0.8)
    return wave * depth


def _weight_shift(t_s, activity, style, cfg, rng):
    """Pelvis lateral shift (T,) in metres, pelvis Euler (T, 3) degrees and a sway phase."""
    period = rng.uniform(*cfg.sway_period_s)
    f0 = 1.0 / period
    ph0, ph1, ph2 = rng.uniform(0, 2 * np.pi, 3)
    s = 0.8 * np.sin(2 * np.pi * f0 * t_s + ph0) + 0.2 * np.sin(2 * np.pi * 2.37 * f0 * t_s + ph1)
    energy = style.sway * (cfg.listening_sway + (1.0 - cfg.listening_sway) * activity)
    x_m = cfg.sway_m * energy * s
    unit = x_m / max(cfg.sway_m, 1e-9)
    pelvis = np.zeros((len(t_s), 3))
    pelvis[:, 2] = cfg.sway_roll_deg * unit  # weight on the left (+X): the right hip drops
    pelvis[:, 1] = cfg.sway_yaw_deg * style.sway * np.sin(2 * np.pi * 0.61 * f0 * t_s + ph2)
    return x_m, pelvis


def _peaks(x: np.ndarray, *, height: float, prominence: float, min_gap: int) -> np.ndarray:
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


def _gesture_candidates(t_s, fps, speech, loud, voiced, accents, cfg):
    """Sorted (time_s, is_accent) candidates: accents plus loudness peaks away from accents."""
    dur = t_s[-1] + 1.0 / fps
    acc = np.sort(np.asarray([a for a in accents if 0.0 <= a < dur], dtype=np.float64))
    env = _smooth(loud * (speech | voiced), fps, 0.05)
    peaks = _peaks(env, height=cfg.peak_min_loudness, prominence=0.12,
                   min_gap=max(1, int(round(cfg.peak_min_gap_s * fps))))
    pk = t_s[peaks]
    if len(acc) and len(pk):  # distance to the nearest accent (sorted): no (peaks, accents) matrix
        k = np.searchsorted(acc, pk)
        near = np.minimum(np.abs(pk - acc[np.maximum(k - 1, 0)]), np.abs(pk - acc[np.minimum(k, len(acc) - 1)]))
        pk = pk[near > 0.3]
    times = np.concatenate([acc, pk])
    is_acc = np.concatenate([np.ones(len(acc), bool), np.zeros(len(pk), bool)])
    order = np.argsort(times, kind="stable")
    return times[order], is_acc[order]


def _gesture_keys(t_s, fps, speech, loud, voiced, accents, style, cfg, rng, rig):
    """Keyframes of the gesture offsets: times (K,) seconds and values (K, J*3) degrees relative to
    idle, to be interpolated by :func:`_keyframe_track` (piecewise minimum jerk) block by block.

    Strokes close together form a gesture unit (Kendon 2004): between them the hands only partly
    retract and stay in gesture space; after the last stroke of a unit (a long gap or a pause in the
    speech) they retract fully to the idle pose.
    """
    T = len(t_s)
    times, is_acc = _gesture_candidates(t_s, fps, speech, loud, voiced, accents, cfg)
    handed = "right" if rng.random() < 0.75 else "left"
    weights = np.asarray(style.weights, dtype=np.float64)
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(weights), 1 / len(weights))
    quiet = np.concatenate([[0], np.cumsum(~speech.astype(bool))])  # silent frames before frame i
    zero = np.zeros(rig.J * 3)
    key_t: list[float] = [0.0]
    key_v: list[np.ndarray] = [zero]
    prev = None  # (hold end s, retraction s, stroke-apex pose, shape, side)
    u = rng.random((len(times), 8))  # fixed layout: choices stay stable per seed
    for k, (apex, acc) in enumerate(zip(times, is_acc)):
        fr = min(T - 1, int(round(apex * fps)))
        p = (cfg.accent_prob if acc else cfg.peak_prob) * style.rate
        p *= 1.0 if speech[fr] else cfg.listening_gesture_prob
        if u[k, 0] >= p:
            continue
        speed = style.speed * (0.9 + 0.2 * u[k, 1])
        hold = cfg.hold_s * (0.5 + u[k, 2])
        retract = cfg.retract_s / speed * (0.85 + 0.3 * u[k, 3])
        if prev is not None and u[k, 7] < cfg.repeat_prob and apex - prev[0] < cfg.unit_gap_s + 0.5:
            shape, side = prev[3], prev[4]  # strokes of a unit tend to repeat (beats in a row)
        else:
            shape = GESTURE_SHAPES[int(np.searchsorted(np.cumsum(weights), u[k, 4] * 0.999999, side="right"))]
            if shape in ("beat_both", "open_palms", "shrug"):
                side = "both"
            else:
                side = handed if u[k, 5] < 0.7 else ("left" if handed == "right" else "right")
        amp = min(cfg.max_gesture_amp,
                  style.amp * (0.7 + 0.6 * float(loud[fr])) * (0.85 + 0.3 * u[k, 6])) * cfg.gesture_amp
        P, S = _gesture_poses(shape, side, rig)
        # amplitude scales the stroke fully but the hands' place in gesture space only partly, so
        # bigger gestures are bigger strokes, not hands raised towards the head
        g = 1.0 + cfg.space_gain * (amp - 1.0)
        P, S = g * P.ravel(), g * P.ravel() + amp * (S - P).ravel()
        # a minimum-jerk move of D degrees over d seconds peaks at 1.875 D / d: keep under max speed
        stroke = max(cfg.min_stroke_s, cfg.stroke_s / speed, _min_duration(S - P, cfg))
        retract = max(retract, _min_duration(S, cfg))
        # the stroke is the fastest phase (McNeill 1992): the preparation's peak speed stays below it
        ratio = _total_deg(P) / max(_total_deg(S - P), 1e-6)
        prep = max(cfg.prep_s / speed, cfg.prep_to_stroke * stroke, ratio * stroke / cfg.prep_speed_ratio)
        stroke_start = apex - stroke
        if prev is None:
            unit, earliest, origin = False, 0.0, zero
        else:
            free_at, prev_retract, prev_S = prev[:3]
            f0, f1 = int(free_at * fps), max(int(free_at * fps), min(T, int(stroke_start * fps)))
            pause = quiet[f1] - quiet[f0] > cfg.unit_pause_s * fps
            full = free_at + prev_retract + max(prep, _min_duration(P, cfg))
            unit = not pause and (stroke_start - free_at < cfg.unit_gap_s or full > stroke_start)
            earliest, origin = (free_at, prev_S) if unit else (free_at + prev_retract, zero)
        room = stroke_start - earliest              # time available for the preparation
        need = max(cfg.min_prep_s, _min_duration(P - origin, cfg))
        if room < need:                             # too little time: a smaller gesture may fit
            shrink = room / need
            if shrink < 0.5 or room < cfg.min_prep_s:
                continue
            P, S = origin + shrink * (P - origin), origin + shrink * (S - origin)
            need = room
        if prev is not None and not unit:
            key_t.append(earliest)                  # the previous gesture has retracted fully
            key_v.append(zero)
        elif prev is not None:
            R = cfg.partial_retract * prev[2]       # relax within gesture space, then prepare
            r_dur = max(0.6 * prev[1], _min_duration(prev[2] - R, cfg))
            p_dur = max(prep, _min_duration(P - R, cfg))
            if r_dur + p_dur <= room:
                key_t += [earliest + r_dur, stroke_start - p_dur]
                key_v += [R, R]
        if prev is None or not unit:
            prep = min(max(prep, need), room)
            key_t.append(stroke_start - prep)
            key_v.append(origin)
        key_t += [stroke_start, apex, apex + hold]
        key_v += [P, S, S]
        prev = (apex + hold, retract, S, shape, side)
    if prev is not None:
        key_t.append(prev[0] + prev[1])
        key_v.append(zero)
    kt = np.maximum.accumulate(np.asarray(key_t))  # guard against float rounding
    return kt, np.stack(key_v)


def _peak_deg(delta_deg: np.ndarray) -> float:
    """Largest per-joint rotation (degrees, Euler-norm) in ``delta_deg`` (J*3,)."""
    return float(np.linalg.norm(delta_deg.reshape(-1, 3), axis=1).max())


def _total_deg(delta_deg: np.ndarray) -> float:
    """Sum over joints of the per-joint rotation (degrees, Euler-norm) in ``delta_deg`` (J*3,)."""
    return float(np.linalg.norm(delta_deg.reshape(-1, 3), axis=1).sum())


def _min_duration(delta_deg: np.ndarray, cfg: BodyConfig) -> float:
    """Shortest minimum-jerk duration moving every joint by ``delta_deg`` (J*3,) under the speed cap."""
    return 1.875 * _peak_deg(delta_deg) / max(cfg.max_speed_deg_s, 1e-6)


def _nods(t_s, fps, speech, cfg, rng) -> np.ndarray:
    """(T,) neck pitch degrees: occasional small listener nods in silences longer than ~2 s."""
    T = len(t_s)
    out = np.zeros(T)
    quiet = _smooth((~speech.astype(bool)).astype(np.float64), fps, 0.3) > 0.99
    dur = t_s[-1] + 1.0 / fps
    n_max = int(dur / cfg.nod_interval_s[0]) + 2
    gaps = rng.uniform(*cfg.nod_interval_s, size=n_max)
    amps = cfg.nod_deg * rng.uniform(0.5, 1.0, size=n_max)
    at = np.cumsum(gaps) - 0.5 * cfg.nod_interval_s[0]
    for a, amp in zip(at, amps):
        if a + cfg.nod_s > dur:
            break
        i0, i1 = int(a * fps), min(T - 1, int((a + cfg.nod_s) * fps))
        if not quiet[i0:i1 + 1].all():
            continue
        sl = slice(i0, i1 + 1)
        out[sl] += amp * _bump((t_s[sl] - a) / cfg.nod_s)
    return out


def _leg_ik(rig: _Rig, R_pelvis: np.ndarray, pelvis_pos: np.ndarray):
    """Analytic two-bone IK keeping each ankle at its rest world position and each foot level.

    R_pelvis: (T, 3, 3) pelvis world rotation; pelvis_pos: (T, 3) pelvis world position.
    Returns {joint: (T, 3, 3) local rotation} for hips, knees and ankles.
    """
    off = rig.sk.offsets_m
    out = {}
    for sd in ("left", "right"):
        ih, ik, ia = rig.i[f"{sd}_hip"], rig.i[f"{sd}_knee"], rig.i[f"{sd}_ankle"]
        a, b = off[ik], off[ia]                      # thigh and shin offsets (rest frames = world)
        target = rig.rest[ia]                        # ankle stays where it is at rest
        hip = pelvis_pos + R_pelvis @ off[ih]        # (T, 3)
        w = target - hip                             # hip -> ankle, world
        d = np.linalg.norm(w, axis=-1)
        # knee flexion about X: |a + Rx(th) b| = d  ->  cos(th + ang(q) - ang(p)) = C
        p_ang = np.arctan2(a[2], a[1])
        q_ang = np.arctan2(b[2], b[1])
        pn, qn = np.hypot(a[1], a[2]), np.hypot(b[1], b[2])
        C = (d * d - a @ a - b @ b - 2 * a[0] * b[0]) / (2 * pn * qn)
        th = np.arccos(np.clip(C, -1.0, 1.0)) + p_ang - q_ang   # the flexing branch (rest: th = 0)
        th = np.where(th > np.pi, th - 2 * np.pi, th)
        c, s = np.cos(th), np.sin(th)
        Rk = np.zeros((len(th), 3, 3))
        Rk[:, 0, 0] = 1.0
        Rk[:, 1, 1], Rk[:, 1, 2], Rk[:, 2, 1], Rk[:, 2, 2] = c, -s, s, c
        v = a + Rk @ b                               # hip -> ankle in the hip's rest frame
        # world hip rotation: the minimal rotation taking v onto w (keeps the knee facing forward)
        axis = np.cross(v, w)
        sin_ = np.linalg.norm(axis, axis=-1)
        cos_ = np.einsum("ti,ti->t", v, w)
        ang = np.arctan2(sin_, cos_)
        aa = axis * (ang / np.where(sin_ > 1e-12, sin_, 1.0))[:, None]
        R_hip_w = axis_angle_to_matrix(aa)
        R_knee_w = R_hip_w @ Rk
        out[f"{sd}_hip"] = np.swapaxes(R_pelvis, -1, -2) @ R_hip_w
        out[f"{sd}_knee"] = Rk
        out[f"{sd}_ankle"] = np.swapaxes(R_knee_w, -1, -2)   # foot keeps its rest world orientation
    return out


def _reach_drop(rig: _Rig, R_pelvis: np.ndarray, pelvis_pos: np.ndarray) -> np.ndarray:
    """(T,) extra (>= 0) pelvis lowering so neither leg must extend beyond its rest hip-ankle length."""
    off = rig.sk.offsets_m
    need = np.zeros(len(pelvis_pos))
    for sd in ("left", "right"):
        ih, ik, ia = rig.i[f"{sd}_hip"], rig.i[f"{sd}_knee"], rig.i[f"{sd}_ankle"]
        reach = np.linalg.norm(off[ik] + off[ia])
        hip = pelvis_pos + R_pelvis @ off[ih]
        w = hip - rig.rest[ia]
        horiz2 = w[:, 0] ** 2 + w[:, 2] ** 2
        allowed = np.sqrt(np.maximum(reach ** 2 - horiz2, 0.0))
        need = np.maximum(need, w[:, 1] - allowed)
    beta = 0.0005  # softplus keeps the drop smooth and never below the need
    return beta * np.logaddexp(0.0, need / beta)


# --------------------------------------------------------------------------------------------


def animate_body(*, fps: float, n_frames: int, prosody, head_angles_rad, eye_angles_rad, accent_times_s,
                 emotion: dict | None, seed: int, config: BodyConfig = BodyConfig()):
    """Procedural talking-body motion on :func:`rigs.core.skeleton.canonical_skeleton`.

    fps: frame rate; n_frames: T. prosody: any object with per-frame (T,) arrays ``loudness`` (0..1)
    and ``speech`` (bool VAD); ``voiced`` (bool) is used when present, ``rms``/``f0_hz`` are not
    needed; None means silence (listening). head_angles_rad: (T, 3) XYZ Euler head rotation from the
    face (pitch, yaw, roll) or None; eye_angles_rad: (T, 2, 3) left, right XYZ Euler or None;
    accent_times_s: stressed-syllable times in seconds (iterable, may be empty); emotion: {name:
    intensity 0..1} with names from :data:`engine.animators.base.EMOTIONS`; seed: int.

    Returns ``(joint_angles_rad (T, 25, 3) float32 local axis-angle, root_translation_m (T, 3) float32
    pelvis offset from its rest position)``. Deterministic per seed. Raises ConfigError on bad input.
    """
    try:
        fps = float(fps)
        T = int(n_frames)
    except (TypeError, ValueError):
        raise ConfigError(f"fps and n_frames must be numbers, got {fps!r}, {n_frames!r}") from None
    if not np.isfinite(fps) or fps <= 0:
        raise ConfigError(f"fps must be > 0, got {fps}")
    if T < 1:
        raise ConfigError(f"n_frames must be >= 1, got {n_frames}")
    if not isinstance(config, BodyConfig):
        raise ConfigError("config must be a BodyConfig")
    cfg = config
    rig = _rig()
    J = rig.J
    t_s = np.arange(T) / fps
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed) & 0xFFFFFFFF).spawn(6)]
    r_breath, r_sway, r_gest, r_nod, r_noise, _ = streams

    speech = _track(prosody, "speech", T, bool, False)
    loud = np.clip(np.nan_to_num(_track(prosody, "loudness", T, np.float64, 0.0)), 0.0, 1.0)
    voiced = _track(prosody, "voiced", T, bool, False) if prosody is not None and \
        getattr(prosody, "voiced", None) is not None else speech.copy()
    head = _angles_in(head_angles_rad, T, (3,), "head_angles_rad")
    eyes = _angles_in(eye_angles_rad, T, (2, 3), "eye_angles_rad")
    accents = [] if accent_times_s is None else [float(a) for a in np.asarray(accent_times_s).reshape(-1)
                                                 if np.isfinite(a)]
    style = _blend_style(emotion)
    activity = np.clip(_smooth(speech.astype(np.float64), fps, 0.6), 0.0, 1.0)

    # --- whole-clip signals: (T,) scalars and keyframes only (IIR-like parts such as the breath phase
    # and smoothing need the whole clip); every (T, J, ...) quantity is made block by block below
    breath = _breathing(t_s, fps, speech, style, cfg, r_breath)
    x_m, pelvis = _weight_shift(t_s, activity, style, cfg, r_sway)
    key_t, key_v = _gesture_keys(t_s, fps, speech, loud, voiced, accents, style, cfg, r_gest, rig)
    del loud, voiced
    nods = _nods(t_s, fps, speech, cfg, r_nod) * (style.sway ** 0.5)
    energy = style.sway * (cfg.listening_sway + (1 - cfg.listening_sway) * activity)
    del speech, activity
    noise_params = _noise_params(r_noise, 9)
    idle = _idle_pose(rig, style, cfg)

    aa = np.empty((T, J, 3), dtype=np.float32)
    root = np.empty((T, 3), dtype=np.float32)
    clamped: set[str] = set()
    B = int(cfg.block_frames)
    for a in range(0, T, B):
        sl = slice(a, min(T, a + B))
        aa[sl], root[sl] = _pose_block(rig, cfg, t_s[sl], breath[sl], x_m[sl], pelvis[sl], key_t, key_v,
                                       nods[sl], energy[sl], noise_params, idle, head, eyes, sl, clamped)
    for n in sorted(clamped):
        log.debug("leg IK hit the %s limit; clamping (feet may slide)", n)
    return aa, root


def _angles_in(x, T: int, shape: tuple[int, ...], name: str):
    """Validated (T, *shape) angle input without a copy (converted block by block), or None."""
    if x is None:
        return None
    a = np.asarray(x)
    if a.shape != (T,) + shape:
        raise ConfigError(f"{name} must have shape {(T,) + shape}, got {a.shape}")
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise ConfigError(f"{name} must be real numbers, got dtype {a.dtype}")
    return a


def _block_angles(a, sl: slice, shape: tuple[int, ...]) -> np.ndarray:
    n = sl.stop - sl.start
    if a is None:
        return np.zeros((n,) + shape)
    return np.nan_to_num(np.asarray(a[sl], dtype=np.float64))


def _pose_block(rig, cfg, t_s, breath, x_m, pelvis, key_t, key_v, nods, energy, noise_params, idle,
                head, eyes, sl, clamped):
    """Joint axis-angles (n, J, 3) float32 and root translation (n, 3) float32 of one block of frames.

    Every input is either per-frame (already sliced to the block) or global (keys, noise parameters,
    idle pose), so the result is the same whatever the block size."""
    n, J = len(t_s), rig.J
    # --- Euler degrees for every joint except the legs (solved by IK below)
    E = np.broadcast_to(idle, (n, J, 3)).copy()
    chest = cfg.breath_chest_deg * breath
    sh = cfg.breath_shoulder_deg * breath
    E[:, rig.i["spine3"], 0] -= chest
    E[:, rig.i["spine2"], 0] -= 0.4 * chest
    E[:, rig.i["neck"], 0] += 1.2 * chest
    for sd, sg in (("left", 1.0), ("right", -1.0)):
        E[:, rig.i[f"{sd}_collar"], 2] += sg * sh
        E[:, rig.i[f"{sd}_shoulder"], 2] -= sg * 0.8 * sh

    E[:, rig.i["pelvis"]] += pelvis
    for name, share in (("spine1", 0.5), ("spine2", 0.3), ("spine3", 0.2)):  # keep the torso upright
        E[:, rig.i[name], 2] -= share * pelvis[:, 2] * 1.15
        E[:, rig.i[name], 1] -= share * pelvis[:, 1] * 0.8

    E += _keyframe_track(t_s, key_t, key_v).reshape(n, J, 3)

    E[:, rig.i["neck"], 0] += nods

    noise = _smooth_noise(t_s, noise_params) * (cfg.noise_deg * energy)[:, None]
    for c, (name, ax, g) in enumerate((("spine1", 0, 0.5), ("spine2", 1, 0.6), ("spine3", 2, 0.4),
                                       ("left_shoulder", 0, 1.5), ("right_shoulder", 0, 1.5),
                                       ("left_shoulder", 1, 1.5), ("right_shoulder", 1, 1.5),
                                       ("left_elbow", 1, -2.0), ("right_elbow", 1, 2.0))):
        E[:, rig.i[name], ax] += g * noise[:, c]
    del noise

    np.deg2rad(E, out=E)
    hd = _block_angles(head, sl, (3,))
    ey = _block_angles(eyes, sl, (2, 3))
    E[:, rig.i["neck"]] += cfg.neck_share * hd
    E[:, rig.i["head"]] += (1.0 - cfg.neck_share) * hd
    E[:, rig.i["left_eye"]] = ey[:, 0]
    E[:, rig.i["right_eye"]] = ey[:, 1]
    E[:, rig.i["jaw"]] = 0.0  # the face opens the jaw through jawOpen
    np.clip(E, rig.lo, rig.hi, out=E)

    # --- root and legs: weight shift with planted feet
    R_pelvis = euler_to_matrix(E[:, rig.i["pelvis"]])
    root = np.zeros((n, 3))
    root[:, 0] = x_m
    root[:, 1] = -cfg.knee_soft_m - 0.6 * x_m ** 2 / 0.78
    root[:, 2] = 0.15 * x_m * np.sin(2 * np.pi * 0.05 * t_s)
    pelvis_pos = rig.rest[rig.i["pelvis"]] + root
    drop = _reach_drop(rig, R_pelvis, pelvis_pos)
    root[:, 1] -= drop
    pelvis_pos[:, 1] -= drop
    legs = _leg_ik(rig, R_pelvis, pelvis_pos)
    aa = _euler_xyz_to_axis_angle(E)
    del E
    for name, Rl in legs.items():
        j = rig.i[name]
        e = matrix_to_euler(Rl)
        if np.any(e < rig.lo[j]) or np.any(e > rig.hi[j]):
            clamped.add(name)
            aa[:, j] = _euler_xyz_to_axis_angle(np.clip(e, rig.lo[j], rig.hi[j]))
        else:
            aa[:, j] = matrix_to_axis_angle(Rl)
    return aa, root


def _rig() -> _Rig:
    return _Rig()
