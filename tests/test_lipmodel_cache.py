"""The lip-model cache (issue 16, item 10): an empty, truncated or inconsistent cache is rebuilt with a warning
instead of breaking every run, and eight first runs started together all succeed (unique temp names)."""
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rigs.core.arkit import ARKIT_NAMES

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def fake_ict(tmp_path):
    """A small stand-in for the ICT FaceKit pack (cm, Y up): 400 vertices around a mouth, ARKit-named shapes."""
    rng = np.random.default_rng(0)
    neutral = rng.uniform(-1.0, 1.0, (400, 3))
    names = np.array(ARKIT_NAMES[:20])
    deltas = rng.normal(0, 0.1, (len(names), 400, 3)).astype(np.float32)
    p = tmp_path / "ict_fake.npz"
    np.savez(p, neutral=neutral, landmark68_verts=np.arange(68), expr_names=names, expr_deltas=deltas)
    return p


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("PARLEY_CACHE", str(d))
    return d


def test_cache_is_written_then_reused(fake_ict, cache):
    from engine.animators.lips import load_lip_model
    built = load_lip_model(src=fake_ict)
    [f] = cache.glob("lipmodel_*.npz")
    again = load_lip_model(src=fake_ict)
    np.testing.assert_array_equal(again.deltas_m, built.deltas_m)
    assert f.stat().st_mtime_ns == next(cache.glob("lipmodel_*.npz")).stat().st_mtime_ns


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "wrong sizes", "nan"])
def test_broken_cache_is_rebuilt(fake_ict, cache, caplog, damage):
    """Issue 16.10: a truncated or empty cache broke every run until deleted by hand."""
    from engine.animators.lips import load_lip_model
    built = load_lip_model(src=fake_ict)
    [f] = cache.glob("lipmodel_*.npz")
    good = f.read_bytes()
    if damage == "empty":
        f.write_bytes(b"")
    elif damage == "truncated":
        f.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        f.write_bytes(os.urandom(len(good)))
    else:
        z = dict(np.load(f))
        if damage == "nan":
            z["deltas_m"][0, 0, 0] = np.nan
        else:
            z["neutral_m"] = z["neutral_m"][:-1]
        np.savez(f, **z)
    model = load_lip_model(src=fake_ict)
    np.testing.assert_array_equal(model.deltas_m, built.deltas_m)
    assert any("lip model cache unusable" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert f.read_bytes() == good                       # replaced by a good cache: the next run is quiet


def test_eight_first_runs_at_once(tmp_path, cache):
    """Issue 16.10: eight first runs at once raced on one temp name (1 of 48 crashed). Now each writes its
    own temp file and renames it: eight processes released together (a 5000-vertex region, so that the
    writes overlap) all succeed and leave one cache file and no temp files."""
    rng = np.random.default_rng(1)
    src = tmp_path / "ict_big.npz"
    np.savez(src, neutral=rng.uniform(-0.05, 0.05, (5000, 3)), landmark68_verts=np.arange(68),
             expr_names=np.array(ARKIT_NAMES[:20]), expr_deltas=rng.normal(0, 0.1, (20, 5000, 3)).astype(np.float32))
    go = tmp_path / "go"
    code = ("import os, sys, time; from engine.animators.lips import load_lip_model\n"
            "open(sys.argv[2] + '.ready.' + str(os.getpid()), 'w').close()\n"
            "while not os.path.exists(sys.argv[2]): time.sleep(0.005)\n"
            "print(load_lip_model(src=sys.argv[1]).num_vertices)")
    env = dict(os.environ, PYTHONPATH=str(ROOT), PARLEY_CACHE=str(cache))
    procs = [subprocess.Popen([sys.executable, "-c", code, str(src), str(go)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("go.ready.*"))) < 8 and time.monotonic() < deadline:  # every process imported
        time.sleep(0.01)
    go.touch()
    results = [(p.wait(timeout=120), p.stdout.read().strip(), p.stderr.read()) for p in procs]
    assert [rc for rc, _, _ in results] == [0] * 8, [err for _, _, err in results]
    assert {out for _, out, _ in results} == {"5000"}
    assert [f.name for f in cache.iterdir() if not f.name.startswith("lipmodel_") or "tmp" in f.name] == []
    assert len(list(cache.glob("lipmodel_*.npz"))) == 1
