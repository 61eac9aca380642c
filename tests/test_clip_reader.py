"""The clip reader on broken and hostile files (issue 16, items 6 and 9): zip bombs are refused before
anything is decompressed, and every malformed file is one ClipError line -- in `info`, `export`, `render`."""
import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest

from conftest import requires_bpy

from engine.cli import main
from rigs.core import clip as clip_module
from rigs.core.clip import MAX_META_DEPTH, load_clip, neutral_clip, save_clip
from rigs.core.errors import ClipError


@pytest.fixture()
def good(tmp_path):
    c = neutral_clip(1.0, fps=30.0, lip_vertex_ids=np.arange(4) * 3, lip_rest_m=np.zeros((4, 3)))
    return save_clip(c, tmp_path / "good.npz")


def _arrays(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _write(path, arrays, *, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for k, v in arrays.items():
            b = io.BytesIO()
            np.lib.format.write_array(b, v, allow_pickle=True)
            zf.writestr(k + ".npy", b.getvalue())
    return path


def _variant(good, tmp_path, name, **changes):
    a = _arrays(good)
    meta_text = changes.pop("meta_text", None)
    if meta_text is not None:
        a["meta"] = np.array(meta_text)
    a.update(changes)
    return _write(tmp_path / f"{name}.npz", a)


def _meta(good):
    return json.loads(str(_arrays(good)["meta"]))


def _deflate_bomb(path, good, *, frames):
    """A clip whose expression member is `frames` x 52 float32 zeros, deflated (about 1000:1)."""
    a = _arrays(good)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for k, v in a.items():
            if k != "expression":
                b = io.BytesIO()
                np.lib.format.write_array(b, v)
                zf.writestr(k + ".npy", b.getvalue())
        with zf.open("expression.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (frames, 52)})
            zeros = bytes(1 << 20)
            left = frames * 52 * 4
            while left > 0:
                f.write(zeros[:min(left, len(zeros))])
                left -= len(zeros)
    return path


def test_zip_bomb_is_refused_before_decompressing(good, tmp_path, monkeypatch):
    """Issue 16.6: a 10 MB file declaring 10 GB exited 0 after decompressing it all. The same file in
    miniature (64 MiB of deflated zeros in a ~70 kB file, the limit lowered to 16 MiB) is refused from its
    declared sizes, allocating almost nothing."""
    bomb = _deflate_bomb(tmp_path / "bomb.npz", good, frames=(64 << 20) // 208)
    assert bomb.stat().st_size < 1 << 20
    monkeypatch.setattr(clip_module, "MAX_CLIP_BYTES", 16 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(ClipError, match="GiB decompressed, more than"):
            load_clip(bomb)
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak_bytes < 2 << 20


def test_a_member_cannot_claim_more_frames_than_the_limit(good, tmp_path):
    """The header's shape is checked before its data: a header claiming 10^8 frames over 100 bytes of data
    is refused by shape, not read."""
    a = _arrays(good)
    p = tmp_path / "claim.npz"
    with zipfile.ZipFile(p, "w") as zf:
        for k, v in a.items():
            b = io.BytesIO()
            if k == "expression":
                np.lib.format.write_array_header_1_0(b, {"descr": "<f4", "fortran_order": False,
                                                         "shape": (100_000_000, 52)})
                b.write(bytes(100))
            else:
                np.lib.format.write_array(b, v)
            zf.writestr(k + ".npy", b.getvalue())
    with pytest.raises(ClipError, match="'expression' has 100000000 entries along axis 0"):
        load_clip(p)


def test_data_shorter_than_its_header_is_refused(good, tmp_path):
    a = _arrays(good)
    p = tmp_path / "short.npz"
    with zipfile.ZipFile(p, "w") as zf:
        for k, v in a.items():
            b = io.BytesIO()
            np.lib.format.write_array(b, v)
            data = b.getvalue()
            zf.writestr(k + ".npy", data[:-8] if k == "joint_angles" else data)
    with pytest.raises(ClipError, match="'joint_angles' holds .* bytes of data where its header declares"):
        load_clip(p)


def _corrupt_deflate(good, tmp_path):
    comp = _write(tmp_path / "comp.npz", _arrays(good), compression=zipfile.ZIP_DEFLATED)
    b = bytearray(comp.read_bytes())
    i = b.find(b"expression.npy") + 200        # inside the deflated expression data
    b[i:i + 40] = b"\xff" * 40
    p = tmp_path / "corrupt.npz"
    p.write_bytes(bytes(b))
    return p


HOSTILE = {
    # name: (how to make the file from the good one, what the one line says)
    "corrupt deflate": (_corrupt_deflate, "corrupt compressed data|not a Parley clip"),
    "0-d expression": (lambda g, t: _variant(g, t, "a", expression=np.array(1.0)), "'expression' has 0 dimensions"),
    "0-d joint names": (lambda g, t: _variant(g, t, "b", joint_names=np.array("x")), "'joint_names' has 0 dim"),
    "0-d parents": (lambda g, t: _variant(g, t, "c", joint_parents=np.array(3)), "'joint_parents' has 0 dim"),
    "0-d vertex ids": (lambda g, t: _variant(g, t, "d", lip_vertex_ids=np.array(3)), "'lip_vertex_ids' has 0 dim"),
    "float parents": (lambda g, t: _variant(g, t, "e", joint_parents=np.arange(25) - 0.5),
                      "'joint_parents' must hold integers"),
    "text parents": (lambda g, t: _variant(g, t, "f", joint_parents=np.array(["a"] * 25)),
                     "'joint_parents' must hold integers"),
    "float vertex ids": (lambda g, t: _variant(g, t, "g", lip_vertex_ids=np.array([0.5, 1.5, 2.5, 3.5])),
                         "'lip_vertex_ids' must hold integers"),
    "vertex ids past int64": (lambda g, t: _variant(g, t, "h", lip_vertex_ids=np.array([2**64 - 1] * 4, np.uint64)),
                              "vertex index .* is out of range"),
    "text phoneme times": (lambda g, t: _variant(g, t, "i", phoneme_times=np.array([["a", "b"]]),
                                                 phoneme_labels=np.array(["AA"])),
                           "'phoneme_times' must hold numbers"),
    "pickled meta": (lambda g, t: _variant(g, t, "j", meta=np.array([{"a": 1}], dtype=object)),
                     "'meta' must hold text"),
    "huge integer in meta": (lambda g, t: _variant(g, t, "k", meta_text=json.dumps(_meta(g))[:-1]
                                                   + ', "seed": ' + "9" * 5000 + "}"), "'meta' is not valid JSON"),
    "deep nesting in meta": (lambda g, t: _variant(g, t, "l", meta_text=json.dumps(_meta(g))[:-1]
                                                   + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}"),
                             "'meta' is not valid JSON"),
    "moderate nesting in meta": (lambda g, t: _variant(g, t, "m", meta_text=json.dumps(_meta(g))[:-1]
                                                       + ', "x": ' + "[" * 500 + "]" * 500 + "}"),
                                 f"nests deeper than {MAX_META_DEPTH}"),
    "huge fps integer": (lambda g, t: _variant(g, t, "n", meta_text=json.dumps(dict(_meta(g), fps=10**400))),
                         "'meta.fps' or 'meta.duration_s' is missing or not a number"),
    "boolean schema version": (lambda g, t: _variant(g, t, "o", meta_text=json.dumps(dict(_meta(g),
                                                                                         schema_version=True))),
                               "schema_version' is missing or not a positive integer"),
    "duplicated member": (lambda g, t: _duplicate(g, t), "'expression' appears twice"),
}


def _duplicate(good, tmp_path):
    p = _write(tmp_path / "dup.npz", _arrays(good))
    b = io.BytesIO()
    np.lib.format.write_array(b, np.ones((30, 52), np.float32))
    with zipfile.ZipFile(p, "a") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("expression.npy", b.getvalue())
    return p


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_clip_is_one_line_in_info_and_export(case, good, tmp_path, capsys):
    """Issue 16.9: each of these was a traceback (or silently accepted). Now: ClipError from the reader the
    add-on also uses, and one `parley: error:` line with exit 2 from `info` and `export`."""
    make, needle = HOSTILE[case]
    bad = make(good, tmp_path)
    with pytest.raises(ClipError, match=needle):
        load_clip(bad)
    for argv in (["info", str(bad)], ["export", str(bad), "--json", str(tmp_path / "o.json")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("parley: error: "), (argv, err)
    assert not (tmp_path / "o.json").exists()


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_good_clip_still_reads_from_compressed_zip64_and_fortran_files(good, tmp_path, compression):
    a = _arrays(good)
    a["expression"] = np.asfortranarray(np.full((30, 52), 0.25, np.float32))
    p = tmp_path / "c.npz"
    with zipfile.ZipFile(p, "w", compression, allowZip64=True) as zf:   # members as rigs.core.files.write_npz
        for k, v in a.items():
            with zf.open(k + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, v, allow_pickle=False)
    c = load_clip(p)
    assert c.num_frames == 30 and float(c.expression.mean()) == 0.25
    np.testing.assert_array_equal(c.lip_vertex_ids, np.arange(4) * 3)


@requires_bpy
def test_the_addon_gets_one_parley_error(good, tmp_path):
    """The add-on's Apply Clip reads through addon.services.load_clip_file; its operators report a
    ParleyError as one line and cancel (addon.operators.common.reports_errors)."""
    from addon import services
    from rigs.core.errors import ParleyError

    for make, needle in (HOSTILE["corrupt deflate"], HOSTILE["deep nesting in meta"], HOSTILE["float parents"]):
        with pytest.raises(ParleyError, match=needle):
            services.load_clip_file(str(make(good, tmp_path)))


@requires_bpy
def test_render_reports_a_corrupt_clip_in_one_line(good, tmp_path, capfd):
    bad = _corrupt_deflate(good, tmp_path)
    assert main(["render", str(bad), "-o", str(tmp_path / "o.mp4")]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("parley: error: ") and "corrupt" in err[-1], err
    assert not any("Traceback" in line for line in err)
    assert not (tmp_path / "o.mp4").exists()
