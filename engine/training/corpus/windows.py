"""Cut one labelled utterance into the fixed-length windows of a corpus (:mod:`.shards`).

Window k covers [k * window_s, (k + 1) * window_s): target frames k*W .. (k+1)*W - 1 (frame i at i / fps),
feature frames k*W_feat .. (k+1)*W_feat - 1 (frame j centred on j / feature_fps, computed on the whole
utterance so window edges see their real context) and samples k*W_samples ... The last window is padded
(zero audio, repeated last label frame, phone -1) and its ``mask`` is False over the padding: nothing is
dropped.
"""
from __future__ import annotations

import math

import numpy as np

from engine.audio.spectral import log_mel
from engine.training.corpus.shards import TARGETS, CorpusSpec
from engine.training.corpus.teacher import Labels

INT16_SCALE = 32767.0
# the log-mel of every window (engine.audio.spectral.log_mel with these settings, at spec.feature_fps with
# spec.n_mels); recorded in corpus.json so a model computes the same features at run time
MEL_N_FFT = 512
MEL_FMIN_HZ = 40.0


def to_int16(samples: np.ndarray) -> np.ndarray:
    """(N,) float in [-1, 1] -> (N,) int16 PCM (clipped, rounded)."""
    return np.round(np.clip(np.asarray(samples, np.float32), -1.0, 1.0) * INT16_SCALE).astype(np.int16)


def num_windows(n_frames: int, spec: CorpusSpec) -> int:
    """Windows needed to hold ``n_frames`` target frames (at least one)."""
    return max(1, math.ceil(n_frames / spec.frames))


def _pad_frames(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` (T, ...) extended to n rows by repeating its last row."""
    if a.shape[0] >= n:
        return a[:n]
    return np.concatenate([a, np.repeat(a[-1:], n - a.shape[0], axis=0)], axis=0)


def cut_windows(samples: np.ndarray, labels: Labels, spec: CorpusSpec) -> list[tuple[float, dict[str, np.ndarray]]]:
    """[(start_s, arrays)] for one utterance: ``samples`` (N,) float32 at spec.sample_rate and its labels at
    spec.fps; arrays keyed and shaped as :meth:`CorpusSpec.shapes` (float32 here; the shard stores float16)."""
    T = labels.num_frames
    n_win = num_windows(T, spec)
    W, Wf, Ws = spec.frames, spec.feature_frames, spec.samples
    audio = np.zeros(n_win * Ws, np.float32)
    x = np.asarray(samples, np.float32)[: n_win * Ws]
    audio[: x.size] = x
    mel = log_mel(audio, sr=spec.sample_rate, fps=spec.feature_fps, n_mels=spec.n_mels, n_fft=MEL_N_FFT,
                  fmin=MEL_FMIN_HZ, n_frames=n_win * Wf)
    n = n_win * W
    targets = {"expression": _pad_frames(labels.expression, n), "joint_angles": _pad_frames(labels.joint_angles, n),
               "root_translation": _pad_frames(labels.root_translation, n),
               "lip_offsets_mm": _pad_frames(labels.lip_offsets_mm, n)}
    phones = np.full(n, -1, np.int8)
    phones[:T] = labels.phones[:n]
    mask = np.zeros(n, bool)
    mask[:T] = True
    pcm = to_int16(audio)
    out = []
    for k in range(n_win):
        f = slice(k * W, (k + 1) * W)
        arrays = {"audio": pcm[k * Ws:(k + 1) * Ws], "mel": mel[k * Wf:(k + 1) * Wf],
                  **{key: v[f] for key, v in targets.items()}, "phones": phones[f],
                  "emotion": labels.emotion, "mask": mask[f], "has": np.ones(len(TARGETS), bool)}
        out.append((k * spec.window_s, arrays))
    return out
