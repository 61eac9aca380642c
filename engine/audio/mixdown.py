"""From a file's channels to one clean mono signal: mixing without cancellation, float gain, DC removal.

* **Mixing.** Averaging channels cancels a voice recorded in opposite polarity on two channels (a
  phase-inverted cable or stereo pair: left = -right averages to silence). :func:`plan_mix` looks at the
  whole recording once (the channels' covariance) and keeps the plain average unless it carries less than
  half the energy that averaging uncorrelated channels would; then each channel's polarity is aligned with
  the strongest channel, and if that still cancels, the strongest channel is used alone.
* **Float gain.** Integer PCM cannot exceed full scale, but float files can (a float WAV peaking at 4.0);
  clipping them at 1.0 flattens every loud syllable. Float sources whose mix peaks above full scale are
  scaled down to peak at 1.0 (never up).
* **DC.** A recorder's DC offset (0.2 of full scale and more) hides the voice from energy-based voice
  activity detection. :class:`DcBlocker` is the standard one-pole DC-blocking high-pass
  ``y[n] = x[n] - x[n-1] + a * y[n-1]`` (J. O. Smith, "Introduction to Digital Filters", DC blocker),
  here with its corner at 10 Hz, below any voice's fundamental; it keeps its state across blocks, so
  a signal streamed in chunks is filtered exactly as in one piece.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from engine.learned.features import one_pole

log = logging.getLogger(__name__)

DC_CUTOFF_HZ = 10.0
CANCEL_RATIO = 0.5      # a mix with less than this fraction of the uncorrelated-average energy cancels
DECIDE_RMS = 1e-6       # -120 dBFS: quieter channels are silence, whatever their correlation


@dataclass(frozen=True)
class MixPlan:
    """How to turn (n, C) blocks into mono: ``mono = (block @ weights) * gain``. ``how``: "average",
    "aligned" (polarities flipped to match the strongest channel), "strongest" or "mono"."""

    weights: np.ndarray
    gain: float = 1.0
    how: str = "average"

    def apply(self, block: np.ndarray) -> np.ndarray:
        """(n, C) float32 -> (n,) float32, a new array."""
        if block.shape[1] == 1:
            return block[:, 0] * np.float32(self.gain)
        # the gain goes into the weights: huge float samples are scaled before they are summed
        return (block @ (self.weights * np.float32(self.gain))).astype(np.float32, copy=False)


def average(channels: int) -> MixPlan:
    return MixPlan(np.full(channels, 1.0 / channels, np.float32), how="average" if channels > 1 else "mono")


def plan_mix(blocks: Iterable[np.ndarray], channels: int, *, is_float: bool, name: str = "audio") -> MixPlan:
    """The mix for a recording, from one pass over its (n, C) float32 blocks (see the module docstring).

    ``is_float``: the source can exceed full scale (float PCM, a decoder's output); then the gain brings the
    mix's peak (about its mean, which :class:`DcBlocker` removes) down to 1.0.
    """
    C = channels
    w_avg = average(C).weights
    n = 0
    s1 = np.zeros(C)
    gram = np.zeros((C, C))
    ch_max, ch_min = np.full(C, -np.inf), np.full(C, np.inf)
    avg_max, avg_min = -np.inf, np.inf
    for b in blocks:                                 # (n, C) float32; BLAS products, float64 totals
        if not len(b):
            continue
        n += len(b)
        x = b.astype(np.float64) if is_float else b  # float samples may be huge: their squares need float64
        s1 += np.ones(len(x), x.dtype) @ x
        gram += x.T @ x
        if is_float:                                 # peaks matter only where samples can exceed 1.0
            rows = np.ascontiguousarray(x.T)
            ch_max, ch_min = np.maximum(ch_max, rows.max(axis=1)), np.minimum(ch_min, rows.min(axis=1))
            m = x @ w_avg.astype(np.float64)
            avg_max, avg_min = max(avg_max, float(m.max())), min(avg_min, float(m.min()))
    plan = average(C)
    if n == 0:
        return plan
    mean = s1 / n
    cov = gram - n * np.outer(mean, mean)            # centred: a DC offset is not correlation
    energy = np.maximum(np.diag(cov), 0.0)
    ch_peak = np.maximum(ch_max - mean, mean - ch_min)
    peak = max(avg_max - mean.mean(), mean.mean() - avg_min)
    if C > 1 and energy.sum() > n * C * DECIDE_RMS**2:   # below that, the channels are silence: keep the average
        reference = energy.sum() / C**2              # energy of the average of uncorrelated channels
        w = plan.weights.astype(np.float64)
        if w @ cov @ w < CANCEL_RATIO * reference:
            k = int(np.argmax(energy))
            signs = np.where(cov[k] < 0, -1.0, 1.0)
            aligned = signs / C
            if aligned @ cov @ aligned >= CANCEL_RATIO * reference:
                plan, peak = MixPlan(aligned.astype(np.float32), how="aligned"), float(np.abs(aligned) @ ch_peak)
                log.warning("%s: channels cancel when averaged (opposite polarity); flipped %d of %d channels "
                            "to match channel %d", name, int((signs < 0).sum()), C, k + 1)
            else:
                w = np.zeros(C, np.float32)
                w[k] = 1.0
                plan, peak = MixPlan(w, how="strongest"), float(ch_peak[k])
                log.warning("%s: channels cancel when averaged; using channel %d alone", name, k + 1)
    if is_float and peak > 1.0:
        log.info("%s: float samples peak at %.2f of full scale; scaled to 1.0", name, peak)
        plan = MixPlan(plan.weights, gain=1.0 / peak, how=plan.how)
    return plan


class DcBlocker:
    """One-pole DC-blocking high-pass at ``cutoff_hz`` for a mono stream at ``sr`` Hz, state kept across
    calls; the first sample's level is taken as the initial DC, so a constant offset gives zeros at once."""

    def __init__(self, sr: int, *, cutoff_hz: float = DC_CUTOFF_HZ):
        self._a = float(np.exp(-2.0 * np.pi * cutoff_hz / sr))
        self._x_prev: float | None = None       # the last input sample and output of the previous call
        self._y_prev = 0.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(n,) float32 -> (n,) float32 filtered: y[n] = x[n] - x[n-1] + a y[n-1]."""
        if not x.size:
            return x
        x64 = x.astype(np.float64)
        if self._x_prev is None:
            self._x_prev = float(x64[0])
        d = np.diff(x64, prepend=self._x_prev)[:, None]                      # (n, 1)
        # y = d run through 1 / (1 - a z^-1): a one-pole average with gain 1 (engine.learned.features)
        y = one_pole(d, 1.0 - self._a, np.array([self._y_prev]), gain=1.0)[:, 0]
        self._x_prev, self._y_prev = float(x64[-1]), float(y[-1])
        return y.astype(np.float32)
