"""The neural face's fast path in the streaming animator: the frame-by-frame encoder equals the offline one, the
stream equals the offline fast path for any chunking, the look-ahead is 99.3 ms and never shorter, and
``parley stream`` falls back to the energy stand-in when the weights are missing."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.learned.checkpoint import Loaded
from engine.learned.encoder import EncoderConfig
from engine.learned.lipsync import LipConfig, LipRegressor
from engine.learned.paths import DEFAULT_CHECKPOINT
from engine.learned.streaming import LipStepper, receptive_rows
from engine.learned.threads import torch_threads
from engine.streaming.animator import StreamConfig, StreamingAnimator
from engine.streaming.model import EnergyFace
from engine.streaming.neural import NeuralFrameModel, offline_fast_path
from rigs.core.arkit import ARKIT_INDEX
from rigs.core.errors import ConfigError

SR = 16000
FPS = 30.0
JAW = ARKIT_INDEX["jawOpen"]
EXPR_TOL = 1e-4      # ARKit units: streamed vs offline (measured ~1e-6; float summation order only)
LIPS_TOL_MM = 1e-3   # lip offsets (measured ~2e-5 mm)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


def _tiny_loaded(seed: int = 0) -> Loaded:
    """A small random-weight lip regressor (the shipped layout, fewer channels and blocks)."""
    torch.manual_seed(seed)
    cfg = LipConfig(encoder=EncoderConfig(channels=16, dilations=(1, 2, 4)), num_lip_vertices=7)
    lips = LipRegressor(cfg).eval()
    with torch.no_grad():
        lips.mel_mean.fill_(-9.0)
        lips.mel_std.fill_(3.0)
        lips.head_out.bias[ARKIT_INDEX["mouthClose"]] = 0.0
    return Loaded(lips=lips, face=None, info={"closed_threshold": 0.5}, training=None, path=Path("tiny.pt"),
                  sha256="0" * 64)


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    ph = 2 * np.pi * np.cumsum(150 + 40 * np.sin(2 * np.pi * 0.7 * t)) / SR
    voice = sum(np.sin(k * ph) / k for k in range(1, 12))
    env = np.clip(np.sin(2 * np.pi * 2.0 * t), 0, None) ** 2
    return (0.2 * env * voice + 0.002 * rng.standard_normal(t.size)).astype(np.float32)


def _stream(model, y, *, seed: int):
    """All frames of ``y`` fed in random chunk sizes (1 sample .. 50 ms), mouth only (no procedural face/body)."""
    rng = np.random.default_rng(seed)
    s = StreamingAnimator(model, config=StreamConfig(body=False, procedural_upper_face=False))
    frames, i = [], 0
    while i < y.size:
        n = int(rng.integers(1, 800))
        frames += s.feed(y[i:i + n])
        i += n
    return s, frames + s.flush()


def test_lip_stepper_equals_the_offline_forward_for_random_row_batches():
    lips = _tiny_loaded().lips
    rng = np.random.default_rng(3)
    T, R = 40, lips.config.encoder.lookahead_feature_frames
    x = rng.standard_normal((4 * T, 80)).astype(np.float32)
    e = np.zeros(7, np.float32)
    e[2] = 1.0
    with torch.no_grad():
        ref = lips(torch.from_numpy(x)[None], torch.from_numpy(e)[None])
    rows = np.concatenate([x, np.zeros((R, 80), np.float32)])      # rows past the end are the offline zero pad
    st, outs, i = LipStepper(lips, e), [], 0
    while i < len(rows):
        n = int(rng.integers(1, 13))
        outs.append(st.push(rows[i:i + n]))
        i += n
    got = np.concatenate([o["expression"] for o in outs])
    assert got.shape == (T, 52)
    np.testing.assert_allclose(got, ref["expression"][0].numpy(), atol=1e-5)
    np.testing.assert_allclose(np.concatenate([o["lip_offsets_mm"] for o in outs]),
                               ref["lip_offsets_mm"][0].numpy(), atol=1e-4)


def test_stream_equals_the_offline_fast_path_for_any_chunking():
    model = NeuralFrameModel(_tiny_loaded(), lip_model=None)
    y = _speechlike(2.5)
    ref = offline_fast_path(model, y)
    _, a = _stream(model, y, seed=1)
    _, b = _stream(model, y, seed=2)
    ea, eb = np.stack([f.expression for f in a]), np.stack([f.expression for f in b])
    assert ea.shape == ref["expression"].shape == (75, 52)
    assert float(np.ptp(ref["expression"][:, JAW])) > 1e-3          # the reference moves (not a trivial match)
    np.testing.assert_allclose(ea, eb, atol=1e-6)
    np.testing.assert_allclose(ea, ref["expression"], atol=EXPR_TOL)
    np.testing.assert_allclose(np.stack([f.lip_offsets_mm for f in a]), ref["lip_offsets_mm"], atol=LIPS_TOL_MM)


def test_frames_wait_for_the_look_ahead_and_never_read_past_it():
    model = NeuralFrameModel(_tiny_loaded(), lip_model=None)
    s = StreamingAnimator(model, config=StreamConfig(body=False, procedural_upper_face=False))
    la = 10 / 120 + 256 / SR
    assert s.lookahead_s == pytest.approx(la, abs=1e-9)
    y = _speechlike(2.0)
    n = 0
    for i in range(0, y.size, 160):                                # 10 ms chunks: the emission schedule
        n += len(s.feed(y[i:i + 160]))
        heard_s = min(i + 160, y.size) / SR
        assert n == max(0, int(np.floor((heard_s - la) * FPS + 1e-9)) + 1)
    # causality: changing the audio after t0 leaves every frame with i / fps + look-ahead < t0 unchanged
    t0 = 1.0
    y2 = y.copy()
    y2[int(t0 * SR):] = _speechlike(1.0, seed=5)[: y.size - int(t0 * SR)] * 3.0
    fa = np.stack([f.expression for f in _stream(model, y, seed=0)[1]])
    fb = np.stack([f.expression for f in _stream(model, y2, seed=0)[1]])
    safe = int(np.floor((t0 - la) * FPS))
    assert np.abs(fa[:safe + 1] - fb[:safe + 1]).max() < 1e-6
    assert np.abs(fa[safe + 4:] - fb[safe + 4:]).max() > 1e-3


def test_window_predict_agrees_with_the_stepper_once_the_window_is_inside_the_stream():
    model = NeuralFrameModel(_tiny_loaded(), lip_model=None)
    lips = model.lips
    assert model.context_frames >= receptive_rows(lips) and model.context_frames % 4 == 0
    y = _speechlike(2.0)
    from engine.audio.spectral import log_mel
    rows, _ = model.normalize_rows(log_mel(y, sr=SR, fps=120.0, n_fft=512), None)
    ref = offline_fast_path(model, y)["expression"]
    i = 40                                                         # frame 40: its window is all real rows
    w = rows[4 * i - model.context_frames: 4 * i + model.lookahead_frames + 1]
    got = model.predict(w, level_db=None).expression
    np.testing.assert_allclose(got, ref[i], atol=1e-5)


def _ns(**kw):
    base = {"model": None, "checkpoint": None, "lookahead_ms": None}
    base.update(kw)
    return argparse.Namespace(**base)


def test_cli_model_choice_and_fallback_when_weights_are_missing(tmp_path, monkeypatch, capsys):
    from engine.streaming.animator import stream_config
    from engine.streaming.cli import _neural_model

    cfg = stream_config()
    monkeypatch.setenv("PARLEY_NEURAL_CHECKPOINT", str(tmp_path / "missing.pt"))
    assert _neural_model(_ns(), cfg) is None                       # default: falls back to the stand-in ...
    assert "weights not found" in capsys.readouterr().err         # ... and says so
    with pytest.raises(ConfigError):
        _neural_model(_ns(model="neural", checkpoint=str(tmp_path / "missing.pt")), cfg)
    assert _neural_model(_ns(model="energy"), cfg) is None
    assert _neural_model(_ns(lookahead_ms=33.0), cfg) is None      # --lookahead-ms is the stand-in's option
    with pytest.raises(ConfigError):
        _neural_model(_ns(model="neural", lookahead_ms=33.0), cfg)


@pytest.mark.skipif(not DEFAULT_CHECKPOINT.is_file(), reason="no shipped neural-face weights")
def test_shipped_weights_stream_like_offline_with_99_ms_look_ahead(monkeypatch):
    from engine.streaming.cli import _neural_model
    from engine.streaming.animator import stream_config

    monkeypatch.delenv("PARLEY_NEURAL_CHECKPOINT", raising=False)
    model = _neural_model(_ns(), stream_config())                  # the default when the weights exist
    assert isinstance(model, NeuralFrameModel)
    y = _speechlike(1.5)
    s, frames = _stream(model, y, seed=4)
    assert 1000 * s.lookahead_s == pytest.approx(99.33, abs=0.01)
    ref = offline_fast_path(model, y)
    np.testing.assert_allclose(np.stack([f.expression for f in frames]), ref["expression"], atol=EXPR_TOL)
    assert not isinstance(StreamingAnimator(EnergyFace()).model, NeuralFrameModel)


@pytest.mark.skipif(not DEFAULT_CHECKPOINT.is_file(), reason="no shipped neural-face weights")
def test_the_fast_path_as_an_animator_gives_the_predicted_lips(monkeypatch):
    from engine.animators.base import AnimateRequest, Animator
    from engine.animators.lips import load_lip_model
    from engine.audio.load import audio_from_array
    from engine.streaming.neural import NeuralStreamAnimator
    from rigs.core.errors import DataMissingError

    monkeypatch.delenv("PARLEY_NEURAL_CHECKPOINT", raising=False)
    try:
        lm = load_lip_model()
    except DataMissingError:
        pytest.skip("no ICT lip model data")
    y = _speechlike(1.5)
    anim = NeuralStreamAnimator()
    assert isinstance(anim, Animator)
    clip = anim.animate(audio_from_array(y, sr=SR), AnimateRequest(seed=0, body=False))
    ref = offline_fast_path(anim.base, y)
    assert clip.num_frames == len(ref["expression"]) and clip.meta["mode"] == "stream"
    want_m = lm.neutral_m[None] + ref["lip_offsets_mm"] / 1000.0
    assert np.abs(clip.lip_vertices - want_m).max() * 1000.0 < LIPS_TOL_MM     # the predicted lips, in mm
