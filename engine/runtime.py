"""Run an animator on audio files: load, animate one or more seeded takes, write them all or none.

The CLI, the add-on's in-process path and (later) batch and streaming front ends call :func:`animate_file`.
Animators come from :data:`engine.animators.registry.ANIMATORS`; pass ``animator=`` to reuse one instance
(and its loaded weights) across many files.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from engine.animators.base import AnimateRequest, Animator, Progress
from engine.animators.registry import ANIMATORS, DEFAULT_MODE
from rigs.core.clip import save_clip
from rigs.core.emotions import parse_emotion
from rigs.core.errors import ConfigError, ParleyError

__all__ = ["ANIMATORS", "AnimateRequest", "ParleyError", "animate_file", "create_animator", "parse_emotion",
           "take_paths"]

MAX_SAMPLES = 100
FPS_RANGE = (1.0, 240.0)
ANIMATE_SHARE = 0.95     # of the progress bar; writing the takes fills the rest


def create_animator(mode: str = DEFAULT_MODE, request: AnimateRequest = AnimateRequest()) -> Animator:
    """A new animator for ``mode`` with the request's model, checkpoint and device."""
    return ANIMATORS.create(mode, model=request.model, checkpoint=request.checkpoint, device=request.device)


def take_paths(out_path: Path, samples: int) -> list[Path]:
    """Output files for ``samples`` takes: the path itself for one, ``stem_take01.npz``... for more."""
    out_path = Path(out_path)
    if samples == 1:
        return [out_path]
    return [out_path.with_name(f"{out_path.stem}_take{k + 1:02d}{out_path.suffix or '.npz'}") for k in range(samples)]


def animate_file(audio_path, out_path, *, mode: str = DEFAULT_MODE, request: AnimateRequest = AnimateRequest(),
                 samples: int = 1, progress: Progress | None = None, animator: Animator | None = None) -> list[Path]:
    """Animate ``audio_path`` and write ``samples`` takes (seeds ``request.seed + k``).

    ``animator``: an instance to reuse (else one is created for ``mode``). ``progress(stage, fraction)`` sees
    ``load``, the animator's own stages for each take, ``write`` and ``done``; it may raise CancelledError.
    Nothing is written unless every take succeeds; each file is written atomically. Returns the written paths.
    """
    from engine.audio.load import load_audio

    if samples < 1 or samples > MAX_SAMPLES:
        raise ConfigError(f"--samples must be between 1 and {MAX_SAMPLES}, got {samples}")
    if not (FPS_RANGE[0] <= request.fps <= FPS_RANGE[1]):
        raise ConfigError(f"--fps must be between {FPS_RANGE[0]:g} and {FPS_RANGE[1]:g}, got {request.fps:g}")
    report = progress or (lambda stage, frac: None)
    out_path = Path(out_path)
    if out_path.exists() and out_path.is_dir():
        raise ConfigError(f"output {out_path} is a folder; give a .npz file path")
    if not out_path.parent.exists():
        raise ConfigError(f"output folder {out_path.parent} does not exist")
    report("load", 0.0)
    audio = load_audio(audio_path)
    animator = animator or create_animator(mode, request)
    clips = []
    for k in range(samples):
        def take_progress(stage: str, frac: float, k=k) -> None:
            report(stage, ANIMATE_SHARE * (k + min(1.0, max(0.0, float(frac)))) / samples)

        req = dataclasses.replace(request, seed=request.seed + k)
        clips.append(animator.animate(audio, req, progress=take_progress))
    report("write", ANIMATE_SHARE)
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
