"""The phonetic animator: audio -> prosody + timed phones -> face, lips and body -> Clip. No training.

Pipeline: :func:`engine.audio.prosody.analyze` (loudness, f0, voicing, energy VAD) and
:func:`engine.phonetics.phone_timing` (forced alignment with the transcript, else recognition) feed
:func:`engine.animators.phonetic.face.animate_face`; the face's head and eye rotations and pitch accents feed
:func:`engine.animators.body.animator.animate_body`; the ICT FaceKit linear lip model (:mod:`engine.animators.lips`)
turns the expression into lip-region vertex positions. Implements :class:`engine.animators.base.Animator`.

Speed: the voice-activity mask the body and face see is taken from the phones (non-SIL phones widened
by ``speech_hangover_s``), which already separate speech from pauses, so Silero VAD is not run unless
``PhoneticConfig.features.use_silero`` is set (then its mask is kept). The energy detector only gates
whether phone timing runs at all (a silent recording gets an idle clip).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from engine.animators.base import AnimateRequest
from engine.animators.phonetic.face import FaceConfig, animate_face
from rigs.core.clip import Clip, make_meta
from rigs.core.phones import Phone
from rigs.core.timebase import num_frames
from rigs.core.errors import DataMissingError
from engine.audio.prosody import FeatureConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhoneticConfig:
    face: FaceConfig = field(default_factory=FaceConfig)
    lips: bool = True   # compute lip vertices (needs the ICT FaceKit data)
    # prosody analysis; Silero VAD off by default: the speech mask comes from the phones (module docstring)
    features: FeatureConfig = field(default_factory=lambda: FeatureConfig(use_silero=False))
    speech_from_phones: bool = True     # ignored when features.use_silero is set
    speech_hangover_s: float = 0.10     # phone-derived speech regions are widened by this much each side


class PhoneticAnimator:
    """Rule-based animator (``model_id = "phonetic-v1"``); see the module docstring."""

    model_id = "phonetic-v1"

    def __init__(self, config: PhoneticConfig = PhoneticConfig()):
        self.config = config
        self._lip_model = None

    def lip_model(self):
        """The ICT lip model, loaded once per animator (None when the data is missing)."""
        if self._lip_model is None and self.config.lips:
            from engine.animators.lips import load_lip_model

            try:
                self._lip_model = load_lip_model()
            except DataMissingError as e:
                log.warning("lip vertices left empty: %s", e)
                self._lip_model = False
        return self._lip_model or None

    def phones(self, audio, request: AnimateRequest) -> list:
        from engine.phonetics import phone_timing

        return list(phone_timing(audio, transcript=request.transcript))

    def animate(self, audio, request: AnimateRequest) -> Clip:
        from engine.audio.prosody import analyze

        fps = float(request.fps)
        T = num_frames(audio.duration_s, fps)
        emotion = request.emotion_dict()
        prosody = analyze(audio, fps=fps, config=self.config.features)
        speechless = bool(getattr(prosody, "silent", False)) or not np.any(np.asarray(prosody.speech))
        phones = [] if speechless else self.phones(audio, request)
        if speechless or not any(str(p.label).upper() != "SIL" for p in phones):
            log.warning("%s: no speech found; animating an idle (blinking, breathing) character",
                        getattr(audio, "source_name", "audio"))
            phones = [Phone(0.0, float(audio.duration_s), "SIL")]
        if self.config.speech_from_phones and not self.config.features.use_silero:
            prosody = replace(prosody, speech=speech_mask(phones, fps=fps, n_frames=T,
                                                          hangover_s=self.config.speech_hangover_s),
                              vad_method="phones")
        face = animate_face(phones, prosody, fps=fps, n_frames=T, emotion=emotion, seed=request.seed,
                            config=self.config.face)
        joints, root, names, parents = self._body(request, fps, T, prosody, face, emotion)
        lm = self.lip_model()
        if lm is not None:
            lips, ids = lm.positions_m(face.expression), lm.vertex_ids
        else:
            lips, ids = np.zeros((T, 0, 3), np.float32), np.zeros(0, np.int64)
        meta = make_meta(
            fps=fps, duration_s=audio.duration_s, mode="phonetic", seed=request.seed, emotion=emotion,
            model_ids={"face": self.model_id, "lips": "ict-facekit-linear" if lm is not None else None,
                       "body": "phonetic-body" if request.body else "rest"},
            source_audio=getattr(audio, "source_name", None), source_sha256=getattr(audio, "source_sha256", None),
            sample_rate=getattr(audio, "original_sr", getattr(audio, "sr", None)), template_id="ict-facekit",
            transcript=request.transcript, speech_found=not speechless,
            accent_times_s=[round(float(t), 4) for t in face.accent_times_s],
        )
        clip = Clip(
            fps=fps, duration_s=float(audio.duration_s), expression=face.expression,
            joint_angles=joints.astype(np.float32, copy=False), joint_names=names, joint_parents=parents,
            root_translation=root.astype(np.float32, copy=False),
            lip_vertices=lips.astype(np.float32, copy=False),
            lip_vertex_ids=np.asarray(ids, np.int64),
            phonemes=tuple(Phone(float(p.start_s), float(p.end_s), str(p.label).upper()) for p in phones),
            meta=meta,
        )
        return clip.validate()

    def _body(self, request, fps, T, prosody, face, emotion):
        from rigs.core.skeleton import canonical_skeleton

        sk = canonical_skeleton()
        rest = (np.zeros((T, sk.num_joints, 3), np.float32), np.zeros((T, 3), np.float32))
        if not request.body:
            return (*rest, sk.names, sk.parents)
        try:
            from engine.animators.body.animator import animate_body
        except ImportError as e:
            log.warning("body animator unavailable (%s); body left at rest pose", e)
            return (*rest, sk.names, sk.parents)
        joints, root = animate_body(fps=fps, n_frames=T, prosody=prosody, head_angles_rad=face.head_angles_rad,
                                    eye_angles_rad=face.eye_angles_rad, accent_times_s=face.accent_times_s,
                                    emotion=emotion, seed=request.seed)
        return np.asarray(joints), np.asarray(root), sk.names, sk.parents


def speech_mask(phones, *, fps: float, n_frames: int, hangover_s: float = 0.1) -> np.ndarray:
    """(n_frames,) bool: frame i (at i / fps s) lies within ``hangover_s`` of a non-SIL phone."""
    t = np.arange(n_frames) / float(fps)
    ivs = [(float(p.start_s) - hangover_s, float(p.end_s) + hangover_s) for p in phones
           if str(p.label).upper() != "SIL"]
    if not ivs:
        return np.zeros(n_frames, bool)
    starts, ends = np.array(ivs).T
    # frames covered by some interval: #starts <= t minus #ends <= t (intervals [s, e))
    n_in = np.searchsorted(np.sort(starts), t, side="right") - np.searchsorted(np.sort(ends), t, side="right")
    return n_in > 0
