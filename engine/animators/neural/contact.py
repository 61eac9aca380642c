"""Lip contact from the lips-closed head: where the network says the lips are closed, they touch.

Regression alone leaves bilabial closures half open (it averages over the neighbouring vowels); the lip
regressor's separate lips-closed probability marks them. On those frames :func:`enforce_contact` adds just
enough ``mouthClose`` to bring the inner-lip gap (:meth:`engine.animators.lips.LipModel.inner_lip_gap_m`) to
``target_gap_mm`` (the lip model is linear, so the amount is exact), plus a little ``mouthPress``, and moves
the lip vertices by the same blendshape deltas, so the expression and the vertices agree. A smooth ramp of
width ``ramp`` around the threshold avoids one-frame pops at the edges of a closure.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rigs.core.arkit import ARKIT_INDEX

CLOSE = ARKIT_INDEX["mouthClose"]
JAW = ARKIT_INDEX["jawOpen"]
PRESS = (ARKIT_INDEX["mouthPressLeft"], ARKIT_INDEX["mouthPressRight"])
M_TO_MM = 1000.0
BLOCK_FRAMES = 1024  # frames whose (float64) lip positions or deltas are formed at once


@dataclass(frozen=True)
class ContactConfig:
    enabled: bool = True
    threshold: float | None = None   # lips-closed probability that fires contact (None: the checkpoint's)
    ramp: float = 0.1                # probability span of the soft on-ramp around the threshold
    target_gap_mm: float = -0.5      # inner-lip gap asked for on closed frames (pressed, as the teacher does)
    press: float = 0.3               # mouthPress added at full contact


def contact_weight(p_closed: np.ndarray, threshold: float, ramp: float) -> np.ndarray:
    """(T,) in [0, 1]: 0 below threshold - ramp/2, 1 above threshold + ramp/2, smoothstep between."""
    u = np.clip((np.asarray(p_closed, np.float64) - threshold) / max(ramp, 1e-6) + 0.5, 0.0, 1.0)
    return u * u * (3 - 2 * u)


def enforce_contact(expression: np.ndarray, offsets_mm: np.ndarray | None, p_closed: np.ndarray, *,
                    threshold: float, config: ContactConfig = ContactConfig(), lip_model=None, copy: bool = True):
    """(T, 52) weights, (T, L, 3) lip offsets (mm from the template's neutral) or None, (T,) probabilities ->
    new (expression, offsets_mm). Without a lip model the expression alone is fixed (mouthClose = jawOpen).
    ``copy=False``: float32 offsets are changed in place (a caller that owns them saves a copy of (T, L, 3))."""
    x = np.array(expression, np.float32)
    w = contact_weight(p_closed, threshold, config.ramp)                     # (T,)
    if not config.enabled or not np.any(w > 0):
        return x, offsets_mm
    press = (config.press * w).astype(np.float32)
    if lip_model is None or offsets_mm is None:
        x[:, CLOSE] = np.maximum(x[:, CLOSE], w * x[:, JAW])
        for c in PRESS:
            x[:, c] = np.maximum(x[:, c], press)
        return np.clip(x, 0, 1), offsets_mm
    off = np.array(offsets_mm, np.float32) if copy else np.asarray(offsets_mm, np.float32)
    deltas_mm = lip_model.deltas_m * M_TO_MM                                 # (52, L, 3)
    for c in PRESS:
        add = np.maximum(press - x[:, c], 0)                                  # (T,)
        x[:, c] += add
        _add_shape(off, add, deltas_mm[c])
    gap_mm = np.concatenate([lip_model.inner_lip_gap_m(lip_model.neutral_m + off[a:a + BLOCK_FRAMES] / M_TO_MM)
                             for a in range(0, len(off), BLOCK_FRAMES)] or [np.zeros(0)]) * M_TO_MM   # (T,)
    _, g = lip_model.gap_coefficients_m()
    per_unit_mm = float(g[CLOSE]) * M_TO_MM                                   # gap change per unit mouthClose (< 0)
    need = np.clip((gap_mm - config.target_gap_mm) / -per_unit_mm, 0.0, None) * w
    need = np.minimum(need, 1.0 - x[:, CLOSE]).astype(np.float32)
    x[:, CLOSE] += need
    _add_shape(off, need, deltas_mm[CLOSE])
    return np.clip(x, 0, 1), off


def _add_shape(off_mm: np.ndarray, amount: np.ndarray, delta_mm: np.ndarray) -> None:
    """off_mm (T, L, 3) += amount (T,) x delta_mm (L, 3), in place, on the frames where amount is not 0, a block
    of them at a time (the product is float64: one block of it rather than the whole recording's)."""
    nz = np.flatnonzero(amount)
    for k in range(0, len(nz), BLOCK_FRAMES):
        i = nz[k:k + BLOCK_FRAMES]
        off_mm[i] += amount[i, None, None] * delta_mm
