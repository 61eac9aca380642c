"""Silero VAD on torch CPU: speech probabilities of a mono signal (arrays in, arrays out).

Reference: Silero Team, Silero VAD (2021-2024), the ``silero-vad`` package (MIT). The model scores fixed
windows of 512 samples at 16 kHz (256 at 8 kHz); other rates are resampled to 16 kHz with soxr. Turning
probabilities into per-frame decisions is :func:`engine.audio.vad.silero_vad_frames`'s job.

Raises ImportError (silero-vad, torch or soxr missing), OSError or RuntimeError (a model that does not load)
or :class:`SileroUnusable` (a RuntimeError: the model failed, or the input is shorter than one window) when
Silero cannot score the input here.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import torch

WINDOW_SAMPLES = {16000: 512, 8000: 256}   # the model's fixed window at each rate it accepts
RESAMPLE_HZ = 16000                        # the rate any other input is resampled to


class SileroUnusable(RuntimeError):
    """Silero VAD cannot score this input: shorter than one model window, or the TorchScript model failed."""


class SpeechProbabilities(NamedTuple):
    probs: np.ndarray   # (K,) float32; probs[k] covers samples [k * window, (k + 1) * window) at sr
    sr: int             # the rate the model ran at (8000 or 16000)
    window: int         # samples per probability at sr


@functools.lru_cache(maxsize=1)
def _silero_model():
    """The Silero VAD model, loaded once per process (``audio_forward`` resets its state per call)."""
    from silero_vad import load_silero_vad

    return load_silero_vad()


def speech_probabilities(y: np.ndarray, *, sr: int) -> SpeechProbabilities:
    """Silero speech probability of each model window of (N,) ``y`` at ``sr`` Hz (single-threaded torch)."""
    y = np.ascontiguousarray(y, np.float32)
    if sr not in WINDOW_SAMPLES:
        import soxr
        y = soxr.resample(y, sr, RESAMPLE_HZ)
        sr = RESAMPLE_HZ
    window = WINDOW_SAMPLES[sr]
    if y.size < window:   # the model would raise "Input audio chunk is too short"
        raise SileroUnusable(f"{y.size} samples at {sr} Hz are shorter than one {window}-sample window")
    model = _silero_model()
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            probs = model.audio_forward(torch.from_numpy(np.ascontiguousarray(y, np.float32)), sr)
        probs = probs.reshape(-1).numpy()
    except torch.jit.Error as e:   # an exception raised inside the TorchScript model (not a RuntimeError)
        raise SileroUnusable(f"the model failed: {str(e).strip().splitlines()[-1]}") from e
    finally:
        torch.set_num_threads(prev)
    return SpeechProbabilities(probs, sr, window)
