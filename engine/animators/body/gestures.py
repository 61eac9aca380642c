"""Beat gestures of the procedural body: the gesture library, where gestures go, and their keyframes.

Strokes are timed to the face's ``accent_times_s`` (stressed syllables) and to loudness peaks, with
McNeill's preparation -> stroke -> hold -> retraction phases (McNeill 1992; Kendon 2004), the stroke's
end (apex) on the accent. Strokes close together form a gesture unit (Kendon 2004): between them the
hands only partly retract and stay in gesture space; after the last stroke of a unit they retract
fully. Every phase is a minimum-jerk segment (Flash & Hogan 1985) under a joint speed cap, and the
preparation is slower than the stroke. A small library of shapes (one-hand beat, two-hand beat, open
palms, point, sweep, shrug), placed in the gesture space in front of the torso between waist and chest
with the elbows low and the forearm doing the stroke, is drawn per gesture from a seeded generator;
amplitude (emotion x loudness) enlarges mostly the stroke, only partly the pose, so hands reach chest
height only on strong accents; the emotion style scales amplitude, speed and rate. Where nobody speaks
gestures are all but suppressed. Cf. the rule-based systems BEAT (Cassell et al. 2001) and the
prosody/gesture timing in Levine et al. 2009.

The gestures become keyframes (times (K,), Euler degrees (K, J*3) relative to the idle pose) that
:func:`engine.animators.body.signals.keyframe_track` interpolates block by block.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from rigs.core.errors import ConfigError

from .carriage import TORSO_SHARES, gesture_twist
from .rig import BodyRig, add_arm
from .signals import MIN_JERK_PEAK_SPEED, peaks, smooth
from .style import GESTURE_SHAPES, Style

if TYPE_CHECKING:
    from .animator import BodyConfig

TWO_HANDED = ("beat_both", "open_palms", "shrug")
# --- candidates
ENVELOPE_TAU_S = 0.05            # smoothing of the loudness envelope searched for peaks
PEAK_PROMINENCE = 0.12           # loudness (0..1) a peak must rise over its surroundings
PEAK_ACCENT_MIN_DIST_S = 0.3     # loudness peaks closer than this to an accent are left to the accent
# --- random draws: factor = base + span * u, u uniform in [0, 1)
RIGHT_HANDED_PROB = 0.75
DOMINANT_HAND_PROB = 0.7         # one-hand gestures with the dominant hand
SPEED_JITTER = (0.9, 0.2)
HOLD_JITTER = (0.5, 1.0)
RETRACT_JITTER = (0.85, 0.3)
AMP_JITTER = (0.85, 0.3)
AMP_LOUDNESS = (0.7, 0.6)        # amplitude factor base + span * loudness at the apex
UNIT_REPEAT_SLACK_S = 0.5        # a repeated shape may follow up to BodyConfig.unit_gap_s + this
SHAPE_DRAW_CAP = 0.999999        # keeps the shape draw below the cumulative weights' end
# --- columns of the per-candidate uniform draws (a fixed layout keeps choices stable per seed)
U_GO, U_SPEED, U_HOLD, U_RETRACT, U_SHAPE, U_SIDE, U_AMP, U_REPEAT = range(8)
U_COLUMNS = 8
# --- timing
RELAX_SHARE = 0.6                # relaxing between strokes of a unit takes at least this share of a retraction
MIN_SHRINK = 0.5                 # a gesture shrunk to fit its time below this share is dropped


class _Stroke(NamedTuple):
    """The previous stroke, as the next one needs it."""

    free_at_s: float             # end of its hold
    retract_s: float             # its full retraction time
    apex_pose: np.ndarray        # (J*3,) Euler degrees at the apex
    shape: str
    side: str


def gesture_poses(shape: str, side: str, rig: BodyRig) -> tuple[np.ndarray, np.ndarray]:
    """Preparation-end pose P and stroke-apex pose S of a gesture, (J, 3) degrees relative to idle.

    The shapes were solved (offline, by least squares on :mod:`rigs.core.skeleton` forward kinematics;
    the solver is not kept in the repository, the angles below are the data) for wrist and elbow targets
    in the conversational gesture space (McNeill 1992): hands in front of the torso between the waist
    (~1.05 m) and the lower chest (~1.2 m), 0.2-0.4 m ahead of the spine, elbows near the sides below
    the shoulders (1.38 m). The stroke is mostly elbow flexion (the forearm moves, the upper arm stays);
    shoulder flexion is 10-20 degrees except in the point. Shoulder Euler: X flexion (negative forward),
    Y humeral rotation (negative brings the forearm across the body), Z abduction (negative lowers);
    elbow Y flexion (negative); wrist X pronation (negative turns the palm up). Targets at amplitude 1,
    left arm (x = lateral, y = up, z = forward):

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
            add_arm(P, rig, sd, shoulder=(-14, -13, -7), elbow=(0, -58, 0), wrist=(-10, 0, 4))
            add_arm(S, rig, sd, shoulder=(-16, -15, -8), elbow=(0, -28, 0), wrist=(-15, 0, -6))
        elif shape == "beat_both":
            add_arm(P, rig, sd, shoulder=(-11, -13, -5), elbow=(0, -54, 0), wrist=(-10, 0, 4))
            add_arm(S, rig, sd, shoulder=(-14, -14, -6), elbow=(0, -26, 0), wrist=(-15, 0, -6))
        elif shape == "open_palms":  # hands in front, then open outwards, palms up
            add_arm(P, rig, sd, shoulder=(-16, -21, -9), elbow=(0, -43, 0), wrist=(-25, 0, 0))
            add_arm(S, rig, sd, shoulder=(-15, 1, -1), elbow=(0, -47, 0), wrist=(-65, 0, 0))
        elif shape == "point":     # forearm up, then the arm extends forward
            add_arm(P, rig, sd, shoulder=(-8, -15, -6), elbow=(0, -67, 0))
            add_arm(S, rig, sd, shoulder=(-48, -17, -6), elbow=(0, -20, 0), wrist=(0, 0, -6))
        elif shape == "sweep":     # hand near the midline, sweeps outwards
            add_arm(P, rig, sd, shoulder=(-22, -30, -14), elbow=(0, -46, 0), wrist=(-10, 0, -6))
            add_arm(S, rig, sd, shoulder=(-13, 6, 2), elbow=(0, -49, 0), wrist=(-35, 0, 6))
        elif shape == "shrug":     # collars up (the arm compensated so it keeps hanging), forearms out
            add_arm(P, rig, sd, collar=(0, 0, 4), shoulder=(-3, -10, -8), elbow=(0, -44, 0), wrist=(-20, 0, 0))
            add_arm(S, rig, sd, collar=(0, 0, 12), shoulder=(-5, 7, -15), elbow=(0, -50, 0), wrist=(-50, 0, 0))
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
    # the torso turns with a one-handed gesture, more at the apex than at the preparation
    tw = gesture_twist(side)
    for n, share in TORSO_SHARES:
        P[rig.i[n], 1] += 0.5 * share * tw
        S[rig.i[n], 1] += share * tw
    return P, S


