"""The corpus shard format: windows round-trip through memory-mapped shards; bad windows are refused."""
import json

import numpy as np
import pytest

from engine.training.corpus.shards import (Corpus, CorpusSpec, ShardWriter, Window, read_corpus_json, shard_done,
                                           write_corpus_json, write_manifest)
from rigs.core.errors import ConfigError

SPEC = CorpusSpec(window_s=1.0, num_joints=4, num_lip_vertices=5)


def _window(spec, k, split="train"):
    rng = np.random.default_rng(k)
    arrays = {}
    for key, (shape, dtype) in spec.shapes().items():
        if dtype == "bool":
            arrays[key] = np.ones(shape, bool)
        elif dtype.startswith("int"):
            arrays[key] = rng.integers(-1, 40, shape).astype(dtype)
        else:
            arrays[key] = rng.random(shape).astype(dtype)
    return Window(arrays=arrays, row=k, item=f"item{k}", start_s=0.0, voice="v", split=split)


def test_windows_round_trip_by_split(tmp_path):
    write_corpus_json(tmp_path, SPEC, seed=3)
    w = ShardWriter(tmp_path, "train-00000", SPEC)
    wins = [_window(SPEC, k, split="train" if k < 3 else "val") for k in range(4)]
    for win in wins:
        w.add(win)
    assert not shard_done(tmp_path, "train-00000")
    w.close()
    assert shard_done(tmp_path, "train-00000")
    write_manifest(tmp_path, [{"id": f"item{k}"} for k in range(4)])
    spec, settings = read_corpus_json(tmp_path)
    assert spec == SPEC and settings["seed"] == 3
    train, val = Corpus(tmp_path, split="train"), Corpus(tmp_path, split="val")
    assert (len(train), len(val)) == (3, 1)
    got = val.window(0)
    assert got["info"]["item"] == "item3"
    np.testing.assert_array_equal(got["audio"], wins[3].arrays["audio"])
    np.testing.assert_allclose(got["expression"], wins[3].arrays["expression"].astype(np.float16))
    assert got["mel"].shape == (SPEC.feature_frames, SPEC.n_mels) == (120, 80)


def test_bad_windows_are_refused_and_unfinished_shards_are_not_read(tmp_path):
    write_corpus_json(tmp_path, SPEC)
    w = ShardWriter(tmp_path, "train-00000", SPEC)
    bad = _window(SPEC, 0)
    bad.arrays["expression"] = bad.arrays["expression"][:-1]
    with pytest.raises(ConfigError, match="expression has shape"):
        w.add(bad)
    nan = _window(SPEC, 1)
    nan.arrays["mel"][0, 0] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        w.add(nan)
    # a folder left by a killed build (no windows.json) is not a shard
    (tmp_path / "shards" / "train-00001.partial").mkdir(parents=True)
    assert len(Corpus(tmp_path)) == 0


def test_other_schema_is_refused_with_how_to_rebuild(tmp_path):
    (tmp_path / "corpus.json").write_text(json.dumps({"schema_version": 99, "spec": {}}))
    with pytest.raises(ConfigError, match="parley corpus build"):
        Corpus(tmp_path)


def test_several_corpora_read_as_one_and_other_layouts_are_refused(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for folder, n, spec in ((a, 3, SPEC), (b, 2, SPEC), (c, 1, CorpusSpec(window_s=2.0, num_joints=4,
                                                                           num_lip_vertices=5))):
        folder.mkdir()
        write_corpus_json(folder, spec)
        w = ShardWriter(folder, "train-00000", spec)
        for k in range(n):
            w.add(_window(spec, k + (10 if folder == b else 0)))
        w.close()
    both = Corpus([a, b], split="train")
    assert len(both) == 5 and both.roots == [a, b] and both.root == a
    assert [both.window(k)["info"]["item"] for k in range(5)] == ["item0", "item1", "item2", "item10", "item11"]
    with pytest.raises(ConfigError, match="same layout"):
        Corpus([a, c])
