"""The learned body as a stage of the composed animators (modes ``phonetic-body`` and ``neural-body``)."""
from .stage import LearnedBodyMixin, LearnedBodyStage, NeuralBodyAnimator, PhoneticBodyAnimator, body_checkpoint_path

__all__ = ["LearnedBodyMixin", "LearnedBodyStage", "NeuralBodyAnimator", "PhoneticBodyAnimator", "body_checkpoint_path"]
