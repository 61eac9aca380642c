"""The animator seam: what every way of turning speech into motion takes and gives.

An animator turns (:class:`engine.audio.load.Audio`, :class:`AnimateRequest`) into a validated
:class:`rigs.core.clip.Clip`. Most do it in stages, each with a typed output: an :class:`Analysis`
(prosody, the shared pitch accents, timed phones when the animator uses them), a :class:`FaceTrack`
(expression, head and eye rotations), a :class:`BodyTrack` (joint angles, root motion); then lip vertices
and meta are added in one compose step (:mod:`engine.animators.compose`). A new face model implements
``face()`` on :class:`engine.animators.compose.ComposedAnimator` and registers one name
(:mod:`engine.animators.registry`); it keeps the body's accent-timed gestures and head-driven motion.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

import numpy as np

from rigs.core.emotions import parse_emotion
from rigs.core.errors import CancelledError
from rigs.core.phones import Phone

if TYPE_CHECKING:  # the accents stage imports scipy; listing animators must stay cheap
    from engine.audio.accents import Accents

# progress(stage, fraction of this run in [0, 1]); it may raise CancelledError to stop the run
Progress = Callable[[str, float], None]

__all__ = ["AnimateRequest", "Analysis", "Animator", "BodyTrack", "CancelledError", "FaceTrack", "Progress",
           "parse_emotion"]


@dataclass(frozen=True)
class AnimateRequest:
    """What the caller asks for; independent of the animator that serves it."""

    fps: float = 30.0
    seed: int = 0
    emotion: tuple[tuple[str, float], ...] = ()  # (name, intensity in [0, 1]) pairs, see parse_emotion
    style: tuple[float, ...] | None = None       # a learned face's style code (an emotion preset's); None: the
                                                 # model's average manner; animators without style codes ignore it
    style_weights: str | None = None             # the weights that code came from (a warning when others get it)
    transcript: str | None = None
    body: bool = True
    model: str | None = None        # a named model of the animator (None: its default)
    checkpoint: str | None = None   # a weights file for learned animators (None: the shipped default)
    device: str = "cpu"             # where learned animators run ("cpu", "cuda"...)
    # dyadic input: the conversation partner's recording (engine.audio.load.Audio, any length or rate: it is
    # conformed to the character's audio) and where the partner is (yaw degrees, + toward the character's left)
    partner: object | None = field(default=None, compare=False, repr=False)
    partner_direction_deg: float = 30.0
    # sampling of a learned model's discrete plan (the learned body's guide poses): softmax temperature and
    # nucleus top-p; None keeps the model's own setting
    temperature: float | None = None
    top_p: float | None = None

    def emotion_dict(self) -> dict[str, float]:
        return dict(self.emotion)


@dataclass(frozen=True)
class Analysis:
    """What an animator heard: per-frame ``prosody`` (:class:`engine.audio.prosody.Prosody`) at the clip's
    frames, the shared pitch ``accents``, the timed ``phones`` when the animator times phones (else None),
    whether any speech was found and, with a partner, the partner's analysis
    (:class:`engine.animators.listening.PartnerAnalysis`)."""

    prosody: object
    accents: Accents
    n_frames: int
    phones: tuple[Phone, ...] | None = None
    speech_found: bool = True
    partner: object | None = None


@dataclass(frozen=True)
class FaceTrack:
    """A face stage's output. ``expression`` (T, 52) float32 ARKit weights in canonical order, in [0, 1];
    ``head_angles_rad`` (T, 3) pitch/yaw/roll rotation vector (Y up, +Z forward, +X the character's left;
    + pitch looks down); ``eye_angles_rad`` (T, 2, 3) left, right in the same convention; ``blink_times_s``
    (B,) when the face model places blinks (else None)."""

    expression: np.ndarray
    head_angles_rad: np.ndarray
    eye_angles_rad: np.ndarray
    blink_times_s: np.ndarray | None = None
    # a face model that predicts the lips itself (the neural face): (T, L, 3) offsets from the lip model's
    # neutral in mm on the lip model's vertices, and its id; else None and the lips follow ``expression``
    lip_offsets_mm: np.ndarray | None = None
    lips_model_id: str | None = None
    meta: dict = field(default_factory=dict)     # what the face adds to the clip meta


@dataclass(frozen=True)
class BodyTrack:
    """A body stage's output on a skeleton: ``joint_angles_rad`` (T, J, 3) local axis-angle, ``root_translation_m``
    (T, 3) pelvis offset from its rest position, ``joint_names``/``joint_parents`` (J,)."""

    joint_angles_rad: np.ndarray
    root_translation_m: np.ndarray
    joint_names: tuple[str, ...]
    joint_parents: tuple[int, ...]


@runtime_checkable
class Animator(Protocol):
    """Audio in, clip out. ``name`` is its registry name (the clip's ``mode``), ``model_id`` goes into the meta;
    one instance serves many files (weights load once)."""

    name: str
    model_id: str

    def animate(self, audio, request: AnimateRequest, *, progress: Progress | None = None):
        """-> rigs.core.clip.Clip; calls ``progress(stage, fraction)`` between stages (it may cancel)."""
        ...
