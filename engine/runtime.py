"""Orchestration: pick an animator, run it on an audio file, write one or more seeded takes.

This is the only place that knows which animators exist; the CLI, batch jobs and the add-on's
in-process path all call :func:`animate_file`. Learned models register here behind the same
:class:`engine.animators.base.Animator` interface and clip contract.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Callable

from engine.animators.base import AnimateRequest
from rigs.core.clip import Clip, make_meta, neutral_clip, save_clip
from rigs.core.emotions import parse_emotion
from rigs.core.errors import ConfigError, ParleyError

__all__ = ["AnimateRequest", "ParleyError", "animate_file", "parse_emotion", "take_paths"]

log = logging.getLogger(__name__)

MODES = ("phonetic", "neutral")
Progress = Callable[[str, float], None]


class NeutralAnimator:
    """A clip of the right length at rest: for pipelines that only need timing, and for testing."""

    model_id = "neutral"

    def animate(self, audio, request: AnimateRequest) -> Clip:
        meta = make_meta(fps=request.fps, duration_s=audio.duration_s, mode="neutral", seed=request.seed,
                         emotion=request.emotion_dict(), model_ids={"face": self.model_id},
                         source_audio=audio.source_name, source_sha256=audio.source_sha256,
                         sample_rate=audio.original_sr)
        return neutral_clip(audio.duration_s, fps=request.fps, meta=meta)


def get_animator(mode: str):
    """The animator serving ``mode`` (one of :data:`MODES`)."""
    if mode == "neutral":
        return NeutralAnimator()
    if mode == "phonetic":
        from engine.animators.phonetic.animator import PhoneticAnimator

        return PhoneticAnimator()
    raise ConfigError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")


def take_paths(out_path: Path, samples: int) -> list[Path]:
    """Output files for ``samples`` takes: the path itself for one, ``stem_take01.npz``... for more."""
    out_path = Path(out_path)
    if samples == 1:
        return [out_path]
    return [out_path.with_name(f"{out_path.stem}_take{k + 1:02d}{out_path.suffix or '.npz'}") for k in range(samples)]


def animate_file(audio_path, out_path, *, mode: str = "phonetic", request: AnimateRequest = AnimateRequest(),
                 samples: int = 1, progress: Progress | None = None) -> list[Path]:
    """Animate ``audio_path`` and write ``samples`` takes (seeds ``request.seed + k``).

    Nothing is written unless every take succeeds; each file is written atomically.
    Returns the written paths.
    """
    from engine.audio.load import load_audio

    if samples < 1 or samples > 100:
        raise ConfigError(f"--samples must be between 1 and 100, got {samples}")
    if not (1.0 <= request.fps <= 240.0):
        raise ConfigError(f"--fps must be between 1 and 240, got {request.fps:g}")
    report = progress or (lambda stage, frac: None)
    out_path = Path(out_path)
    if out_path.exists() and out_path.is_dir():
        raise ConfigError(f"output {out_path} is a folder; give a .npz file path")
    if not out_path.parent.exists():
        raise ConfigError(f"output folder {out_path.parent} does not exist")
    report("load", 0.0)
    audio = load_audio(audio_path)
    animator = get_animator(mode)
    clips = []
    for k in range(samples):
        report("animate", k / samples)
        req = dataclasses.replace(request, seed=request.seed + k)
        clips.append(animator.animate(audio, req))
    report("write", 1.0 - 0.5 / samples)
    paths = take_paths(out_path, samples)
    written: list[Path] = []
    try:
        for clip, p in zip(clips, paths):
            written.append(save_clip(clip, p))
    except (ParleyError, OSError):
        for p in written:
            try:
                os.unlink(p)
            except OSError:
                pass
        raise
    report("done", 1.0)
    return written
