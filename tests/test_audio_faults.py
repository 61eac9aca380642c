"""Audio faults (issue 16, items 14, 16 and 18): DC offset and phase-inverted stereo are no longer taken for
silence, float samples above full scale are scaled instead of clipped, a truncated WAV warns, the ffmpeg
fallback reads the named file only, and a one-sample file says it is too short."""
import logging
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.audio.load import load_audio
from engine.audio.prosody import FeatureConfig, analyze
from rigs.core.errors import AudioError

DEMO = Path(__file__).resolve().parent.parent / "engine" / "samples" / "demo.wav"
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                  reason="ffmpeg/ffprobe not installed")


@pytest.fixture(scope="module")
def voice():
    x, sr = sf.read(DEMO, dtype="float32")
    assert sr == 16000 and 0.85 < np.abs(x).max() < 0.9
    return x


def _speech_fraction(audio):
    return float(analyze(audio, fps=30.0, config=FeatureConfig(use_silero=False)).speech.mean())


def _similarity(a, b):
    n = min(a.size, b.size)
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


def test_dc_offset_is_removed_and_the_voice_found(voice, tmp_path):
    """Issue 16.14: with a DC offset of 0.3 of full scale the recording was taken for silence."""
    p = tmp_path / "dc.wav"
    sf.write(p, np.clip(voice + 0.3, -1, 1), 16000, subtype="PCM_16")
    clean = load_audio(DEMO)
    a = load_audio(p)
    assert abs(float(a.samples[1600:].mean())) < 1e-3          # no DC left after the first 0.1 s
    assert _similarity(a.samples, clean.samples) > 0.99
    assert _speech_fraction(a) > 0.5 and abs(_speech_fraction(a) - _speech_fraction(clean)) < 0.05


@pytest.mark.parametrize("sides", ["inverted", "inverted weaker right", "three channels, one inverted"])
def test_phase_inverted_channels_do_not_cancel(voice, tmp_path, caplog, sides):
    """Issue 16.14: left = -right averaged to silence."""
    chans = {"inverted": [voice, -voice], "inverted weaker right": [voice, -0.5 * voice],
             "three channels, one inverted": [voice, voice, -voice]}[sides]
    p = tmp_path / "inv.wav"
    sf.write(p, np.stack(chans, axis=1), 16000, subtype="PCM_16")
    with caplog.at_level(logging.WARNING):
        a = load_audio(p)
    assert not a.is_silent() and a.channels == len(chans)
    assert _similarity(a.samples, voice) > 0.99
    assert a.peak_dbfs > 20 * np.log10(np.abs(voice).max()) - 4.0     # the level of the channels, not 0
    assert any("opposite polarity" in r.getMessage() for r in caplog.records)


def test_ordinary_stereo_is_still_averaged(voice, tmp_path, caplog):
    p = tmp_path / "st.wav"
    sf.write(p, np.stack([voice, 0.5 * voice], axis=1), 16000, subtype="FLOAT")
    with caplog.at_level(logging.WARNING):
        a = load_audio(p)
    np.testing.assert_allclose(a.samples, 0.75 * load_audio(DEMO).samples, atol=1e-4)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_float_samples_above_full_scale_are_scaled_not_clipped(voice, tmp_path):
    """Issue 16.14: a float WAV peaking at 3.6 was hard-clipped at 1.0 (flat-topped syllables)."""
    p = tmp_path / "loud.wav"
    sf.write(p, 4.0 * voice, 16000, subtype="FLOAT")
    a = load_audio(p)
    assert 0.97 < np.abs(a.samples).max() <= 1.0
    assert int(np.sum(np.abs(a.samples) > 0.999)) < 5                # no flat tops
    assert _similarity(a.samples, load_audio(DEMO).samples) > 0.9999
    q = tmp_path / "quiet.wav"                                       # below full scale: never scaled up
    sf.write(q, 0.25 * voice, 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(q).samples, 0.25 * load_audio(DEMO).samples, atol=1e-4)


def _truncate(p, keep=0.5):
    b = p.read_bytes()
    p.write_bytes(b[: int(len(b) * keep)])


