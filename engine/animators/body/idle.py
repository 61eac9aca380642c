"""The body's idle: rest posture, breathing, weight shift, listener nods and liveliness noise.

* **Idle pose.** The rig rests in a T-pose; the idle pose lowers the arms ~78 degrees into a relaxed
  down pose by the sides with softly bent elbows and knees, plus an emotion-dependent posture (sadness
  slumps, fear closes the arms and raises the shoulders, joy/surprise open the chest).
* **Breathing.** A quasi-periodic 12-18 breaths/min oscillator lifts the chest (spine2/spine3
  extension) and the shoulders (collars), with the neck compensating so the gaze stays level. Breaths
  are shallower while speaking and deeper for a while after a long utterance (recovery breaths),
  as in speech breathing (Hixon et al. 1973; Winkworth et al. 1995).
* **Weight shift.** A slow pelvis sway (lateral shift, pelvic roll/yaw) with counter-rotation up the
  spine keeps the torso upright; the pelvis lowers and drifts a little as it shifts. The feet stay
  planted (:mod:`engine.animators.body.legs`).
* **Listening.** Where nobody speaks the idle is calmer and occasional small nods go onto the neck.

The whole-clip signals (breath, sway, nods: (T,) or (T, 3)) are made once; the ``add_*`` functions put
one block of them onto the (n, J, 3) Euler degrees of the pose.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .rig import BodyRig, add_arm
from .signals import bump, noise_params, sinusoid_noise, smooth
from .style import Style

if TYPE_CHECKING:
    from .animator import BodyConfig

# --- idle posture
SPINE_FLEX_SHARES = (("spine1", 0.3), ("spine2", 0.35), ("spine3", 0.35))  # of Style.spine_flex_deg
NECK_FLEX_COMPENSATION = 0.5    # share of the spine flexion the neck undoes (keeps the gaze up)
ARM_CLOSE_ROTATION_GAIN = 1.5   # humeral rotation (deg) per degree of Style.arm_close_deg
# --- breathing
SECONDS_PER_MINUTE = 60.0
BREATH_DRIFT = 0.06                  # relative rate wander of the breath oscillator ...
BREATH_DRIFT_BAND_HZ = (0.01, 0.04)  # ... in this band ...
BREATH_DRIFT_PARTS = 2               # ... from this many sinusoids
BREATH_ASYMMETRY = 0.3               # phase skew: quicker inhale, longer exhale
BREATH_DEPTH_TAU_S = 0.8             # smoothing of the depth changes
BREATH_SPINE2_SHARE = 0.4            # spine2 extension per degree of spine3 (chest) extension
BREATH_NECK_COMPENSATION = 1.2       # neck flexion per degree of chest extension (gaze stays level)
BREATH_SHOULDER_COMPENSATION = 0.8   # arm lowering per degree of collar raise (the arm keeps hanging)
# --- weight shift: lateral sway = main + second partial (unit sum), yaw at its own slow frequency
SWAY_MAIN_WEIGHT = 0.8
SWAY_SECOND_WEIGHT = 0.2
SWAY_SECOND_FREQ_RATIO = 2.37        # frequency of the second partial / the main sway frequency
SWAY_YAW_FREQ_RATIO = 0.61           # pelvic yaw frequency / the main sway frequency
COUNTER_ROTATION_SHARES = (("spine1", 0.5), ("spine2", 0.3), ("spine3", 0.2))  # of the pelvic roll/yaw
COUNTER_ROLL_GAIN = 1.15             # the spine undoes a little more than the pelvic roll ...
COUNTER_YAW_GAIN = 0.8               # ... and most of its yaw
# pelvis path while shifting: it lowers by SWAY_DROP_GAIN * x^2 / SWAY_LEG_LENGTH_M (an arc about the
# ankle, ~0.78 m hip-ankle length) and drifts forward/back by SWAY_FORWARD_GAIN * x at SWAY_FORWARD_HZ
SWAY_DROP_GAIN = 0.6
SWAY_LEG_LENGTH_M = 0.78
SWAY_FORWARD_GAIN = 0.15
SWAY_FORWARD_HZ = 0.05
# --- listener nods
NOD_QUIET_TAU_S = 0.3                # smoothing of the silence mask ...
NOD_QUIET_LEVEL = 0.99               # ... a nod needs it above this level throughout
NOD_AMP_RANGE = (0.5, 1.0)           # random share of BodyConfig.nod_deg
NOD_SWAY_EXPONENT = 0.5              # nods scale with Style.sway ** this
# --- liveliness noise: (joint, Euler axis, gain) per noise channel, times BodyConfig.noise_deg
NOISE_CHANNELS = (("spine1", 0, 0.5), ("spine2", 1, 0.6), ("spine3", 2, 0.4),
                  ("left_shoulder", 0, 1.5), ("right_shoulder", 0, 1.5),
                  ("left_shoulder", 1, 1.5), ("right_shoulder", 1, 1.5),
                  ("left_elbow", 1, -2.0), ("right_elbow", 1, 2.0))


def idle_pose(rig: BodyRig, style: Style, cfg: BodyConfig) -> np.ndarray:
    """(J, 3) Euler degrees: arms down from the T-pose, posture of the emotion."""
    E = np.zeros((rig.J, 3))
    for sd in ("left", "right"):
        add_arm(E, rig, sd,
                collar=(0, -style.collar_forward_deg, style.collar_raise_deg),
                shoulder=(-cfg.arm_forward_deg, -ARM_CLOSE_ROTATION_GAIN * style.arm_close_deg,
                          -cfg.arm_down_deg - style.collar_raise_deg - style.arm_close_deg),
                elbow=(0, -(cfg.elbow_bend_deg + style.elbow_extra_deg), 0))
    for n, share in SPINE_FLEX_SHARES:
        E[rig.i[n], 0] += share * style.spine_flex_deg
    E[rig.i["neck"], 0] += style.neck_flex_deg - NECK_FLEX_COMPENSATION * style.spine_flex_deg
    return E


def idle_energy(activity: np.ndarray, style: Style, cfg: BodyConfig) -> np.ndarray:
    """(T,) idle amplitude factor: calmer while listening (``activity`` (T,) 0..1 smoothed speech)."""
    return style.sway * (cfg.listening_sway + (1.0 - cfg.listening_sway) * activity)


def breathing(t_s, fps, speech, style, cfg, rng) -> np.ndarray:
    """(T,) breath signal: 0 at full exhalation, ~depth at full inhalation."""
    rate_hz = rng.uniform(*cfg.breaths_per_min) / SECONDS_PER_MINUTE * style.breath_rate
    drift = 1.0 + BREATH_DRIFT * sinusoid_noise(
        t_s, noise_params(rng, 1, BREATH_DRIFT_BAND_HZ, BREATH_DRIFT_PARTS))[:, 0]
    phase = 2 * np.pi * rate_hz * np.cumsum(drift) / fps + rng.uniform(0, 2 * np.pi)
    wave = 0.5 - 0.5 * np.cos(phase + BREATH_ASYMMETRY * np.sin(phase))
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
    depth = smooth(depth, fps, BREATH_DEPTH_TAU_S)
    return wave * depth


def weight_shift(t_s, energy, style, cfg, rng):
    """Pelvis lateral shift x_m (T,) in metres and pelvis Euler (T, 3) degrees (roll follows the shift).

    energy: (T,) :func:`idle_energy`."""
    period = rng.uniform(*cfg.sway_period_s)
    f0 = 1.0 / period
    ph0, ph1, ph2 = rng.uniform(0, 2 * np.pi, 3)
    s = SWAY_MAIN_WEIGHT * np.sin(2 * np.pi * f0 * t_s + ph0) \
        + SWAY_SECOND_WEIGHT * np.sin(2 * np.pi * SWAY_SECOND_FREQ_RATIO * f0 * t_s + ph1)
    x_m = cfg.sway_m * energy * s
    unit = x_m / max(cfg.sway_m, 1e-9)
    pelvis = np.zeros((len(t_s), 3))
    pelvis[:, 2] = cfg.sway_roll_deg * unit  # weight on the left (+X): the right hip drops
    pelvis[:, 1] = cfg.sway_yaw_deg * style.sway * np.sin(2 * np.pi * SWAY_YAW_FREQ_RATIO * f0 * t_s + ph2)
    return x_m, pelvis


def nods(t_s, fps, speech, style, cfg, rng) -> np.ndarray:
    """(T,) neck pitch degrees: occasional small listener nods in long silences."""
    T = len(t_s)
    out = np.zeros(T)
    quiet = smooth((~speech.astype(bool)).astype(np.float64), fps, NOD_QUIET_TAU_S) > NOD_QUIET_LEVEL
    dur = t_s[-1] + 1.0 / fps
    n_max = int(dur / cfg.nod_interval_s[0]) + 2
    gaps = rng.uniform(*cfg.nod_interval_s, size=n_max)
    amps = cfg.nod_deg * rng.uniform(*NOD_AMP_RANGE, size=n_max)
    at = np.cumsum(gaps) - 0.5 * cfg.nod_interval_s[0]
    for a, amp in zip(at, amps):
        if a + cfg.nod_s > dur:
            break
        i0, i1 = int(a * fps), min(T - 1, int((a + cfg.nod_s) * fps))
        if not quiet[i0:i1 + 1].all():
            continue
        sl = slice(i0, i1 + 1)
        out[sl] += amp * bump((t_s[sl] - a) / cfg.nod_s)
    return out * (style.sway ** NOD_SWAY_EXPONENT)


def add_breath(E: np.ndarray, rig: BodyRig, breath: np.ndarray, cfg: BodyConfig) -> None:
    """Add the breath (n,) to Euler degrees ``E`` (n, J, 3): chest and collars up, neck and arms compensate."""
    chest = cfg.breath_chest_deg * breath
    sh = cfg.breath_shoulder_deg * breath
    E[:, rig.i["spine3"], 0] -= chest
    E[:, rig.i["spine2"], 0] -= BREATH_SPINE2_SHARE * chest
    E[:, rig.i["neck"], 0] += BREATH_NECK_COMPENSATION * chest
    for sd, sg in (("left", 1.0), ("right", -1.0)):
        E[:, rig.i[f"{sd}_collar"], 2] += sg * sh
        E[:, rig.i[f"{sd}_shoulder"], 2] -= sg * BREATH_SHOULDER_COMPENSATION * sh


def add_sway(E: np.ndarray, rig: BodyRig, pelvis: np.ndarray) -> None:
    """Add the pelvis Euler degrees (n, 3) to ``E`` (n, J, 3), counter-rotated up the spine (torso upright)."""
    E[:, rig.i["pelvis"]] += pelvis
    for name, share in COUNTER_ROTATION_SHARES:
        E[:, rig.i[name], 2] -= share * pelvis[:, 2] * COUNTER_ROLL_GAIN
        E[:, rig.i[name], 1] -= share * pelvis[:, 1] * COUNTER_YAW_GAIN


def add_noise(E: np.ndarray, rig: BodyRig, t_s: np.ndarray, energy: np.ndarray, params, cfg: BodyConfig) -> None:
    """Add liveliness noise to ``E`` (n, J, 3) at times ``t_s`` (n,), scaled by ``energy`` (n,).

    params: :func:`~engine.animators.body.signals.noise_params` with ``len(NOISE_CHANNELS)`` channels."""
    noise = sinusoid_noise(t_s, params) * (cfg.noise_deg * energy)[:, None]
    for c, (name, ax, g) in enumerate(NOISE_CHANNELS):
        E[:, rig.i[name], ax] += g * noise[:, c]


def sway_root_m(t_s: np.ndarray, x_m: np.ndarray, cfg: BodyConfig) -> np.ndarray:
    """(n, 3) pelvis offset from rest, metres, for the lateral shift ``x_m`` (n,) (before the legs' reach)."""
    root = np.zeros((len(t_s), 3))
    root[:, 0] = x_m
    root[:, 1] = -cfg.knee_soft_m - SWAY_DROP_GAIN * x_m ** 2 / SWAY_LEG_LENGTH_M
    root[:, 2] = SWAY_FORWARD_GAIN * x_m * np.sin(2 * np.pi * SWAY_FORWARD_HZ * t_s)
    return root
