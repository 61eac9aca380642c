"""The procedural body's entry point: :class:`BodyConfig`, :func:`animate_body` and the block assembly.

:func:`animate_body` validates the inputs, makes the whole-clip signals (breath, sway, nods from
:mod:`~engine.animators.body.idle`; gesture keyframes from :mod:`~engine.animators.body.gestures`), and
then composes the pose block by block:

* **Head and eyes.** The face's ``head_angles_rad`` (XYZ Euler: pitch, yaw, roll) is shared between
  ``neck`` and ``head`` (``neck_share``, default 40/60), on top of the body's own neck and head motion
  (posture, nods, sway); with ``head_is_total`` (a learned face, whose head was trained on the teacher's
  neck + head total, body motion included) the face's head is the whole of it and the body adds none there.
  ``eye_angles_rad`` goes onto ``left_eye`` / ``right_eye``. The ``jaw`` joint stays at rest: the face
  drives the jaw through the ``jawOpen`` blendshape, so a jaw rotation here would open the mouth twice.
* **Joints.** Every joint is composed as XYZ Euler (the rig's limit convention), clamped to
  :func:`rigs.core.skeleton.joint_limits_rad` and converted to axis-angle (the clip format) with
  :func:`rigs.core.rotations.euler_to_axis_angle`; hips, knees and ankles come from the leg IK
  (:mod:`~engine.animators.body.legs`). All work is vectorised numpy over frames; the only Python loops
  run over gestures, joints and blocks of frames.

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

import numpy as np

from rigs.core.errors import ConfigError
from rigs.core.rotations import euler_to_axis_angle, euler_to_matrix

from .carriage import (SWAY_BAND_HZ, SWAY_CHANNELS, accent_nods, add_carriage, add_torso, speaking_stance,
                       turn_activity)
from .gestures import gesture_keys
from .idle import (NOISE_CHANNELS, add_breath, add_noise, add_sway, breathing, idle_energy, idle_pose, nods,
                   sway_root_m, weight_shift)
from .legs import leg_ik, put_legs, reach_drop
from .rig import BodyRig
from .signals import keyframe_track, noise_params, prosody_track, smooth
from .style import Style, blend_style

log = logging.getLogger(__name__)

__all__ = ["BodyConfig", "ClipSignals", "animate_body", "pose_block"]

ACTIVITY_TAU_S = 0.6   # smoothing of the speech mask into the (T,) speaking activity 0..1
# independent random streams (numpy SeedSequence children; each child depends only on its index)
N_STREAMS = 8


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
    head_is_total: bool = False         # the face's head already holds the body's own neck and head motion
                                        # (a learned face trained on the teacher's neck + head): the body adds
                                        # none there, it only shares the face's head between neck and head
    nod_interval_s: tuple[float, float] = (2.5, 6.0)
    nod_deg: float = 4.0
    nod_s: float = 0.7
    # speaking posture (carriage.py): arm carriage, torso and head participation
    relax_pause_s: float = 1.5          # the arms relax to the idle pose only in pauses longer than this
    carriage_abduct_deg: float = 16.0   # upper-arm abduction while speaking
    carriage_elbow_deg: float = 45.0    # extra elbow flexion of the home position between gestures
    speaking_lean_deg: float = 2.0      # forward lean of the torso while speaking
    torso_sway_deg: float = 2.5         # slow spine/neck sway while speaking (about this amplitude)
    accent_nod_deg: float = 3.0         # head nod on a pitch accent
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


@dataclass(frozen=True)
class ClipSignals:
    """Whole-clip inputs of the block assembly :func:`pose_block`: per-frame arrays (sliced per block) and
    global ones. Public so that other drivers of the body (the causal :mod:`engine.streaming.body`) can make
    the signals their own way and pose them with the same assembly."""

    t_s: np.ndarray           # (T,) frame times
    breath: np.ndarray        # (T,) breath signal
    x_m: np.ndarray           # (T,) lateral pelvis shift, metres
    pelvis: np.ndarray        # (T, 3) pelvis Euler degrees
    nods: np.ndarray          # (T,) neck pitch degrees
    energy: np.ndarray        # (T,) idle amplitude factor
    head: np.ndarray | None   # (T, 3) head XYZ Euler radians, unconverted
    eyes: np.ndarray | None   # (T, 2, 3) eye XYZ Euler radians, unconverted
    key_t: np.ndarray         # (K,) gesture key times
    key_v: np.ndarray         # (K, J*3 + 2) gesture key values, degrees relative to idle; left/right arm weights
    noise_params: tuple       # liveliness noise (global, closed form)
    idle: np.ndarray          # (J, 3) idle pose degrees
    turn: np.ndarray          # (T,) speaking-turn activity (x Style.carriage)
    accent_nods: np.ndarray   # (T,) head pitch degrees of the accent nods
    style: Style              # the blended emotion style
    torso_params: tuple       # speaking torso sway noise (global, closed form)
    stance: np.ndarray        # (2,) this seed's carriage abduction and home-elbow factors


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
    rig = BodyRig()
    J = rig.J
    t_s = np.arange(T) / fps
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed) & 0xFFFFFFFF).spawn(N_STREAMS)]
    r_breath, r_sway, r_gest, r_nod, r_noise, r_accent_nod, r_torso, r_stance = streams

    speech = prosody_track(prosody, "speech", T, bool, False)
    loud = np.clip(np.nan_to_num(prosody_track(prosody, "loudness", T, np.float64, 0.0)), 0.0, 1.0)
    voiced = prosody_track(prosody, "voiced", T, bool, False) if prosody is not None and \
        getattr(prosody, "voiced", None) is not None else speech.copy()
    head = _angles_in(head_angles_rad, T, (3,), "head_angles_rad")
    eyes = _angles_in(eye_angles_rad, T, (2, 3), "eye_angles_rad")
    accents = [] if accent_times_s is None else [float(a) for a in np.asarray(accent_times_s).reshape(-1)
                                                 if np.isfinite(a)]
    style = blend_style(emotion)
    activity = np.clip(smooth(speech.astype(np.float64), fps, ACTIVITY_TAU_S), 0.0, 1.0)
    energy = idle_energy(activity, style, cfg)
    del activity

    # --- whole-clip signals: (T,) scalars and keyframes only (IIR-like parts such as the breath phase
    # and smoothing need the whole clip); every (T, J, ...) quantity is made block by block below
    breath = breathing(t_s, fps, speech, style, cfg, r_breath)
    x_m, pelvis = weight_shift(t_s, energy, style, cfg, r_sway)
    key_t, key_v = gesture_keys(t_s, fps, speech, loud, voiced, accents, style, cfg, r_gest, rig)
    turn = turn_activity(speech, fps, style, cfg)
    acc_nod = accent_nods(t_s, fps, accents, speech, loud, style, cfg, r_accent_nod)
    del loud, voiced
    nod_deg = nods(t_s, fps, speech, style, cfg, r_nod)
    del speech
    sig = ClipSignals(t_s=t_s, breath=breath, x_m=x_m, pelvis=pelvis, nods=nod_deg, energy=energy,
                       head=head, eyes=eyes, key_t=key_t, key_v=key_v,
                       noise_params=noise_params(r_noise, len(NOISE_CHANNELS)), idle=idle_pose(rig, style, cfg),
                       turn=turn, accent_nods=acc_nod, style=style, stance=speaking_stance(r_stance),
                       torso_params=noise_params(r_torso, len(SWAY_CHANNELS), SWAY_BAND_HZ))

    aa = np.empty((T, J, 3), dtype=np.float32)
    root = np.empty((T, 3), dtype=np.float32)
    clamped: set[str] = set()
    B = int(cfg.block_frames)
    for a in range(0, T, B):
        sl = slice(a, min(T, a + B))
        aa[sl], root[sl] = pose_block(rig, cfg, sig, sl, clamped)
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
    """(n, *shape) float64 radians of ``a`` in the block ``sl`` (NaN -> 0), zeros when ``a`` is None."""
    n = sl.stop - sl.start
    if a is None:
        return np.zeros((n,) + shape)
    return np.nan_to_num(np.asarray(a[sl], dtype=np.float64))


def pose_block(rig: BodyRig, cfg: BodyConfig, sig: ClipSignals, sl: slice, clamped: set[str]):
    """Joint axis-angles (n, J, 3) float32 and root translation (n, 3) float32 of the frames ``sl``.

    Every input is either per-frame (sliced to the block here) or global (keys, noise parameters,
    idle pose), so the result is the same whatever the block size. Legs clamped to their limits are
    added to ``clamped``. Public: the streaming body poses its causal signals with it."""
    t_s = sig.t_s[sl]
    n, J = len(t_s), rig.J
    # --- Euler degrees for every joint except the legs (solved by IK below)
    E = np.broadcast_to(sig.idle, (n, J, 3)).copy()
    add_breath(E, rig, sig.breath[sl], cfg)
    add_sway(E, rig, sig.pelvis[sl])
    g = keyframe_track(t_s, sig.key_t, sig.key_v)
    E += g[:, :-2].reshape(n, J, 3)
    add_carriage(E, rig, sig.turn[sl], g[:, -2:], sig.style, cfg, stance=sig.stance)
    add_torso(E, rig, t_s, sig.turn[sl], sig.accent_nods[sl], sig.torso_params, sig.style, cfg)
    E[:, rig.i["neck"], 0] += sig.nods[sl]
    add_noise(E, rig, t_s, sig.energy[sl], sig.noise_params, cfg)

    if cfg.head_is_total:
        E[:, [rig.i["neck"], rig.i["head"]]] = 0.0
    np.deg2rad(E, out=E)
    hd = _block_angles(sig.head, sl, (3,))
    ey = _block_angles(sig.eyes, sl, (2, 3))
    E[:, rig.i["neck"]] += cfg.neck_share * hd
    E[:, rig.i["head"]] += (1.0 - cfg.neck_share) * hd
    E[:, rig.i["left_eye"]] = ey[:, 0]
    E[:, rig.i["right_eye"]] = ey[:, 1]
    E[:, rig.i["jaw"]] = 0.0  # the face opens the jaw through jawOpen
    np.clip(E, rig.lo, rig.hi, out=E)

    # --- root and legs: weight shift with planted feet
    R_pelvis = euler_to_matrix(E[:, rig.i["pelvis"]])
    root = sway_root_m(t_s, sig.x_m[sl], cfg)
    pelvis_pos = rig.rest[rig.i["pelvis"]] + root
    drop = reach_drop(rig, R_pelvis, pelvis_pos)
    root[:, 1] -= drop
    pelvis_pos[:, 1] -= drop
    legs = leg_ik(rig, R_pelvis, pelvis_pos)
    aa = euler_to_axis_angle(E)
    del E
    put_legs(aa, rig, legs, clamped)
    return aa, root
