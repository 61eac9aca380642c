"""Augmentation of corpus audio (placeholder until the chain is written): no augmentation."""
from __future__ import annotations

import numpy as np

from rigs.core.errors import ConfigError


def sample_chain(rng: np.random.Generator) -> list[dict]:
    raise ConfigError("augmentation is not available yet")


def tempo_of(chain: list[dict]) -> float:
    return 1.0


def time_stretch(samples, phones, *, rate: float, sr: int):
    raise ConfigError("augmentation is not available yet")


def apply_chain(samples, chain, *, sr: int, seed: int):
    raise ConfigError("augmentation is not available yet")