@pytest.mark.parametrize("fmt,ext", [("WAV", "wav"), ("AIFF", "aiff"), ("RF64", "wav")])
def test_truncated_file_warns(voice, tmp_path, caplog, fmt, ext):
    """Issue 16.14: a WAV whose header claims more data than present animated the part with no warning."""
    p = tmp_path / f"cut.{ext}"
    sf.write(p, voice, 16000, format=fmt, subtype="PCM_16")
    with caplog.at_level(logging.WARNING):
        load_audio(p)
    assert not [r for r in caplog.records if "truncated" in r.getMessage()]
    _truncate(p)
    with caplog.at_level(logging.WARNING):
        a = load_audio(p)
    full_s = voice.size / 16000
    assert abs(a.duration_s - full_s / 2) < 0.05
    msgs = [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()]
    assert msgs and f"declares {full_s:.2f} s" in msgs[0] and f"holds {a.duration_s:.2f} s" in msgs[0]


def test_streamed_wav_without_a_size_does_not_warn(voice, tmp_path, caplog):
    """A writer that could not seek back leaves the data size unset (0xFFFFFFFF): not truncation."""
    p = tmp_path / "stream.wav"
    sf.write(p, voice, 16000, subtype="PCM_16")
    b = bytearray(p.read_bytes())
    i = b.find(b"data")
    b[i + 4:i + 8] = b"\xff\xff\xff\xff"
    p.write_bytes(bytes(b))
    with caplog.at_level(logging.WARNING):
        a = load_audio(p)
    assert abs(a.duration_s - voice.size / 16000) < 0.01
    assert not [r for r in caplog.records if "truncated" in r.getMessage()]


def test_one_sample_file_is_too_short_not_zero_length(tmp_path):
    """Issue 16.18: a one-sample file at 44.1 kHz was reported as "zero length"."""
    p = tmp_path / "one.wav"
    sf.write(p, np.array([0.5]), 44100, subtype="PCM_16")
    with pytest.raises(AudioError, match=r"too short: 1 sample at 44100 Hz \(0.0227 ms\)"):
        load_audio(p)
    sf.write(p, np.zeros(0), 44100, subtype="PCM_16")
    with pytest.raises(AudioError, match="zero length"):
        load_audio(p)


# ------------------------------------------------------------------------------------ the ffmpeg fallback

def _m4a(path, *, freq_hz, dur_s=1.0, sr=16000):
    """An AAC file (which libsndfile cannot read, so it goes to ffmpeg) holding a tone."""
    wav = path.with_name(path.name + ".src.wav")
    t = np.arange(int(sr * dur_s)) / sr
    sf.write(wav, 0.5 * np.sin(2 * np.pi * freq_hz * t), sr)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", "-f", "mp4", "file:" + str(path)],
                   check=True, stdin=subprocess.DEVNULL)
    wav.unlink()
    return path


def _dominant_hz(a):
    spec = np.abs(np.fft.rfft(a.samples))
    return np.argmax(spec) * a.sr / a.samples.size


@needs_ffmpeg
def test_ffmpeg_fallback_at_the_native_rate(tmp_path):
    """An AAC file already at 16 kHz: ffmpeg's read-only buffer was clipped in place (a ValueError)."""
    a = load_audio(_m4a(tmp_path / "x.m4a", freq_hz=440.0))
    assert abs(_dominant_hz(a) - 440.0) < 3 and abs(a.duration_s - 1.0) < 0.1


@needs_ffmpeg
def test_playlists_named_wav_do_not_read_other_files(tmp_path):
    """Issue 16.16: an HLS playlist (or an ffconcat script) named .wav animated the file it names."""
    _m4a(tmp_path / "other.m4a", freq_hz=440.0, dur_s=3.0, sr=22050)
    (tmp_path / "hls.wav").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:3.0,\nother.m4a\n#EXT-X-ENDLIST\n")
    (tmp_path / "concat.wav").write_text("ffconcat version 1.0\nfile other.m4a\n")
    for name in ("hls.wav", "concat.wav"):
        with pytest.raises(AudioError, match="not an audio file"):
            load_audio(tmp_path / name)


@needs_ffmpeg
@pytest.mark.parametrize("name", ["concat:a.m4a|b.m4a", "-y.m4a", "-"])
def test_odd_names_are_plain_files(tmp_path, monkeypatch, name):
    """Issue 16.16: `concat:...` read other files, a leading `-` was taken as an option (and libsndfile reads
    stdin for a file named `-`). Each name here is its own 440 Hz tone; the files it could pull in are 880 Hz."""
    monkeypatch.chdir(tmp_path)
    for other in ("a.m4a", "b.m4a"):
        _m4a(tmp_path / other, freq_hz=880.0, dur_s=2.0, sr=22050)
    _m4a(tmp_path / name, freq_hz=440.0, sr=22050)
    a = load_audio(name)
    assert abs(_dominant_hz(a) - 440.0) < 3 and abs(a.duration_s - 1.0) < 0.1
    assert a.source_name == name
    os.remove(name)
