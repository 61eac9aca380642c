"""The streaming animator behind the :class:`engine.animators.base.Animator` interface: a whole recording is
streamed chunk by chunk through :class:`engine.streaming.animator.StreamingAnimator` and its frames become a
clip with the same contract (lip vertices, meta, validation) as every other animator's
(:func:`engine.animators.compose.compose_clip`). Use it to see exactly what a live stream would have shown,
or to run the streaming path wherever an ``Animator`` is expected (batch, studies)."""
from __future__ import annotations

import dataclasses

import numpy as np

from engine.animators.base import AnimateRequest, Analysis, BodyTrack, FaceTrack, Progress
from engine.animators.compose import BODY_MODEL_ID, REST_MODEL_ID, LipStage, compose_clip, face_lips, rest_body
from engine.audio.accents import Accents
from engine.streaming.animator import StreamConfig, StreamingAnimator
from engine.streaming.features import MODEL_SR
from engine.streaming.model import EnergyFace, EnergyFaceConfig
from rigs.core.errors import ConfigError

CHUNK_S = 0.02     # the chunk size a recording is streamed in


class StreamAnimator:
    """``animate(audio, request) -> Clip`` through the streaming path (module docstring). ``model_factory(fps)``
    makes the per-frame model (default: the :class:`~engine.streaming.model.EnergyFace` stand-in)."""

    name = "stream"

    def __init__(self, model_factory=None, *, lips: bool = True):
        self.model_factory = model_factory or (lambda fps: EnergyFace(EnergyFaceConfig(), fps=fps))
        self.model_id = self.model_factory(30.0).model_id
        self.lips = LipStage(lips)

    def animate(self, audio, request: AnimateRequest, *, progress: Progress | None = None):
        report = progress or (lambda stage, frac: None)
        model = self.model_factory(float(request.fps))
        if abs(float(model.fps) - float(request.fps)) > 1e-9:
            raise ConfigError(f"the streaming model runs at {model.fps:g} fps, not {request.fps:g}")
        config = StreamConfig(seed=request.seed, emotion=request.emotion, body=request.body)
        s = StreamingAnimator(model, config=config)
        y = np.asarray(audio.samples, np.float32)
        sr = int(audio.sr)
        step = max(1, int(CHUNK_S * sr))
        frames = []
        report("analyze", 0.0)
        for i in range(0, y.size, step):
            frames += s.feed(y[i:i + step], sr)
            if (i // step) % 50 == 0:
                report("analyze", 0.85 * i / max(1, y.size))
        frames += s.flush()
        T = len(frames)
        face = FaceTrack(expression=np.stack([f.expression for f in frames]),
                         head_angles_rad=np.stack([f.head_rad for f in frames]),
                         eye_angles_rad=np.stack([f.eyes_rad for f in frames]))
        if frames and all(f.lip_offsets_mm is not None for f in frames):    # a model that predicts its lips
            face = FaceTrack(expression=face.expression, head_angles_rad=face.head_angles_rad,
                             eye_angles_rad=face.eye_angles_rad, lips_model_id=f"{model.model_id}-lips",
                             lip_offsets_mm=np.stack([f.lip_offsets_mm for f in frames]).astype(np.float32))
        if request.body:
            body = BodyTrack(np.stack([f.joint_angles for f in frames]).astype(np.float32),
                             np.stack([f.root_translation for f in frames]).astype(np.float32),
                             s.body.joint_names, s.body.joint_parents)
        else:
            body = rest_body(T)
        acc = s.accents_found
        accents = Accents(np.asarray([a for a, _ in acc], np.int64), np.asarray([b for _, b in acc]), float(request.fps))
        analysis = Analysis(prosody=None, accents=accents, n_frames=T,
                            speech_found=bool(s.loudness.level_db is not None and not audio.is_silent()))
        report("lips", 0.85)
        lips = face_lips(self.lips, face, own=face)
        report("compose", 0.95)
        clip = compose_clip(audio, request, mode=self.name, analysis=analysis, face=face, body=body, lips=lips,
                            model_ids={"face": model.model_id,
                                       "body": "streaming-" + BODY_MODEL_ID if request.body else REST_MODEL_ID},
                            config={"stream": dataclasses.asdict(config), "model": _model_config(model),
                                    "lookahead_s": s.lookahead_s, "sample_rate": MODEL_SR})
        report("animated", 1.0)
        return clip


def _model_config(model) -> dict:
    cfg = getattr(model, "config", None)
    return dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else {}
