"""Emotions as FACS-based ARKit overlays plus a speaking style, blendable with intensities.

Each basic emotion (Ekman & Friesen, FACS 1978; prototypes as in EMFACS) is a set of action units
mapped to ARKit channels, e.g. joy = AU6 cheek raiser (cheekSquint, eyeSquint) + AU12 lip corner puller
(mouthSmile); sadness = AU1+4 (browInnerUp, browDown) + AU15 lip corner depressor (mouthFrown) + AU17
(mouthShrugLower); anger = AU4+5+7+23/24; surprise = AU1+2+5+26; fear = AU1+2+4+5+20+26; disgust = AU9+10.
Emotion also changes *how* one speaks (Busso et al. 2007, "Rigid head motion in expressive speech
animation"): articulation amplitude, head motion energy, blink rate, brow accent gain and a head pitch bias.

A blend ``{"joy": 0.7, "surprise": 0.3}`` is weighted by the one rule of :func:`rigs.core.emotions.blend_weights`
(intensities summing above 1 are normalised); overlays add scaled by the weight and style factors multiply
raised to it (so intensity 0 is neutral and 0.5 lies between neutral and 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rigs.core.arkit import ARKIT_INDEX, ARKIT_NAMES
from rigs.core.emotions import blend_weights


def _lr(name: str, v: float) -> dict[str, float]:
    return {name + "Left": v, name + "Right": v}


OVERLAYS: dict[str, dict[str, float]] = {
    "neutral": {},
    "joy": {**_lr("mouthSmile", 0.65), **_lr("cheekSquint", 0.45), **_lr("eyeSquint", 0.3),
            **_lr("mouthDimple", 0.15), "browInnerUp": 0.05},
    "sadness": {"browInnerUp": 0.6, **_lr("browDown", 0.2), **_lr("mouthFrown", 0.5), "mouthShrugLower": 0.2,
                **_lr("eyeBlink", 0.15), **_lr("eyeLookDown", 0.1)},
    "anger": {**_lr("browDown", 0.7), **_lr("eyeSquint", 0.35), **_lr("eyeWide", 0.1), **_lr("mouthPress", 0.25),
              **_lr("noseSneer", 0.2), **_lr("mouthFrown", 0.15), "jawForward": 0.1},
    "surprise": {"browInnerUp": 0.7, **_lr("browOuterUp", 0.7), **_lr("eyeWide", 0.6), "jawOpen": 0.12},
    "fear": {"browInnerUp": 0.75, **_lr("browOuterUp", 0.3), **_lr("browDown", 0.25), **_lr("eyeWide", 0.6),
             **_lr("mouthStretch", 0.45), "jawOpen": 0.05},
    "disgust": {**_lr("noseSneer", 0.6), **_lr("mouthUpperUp", 0.3), **_lr("browDown", 0.35),
                **_lr("cheekSquint", 0.3), **_lr("mouthFrown", 0.2), **_lr("eyeSquint", 0.2), "mouthShrugLower": 0.15},
}

# style factors: articulation, head energy, blink rate, brow accent gain; head pitch bias (rad, + = down)
_STYLE: dict[str, tuple[float, float, float, float, float]] = {
    "neutral": (1.0, 1.0, 1.0, 1.0, 0.0),
    "joy": (1.1, 1.25, 1.0, 1.2, -0.03),
    "sadness": (0.75, 0.6, 0.8, 0.6, 0.08),
    "anger": (1.2, 1.35, 0.75, 0.8, 0.04),
    "surprise": (1.1, 1.15, 0.6, 1.3, -0.05),
    "fear": (0.9, 0.9, 1.4, 1.1, 0.02),
    "disgust": (0.9, 0.9, 1.0, 0.8, 0.02),
}


@dataclass(frozen=True)
class EmotionStyle:
    overlay: np.ndarray           # (52,) additive ARKit weights
    articulation: float = 1.0
    head_energy: float = 1.0
    blink_rate: float = 1.0
    brow_gain: float = 1.0
    head_pitch_bias_rad: float = 0.0


def emotion_style(emotion: dict[str, float] | None) -> EmotionStyle:
    """Blend ``{name: intensity}`` (intensity in [0, 1]) into one overlay and speaking style."""
    overlay = np.zeros(len(ARKIT_NAMES))
    f = np.ones(4)
    bias = 0.0
    for key, w in blend_weights(emotion).items():
        for ch, v in OVERLAYS[key].items():
            overlay[ARKIT_INDEX[ch]] += w * v
        st = _STYLE[key]
        f *= np.asarray(st[:4]) ** w
        bias += w * st[4]
    return EmotionStyle(np.clip(overlay, 0, 1), *map(float, f), head_pitch_bias_rad=float(bias))
