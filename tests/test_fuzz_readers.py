"""Property-based fuzzing of the three readers of user files (issue 16, "Done means"): the clip reader, the Live
Link CSV reader and the audio loader. Whatever the bytes, each returns a valid result or raises a ParleyError
subclass (one line for the user) -- never another exception. Sized to run in well under a minute together;
``PARLEY_FUZZ_EXAMPLES`` scales the number of examples for a longer local run."""
import io
import json
import os
import string
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.audio.load import Audio, load_audio
from rigs.core.arkit import LIVELINK_COLUMNS
from rigs.core.clip import Clip, load_clip, neutral_clip, save_clip
from rigs.core.errors import AudioError, ClipError, ParleyError
from rigs.core.phones import Phone
from rigs.formats.livelink import read_livelink_csv

SCALE = float(os.environ.get("PARLEY_FUZZ_EXAMPLES", "1"))
FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def examples(n: int) -> int:
    return max(1, int(n * SCALE))


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="parley-fuzz-") as d:
        yield Path(d)


def _write(workdir: Path, name: str, data: bytes) -> Path:
    p = workdir / name
    p.write_bytes(data)
    return p


def _mutate(data: bytes, edits) -> bytes:
    """Apply (kind, position, payload) edits: overwrite, insert, delete a span, or truncate."""
    b = bytearray(data)
    for kind, pos, payload in edits:
        pos = pos % (len(b) + 1)
        if kind == "overwrite":
            b[pos:pos + len(payload)] = payload
        elif kind == "insert":
            b[pos:pos] = payload
        elif kind == "delete":
            del b[pos:pos + len(payload) + 1]
        else:
            del b[pos:]
    return bytes(b)


EDITS = st.lists(st.tuples(st.sampled_from(["overwrite", "overwrite", "insert", "delete", "truncate"]),
                           st.integers(0, 1 << 20), st.binary(min_size=1, max_size=16)), min_size=1, max_size=4)


# ----------------------------------------------------------------------------------------------- clips

def _clip_bytes(compressed: bool) -> bytes:
    c = neutral_clip(0.5, fps=20.0, lip_vertex_ids=np.arange(3) * 5, lip_rest_m=np.full((3, 3), 0.01))
    c.expression[:] = 0.25
    c.phonemes = (Phone(0.0, 0.2, "SIL"), Phone(0.2, 0.5, "AA"))
    with tempfile.TemporaryDirectory() as d:
        p = save_clip(c, Path(d) / "c.npz")
        if not compressed:
            return p.read_bytes()
        with np.load(p) as z:
            arrays = {k: z[k] for k in z.files}
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()


CLIPS = {False: _clip_bytes(False), True: _clip_bytes(True)}


def _load_clip_or_parley_error(p: Path) -> None:
    try:
        clip = load_clip(p)
    except ParleyError:
        return
    assert isinstance(clip, Clip)
    clip.validate()


@settings(max_examples=examples(120), **FUZZ)
@given(compressed=st.booleans(), edits=EDITS)
def test_fuzz_clip_bytes(workdir, compressed, edits):
    data = CLIPS[compressed]
    # most edits land in the zip directory and headers at the ends, where the structure is
    edits = [(k, pos if pos % 2 else len(data) - 1 - pos % 400, pl) for k, pos, pl in edits]
    _load_clip_or_parley_error(_write(workdir, "m.npz", _mutate(data, edits)))


def _arrays(draw_dtype, draw_shape, fill):
    dtype, shape = draw_dtype, draw_shape
    if dtype.kind == "U":
        return np.full(shape, fill if isinstance(fill, str) else str(fill), dtype=dtype)
    if dtype.kind == "O":
        return np.empty(shape, dtype=object)
    with np.errstate(all="ignore"):
        return np.full(shape, fill if not isinstance(fill, str) else 0).astype(dtype)


DTYPES = st.sampled_from([np.dtype(t) for t in ("<f4", ">f8", "<f2", "<i8", "<u8", "<i1", "?", "<c8", "<U3", "O",
                                                "<M8[s]")])
