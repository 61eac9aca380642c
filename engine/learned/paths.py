"""Where the shipped neural-face weights live (no torch here: the registry checks for them cheaply)."""
from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_CHECKPOINT = WEIGHTS_DIR / "neural_face.pt"
DEFAULT_CARD = WEIGHTS_DIR / "neural_face.json"     # how the default weights were made
CHECKPOINT_ENV = "PARLEY_NEURAL_CHECKPOINT"          # a weights file to use instead of the default


def default_weights_present() -> bool:
    return DEFAULT_CHECKPOINT.is_file()