def gesture_candidates(t_s, fps, speech, loud, voiced, accents, cfg: BodyConfig):
    """Sorted (time_s, is_accent) candidates: accents plus loudness peaks away from accents."""
    dur = t_s[-1] + 1.0 / fps
    acc = np.sort(np.asarray([a for a in accents if 0.0 <= a < dur], dtype=np.float64))
    env = smooth(loud * (speech | voiced), fps, ENVELOPE_TAU_S)
    pk_frames = peaks(env, height=cfg.peak_min_loudness, prominence=PEAK_PROMINENCE,
                      min_gap=max(1, int(round(cfg.peak_min_gap_s * fps))))
    pk = t_s[pk_frames]
    if len(acc) and len(pk):  # distance to the nearest accent (sorted): no (peaks, accents) matrix
        k = np.searchsorted(acc, pk)
        near = np.minimum(np.abs(pk - acc[np.maximum(k - 1, 0)]), np.abs(pk - acc[np.minimum(k, len(acc) - 1)]))
        pk = pk[near > PEAK_ACCENT_MIN_DIST_S]
    times = np.concatenate([acc, pk])
    is_acc = np.concatenate([np.ones(len(acc), bool), np.zeros(len(pk), bool)])
    order = np.argsort(times, kind="stable")
    return times[order], is_acc[order]