FILLS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2**63, 2**64 - 1), st.text(max_size=4))
SHAPES = st.lists(st.integers(0, 6), min_size=0, max_size=4).map(tuple)
JSON = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
                    max_leaves=20)
META_KEYS = st.sampled_from(["schema_version", "fps", "duration_s", "seed", "mode", "x"])


@settings(max_examples=examples(150), **FUZZ)
@given(data=st.data())
def test_fuzz_clip_fields(workdir, data):
    """A valid clip with some fields replaced by arrays of any dtype and shape, and any meta JSON."""
    with np.load(io.BytesIO(CLIPS[False])) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    for key in data.draw(st.lists(st.sampled_from(sorted(arrays) + ["phoneme_times", "extra"]), max_size=3)):
        if key == "meta":
            if data.draw(st.booleans()):
                meta.update(data.draw(st.dictionaries(META_KEYS, JSON, max_size=3)))
                arrays["meta"] = np.array(json.dumps(meta))
            else:
                arrays["meta"] = np.array(data.draw(st.text(max_size=40)))
        elif data.draw(st.booleans()):
            arrays.pop(key, None)
        else:
            arrays[key] = _arrays(data.draw(DTYPES), data.draw(SHAPES), data.draw(FILLS))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", data.draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))) as zf:
        for k, v in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, v, allow_pickle=True)
            zf.writestr(k + ".npy", member.getvalue())
    _load_clip_or_parley_error(_write(workdir, "f.npz", buf.getvalue()))


# ------------------------------------------------------------------------------------------- Live Link

NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**30, 10**30).map(str),
    st.sampled_from(["inf", "-inf", "nan", "1e308", "-1e308", "9" * 4400, "", " ", "0x10", "1_000", "٣"]),
    st.text(alphabet=string.digits + ".:-e+ ", max_size=12),
)
TIMECODES = st.one_of(
    st.builds(lambda h, m, s, f, ms: f"{h:02d}:{m:02d}:{s:02d}:{f:02d}.{ms:03d}", st.integers(0, 10**6),
              st.integers(0, 99), st.integers(0, 99), st.integers(0, 10**7), st.integers(0, 999)),
    st.builds(lambda h, m, s, frac: f"{h}:{m}:{s}.{frac}", st.integers(0, 10**12), st.integers(0, 99),
              st.integers(0, 99), st.integers(0, 10**9)),
    NUMBER_TEXT,
)
COLUMNS = st.sampled_from(list(LIVELINK_COLUMNS) + ["BlendShapeCount", "jawopen", "Jaw_Open", "Other", "", "Timecode"])


@settings(max_examples=examples(200), **FUZZ)
@given(columns=st.lists(COLUMNS, min_size=0, max_size=6), start=st.integers(0, 90000),
       step=st.sampled_from([1, 1, 1, 2, 0, -1, 7]), data=st.data(),
       fps=st.none() | st.floats(allow_nan=True, allow_infinity=True),
       timecode_rate=st.none() | st.floats(allow_nan=True, allow_infinity=True))
def test_fuzz_livelink_csv(workdir, columns, start, step, data, fps, timecode_rate):
    header = ["Timecode"] + columns if data.draw(st.booleans()) else columns
    n = data.draw(st.integers(0, 40))
    lines = [",".join(header)]
    for i in range(n):
        if data.draw(st.integers(0, 9)) == 0:                 # an odd row
            tc = data.draw(TIMECODES)
        else:                                                 # a regular 60 fps row
            s, ff = divmod(start + i * step, 60)
            tc = f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{ff % 60:02d}.000"
        cells = [tc] + [data.draw(NUMBER_TEXT) if data.draw(st.integers(0, 5)) == 0 else "0.5"
                        for _ in range(max(0, len(header) - 1 + data.draw(st.integers(-1, 1))))]
        lines.append(",".join(cells))
    text = "\n".join(lines) + "\n"
    if data.draw(st.integers(0, 9)) == 0:
        text = text.replace("\n", data.draw(st.sampled_from(["\r\n", "\r", "\n\n", "\x00\n", '"\n'])))
    p = _write(workdir, "t.csv", text.encode("utf-8", "surrogatepass") if data.draw(st.booleans())
               else text.encode("latin-1", "replace"))
    try:
        clip = read_livelink_csv(p, fps=fps, timecode_rate=timecode_rate)
    except ClipError:
        return
    clip.validate()
    if fps is None:                       # the grid stays in proportion to the rows: at most 4 frames per row
        assert clip.num_frames <= 4 * max(1, n) + 1
    else:                                 # ... at the take's rate (at least 0.1 rows per second: gaps <= 10 s)
        assert clip.num_frames <= (4 * max(1, n) + 1) * fps / 0.1 + 1


