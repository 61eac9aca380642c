"""bench/bench_neural.py finds the neural row through the animator registry and prints a mode it cannot run as
"not available" with the reason, never failing; a registered mode is animated and scored."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import bench_neural  # noqa: E402
from engine.animators.registry import ANIMATORS, AnimatorInfo  # noqa: E402
from rigs.core.errors import ConfigError  # noqa: E402


def _no_weights(**options):
    raise ConfigError("no weights: run `parley train face` first")


def _neutral(**options):
    from engine.animators.neutral import NeutralAnimator

    return NeutralAnimator.create(**options)


def test_unregistered_or_failing_neural_mode_is_reported_not_raised(capsys):
    faces = bench_neural.Faces(30.0, neural="no-such-mode")
    assert "no animator 'no-such-mode' is registered" in faces.unavailable("neural")
    assert faces.unavailable("phonetic") is None and faces.unavailable("rms") is None
    with ANIMATORS.registered(AnimatorInfo(name="broken-neural", label="b", description="b", factory=_no_weights)):
        faces = bench_neural.Faces(30.0, neural="broken-neural")
        assert faces.unavailable("neural") == "no weights: run `parley train face` first"
        bench_neural.print_corpus({}, faces, ["neural"], "held-out")
    out = capsys.readouterr().out
    assert "| **all** | neural, no transcript | not available (no weights: run `parley train face` first) |" in out


def test_a_registered_neural_mode_is_animated_and_timed(tmp_path):
    from engine.audio.load import Audio

    sr = 16000
    audio = Audio(samples=np.zeros(sr, np.float32), sr=sr, duration_s=1.0, source_name="silence.wav",
                  source_sha256="0" * 64, original_sr=sr, channels=1)
    with ANIMATORS.registered(AnimatorInfo(name="test-neural", label="t", description="t", factory=_neutral)):
        faces = bench_neural.Faces(30.0, neural="test-neural")
        assert faces.unavailable("neural") is None
        expr = faces.expression("neural", audio, "ignored")
    assert expr.shape == (30, 52)
    assert faces.stats["neural"].audio_s == pytest.approx(1.0)
