"""Peak picking in numpy: local maxima kept by minimum distance, then by topographic prominence.

The definitions are those of SciPy's ``scipy.signal.find_peaks`` (local maxima with flat tops taken at the
middle; distance selection keeps the highest peaks first; prominence is the height above the higher of the
two lowest points between the peak and the nearest higher sample on each side, or the signal's end), written
here so the engine does not import ``scipy.signal`` (about a second of start-up on two cores, most of a short
``parley animate`` run). ``tests/test_accents_peaks.py`` checks it against SciPy.
"""
from __future__ import annotations

import numpy as np


def local_maxima(x: np.ndarray) -> np.ndarray:
    """Indices of the local maxima of 1-D ``x``; a flat top counts once, at its middle (rounded down)."""
    x = np.asarray(x, np.float64)
    out = []
    i, n = 1, x.size
    while i < n - 1:
        if x[i - 1] < x[i]:
            j = i
            while j + 1 < n - 1 and x[j + 1] == x[i]:
                j += 1
            if x[j + 1] < x[i]:
                out.append((i + j) // 2)
                i = j
        i += 1
    return np.asarray(out, np.int64)


def _select_by_distance(peaks: np.ndarray, heights: np.ndarray, distance: float) -> np.ndarray:
    """The peaks kept when, from the highest down, each removes the others closer than ``distance``."""
    distance = float(np.ceil(distance))
    keep = np.ones(peaks.size, bool)
    for k in np.argsort(heights)[::-1]:       # the same sort as SciPy, so ties resolve alike
        if not keep[k]:
            continue
        j = k - 1
        while j >= 0 and peaks[k] - peaks[j] < distance:
            keep[j] = False
            j -= 1
        j = k + 1
        while j < peaks.size and peaks[j] - peaks[k] < distance:
            keep[j] = False
            j += 1
    return peaks[keep]


def prominences(x: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Topographic prominence of each peak of ``x``."""
    x = np.asarray(x, np.float64)
    out = np.empty(peaks.size)
    for k, p in enumerate(peaks):
        h = x[p]
        left = p
        lo_left = h
        while left > 0 and x[left - 1] <= h:
            left -= 1
            lo_left = min(lo_left, x[left])
        right = p
        lo_right = h
        while right < x.size - 1 and x[right + 1] <= h:
            right += 1
            lo_right = min(lo_right, x[right])
        out[k] = h - max(lo_left, lo_right)
    return out


def find_peaks(x: np.ndarray, *, distance: float = 1, prominence: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(peak indices, their prominences) of 1-D ``x``: local maxima at least ``distance`` samples apart
    (higher ones win) with prominence at least ``prominence``."""
    x = np.asarray(x, np.float64)
    peaks = local_maxima(x)
    if distance > 1 and peaks.size > 1:
        peaks = _select_by_distance(peaks, x[peaks], distance)
    prom = prominences(x, peaks)
    keep = prom >= prominence
    return peaks[keep], prom[keep]
