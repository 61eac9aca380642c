"""`parley export --json` streams (issue 16, item 8): the file is written frame block by frame block, byte for
byte the document clip_to_json_dict builds, with memory bounded by one block instead of the whole document."""
import json
import tracemalloc

import numpy as np
import pytest

from rigs.core.clip import neutral_clip
from rigs.core.phones import Phone
from rigs.formats import motion_json


def _clip(frames, lips):
    rng = np.random.default_rng(5)
    c = neutral_clip(frames / 30.0, fps=30.0, lip_vertex_ids=np.arange(lips) * 3, lip_rest_m=np.zeros((lips, 3)))
    c.expression[:] = rng.uniform(0, 1, c.expression.shape)
    c.joint_angles[:] = rng.normal(0, 0.3, c.joint_angles.shape)
    c.root_translation[:] = rng.normal(0, 0.01, c.root_translation.shape)
    c.lip_vertices[:] = rng.normal(0, 0.01, c.lip_vertices.shape)
    c.phonemes = (Phone(0.0, 0.5, "SIL"), Phone(0.5, 1.0, "AA"))
    return c


@pytest.mark.parametrize("kw", [{}, {"rotations": "quaternion", "include_lips": False}, {"decimals": 3}])
def test_streamed_file_is_the_documented_object(tmp_path, monkeypatch, kw):
    monkeypatch.setattr(motion_json, "_BLOCK_FRAMES", 7)   # several blocks and a short last one
    c = _clip(23, lips=5)
    p = motion_json.export_json(c, tmp_path / "c.json", **kw)
    expected = json.dumps(motion_json.clip_to_json_dict(c, **kw), separators=(",", ":"))
    assert p.read_text() == expected
    d = json.loads(p.read_text())
    assert [f["index"] for f in d["frames"]] == list(range(23))


def test_memory_is_one_block_not_the_document(tmp_path, monkeypatch):
    """Before: 30 minutes (54000 frames, 299 lip vertices) peaked at 4.2 GB RSS building the whole document.
    Streamed in 16-frame blocks, the traced peak does not grow with the clip's length, and for 320 frames it
    is under a quarter of building the document."""
    monkeypatch.setattr(motion_json, "_BLOCK_FRAMES", 16)

    def peak_bytes(fn):
        tracemalloc.start()
        try:
            fn()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    motion_json.export_json(_clip(3, lips=1), tmp_path / "warm.json")  # first-call caches (the skeleton) apart
    short, long = _clip(80, lips=150), _clip(320, lips=150)
    streamed_short = peak_bytes(lambda: motion_json.export_json(short, tmp_path / "s.json"))
    streamed_long = peak_bytes(lambda: motion_json.export_json(long, tmp_path / "l.json"))
    whole_long = peak_bytes(lambda: json.dumps(motion_json.clip_to_json_dict(long), separators=(",", ":")))
    assert (tmp_path / "l.json").stat().st_size > 1e6
    assert streamed_long < 1.3 * streamed_short, (streamed_short, streamed_long)
    assert streamed_long < 0.25 * whole_long, (streamed_long, whole_long)
