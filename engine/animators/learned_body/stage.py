"""The learned body stage: the procedural body with its torso and arms replaced by the learned body's motion.

:class:`LearnedBodyStage` runs :class:`engine.learned.body_model.LearnedBody` (torch stays in
``engine.learned``) on the recording's log-mel with the request's seed and emotion, and puts its joints
(:data:`engine.learned.body_vq.BODY_JOINTS`: spine, collars, shoulders, elbows, wrists) into the procedural
body's track. Everything else stays procedural: the pelvis, root translation and legs (leg IK keeps the feet
planted), the neck and head (the face's head motion), jaw and eyes. Different seeds sample different plans.

:class:`LearnedBodyMixin` adds the stage to any :class:`engine.animators.compose.ComposedAnimator`: it keeps
the audio with the analysis, overrides ``body()`` and records the learned model's id, checkpoint and sampling
settings in the clip's meta (``model_ids["upper_body"]``, ``body_checkpoint``, ``config["learned_body"]``);
``model_ids["body"]`` stays the procedural body the rest of the skeleton comes from. Registered as
``phonetic-body`` (phonetic face) and ``neural-body`` (neural face).

Weights: ``--checkpoint`` for ``phonetic-body`` (the phonetic face has none), else ``$PARLEY_BODY_CHECKPOINT``,
else the shipped default (:data:`engine.learned.paths.DEFAULT_BODY_CHECKPOINT`). Missing or unusable
weights: the procedural body with a warning (``model_ids["upper_body"]`` is then None).
"""
from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass

import numpy as np

from engine.animators.base import AnimateRequest, Analysis, BodyTrack, FaceTrack, Progress
from engine.animators.compose import config_dict
from engine.animators.neural.animator import NeuralAnimator
from engine.animators.phonetic.animator import PhoneticAnimator
from engine.learned.paths import BODY_CHECKPOINT_ENV, DEFAULT_BODY_CHECKPOINT
from rigs.core.errors import ConfigError

log = logging.getLogger(__name__)


def body_checkpoint_path(checkpoint: str | None = None) -> str:
    return str(checkpoint or os.environ.get(BODY_CHECKPOINT_ENV) or DEFAULT_BODY_CHECKPOINT)


@dataclass(frozen=True)
class BodyAnalysis(Analysis):
    """The shared analysis plus the audio itself (the learned body hears the recording)."""

    audio: object = None


@dataclass(frozen=True)
class LearnedBodySettings:
    """Sampling of the plan (temperature, nucleus top-p) and of the motion (DDIM steps, guidance weights;
    None: the checkpoint's)."""

    temperature: float = 1.0
    top_p: float = 0.9
    sampling_steps: int | None = None
    s_audio: float | None = None
    s_guide: float | None = None


