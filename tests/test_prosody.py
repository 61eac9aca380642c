"""Prosody per clip frame (RMS, loudness, f0, voicing), voice activity (energy, Silero, the fallback) and the
spectral features for learned models."""
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import engine.audio.vad as vad
from engine.audio.load import Audio, iter_audio_chunks, load_audio
from engine.audio.prosody import FeatureConfig, analyze, analyze_chunks
from engine.audio.spectral import log_mel, lpc_autocorrelation, mfcc
from rigs.core.errors import AudioError, ConfigError
from rigs.core.timebase import num_frames


def _audio(y, sr=16000):
    y = np.asarray(y, np.float32)
    return Audio(samples=y, sr=sr, duration_s=y.size / sr, source_name="x", source_sha256="0" * 64,
                 original_sr=sr, channels=1)


def _tone_after_1s(sr=16000, dur_s=2.37, f_hz=180.0):
    t = np.arange(int(sr * dur_s)) / sr
    return (0.3 * np.sin(2 * np.pi * f_hz * t) * (t > 1.0)).astype(np.float32)


def test_silent_audio_gives_silent_prosody(tmp_path):
    sf.write(tmp_path / "s.wav", np.zeros(8000), 8000)
    pr = analyze(load_audio(tmp_path / "s.wav"), fps=30)
    assert pr.silent and pr.vad_method == "silent"
    assert not pr.speech.any() and not pr.voiced.any() and np.all(pr.loudness == 0)


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
def test_prosody_shapes_and_pitch(fps):
    a = _audio(_tone_after_1s())
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


@pytest.mark.parametrize("fps", [24, 30, 59.94, 100])
def test_spectral_feature_shapes(fps):
    sr = 16000
    y = _tone_after_1s(sr)
    T = num_frames(y.size / sr, fps)
    assert log_mel(y, sr=sr, fps=fps).shape == (T, 80)
    assert mfcc(y, sr=sr, fps=fps, n_mfcc=13).shape == (T, 13)
    lpc = lpc_autocorrelation(y, sr=sr, fps=fps)
    assert lpc.shape == (T, 64, 32) and np.abs(lpc).max() <= 1.0 + 1e-5
    ts = np.arange(T) / fps
    assert np.all(lpc[ts < 0.7] == 0)                       # 520 ms spans of silence: all windows 0
    # spans inside the 180 Hz tone: the lag-k coefficient of every window is close to cos(2 pi 180 k / sr)
    inside = lpc[(ts > 1.3) & (ts < 2.0)]
    np.testing.assert_allclose(inside[..., :3], np.broadcast_to(np.cos(2 * np.pi * 180 * np.arange(1, 4) / sr),
                                                                inside[..., :3].shape), atol=0.01)


def test_loudness_floor_has_a_minimum_range():
    """A flat level keeps loudness_min_range_db of range: a level 3 dB under it reads as 0.5."""
    sr, fps = 16000, 30
    t = np.arange(2 * sr) / sr
    gain = np.where(t < 1.0, 1.0, 10 ** (-3 / 20))
    pr = analyze(_audio(0.3 * np.sin(2 * np.pi * 200 * t) * gain), fps=fps,
                 config=FeatureConfig(use_silero=False))
    ts = np.arange(pr.num_frames) / fps
    assert pr.loudness[(ts > 0.2) & (ts < 0.8)] == pytest.approx(1.0, abs=0.02)
    assert pr.loudness[(ts > 1.2) & (ts < 1.8)] == pytest.approx(0.5, abs=0.02)


def test_bad_fps_and_empty_stream():
    for fps in (0, -30, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="fps"):
            analyze(_audio(_tone_after_1s()), fps=fps)
        with pytest.raises(ConfigError, match="fps"):
            analyze_chunks([np.zeros(100, np.float32)], sr=16000, fps=fps)
    with pytest.raises(AudioError, match="zero length"):
        analyze_chunks([np.zeros(0, np.float32)], sr=16000, fps=30)


def test_run_cleanup():
    m = np.array([0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 1], bool)
    assert vad.remove_short_runs(m, min_frames=3).nonzero()[0].tolist() == [6, 7, 8]
    assert vad.remove_short_runs(m, min_frames=1) is m
    assert vad.dilate(np.eye(1, 9, 4, dtype=bool)[0], radius_frames=2).nonzero()[0].tolist() == [2, 3, 4, 5, 6]


def test_energy_vad_hysteresis():
    """Speech starts ENERGY_PEAK_RANGE_DB below the peak and holds until ENERGY_HYSTERESIS_DB lower."""
    fps = 100
    db = np.full(300, -80.0)
    db[50:100] = -20.0                                     # the peak: onset at -55 dB, release at -59 dB
    db[100:150] = -57.0                                    # under the onset, above the release: held
    db[150:200] = -61.0                                    # under the release: off
    db[200:250] = -57.0                                    # not loud enough to restart
    speech = vad.energy_vad(10 ** (db / 20), fps=fps, hangover_s=0.0)
    assert speech[50:150].all() and not speech[150:].any() and not speech[:50].any()


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
    quiet = _audio(1e-4 * np.random.default_rng(2).standard_normal(48000))
    assert analyze(quiet, fps=30).speech.mean() < 0.05


@pytest.mark.parametrize("error", [ImportError("No module named 'torch'"), OSError("model file missing"),
                                   RuntimeError("torch.jit could not load")])
def test_unusable_silero_falls_back_to_energy(monkeypatch, caplog, error):
    def unusable(*a, **k):
        raise error
    monkeypatch.setattr(vad, "silero_vad_frames", unusable)
    a = _audio(_tone_after_1s())
    with caplog.at_level(logging.WARNING, logger="engine.audio.vad"):
        pr = analyze(a, fps=30, config=FeatureConfig(use_silero=True))
    assert pr.vad_method == "energy" and "silero VAD unavailable" in caplog.text
    ref = analyze(a, fps=30, config=FeatureConfig(use_silero=False))
    assert np.array_equal(pr.speech, ref.speech)


def test_missing_torch_falls_back_to_energy(monkeypatch, caplog):
    """engine.learned.silero cannot be imported (as without torch): energy VAD and a warning."""
    monkeypatch.setitem(sys.modules, "engine.learned.silero", None)
    with caplog.at_level(logging.WARNING, logger="engine.audio.vad"):
        pr = analyze(_audio(_tone_after_1s()), fps=30, config=FeatureConfig(use_silero=True))
    assert pr.vad_method == "energy" and "silero VAD unavailable" in caplog.text


def test_a_bug_in_silero_is_not_hidden(monkeypatch):
    import engine.learned.silero as silero

    def buggy(*a, **k):
        raise TypeError("a bug")
    monkeypatch.setattr(silero, "speech_probabilities", buggy)
    with pytest.raises(TypeError, match="a bug"):
        analyze(_audio(_tone_after_1s()), fps=30, config=FeatureConfig(use_silero=True))


def test_importing_engine_audio_does_not_import_torch():
    code = ("import sys, engine.audio.load, engine.audio.prosody, engine.audio.vad, engine.audio.spectral; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=root)
    assert r.returncode == 0, r.stderr


def test_input_too_short_for_silero_falls_back(caplog):
    """Under one 32 ms Silero window the model cannot score the input: energy VAD and a one-line warning."""
    with caplog.at_level(logging.WARNING, logger="engine.audio.vad"):
        pr = analyze(_audio(0.3 * np.sin(np.arange(320) * 0.1)), fps=100, config=FeatureConfig(use_silero=True))
    assert pr.vad_method == "energy" and "shorter than one 512-sample window" in caplog.text
