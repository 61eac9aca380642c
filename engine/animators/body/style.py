"""Emotion styles of the procedural body: how each emotion scales the gestures and the idle, and
changes the posture; mixed with the one blending rule of :func:`rigs.core.emotions.blend_weights`.

Anger and joy gesture bigger and faster, sadness smaller and slower with a slumped posture, fear with
closed arms and raised shoulders; joy and surprise open the chest. The speaking carriage (arms held
away from the body in the gesture space), the torso's sway and accent nods, and the speaking lean
(anger and joy lean in; fear, surprise and disgust draw back) scale with ``carriage``, ``torso`` and
``lean_deg``.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from types import MappingProxyType

import numpy as np

from rigs.core.emotions import blend_weights

__all__ = ["GESTURE_SHAPES", "Style", "STYLES", "blend_style"]

GESTURE_SHAPES = ("beat", "beat_both", "open_palms", "point", "sweep", "shrug")


@dataclass(frozen=True)
class Style:
    """The body's reading of one emotion: factors (1 = neutral) and posture offsets in degrees."""

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
    carriage: float = 1.0        # speaking arm carriage (abduction, home position), see carriage.py
    torso: float = 1.0           # torso sway and accent nods while speaking
    lean_deg: float = 0.0        # extra speaking lean, + towards the listener
    # weights of GESTURE_SHAPES, same order
    weights: tuple[float, ...] = (0.3, 0.15, 0.2, 0.12, 0.13, 0.1)


STYLES = MappingProxyType({
    "neutral": Style(),
    "joy": Style(amp=1.15, speed=1.2, rate=1.2, sway=1.15, spine_flex_deg=-2.0, neck_flex_deg=-2.0,
                 arm_close_deg=-3.0, breath_rate=1.1, carriage=1.15, torso=1.25, lean_deg=1.0, weights=(0.2, 0.15, 0.35, 0.05, 0.15, 0.1)),
    "sadness": Style(amp=0.5, speed=0.7, rate=0.5, sway=0.6, spine_flex_deg=9.0, neck_flex_deg=9.0,
                     collar_raise_deg=-2.0, collar_forward_deg=6.0, arm_close_deg=2.0, elbow_extra_deg=4.0,
                     breath_rate=0.85, carriage=0.45, torso=0.5, lean_deg=0.0, weights=(0.45, 0.2, 0.15, 0.0, 0.05, 0.15)),
    "anger": Style(amp=1.5, speed=1.45, rate=1.3, sway=0.9, spine_flex_deg=3.0, neck_flex_deg=2.0,
                   collar_raise_deg=3.0, elbow_extra_deg=8.0, breath_rate=1.25, carriage=1.2, torso=1.4,
                   lean_deg=3.0,
                   weights=(0.35, 0.2, 0.0, 0.25, 0.2, 0.0)),
    "surprise": Style(amp=1.3, speed=1.3, rate=1.0, sway=1.0, spine_flex_deg=-3.0, neck_flex_deg=-3.0,
                      collar_raise_deg=4.0, breath_rate=1.2, carriage=1.1, torso=1.2,
                      lean_deg=-2.0, weights=(0.15, 0.1, 0.35, 0.05, 0.1, 0.25)),
    "fear": Style(amp=0.7, speed=1.25, rate=0.7, sway=0.7, spine_flex_deg=5.0, neck_flex_deg=4.0,
                  collar_raise_deg=6.0, collar_forward_deg=4.0, arm_close_deg=8.0, elbow_extra_deg=22.0,
                  breath_rate=1.3, carriage=0.6, torso=0.8, lean_deg=-3.0, weights=(0.4, 0.3, 0.05, 0.0, 0.0, 0.25)),
    "disgust": Style(amp=0.8, speed=1.0, rate=0.8, sway=0.9, spine_flex_deg=-2.0, neck_flex_deg=-3.0,
                     collar_raise_deg=2.0, arm_close_deg=3.0, breath_rate=1.0, carriage=0.85, torso=0.9,
                     lean_deg=-2.0,
                     weights=(0.25, 0.1, 0.05, 0.05, 0.35, 0.2)),
})


def blend_style(emotion) -> Style:
    """Mix the emotion styles with the one blending rule (:func:`rigs.core.emotions.blend_weights`).

    emotion: {name: intensity 0..1} or None. Each field is interpolated linearly from neutral."""
    items = blend_weights(emotion)
    base = STYLES["neutral"]
    out = {}
    for f in fields(Style):
        b = np.asarray(getattr(base, f.name), dtype=np.float64)
        v = b + sum(w * (np.asarray(getattr(STYLES[n], f.name)) - b) for n, w in items.items())
        out[f.name] = tuple(float(x) for x in v) if f.name == "weights" else float(v)
    return Style(**out)