class LearnedBodyStage:
    """Loads the learned body once (or remembers why it cannot) and animates the upper body."""

    def __init__(self, checkpoint: str | None = None, *, device: str = "cpu",
                 settings: LearnedBodySettings = LearnedBodySettings()):
        self.path = body_checkpoint_path(checkpoint)
        self.device = device
        self.settings = settings
        self.model = None
        self.why: str | None = None
        try:
            from engine.learned.body_model import LearnedBody, load_body

            self.model = LearnedBody(load_body(self.path, device=device), device=device)
        except ConfigError as e:
            if checkpoint is not None:          # weights the caller named must work
                raise
            self.why = str(e)
            log.warning("learned body unavailable, using the procedural body: %s", e)

    @property
    def id(self) -> str | None:
        return None if self.model is None else self.model.loaded.id

    def checkpoint(self) -> dict | None:
        if self.model is None:
            return None
        ld = self.model.loaded
        return {"id": ld.id, "sha256": ld.sha256, "path": ld.path.name, "steps": ld.info.get("steps")}

    def effective_settings(self, request: AnimateRequest) -> LearnedBodySettings:
        """The stage's settings with the request's plan sampling (``temperature``, ``top_p``) where given."""
        s = self.settings
        if request.temperature is not None:
            s = dataclasses.replace(s, temperature=float(request.temperature))
        if request.top_p is not None:
            s = dataclasses.replace(s, top_p=float(request.top_p))
        return s

    def __call__(self, audio, base: BodyTrack, request: AnimateRequest) -> BodyTrack:
        """``base`` (the procedural body at the request's fps) with the learned joints put in."""
        if self.model is None:
            return base
        from engine.audio.spectral import log_mel
        from engine.learned.body_model import SampleConfig
        from engine.learned.body_vq import BODY_JOINTS
        from engine.learned.layout import emotion_vector

        mc = self.model.mel_config
        if int(audio.sr) != mc.sample_rate:
            raise ConfigError(f"the learned body needs {mc.sample_rate} Hz audio, got {audio.sr} Hz")
        T = len(base.joint_angles_rad)
        T_model = max(1, int(round(audio.duration_s * mc.fps)))
        mel = log_mel(audio.samples, sr=mc.sample_rate, fps=mc.feature_fps, n_mels=mc.n_mels, n_fft=mc.n_fft,
                      n_frames=T_model * mc.feature_ratio)
        s = self.effective_settings(request)
        out = self.model.run(mel, emotion_vector(request.emotion_dict()), seed=request.seed,
                             sample=SampleConfig(temperature=s.temperature, top_p=s.top_p,
                                                 sampling_steps=s.sampling_steps, s_audio=s.s_audio,
                                                 s_guide=s.s_guide))
        ja = out["joint_angles_rad"]                                                # (T_model, J_body, 3)
        if T_model != T or float(request.fps) != mc.fps:
            src, dst = np.arange(T_model) / mc.fps, np.arange(T) / float(request.fps)
            flat = ja.reshape(T_model, -1)
            ja = np.stack([np.interp(dst, src, flat[:, j]) for j in range(flat.shape[1])], 1).reshape(T, *ja.shape[1:])
        names = list(base.joint_names)
        joints = np.array(base.joint_angles_rad, np.float32, copy=True)
        joints[:, [names.index(n) for n in BODY_JOINTS]] = ja
        return dataclasses.replace(base, joint_angles_rad=joints)


class LearnedBodyMixin:
    """Put before a ComposedAnimator subclass in the bases: its body becomes the learned one (module docstring)."""

    body_stage: LearnedBodyStage

    def analyze(self, audio, request: AnimateRequest, *, progress: Progress) -> Analysis:
        a = super().analyze(audio, request, progress=progress)
        return BodyAnalysis(**{f.name: getattr(a, f.name) for f in dataclasses.fields(Analysis)}, audio=audio)

    def body(self, analysis: Analysis, face: FaceTrack, request: AnimateRequest) -> BodyTrack:
        base = super().body(analysis, face, request)
        if not request.body:
            return base
        return self.body_stage(analysis.audio, base, request)

    def animate(self, audio, request: AnimateRequest, *, progress: Progress | None = None):
        clip = super().animate(audio, request, progress=progress)
        meta = dict(clip.meta)
        meta["model_ids"] = {**meta["model_ids"], "upper_body": self.body_stage.id if request.body else None}
        meta["body_checkpoint"] = self.body_stage.checkpoint()
        meta["config"] = {**(meta.get("config") or {}),
                          "learned_body": config_dict(self.body_stage.effective_settings(request))}
        return dataclasses.replace(clip, meta=meta).validate()


class PhoneticBodyAnimator(LearnedBodyMixin, PhoneticAnimator):
    """Phonetic face + learned body (registry name ``phonetic-body``)."""

    name = "phonetic-body"

    def __init__(self, *args, body_checkpoint: str | None = None, device: str = "cpu", **kwargs):
        super().__init__(*args, **kwargs)
        self.body_stage = LearnedBodyStage(body_checkpoint, device=device)

    @classmethod
    def create(cls, *, model: str | None = None, checkpoint: str | None = None, device: str = "cpu"):
        """``checkpoint``: the learned body's weights (the phonetic face has none)."""
        if model is not None:
            raise ConfigError("mode 'phonetic-body' has no named models; use --checkpoint for other body weights")
        return cls(body_checkpoint=checkpoint, device=device)


class NeuralBodyAnimator(LearnedBodyMixin, NeuralAnimator):
    """Neural face + learned body (registry name ``neural-body``); ``checkpoint`` is the face's, the body's
    weights come from ``$PARLEY_BODY_CHECKPOINT`` or the default."""

    name = "neural-body"

    def __init__(self, *args, device: str = "cpu", **kwargs):
        super().__init__(*args, device=device, **kwargs)
        self.body_stage = LearnedBodyStage(device=device)