def gesture_keys(t_s, fps, speech, loud, voiced, accents, style: Style, cfg: BodyConfig, rng, rig: BodyRig):
    """Keyframes of the gesture offsets: times (K,) seconds and values (K, J*3 + 2): degrees relative to
    idle, then the left and right arms' gesture weights (0 at rest, 1 while that arm gestures, so the speaking carriage
    of :mod:`~engine.animators.body.carriage` hands over to the gesture), to be interpolated by
    :func:`~engine.animators.body.signals.keyframe_track` block by block.

    Strokes close together form a gesture unit (Kendon 2004): between them the hands only partly
    retract and stay in gesture space; after the last stroke of a unit (a long gap or a pause in the
    speech) they retract fully to the idle pose.
    """
    T = len(t_s)
    times, is_acc = gesture_candidates(t_s, fps, speech, loud, voiced, accents, cfg)
    handed = "right" if rng.random() < RIGHT_HANDED_PROB else "left"
    weights = np.asarray(style.weights, dtype=np.float64)
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(weights), 1 / len(weights))
    quiet = np.concatenate([[0], np.cumsum(~speech.astype(bool))])  # silent frames before frame i
    zero = np.zeros(rig.J * 3)
    key_t: list[float] = [0.0]
    key_v: list[np.ndarray] = [zero]
    prev: _Stroke | None = None
    u = rng.random((len(times), U_COLUMNS))
    for k, (apex, acc) in enumerate(zip(times, is_acc)):
        fr = min(T - 1, int(round(apex * fps)))
        p = (cfg.accent_prob if acc else cfg.peak_prob) * style.rate
        p *= 1.0 if speech[fr] else cfg.listening_gesture_prob
        if u[k, U_GO] >= p:
            continue
        speed = style.speed * _jitter(SPEED_JITTER, u[k, U_SPEED])
        hold = cfg.hold_s * _jitter(HOLD_JITTER, u[k, U_HOLD])
        retract = cfg.retract_s / speed * _jitter(RETRACT_JITTER, u[k, U_RETRACT])
        shape, side = _pick_shape(u[k], prev, apex, weights, handed, cfg)
        amp = min(cfg.max_gesture_amp, style.amp * _jitter(AMP_LOUDNESS, float(loud[fr]))
                  * _jitter(AMP_JITTER, u[k, U_AMP])) * cfg.gesture_amp
        P, S = _scaled_poses(shape, side, amp, rig, cfg)
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
            unit = _continues_unit(prev, stroke_start, prep, P, quiet, fps, T, cfg)
            earliest, origin = (prev.free_at_s, prev.apex_pose) if unit else (prev.free_at_s + prev.retract_s, zero)
        room = stroke_start - earliest              # time available for the preparation
        need = max(cfg.min_prep_s, _min_duration(P - origin, cfg))
        if room < need:                             # too little time: a smaller gesture may fit
            shrink = room / need
            if shrink < MIN_SHRINK or room < cfg.min_prep_s:
                continue
            P, S = origin + shrink * (P - origin), origin + shrink * (S - origin)
            need = room
        if prev is not None and not unit:
            key_t.append(earliest)                  # the previous gesture has retracted fully
            key_v.append(zero)
        elif prev is not None:
            R = cfg.partial_retract * prev.apex_pose  # relax within gesture space, then prepare
            r_dur = max(RELAX_SHARE * prev.retract_s, _min_duration(prev.apex_pose - R, cfg))
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
        prev = _Stroke(apex + hold, retract, S, shape, side)
    if prev is not None:
        key_t.append(prev.free_at_s + prev.retract_s)
        key_v.append(zero)
    kt = np.maximum.accumulate(np.asarray(key_t))  # guard against float rounding
    # last two columns: the gesture weight of the left and the right arm, 1 where a key moves that arm's
    # joints (in gesture space), 0 where it leaves the arm at rest (the other arm of a one-handed gesture)
    V = np.stack(key_v)
    weight = np.stack([np.abs(V.reshape(len(V), rig.J, 3)[:, _arm_joints(rig, sd)]).max(axis=(1, 2)) > 0
                       for sd in ("left", "right")], axis=1).astype(np.float64)
    return kt, np.concatenate([V, weight], axis=1)


