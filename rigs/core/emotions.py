"""The seven named emotions and the one rule that blends them.

A mix is ``{name: intensity}`` with intensities in [0, 1] (``"joy:0.7,surprise:0.3"`` on the command line).
The one blending rule, used by the face, the body and any learned model: :func:`blend_weights` drops
``neutral``, and when the remaining intensities sum above 1 scales them to sum to 1; neutral takes what is
left. Each component then mixes its parameters with these weights: additive quantities (ARKit overlays,
posture offsets) as ``sum(w * value)``, multiplicative factors (articulation, speed) as
``prod(factor ** w)`` for the face or ``1 + sum(w * (factor - 1))`` for the body, which agree at the
corners (one emotion at intensity 0 or 1). So ``joy:1,anger:1`` is half joy, half anger everywhere.
"""
from __future__ import annotations

import math
from typing import Mapping

from .errors import ConfigError

EMOTIONS: tuple[str, ...] = ("neutral", "joy", "sadness", "anger", "surprise", "fear", "disgust")
EMOTION_INDEX: dict[str, int] = {n: i for i, n in enumerate(EMOTIONS)}  # stable one-hot order


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
        if name not in EMOTION_INDEX:
            raise ConfigError(f"unknown emotion {name!r}; choose from {', '.join(EMOTIONS)}")
        try:
            x = float(val) if val.strip() else 1.0
        except ValueError:
            raise ConfigError(f"emotion {name!r}: intensity {val!r} is not a number") from None
        if not 0.0 <= x <= 1.0:
            raise ConfigError(f"emotion {name!r}: intensity must be in [0, 1], got {x:g}")
        out[name] = out.get(name, 0.0) + x
    return tuple(sorted(out.items()))


def check_mix(emotion: Mapping[str, float] | None) -> dict[str, float]:
    """``{name: intensity}`` with names lower-cased and checked; raises ConfigError on unknown names or
    intensities that are not finite and >= 0."""
    out: dict[str, float] = {}
    for name, inten in (emotion or {}).items():
        key = str(name).lower()
        if key not in EMOTION_INDEX:
            raise ConfigError(f"unknown emotion {name!r}; choose from {', '.join(EMOTIONS)}")
        try:
            w = float(inten)
        except (TypeError, ValueError):
            raise ConfigError(f"emotion {name!r}: intensity {inten!r} is not a number") from None
        if not math.isfinite(w) or w < 0:
            raise ConfigError(f"emotion {name!r}: intensity must be >= 0, got {inten!r}")
        out[key] = out.get(key, 0.0) + w
    return out


def blend_weights(emotion: Mapping[str, float] | None) -> dict[str, float]:
    """The one blending rule (module docstring): weights of the non-neutral emotions, summing to at most 1."""
    items = check_mix(emotion)
    items.pop("neutral", None)
    total = sum(items.values())
    scale = 1.0 / total if total > 1.0 else 1.0
    return {k: scale * w for k, w in items.items()}
