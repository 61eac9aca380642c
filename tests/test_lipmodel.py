"""ICT FaceKit lip model: region, units, caching and that ARKit closures really close the mesh lips."""
import numpy as np
import pytest

from rigs.core.arkit import ARKIT_INDEX as A


@pytest.fixture(scope="module")
def lm(data_dir, tmp_path_factory):
    import os
    os.environ["PARLEY_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    from engine.animators.lips import load_lip_model
    return load_lip_model()


def w(**kw):
    x = np.zeros(52, np.float32)
    for k, v in kw.items():
        x[A[k]] = v
    return x


def test_region_is_lips_in_metres(lm):
    assert 200 <= lm.num_vertices <= 500
    p = lm.neutral_m
    # a mouth is a few cm wide, metres not centimetres
    width = p[:, 0].max() - p[:, 0].min()
    assert 0.03 < width < 0.09
    assert len(np.unique(lm.vertex_ids)) == lm.num_vertices


def test_positions_linear_and_shapes(lm):
    e = np.stack([w(), w(jawOpen=1.0), w(jawOpen=0.5)])
    p = lm.positions_m(e)
    assert p.shape == (3, lm.num_vertices, 3) and p.dtype == np.float32
    np.testing.assert_allclose(p[2], 0.5 * (p[0] + p[1]), atol=1e-6)
    # tongueOut is not in ICT and must not move anything
    np.testing.assert_allclose(lm.positions_m(w(tongueOut=1.0)), p[0], atol=1e-7)


def test_gap_open_and_close(lm):
    g = lambda x: float(lm.inner_lip_gap_m(lm.positions_m(x)))
    assert abs(g(w())) < 0.002                       # neutral: lips (nearly) together
    assert g(w(jawOpen=0.5)) > 0.01                  # jaw open: > 1 cm
    for j in (0.1, 0.3, 0.6, 1.0):                   # ARKit closure: mouthClose following jawOpen
        assert g(w(jawOpen=j, mouthClose=0.9 * j)) < 0.001
    assert g(w(mouthFunnel=0.8)) > g(w())


def test_cache_roundtrip(lm):
    from engine.animators.lips import load_lip_model
    again = load_lip_model()
    np.testing.assert_array_equal(again.vertex_ids, lm.vertex_ids)
    np.testing.assert_allclose(again.deltas_m, lm.deltas_m)