def _arm_joints(rig: BodyRig, side: str) -> list[int]:
    """Indices of one arm's joints (collar to wrist)."""
    return [rig.i[f"{side}_{p}"] for p in ("collar", "shoulder", "elbow", "wrist")]


def _jitter(base_span: tuple[float, float], u: float) -> float:
    """base + span * u for a (base, span) pair of this module."""
    base, span = base_span
    return base + span * u


def _pick_shape(u_k: np.ndarray, prev: _Stroke | None, apex: float, weights: np.ndarray, handed: str,
                cfg: BodyConfig) -> tuple[str, str]:
    """(shape, side) of a stroke: repeat the previous one within a unit, else draw by the style weights."""
    if prev is not None and u_k[U_REPEAT] < cfg.repeat_prob and \
            apex - prev.free_at_s < cfg.unit_gap_s + UNIT_REPEAT_SLACK_S:
        return prev.shape, prev.side  # strokes of a unit tend to repeat (beats in a row)
    shape = GESTURE_SHAPES[int(np.searchsorted(np.cumsum(weights), u_k[U_SHAPE] * SHAPE_DRAW_CAP, side="right"))]
    if shape in TWO_HANDED:
        return shape, "both"
    other = "left" if handed == "right" else "right"
    return shape, handed if u_k[U_SIDE] < DOMINANT_HAND_PROB else other


def _scaled_poses(shape: str, side: str, amp: float, rig: BodyRig, cfg: BodyConfig):
    """Preparation and apex poses (J*3,) degrees at amplitude ``amp``.

    Amplitude scales the stroke fully but the hands' place in gesture space only partly, so bigger
    gestures are bigger strokes, not hands raised towards the head."""
    P, S = gesture_poses(shape, side, rig)
    g = 1.0 + cfg.space_gain * (amp - 1.0)
    return g * P.ravel(), g * P.ravel() + amp * (S - P).ravel()


def _continues_unit(prev: _Stroke, stroke_start: float, prep: float, P: np.ndarray, quiet: np.ndarray,
                    fps: float, T: int, cfg: BodyConfig) -> bool:
    """Whether a stroke starting at ``stroke_start`` stays in the previous stroke's gesture unit: no
    speech pause between them, and close in time or no room for a full retraction and preparation."""
    free_at = prev.free_at_s
    f0, f1 = int(free_at * fps), max(int(free_at * fps), min(T, int(stroke_start * fps)))
    pause = quiet[f1] - quiet[f0] > cfg.unit_pause_s * fps
    full = free_at + prev.retract_s + max(prep, _min_duration(P, cfg))
    return not pause and (stroke_start - free_at < cfg.unit_gap_s or full > stroke_start)


def _peak_deg(delta_deg: np.ndarray) -> float:
    """Largest per-joint rotation (degrees, Euler-norm) in ``delta_deg`` (J*3,)."""
    return float(np.linalg.norm(delta_deg.reshape(-1, 3), axis=1).max())


def _total_deg(delta_deg: np.ndarray) -> float:
    """Sum over joints of the per-joint rotation (degrees, Euler-norm) in ``delta_deg`` (J*3,)."""
    return float(np.linalg.norm(delta_deg.reshape(-1, 3), axis=1).sum())


def _min_duration(delta_deg: np.ndarray, cfg: BodyConfig) -> float:
    """Shortest minimum-jerk duration (s) moving every joint by ``delta_deg`` (J*3,) under the speed cap."""
    return MIN_JERK_PEAK_SPEED * _peak_deg(delta_deg) / max(cfg.max_speed_deg_s, 1e-6)
