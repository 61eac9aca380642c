"""Which outputs each learned face model owns (numpy only; the animator and the trainers share it).

The fast path (the lip regressor) owns the mouth: jaw, mouth, cheek-puff and tongue channels, the lip-region
vertices and the lips-closed probability; face diffusion owns the upper face (brows, eyes, cheek squint, nose),
the head rotation and the eye rotations. Keeping the mouth out of diffusion is what locks it to the audio
whatever the seed.
"""
from __future__ import annotations

import numpy as np

from rigs.core.arkit import ARKIT_NAMES
from rigs.core.phones import LABELS

_UPPER_PREFIXES = ("brow", "eye", "cheekSquint", "noseSneer")
UPPER_CHANNELS: tuple[str, ...] = tuple(n for n in ARKIT_NAMES if n.startswith(_UPPER_PREFIXES))
MOUTH_CHANNELS: tuple[str, ...] = tuple(n for n in ARKIT_NAMES if n not in UPPER_CHANNELS)
UPPER_INDEX = np.array([ARKIT_NAMES.index(n) for n in UPPER_CHANNELS], np.int64)
MOUTH_INDEX = np.array([ARKIT_NAMES.index(n) for n in MOUTH_CHANNELS], np.int64)
HEAD_DIMS = 3              # head rotation (pitch, yaw, roll), rad
EYE_DIMS = 6               # left and right eye rotations (2 x 3), rad
FACE_DIMS = len(UPPER_CHANNELS) + HEAD_DIMS + EYE_DIMS   # what diffusion generates per frame

# skeleton joints whose corpus angles give the head and eye targets (the procedural body splits the face's
# head rotation between neck and head, so their sum is the head rotation)
HEAD_JOINTS = ("neck", "head")
EYE_JOINTS = ("left_eye", "right_eye")

BILABIALS = ("P", "B", "M")                       # lips must touch
OPEN_VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY")  # the jaw must open
BILABIAL_INDEX = np.array([LABELS.index(p) for p in BILABIALS], np.int64)
OPEN_VOWEL_INDEX = np.array([LABELS.index(p) for p in OPEN_VOWELS], np.int64)


def emotion_vector(mix: dict[str, float] | None) -> np.ndarray:
    """(7,) float32 in EMOTIONS order: the blended non-neutral weights (:func:`rigs.core.emotions.blend_weights`)
    and ``neutral`` = 1 - their sum. Training data and requests both go through it."""
    from rigs.core.emotions import EMOTIONS, blend_weights

    w = blend_weights(mix or {})
    v = np.array([w.get(n, 0.0) for n in EMOTIONS], np.float32)
    v[EMOTIONS.index("neutral")] = max(0.0, 1.0 - float(v.sum()))
    return v
