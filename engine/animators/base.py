"""The animator interface: what every way of turning speech into motion implements.

The phonetic animator (no training) and later learned models sit behind this one interface and emit
the same :class:`rigs.core.clip.Clip`, so the CLI, batch jobs and the add-on never care which ran.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rigs.core.emotions import EMOTIONS, parse_emotion  # noqa: F401  (re-exported)

@dataclass(frozen=True)
class AnimateRequest:
    """What the caller asks for; independent of the animator that serves it."""

    fps: float = 30.0
    seed: int = 0
    emotion: tuple[tuple[str, float], ...] = ()  # (name, intensity in [0, 1]) pairs, see parse_emotion
    transcript: str | None = None
    body: bool = True

    def emotion_dict(self) -> dict[str, float]:
        return dict(self.emotion)


@runtime_checkable
class Animator(Protocol):
    """Audio in, clip out. ``model_id`` is written into the clip's meta."""

    model_id: str

    def animate(self, audio, request: AnimateRequest):  # (engine.audio.load.Audio, AnimateRequest) -> Clip
        ...
