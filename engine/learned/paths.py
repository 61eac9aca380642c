"""Where the shipped learned weights live: the neural face and the learned body (no torch here: the
registry checks for them cheaply)."""
from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_CHECKPOINT = WEIGHTS_DIR / "neural_face.pt"
DEFAULT_CARD = WEIGHTS_DIR / "neural_face.json"     # how the default weights were made
CHECKPOINT_ENV = "PARLEY_NEURAL_CHECKPOINT"          # a weights file to use instead of the default


def default_weights_present() -> bool:
    return DEFAULT_CHECKPOINT.is_file()


DEFAULT_BODY_CHECKPOINT = WEIGHTS_DIR / "learned_body.pt"
DEFAULT_BODY_CARD = WEIGHTS_DIR / "learned_body.json"      # how the default body weights were made
BODY_CHECKPOINT_ENV = "PARLEY_BODY_CHECKPOINT"               # a body weights file to use instead of the default


def default_body_weights_present() -> bool:
    return DEFAULT_BODY_CHECKPOINT.is_file()
