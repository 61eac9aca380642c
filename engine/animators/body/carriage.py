"""Speaking posture of the procedural body: arm carriage, torso lean and twist, and head participation.

Speakers do not gesture from hands hanging at their sides: through a speaking turn they hold the upper arms
away from the torso and the elbows flexed, so the hands rest in the gesture space in front of the lower
torso between strokes (McNeill 1992, the centre / centre-centre of the gesture space; Kendon 2004, the
"home position" a gesture unit starts from and returns to), and they relax the arms only in long pauses.
The torso and head take part: the torso leans a little towards the listener while speaking and turns and
leans slowly (Wallbott 1998: posture and movement activity rise with arousal), it turns with the gesturing
hand, and the head nods on pitch accents (Hadar et al. 1983: head movements cluster on stressed syllables).

* :func:`turn_activity`: (T,) 0..1, one while a speaking turn lasts (pauses shorter than
  ``BodyConfig.relax_pause_s`` are bridged), relaxing smoothly in long pauses and silence.
* :func:`add_carriage`: upper-arm abduction while speaking, and the home position (shoulder flexion,
  humeral rotation, elbow flexion) for each arm wherever it does not gesture (``1 - its gesture weight``),
  so every preparation starts from and every retraction returns to the home position, not the hanging
  arms, and the free arm of a one-handed gesture stays at home.
* :func:`accent_nods`: (T,) degrees of head and upper-torso pitch, a small nod on every accent in speech.
* :func:`add_torso`: the speaking lean and a slow closed-form sway of the spine and neck (pitch, yaw,
  roll) scaled by the turn activity and the emotion's torso factor.

Emotion scales all of it through :class:`~engine.animators.body.style.Style` (``carriage``, ``torso``,
``lean_deg``), mixed by the one blending rule of :func:`rigs.core.emotions.blend_weights`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .rig import BodyRig, add_arm
from .signals import bump, sinusoid_noise, smooth
from .style import Style

if TYPE_CHECKING:
    from .animator import BodyConfig

TURN_TAU_S = 0.45                # smoothing of the turn mask: the arms rise a little before speech
# home position (left arm, Euler degrees on top of the idle pose) at carriage 1
HOME_SHOULDER_FLEX_DEG = -12.0   # X: forward flexion of the upper arm
HOME_SHOULDER_ROT_DEG = -14.0    # Y: humeral rotation bringing the forearms in front of the body
HOME_WRIST_DEG = (-15.0, 0.0, 0.0)  # palms turned a little up and in
STANCE_RANGE = (0.75, 1.25)      # per-seed factor range of the carriage abduction and home elbow flexion
# share of the abduction a gesture takes back (its poses place the elbows themselves; a forward-flexed arm
# abducted fully would lift the elbow towards shoulder height)
GESTURE_ABDUCT_RELIEF = 0.4
# spine shares of the lean and sway (pitch, yaw, roll)
TORSO_SHARES = (("spine1", 0.25), ("spine2", 0.35), ("spine3", 0.4))
NECK_SWAY_SHARE = 0.5            # the neck follows the torso sway with this share of its amplitude (own noise)
# accent nods: head pitch bump of this duration (s), its peak this long after the accent, and the share on
# the torso (spine3) and neck
NOD_ACCENT_S = 0.45
NOD_ACCENT_DELAY_S = 0.05
NOD_NECK_SHARE = 0.6
NOD_TORSO_SHARE = 0.25
NOD_AMP_RANGE = (0.6, 1.0)       # random share of BodyConfig.accent_nod_deg per accent
NOD_LOUDNESS = (0.6, 0.8)        # factor base + span * loudness at the accent
# the gesture accompaniment: spine yaw toward a one-handed gesture (degrees at amplitude 1)
GESTURE_TWIST_DEG = 4.0
# channels of the speaking sway noise: (joint group, Euler axis, gain on BodyConfig.torso_sway_deg)
SWAY_CHANNELS = (("torso", 0, 0.6), ("torso", 1, 1.0), ("torso", 2, 0.5), ("neck", 0, 0.8), ("neck", 2, 0.6))
SWAY_BAND_HZ = (0.08, 0.45)      # slow, below the gesture strokes


def turn_activity(speech: np.ndarray, fps: float, style: Style, cfg: BodyConfig) -> np.ndarray:
    """(T,) 0..1 activity of the speaking turn (x ``Style.carriage``): speech with pauses shorter than
    ``cfg.relax_pause_s`` bridged, smoothed (zero phase) with ``TURN_TAU_S``."""
    sp = np.asarray(speech, bool)
    T = len(sp)
    turn = sp.copy()
    gap = int(round(cfg.relax_pause_s * fps))
    if sp.any() and gap > 0:
        idx = np.flatnonzero(sp)
        d = np.diff(idx)
        for a, n in zip(idx[:-1][(d > 1) & (d <= gap + 1)], d[(d > 1) & (d <= gap + 1)]):
            turn[a:a + n] = True
    act = np.clip(smooth(turn.astype(np.float64), fps, TURN_TAU_S), 0.0, 1.0) if T > 1 else turn.astype(float)
    return act * style.carriage


def speaking_stance(rng: np.random.Generator) -> np.ndarray:
    """(2,) this performance's factors of the carriage abduction and of the home position's elbow flexion:
    speakers differ in how wide and how high they carry their arms, so seeds differ in stance too."""
    return rng.uniform(*STANCE_RANGE, size=2)


def add_carriage(E: np.ndarray, rig: BodyRig, activity: np.ndarray, gesture_weight: np.ndarray, style: Style,
                 cfg: BodyConfig, *, stance=(1.0, 1.0)) -> None:
    """Add the arm carriage to Euler degrees ``E`` (n, J, 3): per arm, abduction x ``activity`` (n,) (a share
    ``GESTURE_ABDUCT_RELIEF`` less while that arm gestures) and the home position x ``activity * (1 - w)``,
    with ``gesture_weight`` (n, 2) the left and right arms' gesture weights 0..1; ``stance``: the
    :func:`speaking_stance` factors of the abduction and the home elbow flexion."""
    abduct, elbow = cfg.carriage_abduct_deg * stance[0], cfg.carriage_elbow_deg * stance[1]
    for k, sd in enumerate(("left", "right")):
        w = np.clip(gesture_weight[:, k], 0.0, 1.0)
        a = (activity * (1.0 - GESTURE_ABDUCT_RELIEF * w))[:, None]
        home = (activity * (1.0 - w))[:, None]
        add_arm(E, rig, sd,
                shoulder=a * np.array([0.0, 0.0, abduct])
                + home * np.array([HOME_SHOULDER_FLEX_DEG, HOME_SHOULDER_ROT_DEG, 0.0]),
                elbow=home * np.array([0.0, -elbow, 0.0]),
                wrist=home * np.asarray(HOME_WRIST_DEG))


def accent_nods(t_s: np.ndarray, fps: float, accents, speech: np.ndarray, loud: np.ndarray, style: Style,
                cfg: BodyConfig, rng: np.random.Generator) -> np.ndarray:
    """(T,) head pitch degrees (positive = down): a bump on every accent that falls in speech."""
    T = len(t_s)
    out = np.zeros(T)
    acc = np.asarray(list(accents), dtype=np.float64)
    u = rng.random(len(acc))  # one draw per accent, whether used or not (stable per seed)
    for a, uk in zip(acc, u):
        fr = int(round(a * fps))
        if not 0 <= fr < T or not speech[fr]:
            continue
        start = a + NOD_ACCENT_DELAY_S - 0.5 * NOD_ACCENT_S
        i0, i1 = max(0, int(np.floor(start * fps))), min(T, int(np.ceil((start + NOD_ACCENT_S) * fps)) + 1)
        amp = cfg.accent_nod_deg * (NOD_AMP_RANGE[0] + (NOD_AMP_RANGE[1] - NOD_AMP_RANGE[0]) * uk) \
            * (NOD_LOUDNESS[0] + NOD_LOUDNESS[1] * float(loud[fr]))
        out[i0:i1] = np.maximum(out[i0:i1], amp * bump((t_s[i0:i1] - start) / NOD_ACCENT_S))
    return out * style.torso


def add_torso(E: np.ndarray, rig: BodyRig, t_s: np.ndarray, activity: np.ndarray, nods_deg: np.ndarray,
              params, style: Style, cfg: BodyConfig) -> None:
    """Add the speaking lean, the slow torso/neck sway (``params``: noise parameters for
    ``len(SWAY_CHANNELS)`` channels) and the accent nods (n,) to ``E`` (n, J, 3)."""
    act = np.clip(activity / max(style.carriage, 1e-9), 0.0, 1.0)  # the lean follows the turn, not the arms
    noise = sinusoid_noise(t_s, params) * (cfg.torso_sway_deg * style.torso * act)[:, None]
    lean = (cfg.speaking_lean_deg + style.lean_deg) * act
    for n, share in TORSO_SHARES:
        E[:, rig.i[n], 0] += share * lean
    for c, (group, ax, g) in enumerate(SWAY_CHANNELS):
        if group == "torso":
            for n, share in TORSO_SHARES:
                E[:, rig.i[n], ax] += share * g * noise[:, c]
        else:
            E[:, rig.i["neck"], ax] += NECK_SWAY_SHARE * g * noise[:, c]
    E[:, rig.i["neck"], 0] += NOD_NECK_SHARE * nods_deg - 0.5 * lean  # the gaze stays on the listener
    E[:, rig.i["head"], 0] += (1.0 - NOD_NECK_SHARE) * nods_deg
    E[:, rig.i["spine3"], 0] += NOD_TORSO_SHARE * nods_deg


def gesture_twist(side: str) -> float:
    """Spine yaw (degrees at amplitude 1) accompanying a gesture of ``side``: toward a one-handed gesture."""
    return {"left": GESTURE_TWIST_DEG, "right": -GESTURE_TWIST_DEG}.get(side, 0.0)
