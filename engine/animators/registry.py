"""The one list of animators: names (the ``--mode`` choices, the add-on's menu, the subprocess command),
labels, descriptions and how to build each.

Registering costs nothing: a factory imports its animator when it is first built, so listing the modes
never loads a model. Add an animator by implementing it (see :mod:`engine.animators.compose`) and calling
``ANIMATORS.register(AnimatorInfo(...))`` with a factory. ``parley modes --json`` prints
:meth:`Registry.describe` for callers in other processes (the Blender add-on).
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Callable, Iterator

from engine.animators.base import Animator
from rigs.core.errors import ConfigError

log = logging.getLogger(__name__)


def _always_available() -> str | None:
    return None


@dataclass(frozen=True)
class AnimatorInfo:
    """One registered animator. ``factory(model=..., checkpoint=..., device=...)`` builds an instance;
    ``available()`` says why it cannot run here (None: it can); ``stochastic`` animators give different
    takes for different seeds."""

    name: str
    label: str
    description: str
    factory: Callable[..., Animator]
    stochastic: bool = True
    available: Callable[[], str | None] = field(default=_always_available)


class Registry:
    """Animators by name, in registration order."""

    def __init__(self) -> None:
        self._infos: dict[str, AnimatorInfo] = {}

    def register(self, info: AnimatorInfo) -> AnimatorInfo:
        if not info.name or not info.name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"animator name {info.name!r}: use letters, digits, - and _")
        if info.name in self._infos:
            raise ConfigError(f"an animator named {info.name!r} is already registered")
        self._infos[info.name] = info
        return info

    def unregister(self, name: str) -> None:
        self._infos.pop(name, None)

    @contextlib.contextmanager
    def registered(self, info: AnimatorInfo) -> Iterator[AnimatorInfo]:
        """Register ``info`` for the duration of a ``with`` block (tests, plug-ins)."""
        self.register(info)
        try:
            yield info
        finally:
            self.unregister(info.name)

    def names(self) -> tuple[str, ...]:
        return tuple(self._infos)

    def info(self, name: str) -> AnimatorInfo:
        try:
            return self._infos[name]
        except KeyError:
            raise ConfigError(f"unknown mode {name!r}; choose from {', '.join(self._infos)}") from None

    def create(self, name: str, *, model: str | None = None, checkpoint: str | None = None,
               device: str = "cpu") -> Animator:
        """A new animator instance for ``name``; raises ConfigError when it is unknown or cannot run here."""
        info = self.info(name)
        why = info.available()
        if why:
            raise ConfigError(f"mode {name!r} is not available: {why}")
        return info.factory(model=model, checkpoint=checkpoint, device=device)

    def describe(self) -> list[dict]:
        """JSON-ready ``[{name, label, description, stochastic, available, why}]`` in registration order."""
        out = []
        for info in self._infos.values():
            why = info.available()
            out.append({"name": info.name, "label": info.label, "description": info.description,
                        "stochastic": info.stochastic, "available": why is None, "why": why})
        return out


def _phonetic(**options) -> Animator:
    from engine.animators.phonetic.animator import PhoneticAnimator

    return PhoneticAnimator.create(**options)


def _neutral(**options) -> Animator:
    from engine.animators.neutral import NeutralAnimator

    return NeutralAnimator.create(**options)


def _neural(**options) -> Animator:
    from engine.animators.neural.animator import NeuralAnimator

    return NeuralAnimator.create(**options)


def _phonetic_body(**options) -> Animator:
    from engine.animators.learned_body import PhoneticBodyAnimator

    return PhoneticBodyAnimator.create(**options)


def _neural_body(**options) -> Animator:
    from engine.animators.learned_body import NeuralBodyAnimator

    return NeuralBodyAnimator.create(**options)


def _default_mode() -> str:
    """'neural' when its shipped weights are present, else 'phonetic' (with a warning)."""
    from engine.learned.paths import DEFAULT_CHECKPOINT, default_weights_present

    if default_weights_present():
        return "neural"
    log.warning("neural-face weights missing (%s); the default mode falls back to 'phonetic'", DEFAULT_CHECKPOINT)
    return "phonetic"


ANIMATORS = Registry()
DEFAULT_MODE = _default_mode()
ANIMATORS.register(AnimatorInfo(
    name="phonetic", label="Phonetic", factory=_phonetic,
    description="phone timing + coarticulation rules; works on any voice, no training"))
ANIMATORS.register(AnimatorInfo(
    name="neutral", label="Rest (timing only)", factory=_neutral, stochastic=False,
    description="a clip of the right length with the face and body at rest"))
ANIMATORS.register(AnimatorInfo(
    name="neural", label="Neural", factory=_neural,
    description="learned from speech: lips regressed from the audio, upper face and head sampled by diffusion; "
                "no transcript needed"))
ANIMATORS.register(AnimatorInfo(
    name="phonetic-body", label="Phonetic + learned body", factory=_phonetic_body,
    description="phonetic face; torso and arms sampled by the learned body (VQ guide poses + diffusion)"))
ANIMATORS.register(AnimatorInfo(
    name="neural-body", label="Neural + learned body", factory=_neural_body,
    description="neural face; torso and arms sampled by the learned body (VQ guide poses + diffusion)"))
