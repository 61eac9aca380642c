"""Audio loading: formats, rates and channels, one-line errors, streaming, loudness normalisation."""
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from engine.audio.load import Audio, gated_rms_dbfs, iter_audio_chunks, load_audio, normalize_loudness
from engine.audio.mixdown import DcBlocker
from rigs.core.errors import AudioError


def _tone(sr, dur_s=1.0, f=220.0, ch=1, amp=0.5):
    t = np.arange(int(sr * dur_s)) / sr
    x = amp * np.sin(2 * np.pi * f * t)
    return np.stack([x * (0.5 + 0.5 * c) for c in range(ch)], axis=1) if ch > 1 else x


@pytest.mark.parametrize("fmt,subtype,sr,ch", [
    ("WAV", "PCM_16", 44100, 2), ("WAV", "PCM_24", 48000, 1), ("WAV", "FLOAT", 8000, 1),
    ("WAV", "PCM_U8", 22050, 1), ("FLAC", "PCM_16", 96000, 2), ("OGG", "VORBIS", 32000, 1),
    ("AIFF", "PCM_16", 11025, 3), ("WAV", "PCM_32", 16000, 6),
])
def test_formats(tmp_path, fmt, subtype, sr, ch):
    p = tmp_path / f"x.{fmt.lower()}"
    sf.write(p, _tone(sr, 1.0, 220.0, ch), sr, format=fmt, subtype=subtype)
    a = load_audio(p)
    assert isinstance(a, Audio) and a.sr == 16000 and a.original_sr == sr and a.channels == ch
    assert a.samples.dtype == np.float32 and a.samples.ndim == 1
    assert abs(a.duration_s - 1.0) < 0.01 and abs(a.samples.size - 16000) <= 2
    assert np.abs(a.samples).max() <= 1.0 and len(a.source_sha256) == 64
    # the tone survives: dominant frequency 220 Hz
    spec = np.abs(np.fft.rfft(a.samples[2000:14000]))
    assert abs(np.argmax(spec) * 16000 / 12000 - 220) < 3


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
@pytest.mark.parametrize("ext", ["mp3", "m4a"])
def test_ffmpeg_formats(tmp_path, ext):
    src = tmp_path / "x.wav"
    sf.write(src, _tone(44100, 1.5, 330.0, 2), 44100)
    out = tmp_path / f"x.{ext}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), str(out)], check=True)
    a = load_audio(out, sr=22050)
    assert a.sr == 22050 and a.original_sr == 44100 and a.channels == 2
    assert abs(a.duration_s - 1.5) < 0.1
    spec = np.abs(np.fft.rfft(a.samples[5000:27050]))
    assert abs(np.argmax(spec) * 22050 / 22050 - 330) < 3


def test_bad_inputs(tmp_path):
    cases = {}
    cases["missing"] = tmp_path / "nope.wav"
    (tmp_path / "empty.wav").write_bytes(b"")
    cases["empty"] = tmp_path / "empty.wav"
    (tmp_path / "text.wav").write_text("this is not audio\n" * 50)
    cases["text"] = tmp_path / "text.wav"
    (tmp_path / "trunc.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    cases["truncated"] = tmp_path / "trunc.wav"
    sf.write(tmp_path / "zero.wav", np.zeros(0), 16000)
    cases["zero-length"] = tmp_path / "zero.wav"
    x = _tone(16000); x[100] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    cases["nan"] = tmp_path / "nan.wav"
    x = _tone(16000); x[5] = np.inf
    sf.write(tmp_path / "inf.wav", x, 16000, subtype="DOUBLE")
    cases["inf"] = tmp_path / "inf.wav"
    sf.write(tmp_path / "low.wav", _tone(1000, f=100), 1000)
    cases["low-rate"] = tmp_path / "low.wav"
    sf.write(tmp_path / "high.wav", _tone(1_000_000, 0.1, f=1000), 1_000_000)
    cases["high-rate"] = tmp_path / "high.wav"
    cases["directory"] = tmp_path
    for name, p in cases.items():
        with pytest.raises(AudioError) as ei:
            load_audio(p)
        msg = str(ei.value)
        assert msg and "\n" not in msg, name



def test_corrupt_data_after_a_good_header(tmp_path):
    """libsndfile opens the file but fails mid-stream: one AudioError line naming the file."""
    p = tmp_path / "cut.flac"
    sf.write(p, 0.1 * np.random.default_rng(1).standard_normal(160000), 16000)
    data = bytearray(p.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 2000] = np.random.default_rng(2).bytes(2000)
    p.write_bytes(bytes(data))
    with pytest.raises(AudioError, match=r"cut\.flac: unreadable audio data") as ei:
        load_audio(p)
    assert "\n" not in str(ei.value)


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
def test_not_audio_goes_through_ffprobe(tmp_path):
    """What libsndfile cannot open is handed to ffprobe/ffmpeg, which reports it as not audio."""
    p = tmp_path / "notes.m4a"
    p.write_text("this is not audio\n" * 50)
    with pytest.raises(AudioError, match=r"notes\.m4a: not an audio file"):
        load_audio(p)


def test_silent_is_not_an_error(tmp_path):
    sf.write(tmp_path / "s.wav", np.zeros(8000), 8000)
    a = load_audio(tmp_path / "s.wav")
    assert a.is_silent() and a.duration_s == pytest.approx(1.0)
    sf.write(tmp_path / "t.wav", _tone(8000), 8000)
    assert not load_audio(tmp_path / "t.wav").is_silent()


def test_chunked_equals_full(tmp_path):
    import soxr
    rng = np.random.default_rng(0)
    sr = 44100
    x = (0.1 * rng.standard_normal((sr * 70, 2))).astype(np.float32)  # 70 s, several blocks, below full scale
    p = tmp_path / "long.wav"
    sf.write(p, x, sr, subtype="FLOAT")
    chunks = list(iter_audio_chunks(p, sr=16000, chunk_s=7.0))
    assert len(chunks) > 5
    got = np.concatenate(chunks)
    ref = np.clip(DcBlocker(16000)(soxr.resample(x.mean(axis=1), sr, 16000, quality="HQ")), -1, 1)
    assert abs(got.size - ref.size) <= 1
    n = min(got.size, ref.size)
    assert np.max(np.abs(got[:n] - ref[:n])) < 1e-3
    full = load_audio(p)
    assert np.max(np.abs(full.samples[:n] - ref[:n])) < 1e-3
    assert full.samples.size == got.size and np.max(np.abs(full.samples - got)) < 1e-5


def test_loudness_normalisation():
    rng = np.random.default_rng(1)
    x = (0.01 * rng.standard_normal(16000)).astype(np.float32)
    y = normalize_loudness(x, sr=16000, target_dbfs=-20)
    assert gated_rms_dbfs(y, sr=16000) == pytest.approx(-20, abs=0.5)
    assert np.all(normalize_loudness(np.zeros(100, np.float32), sr=16000) == 0)
