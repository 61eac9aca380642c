"""Audio loading (formats, errors, streaming) and prosody features."""
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from engine.audio.load import Audio, iter_audio_chunks, load_audio, normalize_loudness, gated_rms_dbfs
from rigs.core.clip import num_frames
from rigs.core.errors import AudioError
from engine.audio.prosody import FeatureConfig, analyze, analyze_chunks, log_mel, lpc_autocorrelation, mfcc


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


def test_silent_is_not_an_error(tmp_path):
    sf.write(tmp_path / "s.wav", np.zeros(8000), 8000)
    a = load_audio(tmp_path / "s.wav")
    assert a.is_silent() and a.duration_s == pytest.approx(1.0)
    pr = analyze(a, fps=30)
    assert pr.silent and not pr.speech.any() and not pr.voiced.any() and np.all(pr.loudness == 0)
    sf.write(tmp_path / "t.wav", _tone(8000), 8000)
    assert not load_audio(tmp_path / "t.wav").is_silent()


def test_chunked_equals_full(tmp_path):
    import soxr
    rng = np.random.default_rng(0)
    sr = 44100
    x = (0.3 * rng.standard_normal((sr * 70, 2))).astype(np.float32)  # 70 s, several blocks
    p = tmp_path / "long.wav"
    sf.write(p, x, sr, subtype="FLOAT")
    chunks = list(iter_audio_chunks(p, sr=16000, chunk_s=7.0))
    assert len(chunks) > 5
    got = np.concatenate(chunks)
    ref = np.clip(soxr.resample(x.mean(axis=1), sr, 16000, quality="HQ"), -1, 1)
    assert abs(got.size - ref.size) <= 1
    n = min(got.size, ref.size)
    assert np.max(np.abs(got[:n] - ref[:n])) < 1e-3
    full = load_audio(p)
    assert np.max(np.abs(full.samples[:n] - ref[:n])) < 1e-3


def test_analyze_chunks_matches_analyze(tmp_path):
    sr = 16000
    t = np.arange(sr * 12) / sr
    f = 120 + 40 * np.sin(2 * np.pi * 0.3 * t)
    y = 0.4 * np.sin(2 * np.pi * np.cumsum(f) / sr) * (np.sin(2 * np.pi * 0.5 * t) > -0.3)
    p = tmp_path / "s.wav"
    sf.write(p, y, sr, subtype="FLOAT")
    a = load_audio(p)
    full = analyze(a, fps=30)
    part = analyze_chunks(iter_audio_chunks(p, chunk_s=2.5), sr=sr, fps=30)
    assert part.num_frames == full.num_frames
    np.testing.assert_allclose(part.rms, full.rms, atol=1e-4)
    assert (part.voiced == full.voiced).mean() > 0.98
    both = part.voiced & full.voiced
    np.testing.assert_allclose(part.f0_hz[both], full.f0_hz[both], rtol=1e-3)
    np.testing.assert_allclose(part.loudness, full.loudness, atol=1e-3)


@pytest.mark.parametrize("fps", [24, 30, 59.94, 100])
def test_feature_shapes_and_pitch(fps):
    sr = 16000
    dur = 2.37
    t = np.arange(int(sr * dur)) / sr
    y = (0.3 * np.sin(2 * np.pi * 180 * t) * (t > 1.0)).astype(np.float32)
    a = Audio(samples=y, sr=sr, duration_s=y.size / sr, source_name="x", source_sha256="0" * 64,
              original_sr=sr, channels=1)
    pr = analyze(a, fps=fps)
    T = num_frames(a.duration_s, fps)
    for k in ("rms", "loudness", "f0_hz", "voiced", "speech"):
        assert getattr(pr, k).shape == (T,), k
    assert pr.voiced.dtype == bool and pr.speech.dtype == bool
    assert 0 <= pr.loudness.min() and pr.loudness.max() <= 1
    ts = np.arange(T) / fps
    on = ts > 1.1
    assert pr.voiced[on].mean() > 0.9 and not pr.voiced[ts < 0.9].any()
    assert np.median(pr.f0_hz[on]) == pytest.approx(180, rel=0.02)
    assert pr.loudness[on].mean() > 0.8 and pr.loudness[ts < 0.9].max() == 0
    assert log_mel(y, sr=sr, fps=fps).shape == (T, 80)
    assert mfcc(y, sr=sr, fps=fps, n_mfcc=13).shape == (T, 13)
    lpc = lpc_autocorrelation(y, sr=sr, fps=fps)
    assert lpc.shape == (T, 64, 32) and np.abs(lpc).max() <= 1.0 + 1e-5


def test_loudness_normalisation():
    rng = np.random.default_rng(1)
    x = (0.01 * rng.standard_normal(16000)).astype(np.float32)
    y = normalize_loudness(x, sr=16000, target_dbfs=-20)
    assert gated_rms_dbfs(y, sr=16000) == pytest.approx(-20, abs=0.5)
    assert np.all(normalize_loudness(np.zeros(100, np.float32), sr=16000) == 0)


def test_vad_on_speech_and_silence(data_dir):
    a = load_audio(data_dir / "speech" / "jfk.flac")
    assert a.original_sr == 44100 and a.channels == 2 and a.duration_s == pytest.approx(11.0, abs=0.01)
    pr = analyze(a, fps=30)
    assert pr.vad_method == "silero"
    ts = np.arange(pr.num_frames) / 30
    assert pr.speech[(ts > 0.5) & (ts < 2.0)].mean() > 0.8     # "and so my fellow americans"
    assert 0.5 < pr.speech.mean() < 0.95
    en = analyze(a, fps=30, config=FeatureConfig(use_silero=False))   # the animator's cheaper setting
    assert en.vad_method == "energy" and np.array_equal(en.f0_hz, pr.f0_hz)
    assert en.speech[(ts > 0.5) & (ts < 2.0)].mean() > 0.8 and 0.4 < en.speech.mean() < 0.97
    assert pr.voiced.mean() > 0.2
    quiet = Audio(samples=(1e-4 * np.random.default_rng(2).standard_normal(48000)).astype(np.float32), sr=16000,
                  duration_s=3.0, source_name="n", source_sha256="0" * 64, original_sr=16000, channels=1)
    assert analyze(quiet, fps=30).speech.mean() < 0.05


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
