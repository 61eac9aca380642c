"""The animator contract: every registered animator (and a tiny one added by a test) passes the same checks.

Shapes and ranges, duration within one frame, determinism per seed, different seeds differ (for stochastic
animators), the meta keys, an idle clip on silence, progress between stages and cancellation. The tiny
animator shows the seam: one class with a ``face()`` and one registered name give a full clip (body timed
by the shared accents, lips, meta) through the registry, the runtime and the CLI.
"""
from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.animators.base import AnimateRequest, Animator, FaceTrack
from engine.animators.compose import BODY_MODEL_ID, ComposedAnimator
from engine.animators.registry import ANIMATORS, AnimatorInfo
from engine.audio.load import load_audio
from rigs.core.arkit import ARKIT_INDEX, ARKIT_NAMES
from rigs.core.errors import CancelledError, ConfigError
from rigs.core.skeleton import canonical_skeleton
from rigs.core.timebase import num_frames

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "engine" / "samples" / "demo.wav"   # shipped with the repository
META_KEYS = {"schema_version", "engine_version", "fps", "duration_s", "mode", "model_ids", "seed", "emotion",
             "source_audio", "source_sha256", "sample_rate", "units", "config", "checkpoint"}


class TinyFace(ComposedAnimator):
    """A face model in a few lines: the jaw follows loudness, the head wanders with the seed."""

    name = "tiny"
    model_id = "tiny-loudness-v1"

    def face(self, audio, analysis, request):
        T = analysis.n_frames
        x = np.zeros((T, len(ARKIT_NAMES)), np.float32)
        x[:, ARKIT_INDEX["jawOpen"]] = 0.5 * np.asarray(analysis.prosody.loudness, np.float32)
        rng = np.random.default_rng(request.seed)
        head = np.cumsum(rng.normal(0, 0.002, (T, 3)), axis=0).astype(np.float32)
        return FaceTrack(expression=x, head_angles_rad=head, eye_angles_rad=np.zeros((T, 2, 3), np.float32))


TINY = AnimatorInfo(name="tiny", label="Tiny", description="test animator: jaw follows loudness",
                    factory=lambda **options: TinyFace())


@pytest.fixture(params=[*ANIMATORS.names(), "tiny"])
def mode(request):
    with ANIMATORS.registered(TINY) if request.param == "tiny" else contextlib.nullcontext():
        yield request.param


@pytest.fixture(scope="module")
def speech():
    return load_audio(SPEECH)


@pytest.fixture(scope="module")
def silence(tmp_path_factory):
    p = tmp_path_factory.mktemp("audio") / "silence.wav"
    sf.write(p, np.zeros(2 * 16000, np.float32), 16000)
    return load_audio(p)


def _arrays(clip):
    return (clip.expression, clip.joint_angles, clip.root_translation, clip.lip_vertices)


def test_shapes_ranges_and_duration(mode, speech):
    animator = ANIMATORS.create(mode)
    assert isinstance(animator, Animator) and animator.name == mode
    for fps in (30.0, 24.0):
        clip = animator.animate(speech, AnimateRequest(fps=fps, seed=1))
        T = clip.num_frames
        assert abs(T - speech.duration_s * fps) <= 1.0 and T == num_frames(speech.duration_s, fps)
        assert clip.duration_s == pytest.approx(speech.duration_s)
        assert clip.expression.shape == (T, 52) and clip.expression.dtype == np.float32
        assert clip.expression.min() >= 0 and clip.expression.max() <= 1
        sk = canonical_skeleton()
        assert clip.joint_names == sk.names and clip.joint_angles.shape == (T, sk.num_joints, 3)
        assert np.abs(clip.joint_angles).max() < np.pi and np.abs(clip.root_translation).max() < 0.5
        assert clip.lip_vertices.shape == (T, len(clip.lip_vertex_ids), 3)
        assert all(np.isfinite(a).all() for a in _arrays(clip))


def test_determinism_and_seeds(mode, speech):
    animator = ANIMATORS.create(mode)
    a = animator.animate(speech, AnimateRequest(seed=3))
    b = ANIMATORS.create(mode).animate(speech, AnimateRequest(seed=3))   # a fresh instance: same clip
    for x, y in zip(_arrays(a), _arrays(b), strict=True):
        np.testing.assert_array_equal(x, y)
    c = animator.animate(speech, AnimateRequest(seed=4))
    differs = any(not np.array_equal(x, y) for x, y in zip(_arrays(a), _arrays(c), strict=True))
    assert differs == ANIMATORS.info(mode).stochastic


