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
GAP_BLOCK = 1024     # frames whose (float64) lip positions are formed at once to measure the gap


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
                    threshold: float, config: ContactConfig = ContactConfig(), lip_model=None):
    """(T, 52) weights, (T, L, 3) lip offsets (mm from the template's neutral) or None, (T,) probabilities ->
    new (expression, offsets_mm). Without a lip model the expression alone is fixed (mouthClose = jawOpen)."""
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
    off = np.array(offsets_mm, np.float32)
    deltas_mm = lip_model.deltas_m * M_TO_MM                                 # (52, L, 3)
    for c in PRESS:
        add = np.maximum(press - x[:, c], 0)                                  # (T,)
        x[:, c] += add
        off += add[:, None, None] * deltas_mm[c]
    gap_mm = np.concatenate([lip_model.inner_lip_gap_m(lip_model.neutral_m + off[a:a + GAP_BLOCK] / M_TO_MM)
                             for a in range(0, len(off), GAP_BLOCK)] or [np.zeros(0)]) * M_TO_MM   # (T,)
    _, g = lip_model.gap_coefficients_m()
    per_unit_mm = float(g[CLOSE]) * M_TO_MM                                   # gap change per unit mouthClose (< 0)
    need = np.clip((gap_mm - config.target_gap_mm) / -per_unit_mm, 0.0, None) * w
    need = np.minimum(need, 1.0 - x[:, CLOSE]).astype(np.float32)
    x[:, CLOSE] += need
    off += need[:, None, None] * deltas_mm[CLOSE]
    return np.clip(x, 0, 1), off
