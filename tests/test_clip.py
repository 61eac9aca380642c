"""The clip contract: round trip, validation and typed errors naming the field."""
import json
import zipfile

import numpy as np
import pytest

import rigs.core.clip as clip_module
from rigs.core.clip import SCHEMA_VERSION, load_clip, make_meta, neutral_clip, save_clip
from rigs.core.phones import Phone
from rigs.core.timebase import num_frames
from rigs.core.errors import ClipError, SchemaVersionError
from rigs.core.arkit import ARKIT_NAMES


def _clip(T=31, fps=30.0, L=4):
    rng = np.random.default_rng(0)
    c = neutral_clip((T) / fps, fps=fps, lip_vertex_ids=np.arange(L) * 7,
                     lip_rest_m=rng.normal(size=(L, 3)) * 0.01)
    c.expression[:] = rng.uniform(0, 1, c.expression.shape)
    c.joint_angles[:] = rng.normal(0, 0.2, c.joint_angles.shape)
    c.root_translation[:] = rng.normal(0, 0.01, c.root_translation.shape)
    c.lip_vertices[:] += rng.normal(0, 0.001, c.lip_vertices.shape).astype(np.float32)
    c.phonemes = (Phone(0.0, 0.2, "SIL"), Phone(0.2, 0.3, "M"), Phone(0.3, 1.0, "AA"))
    c.meta = make_meta(fps=fps, duration_s=T / fps, mode="test", seed=3, emotion={"joy": 0.5})
    return c


def test_roundtrip_preserves_everything(tmp_path):
    c = _clip()
    p = save_clip(c, tmp_path / "a.npz")
    d = load_clip(p)
    assert d.fps == c.fps and d.duration_s == pytest.approx(c.duration_s)
    for k in ("expression", "joint_angles", "root_translation", "lip_vertices"):
        np.testing.assert_allclose(getattr(d, k), getattr(c, k), atol=1e-6)
        assert getattr(d, k).dtype == np.float32
    assert d.expression_names == ARKIT_NAMES
    assert d.joint_names == c.joint_names and d.joint_parents == c.joint_parents
    np.testing.assert_array_equal(d.lip_vertex_ids, c.lip_vertex_ids)
    assert [p.label for p in d.phonemes] == ["SIL", "M", "AA"]
    assert d.meta["seed"] == 3 and d.meta["emotion"] == {"joy": 0.5}
    assert d.meta["schema_version"] == SCHEMA_VERSION
    assert d.channel("jawOpen").shape == (31,)


def test_canonical_order_is_alphabetical_arkit():
    assert len(ARKIT_NAMES) == 52 and list(ARKIT_NAMES) == sorted(ARKIT_NAMES)
    assert ARKIT_NAMES[0] == "browDownLeft" and ARKIT_NAMES[-1] == "tongueOut"


def test_frame_count_convention():
    assert num_frames(11.0, 30) == 330
    assert num_frames(0.001, 30) == 1
    assert neutral_clip(2.0, fps=25).num_frames == 50


@pytest.mark.parametrize("field,mutate,needle", [
    ("expression", lambda c: c.expression.__setitem__((0, 0), np.nan), "expression: contains NaN"),
    ("expression", lambda c: c.expression.__setitem__((0, 0), 1.5), "expression: weights must lie"),
    ("expression", lambda c: setattr(c, "expression", c.expression[:, :51]), "expression: shape"),
    ("joint_angles", lambda c: setattr(c, "joint_angles", c.joint_angles[:-3]), "joint_angles: shape"),
    ("joint_angles", lambda c: c.joint_angles.__setitem__((1, 1, 1), np.inf), "joint_angles: contains NaN"),
    ("root_translation", lambda c: setattr(c, "root_translation", c.root_translation[:, :2]), "root_translation"),
    ("lip_vertices", lambda c: setattr(c, "lip_vertices", c.lip_vertices[:, :2]), "lip_vertices: shape"),
    ("duration_s", lambda c: setattr(c, "duration_s", 5.0), "do not match duration_s"),
    ("fps", lambda c: setattr(c, "fps", 0.0), "fps"),
    ("joint_parents", lambda c: setattr(c, "joint_parents", (0,) + c.joint_parents[1:]), "joint_parents"),
    ("expression_names", lambda c: setattr(c, "expression_names", tuple(reversed(ARKIT_NAMES))), "expression_names"),
])
def test_validation_names_the_field(tmp_path, field, mutate, needle):
    c = _clip()
    mutate(c)
    with pytest.raises(ClipError, match=needle.replace("(", r"\(")):
        c.validate()
    with pytest.raises(ClipError):
        save_clip(c, tmp_path / "bad.npz")
    assert not list(tmp_path.iterdir()), "a rejected clip must leave no file"


def _rewrite(src, dst, **changes):
    with np.load(src) as z:
        d = {k: z[k] for k in z.files}
    for k, v in changes.items():
        if v is None:
            d.pop(k)
        else:
            d[k] = v
    np.savez(dst, **d)


def test_newer_schema_is_a_typed_error(tmp_path):
    p = save_clip(_clip(), tmp_path / "a.npz")
    with np.load(p) as z:
        meta = json.loads(str(z["meta"]))
    meta["schema_version"] = SCHEMA_VERSION + 1
    _rewrite(p, tmp_path / "new.npz", meta=np.array(json.dumps(meta)))
    with pytest.raises(SchemaVersionError, match="schema 2"):
        load_clip(tmp_path / "new.npz")


@pytest.mark.parametrize("changes,needle", [
    ({"expression": None}, "'expression' is missing"),
    ({"meta": None}, "'meta' is missing"),
    ({"meta": np.array("{not json")}, "not valid JSON"),
    ({"joint_angles": np.zeros((31, 25, 4), np.float32)}, "joint_angles: shape"),
    ({"expression": np.full((31, 52), np.nan, np.float32)}, "NaN"),
])
def test_malformed_files_are_rejected(tmp_path, changes, needle):
    p = save_clip(_clip(), tmp_path / "a.npz")
    _rewrite(p, tmp_path / "m.npz", **changes)
    with pytest.raises(ClipError, match=needle):
        load_clip(tmp_path / "m.npz")


def test_not_a_clip_file(tmp_path):
    (tmp_path / "x.npz").write_text("hello")
    with pytest.raises(ClipError, match="not a Parley clip"):
        load_clip(tmp_path / "x.npz")
    with pytest.raises(ClipError, match="no such clip"):
        load_clip(tmp_path / "missing.npz")
    with zipfile.ZipFile(tmp_path / "empty.npz", "w"):
        pass
    with pytest.raises(ClipError, match="'meta' is missing"):
        load_clip(tmp_path / "empty.npz")


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    p = save_clip(_clip(), tmp_path / "a.npz")
    before = p.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(clip_module, "write_npz", boom)
    with pytest.raises(OSError):
        save_clip(_clip(T=40), p)
    assert p.read_bytes() == before
    assert [x.name for x in tmp_path.iterdir()] == ["a.npz"], "temp file must be removed"


def test_written_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        p = save_clip(_clip(), tmp_path / "a.npz")
        assert stat.S_IMODE(p.stat().st_mode) == 0o644
        os.chmod(p, 0o600)
        save_clip(_clip(), p)
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, "an existing file keeps its mode"
    finally:
        os.umask(mask)
