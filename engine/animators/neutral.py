"""The neutral animator: a clip of the right length at rest, for pipelines that only need timing and for tests."""
from __future__ import annotations

from engine.animators.base import AnimateRequest, Progress
from rigs.core.clip import Clip, make_meta, neutral_clip
from rigs.core.errors import ConfigError


class NeutralAnimator:
    """Every channel at rest (registry name ``neutral``); the meta says where the audio came from."""

    name = "neutral"
    model_id = "neutral"

    @classmethod
    def create(cls, *, model: str | None = None, checkpoint: str | None = None, device: str = "cpu"):
        if model is not None or checkpoint is not None:
            raise ConfigError("mode 'neutral' has no models or checkpoints; drop --model/--checkpoint")
        return cls()

    def animate(self, audio, request: AnimateRequest, *, progress: Progress | None = None) -> Clip:
        if progress is not None:
            progress("animate", 0.0)
        meta = make_meta(fps=request.fps, duration_s=audio.duration_s, mode=self.name, seed=request.seed,
                         emotion=request.emotion_dict(), model_ids={"face": self.model_id},
                         source_audio=audio.source_name, source_sha256=audio.source_sha256,
                         sample_rate=audio.original_sr, config=None, checkpoint=None)
        clip = neutral_clip(audio.duration_s, fps=request.fps, meta=meta)
        if progress is not None:
            progress("animated", 1.0)
        return clip
