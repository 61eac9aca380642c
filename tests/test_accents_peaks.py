"""The numpy peak picker of the accents stage (engine/audio/peaks.py) against SciPy's find_peaks."""
import numpy as np
import pytest
from scipy.signal import find_peaks as scipy_find_peaks

from engine.audio.peaks import find_peaks, local_maxima


@pytest.mark.parametrize("seed", range(12))
def test_same_peaks_and_prominences_as_scipy(seed):
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.standard_normal(400))
    x[100:110] = x[100]                       # a plateau
    x = np.round(x, 1)                        # ties
    for distance, prominence in ((1, 0.0), (5, 0.5), (12, 2.0), (30, 0.1)):
        ours, prom = find_peaks(x, distance=distance, prominence=prominence)
        ref, props = scipy_find_peaks(x, distance=distance, prominence=prominence)
        np.testing.assert_array_equal(ours, ref)
        np.testing.assert_allclose(prom, props["prominences"])


def test_flat_top_counts_once_at_its_middle_and_edges_are_not_peaks():
    x = np.array([3.0, 1.0, 2.0, 2.0, 2.0, 2.0, 1.0, 0.0, 5.0])
    np.testing.assert_array_equal(local_maxima(x), [3])
    assert find_peaks(np.array([1.0, 2.0, 3.0]))[0].size == 0