@settings(max_examples=examples(60), **FUZZ)
@given(data=st.binary(max_size=2000))
def test_fuzz_livelink_bytes(workdir, data):
    try:
        read_livelink_csv(_write(workdir, "b.csv", b"Timecode,JawOpen\n" + data))
    except ClipError:
        pass


# ----------------------------------------------------------------------------------------------- audio

def _audio_bytes(fmt: str, subtype: str, channels: int, sr: int = 8000) -> bytes:
    t = np.arange(sr // 4) / sr
    x = 0.4 * np.sin(2 * np.pi * 200 * t)
    buf = io.BytesIO()
    sf.write(buf, np.stack([x * (1 - 2 * (c % 2)) for c in range(channels)], axis=1), sr, format=fmt,
             subtype=subtype)
    return buf.getvalue()


SOURCES = {(f, s, c): _audio_bytes(f, s, c) for f, s, c in [("WAV", "PCM_16", 1), ("WAV", "FLOAT", 2),
                                                            ("AIFF", "PCM_24", 2), ("FLAC", "PCM_16", 1),
                                                            ("RF64", "PCM_16", 1)]}


def _load_audio_or_audio_error(p: Path) -> None:
    try:
        a = load_audio(p, sr=8000)
    except AudioError:
        return
    assert isinstance(a, Audio) and a.samples.ndim == 1 and a.samples.size > 0
    assert np.all(np.isfinite(a.samples)) and np.abs(a.samples).max() <= 1.0


@settings(max_examples=examples(80), **FUZZ)
@given(source=st.sampled_from(sorted(SOURCES)), edits=EDITS, near_header=st.booleans())
def test_fuzz_audio_bytes(workdir, source, edits, near_header):
    """Damaged WAV/AIFF/FLAC/RF64 files, the edits mostly in the headers (what is not audio to libsndfile
    goes on to ffprobe, so some examples exercise the ffmpeg fallback too)."""
    data = SOURCES[source]
    if near_header:
        edits = [(k, pos % 96, pl) for k, pos, pl in edits]
    ext = {"WAV": "wav", "AIFF": "aiff", "FLAC": "flac", "RF64": "wav"}[source[0]]
    _load_audio_or_audio_error(_write(workdir, f"a.{ext}", _mutate(data, edits)))


@settings(max_examples=examples(60), **FUZZ)
@given(channels=st.integers(1, 4), sr=st.sampled_from([2000, 8000, 16000, 44100]), n=st.integers(0, 3000),
       values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=8),
       dc=st.floats(-0.9, 0.9), subtype=st.sampled_from(["FLOAT", "DOUBLE", "PCM_16", "PCM_U8"]))
def test_fuzz_audio_samples(workdir, channels, sr, n, values, dc, subtype):
    """Any samples (NaN, inf, huge floats, DC, inverted channels) at any rate and channel count."""
    assume(channels * n < 20000)
    x = np.resize(np.asarray(values, np.float64), n * channels).reshape(n, channels) + dc
    p = workdir / "s.wav"
    sf.write(p, x if subtype in ("FLOAT", "DOUBLE") else np.nan_to_num(np.clip(x, -1, 1)), sr, subtype=subtype)
    _load_audio_or_audio_error(p)
