"""The procedural body: prosody, accents and head motion -> canonical joint angles and root motion.

Turns prosody (per-frame loudness and voice activity), the face's head/eye rotations and its accent
times into local joint rotations and a root translation on the canonical SMPL-X skeleton, without any
training data. Modules, bottom up:

* :mod:`~engine.animators.body.rig`: joint indices, limits and rest positions; mirrored arm poses.
* :mod:`~engine.animators.body.signals`: minimum-jerk keyframes, smoothing, smooth noise, peaks,
  prosody-track coercion.
* :mod:`~engine.animators.body.style`: the emotion styles and their blending.
* :mod:`~engine.animators.body.idle`: idle pose, breathing, weight shift, listener nods, liveliness noise.
* :mod:`~engine.animators.body.gestures`: the gesture library, gesture candidates and keyframing.
* :mod:`~engine.animators.body.legs`: the two-bone leg IK that keeps the feet planted.
* :mod:`~engine.animators.body.animator`: :class:`BodyConfig`, :func:`animate_body` and the block
  assembly (head and eyes, limits, axis-angle, flat memory on long clips).

The block assembly is public for other drivers of the same body (the causal
:class:`engine.streaming.body.StreamingBody`): fill a :class:`ClipSignals` and pose frames with
:func:`pose_block`; ``N_STREAMS`` is the number of seeded random streams (``SeedSequence(seed).spawn``)
whose roles such a driver keeps, so that a seed means the same performance.
"""
from .animator import N_STREAMS, BodyConfig, ClipSignals, animate_body, pose_block
from .style import GESTURE_SHAPES

__all__ = ["BodyConfig", "ClipSignals", "GESTURE_SHAPES", "N_STREAMS", "animate_body", "pose_block"]
