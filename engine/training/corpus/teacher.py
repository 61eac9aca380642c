"""Teacher labels: the phonetic animator run on a recording with its phones given, turned into the per-frame
targets of a corpus window.

The teacher is :class:`engine.animators.phonetic.animator.PhoneticAnimator` with its phone-timing stage
replaced by phones known in advance (:class:`GivenPhonesAnimator`): a forced alignment of the transcript done
once by the builder (real speech; a transcript that does not align is skipped, never replaced by recognition)
or the exact segment times of a synthesiser. Everything else (prosody, accents, face rules, procedural body,
lips) is the runtime's own code, so the labels are what ``parley animate --transcript`` would give.

Targets per frame (:class:`Labels`): ARKit-52 expression, canonical-skeleton joint angles and root
translation, lip-vertex offsets from the ICT template's neutral (mm) and the phone index into
:data:`engine.training.corpus.shards.PHONE_LABELS`. The emotion mix is sampled per clip from a seeded rng
(:func:`sample_emotion`) and given to the teacher, so models learn emotion conditioning.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.animators.base import AnimateRequest
from engine.animators.phonetic.animator import PhoneticAnimator, PhoneticConfig
from engine.training.corpus.shards import PHONE_INDEX
from rigs.core.emotions import EMOTIONS, blend_weights
from rigs.core.errors import ConfigError, DataMissingError
from rigs.core.phones import Phone

M_TO_MM = 1000.0
NEUTRAL_SHARE = 0.6          # of clips get no emotion
TWO_EMOTIONS_SHARE = 0.3     # of the emotional clips mix two emotions (the rest one)
INTENSITY_RANGE = (0.3, 1.0) # uniform intensity of each sampled emotion


@dataclass(frozen=True)
class Labels:
    """Teacher targets of one utterance at ``fps``: T frames (frame i at i / fps)."""

    expression: np.ndarray        # (T, 52) float32 ARKit weights
    joint_angles: np.ndarray      # (T, J, 3) float32 local axis-angle, rad
    root_translation: np.ndarray  # (T, 3) float32 m
    lip_offsets_mm: np.ndarray    # (T, L, 3) float32 mm from the template's neutral lips
    phones: np.ndarray            # (T,) int8 index into PHONE_LABELS, -1 unknown
    emotion: np.ndarray           # (7,) float32 blend weights in EMOTIONS order (neutral takes the rest)

    @property
    def num_frames(self) -> int:
        return int(self.expression.shape[0])


class GivenPhonesAnimator(PhoneticAnimator):
    """The phonetic animator that uses phones handed to :meth:`animate_phones` instead of timing them."""

    name = "phonetic"

    def __init__(self, config: PhoneticConfig | None = None):
        super().__init__(config or PhoneticConfig())
        self._given: tuple[Phone, ...] | None = None

    def phones(self, audio, request: AnimateRequest, *, progress=None) -> list:
        if self._given is None:
            raise ConfigError("GivenPhonesAnimator: call animate_phones() with the phones")
        return list(self._given)

    def animate_phones(self, audio, phones, request: AnimateRequest):
        """The clip of ``audio`` animated with ``phones`` (sorted, contiguous, covering the audio)."""
        self._given = tuple(phones)
        try:
            return self.animate(audio, request)
        finally:
            self._given = None


def sample_emotion(rng: np.random.Generator) -> tuple[tuple[str, float], ...]:
    """A seeded emotion mix for one clip: () (neutral) with probability NEUTRAL_SHARE, else one or two of the
    six non-neutral emotions with intensities uniform in INTENSITY_RANGE (sorted (name, intensity) pairs)."""
    if rng.random() < NEUTRAL_SHARE:
        return ()
    k = 2 if rng.random() < TWO_EMOTIONS_SHARE else 1
    names = rng.choice(np.array(EMOTIONS[1:]), size=k, replace=False)
    return tuple(sorted((str(n), round(float(rng.uniform(*INTENSITY_RANGE)), 3)) for n in names))


def emotion_vector(mix) -> np.ndarray:
    """(7,) float32 weights of ``mix`` under the one blending rule, neutral taking what is left."""
    w = blend_weights(dict(mix))
    out = np.zeros(len(EMOTIONS), np.float32)
    for name, x in w.items():
        out[EMOTIONS.index(name)] = x
    out[0] = max(0.0, 1.0 - float(out[1:].sum()))
    return out


def frame_phones(phones, n_frames: int, fps: float) -> np.ndarray:
    """(n_frames,) int8: index into PHONE_LABELS of the phone holding frame time i / fps, -1 where none does."""
    out = np.full(n_frames, -1, np.int8)
    if not phones:
        return out
    starts = np.array([p.start_s for p in phones])
    ends = np.array([p.end_s for p in phones])
    labels = np.array([PHONE_INDEX.get(str(p.label).upper(), -1) for p in phones], np.int8)
    t = np.arange(n_frames) / float(fps)
    k = np.searchsorted(starts, t + 1e-9, side="right") - 1
    ok = (k >= 0) & (t < ends[np.clip(k, 0, None)] + 1e-9)
    out[ok] = labels[k[ok]]
    return out


class Teacher:
    """Labels utterances with the phonetic animator (one instance per process: the lip model loads once)."""

    def __init__(self, config: PhoneticConfig | None = None, *, fps: float = 30.0):
        self.animator = GivenPhonesAnimator(config)
        self.fps = float(fps)
        lm = self.animator.lips.model()
        if lm is None:
            raise DataMissingError("teacher labels need the ICT FaceKit lip model ($PARLEY_DATA/ict_facekit)")
        self.lip_vertex_ids = np.asarray(lm.vertex_ids, np.int64)
        self.neutral_lips_m = np.asarray(lm.neutral_m, np.float32)

    def label(self, audio, phones, *, seed: int, emotion=(), transcript: str | None = None) -> Labels:
        """Teacher labels of ``audio`` (an :class:`engine.audio.load.Audio`) with ``phones`` given."""
        req = AnimateRequest(fps=self.fps, seed=int(seed), emotion=tuple(emotion), transcript=transcript)
        clip = self.animator.animate_phones(audio, phones, req)
        T = clip.num_frames
        if not np.array_equal(np.asarray(clip.lip_vertex_ids), self.lip_vertex_ids):
            raise ConfigError("teacher clip has other lip vertices than the lip model")
        lips_mm = (np.asarray(clip.lip_vertices, np.float32) - self.neutral_lips_m[None]) * M_TO_MM
        return Labels(expression=np.asarray(clip.expression, np.float32),
                      joint_angles=np.asarray(clip.joint_angles, np.float32),
                      root_translation=np.asarray(clip.root_translation, np.float32),
                      lip_offsets_mm=lips_mm.astype(np.float32),
                      phones=frame_phones(clip.phonemes or (), T, self.fps),
                      emotion=emotion_vector(emotion))


def labels_finite(labels: Labels) -> bool:
    """True when every float target is finite."""
    return all(np.all(np.isfinite(a)) for a in (labels.expression, labels.joint_angles, labels.root_translation,
                                                labels.lip_offsets_mm, labels.emotion))


def frames_apart(duration_s: float, n_frames: int, fps: float) -> float:
    """How many frames ``n_frames`` labels are from covering ``duration_s`` of audio at ``fps``."""
    return abs(n_frames - float(duration_s) * float(fps)) if math.isfinite(duration_s) else math.inf