def test_meta_records_the_animator_and_its_config(mode, speech):
    clip = ANIMATORS.create(mode).animate(speech, AnimateRequest(seed=5, emotion=(("joy", 0.5),)))
    assert META_KEYS <= set(clip.meta)
    assert clip.meta["mode"] == mode and clip.meta["seed"] == 5 and clip.meta["emotion"] == {"joy": 0.5}
    assert clip.meta["model_ids"]["face"] == ANIMATORS.create(mode).model_id
    assert clip.meta["source_sha256"] == speech.source_sha256
    if isinstance(ANIMATORS.create(mode), ComposedAnimator):
        assert clip.meta["config"]["accents"]["min_gap_s"] > 0 and "body" in clip.meta["config"]
        assert clip.meta["model_ids"]["body"] == BODY_MODEL_ID


def test_idle_clip_on_silence(mode, silence):
    clip = ANIMATORS.create(mode).animate(silence, AnimateRequest(seed=0))
    assert clip.num_frames == 60
    assert clip.channel("jawOpen").max() < 0.05          # the mouth rests
    assert clip.meta.get("speech_found", False) is False


def test_progress_between_stages_and_cancel(mode, speech):
    seen = []
    ANIMATORS.create(mode).animate(speech, AnimateRequest(), progress=lambda s, f: seen.append((s, f)))
    fracs = [f for _, f in seen]
    assert len(seen) >= 2 and fracs == sorted(fracs) and 0 <= fracs[0] and fracs[-1] == 1.0

    def stop(stage, frac):
        if frac > 0:
            raise CancelledError("stopped by the caller")

    with pytest.raises(CancelledError):
        ANIMATORS.create(mode).animate(speech, AnimateRequest(), progress=stop)


def test_a_registered_name_reaches_the_runtime_and_the_cli(tmp_path):
    from engine import cli, runtime

    with pytest.raises(ConfigError, match="unknown mode 'tiny'"):
        ANIMATORS.create("tiny")
    with ANIMATORS.registered(TINY):
        out = runtime.animate_file(SPEECH, tmp_path / "a.npz", mode="tiny", request=AnimateRequest(seed=2))
        assert cli.main(["animate", str(SPEECH), "-o", str(tmp_path / "b.npz"), "--mode", "tiny", "--seed", "2"]) == 0
        assert "tiny" in [d["name"] for d in ANIMATORS.describe()]
    from rigs.core.clip import load_clip

    a, b = load_clip(out[0]), load_clip(tmp_path / "b.npz")
    np.testing.assert_array_equal(a.expression, b.expression)
    assert a.meta["mode"] == "tiny" and a.meta["accent_times_s"]     # the shared accents reached the body
    assert np.abs(a.joint_angles).max() > 0.01                        # and the procedural body moved
    assert "tiny" not in ANIMATORS.names()


def test_one_animator_instance_serves_many_files(tmp_path, monkeypatch):
    """Weights (here the lip model) load once per instance, not once per file."""
    from engine import runtime
    from engine.animators import lips

    calls = []
    real = lips.load_lip_model
    monkeypatch.setattr(lips, "load_lip_model", lambda *a, **k: calls.append(1) or real(*a, **k))
    animator = runtime.create_animator("phonetic")
    for k in range(2):
        runtime.animate_file(SPEECH, tmp_path / f"{k}.npz", animator=animator, request=AnimateRequest(body=False))
    assert len(calls) <= 1


def test_registry_refuses_bad_names_and_duplicates():
    with pytest.raises(ConfigError, match="already registered"):
        ANIMATORS.register(dataclasses.replace(TINY, name="phonetic"))
    with pytest.raises(ConfigError, match="letters"):
        ANIMATORS.register(dataclasses.replace(TINY, name="no spaces"))
    with pytest.raises(ConfigError, match="models 'neural', 'sphinx', 'words'"):
        ANIMATORS.create("phonetic", model="kaldi")
    with pytest.raises(ConfigError, match="does not apply to --model sphinx"):
        ANIMATORS.create("phonetic", model="sphinx", checkpoint="phones.npz")
    with pytest.raises(ConfigError, match="does not exist"):
        ANIMATORS.create("phonetic", checkpoint="no-such-phone-model.npz")
