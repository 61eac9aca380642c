"""Audio features for the learned face models: the log-mel layout they were trained on and its normalisation.

The log-mel itself is computed above this layer (:func:`engine.audio.spectral.log_mel`, which the corpus
builder also uses); this module holds what the models need to agree on it (:class:`MelConfig`) and the
normalisation, in numpy so training and inference share it exactly.

Normalisation is causal, so the same code serves a file and (later) a stream: per mel bin, the log power is
floored, its running mean (a one-pole exponential average with time constant ``tau_s``, started at the
training corpus's mean) is subtracted, and the result is divided by the corpus's per-bin standard deviation
and clipped. A recording's level and channel colour (microphone, room) are thus removed within about
``tau_s`` seconds, with no look-ahead at all.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOG_FLOOR = np.log(1e-8)      # log-mel power floor: digital silence and dither-free pauses look alike
CLIP_SIGMAS = 6.0             # normalised features are clipped to +-this many standard deviations


@dataclass(frozen=True)
class MelConfig:
    """The log-mel input: ``feature_ratio`` feature frames per clip frame at ``fps`` (120 Hz for 30 fps),
    ``n_mels`` bins of :func:`engine.audio.spectral.log_mel` with ``n_fft`` (window = n_fft samples)."""

    sample_rate: int = 16000
    fps: float = 30.0
    feature_ratio: int = 4
    n_mels: int = 80
    n_fft: int = 512
    tau_s: float = 2.0            # running-mean time constant of the normalisation

    @property
    def feature_fps(self) -> float:
        return self.fps * self.feature_ratio

    @property
    def window_lookahead_s(self) -> float:
        """How far a feature frame's window reaches past its centre (half a Hann window of n_fft samples)."""
        return 0.5 * self.n_fft / self.sample_rate


def normalize_mel(mel: np.ndarray, *, mean: np.ndarray, std: np.ndarray, feature_fps: float, tau_s: float,
                  state: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Causally normalised log-mel.

    mel: (..., F, n_mels) natural-log mel power, F frames at ``feature_fps``; mean/std: (n_mels,) corpus
    statistics; state: (..., n_mels) running mean carried over from a previous chunk (None: start at
    ``mean``). Returns ((..., F, n_mels) float32 in [-CLIP_SIGMAS, CLIP_SIGMAS], (..., n_mels) new state):
    feeding a recording in chunks gives the same result as feeding it whole.
    """
    x = np.maximum(np.asarray(mel, np.float64), LOG_FLOOR)                   # (..., F, M)
    a = 1.0 - np.exp(-1.0 / (tau_s * feature_fps))                            # one-pole coefficient
    m0 = np.broadcast_to(np.asarray(mean, np.float64), x.shape[:-2] + x.shape[-1:]) if state is None else state
    run = one_pole(x, a, m0)                # run[t] = (1 - a) * run[t-1] + a * x[t], run[-1] = m0
    # subtract the mean of the frames *before* t (and the prior), so a steady tone is not cancelled instantly
    prev = np.concatenate([m0[..., None, :], run[..., :-1, :]], axis=-2)
    y = (x - prev) / np.maximum(np.asarray(std, np.float64), 1e-3)
    return np.clip(y, -CLIP_SIGMAS, CLIP_SIGMAS).astype(np.float32), (run[..., -1, :].copy() if x.shape[-2] else np.array(m0, np.float64))


def one_pole(x: np.ndarray, a: float, start: np.ndarray, *, gain: float | None = None,
             block: int = 256) -> np.ndarray:
    """run[t] = (1 - a) * run[t - 1] + g * x[t] along axis -2 of (..., F, M), with run[-1] = ``start``
    (..., M) and g = ``gain`` (default ``a``: an exponential moving average). Numpy only (no scipy on the
    start-up path of the phonetic engine or the audio loader): the input is cut into ``block``-frame blocks,
    every block is filtered from rest by one matrix product with the filter's impulse response, and the
    blocks are then chained by carrying each block's last value into the next (a short loop over blocks)."""
    F = x.shape[-2]
    keep = 1.0 - a
    g = a if gain is None else gain
    if F == 0:
        return np.empty_like(x, dtype=np.float64)
    n = min(block, F)
    k = np.arange(n)
    d = keep ** k                                                             # decay over k frames
    h = np.where(k[:, None] >= k[None, :], g * d[np.abs(k[:, None] - k[None, :])], 0.0)   # (n, n)
    nb = -(-F // n)
    xp = np.asarray(x, np.float64)
    if nb * n != F:
        xp = np.concatenate([xp, np.zeros(xp.shape[:-2] + (nb * n - F,) + xp.shape[-1:])], axis=-2)
    xb = xp.reshape(xp.shape[:-2] + (nb, n) + xp.shape[-1:])                 # (..., nb, n, M)
    local = np.moveaxis(np.tensordot(xb, h, axes=([-2], [1])), -1, -2)        # (..., nb, n, M), from rest
    carry = np.empty(xb.shape[:-3] + (nb,) + xb.shape[-1:])                  # run[-1] of each block
    prev = np.broadcast_to(np.asarray(start, np.float64), carry[..., 0, :].shape)
    last, cn = local[..., :, n - 1, :], keep ** n
    for b in range(nb):
        carry[..., b, :] = prev
        prev = last[..., b, :] + cn * prev
    out = local + (keep * d)[:, None] * carry[..., :, None, :]
    return out.reshape(xp.shape)[..., :F, :]
