"""The animator interface: what every way of turning speech into motion implements.

The phonetic animator (no training) and later learned models sit behind this one interface and emit
the same :class:`engine.clip.Clip`, so the CLI, batch jobs and the add-on never care which ran.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from engine.errors import ConfigError

EMOTIONS = ("neutral", "joy", "sadness", "anger", "surprise", "fear", "disgust")


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


def parse_emotion(spec: str | None) -> tuple[tuple[str, float], ...]:
    """Parse ``"joy:0.7,surprise:0.3"`` (intensity defaults to 1) into sorted (name, intensity) pairs."""
    if spec is None or not spec.strip():
        return ()
    out: dict[str, float] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, val = part.partition(":")
        name = name.strip().lower()
        if name not in EMOTIONS:
            raise ConfigError(f"unknown emotion {name!r}; choose from {', '.join(EMOTIONS)}")
        try:
            x = float(val) if val.strip() else 1.0
        except ValueError:
            raise ConfigError(f"emotion {name!r}: intensity {val!r} is not a number") from None
        if not 0.0 <= x <= 1.0:
            raise ConfigError(f"emotion {name!r}: intensity must be in [0, 1], got {x:g}")
        out[name] = out.get(name, 0.0) + x
    return tuple(sorted(out.items()))


@runtime_checkable
class Animator(Protocol):
    """Audio in, clip out. ``model_id`` is written into the clip's meta."""

    model_id: str

    def animate(self, audio, request: AnimateRequest):  # (engine.audio.Audio, AnimateRequest) -> Clip
        ...
