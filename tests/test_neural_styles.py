"""Learned style codes of face diffusion (Karras et al. 2017's emotion database, one code per training clip):
training, checkpoints, the animator, presets and the CLI; and the trainers' early stopping (``--best``).

Tiny models on the tiny demo-speech corpus of ``tests/test_neural.py``, here with a per-clip manner the audio
does not tell (every other pair of windows holds its brows up), which the style codes must learn.
"""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from engine.audio.load import load_audio
from engine.audio.spectral import log_mel
from engine.learned.checkpoint import load_checkpoint
from engine.learned.denoiser import DenoiserConfig
from engine.learned.face import FaceConfig
from engine.learned.layout import MOUTH_INDEX, UPPER_INDEX, emotion_vector
from engine.training.data import FaceData, style_key
from engine.training.train_face import TrainConfig, train
from rigs.core.arkit import ARKIT_INDEX
from rigs.core.errors import ConfigError
from tests.test_neural import SPEECH, TINY_LIPS, make_corpus

STYLE_FACE = FaceConfig(denoiser=DenoiserConfig(channels=32, dilations=(1, 2), embed=32, dropout=0.0, style_dims=4),
                        diffusion_steps=100, sampling_steps=4)
BROW = int(np.flatnonzero(UPPER_INDEX == ARKIT_INDEX["browInnerUp"])[0])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("styles"), brow_style=True)


@pytest.fixture(scope="module")
def lips(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("ck") / "lips.pt"
    train(TrainConfig(kind="lips", steps=10, batch_size=4, warmup_steps=2, seed=0, threads=1),
          data=corpus, out=out, lip_config=TINY_LIPS)
    return out


@pytest.fixture(scope="module")
def styled(corpus, lips, tmp_path_factory):
    out = tmp_path_factory.mktemp("ck") / "face.pt"
    train(TrainConfig(kind="face", steps=150, batch_size=8, lr=1e-2, warmup_steps=5, seed=0, threads=1),
          data=corpus, out=out, lips_checkpoint=str(lips), face_config=STYLE_FACE)
    return out


def _mel(seconds: float = 3.0):
    n = int(seconds * 16000)
    return log_mel(load_audio(SPEECH).samples[:n], sr=16000, fps=120, n_frames=int(seconds * 120))


def test_the_clip_of_a_window_ignores_augmented_copies():
    assert style_key({"item": "ljspeech_part/LJ001-0002#t0a1"}) == "ljspeech_part/LJ001-0002#t0"
    assert style_key({"item": "ljspeech_part/LJ001-0002#t0a0"}) == "ljspeech_part/LJ001-0002#t0"
    assert style_key({"item": "demo#3"}) == "demo#3" and style_key({"row": 7}) == "row:7"


def test_every_training_clip_gets_a_learned_code(corpus, styled):
    ck = load_checkpoint(styled)
    names, codes = ck.styles()
    assert names == sorted(set(FaceData(corpus, "train").style_keys()))
    assert codes.shape == (len(names), 4) and ck.face.config.style_clips == len(names)
    assert np.abs(codes).max() > 0.05                      # moved well away from their 0.01 start


def test_the_codes_learn_the_manner_the_audio_does_not_tell(corpus, styled):
    """Codes of brows-up clips, given to the same audio, raise the brows; codes of the others do not."""
    net = load_checkpoint(styled).model()
    names, codes = load_checkpoint(styled).styles()
    up = [i for i, n in enumerate(names) if (int(n.split("#")[1]) // 2) % 2]
    down = [i for i, n in enumerate(names) if not (int(n.split("#")[1]) // 2) % 2]
    mel, e = _mel(), emotion_vector({})

    def brows(i):
        return np.mean([net.run(mel, e, seed=s, style=codes[i])["upper"][:, BROW].mean() for s in (0, 1)])

    up_mean, down_mean = np.mean([brows(i) for i in up[:3]]), np.mean([brows(i) for i in down[:3]])
    assert up_mean > down_mean + 0.2, (up_mean, down_mean)


def test_a_style_code_moves_the_upper_face_never_the_mouth(styled):
    net = load_checkpoint(styled).model()
    _, codes = load_checkpoint(styled).styles()
    mel, e = _mel(), emotion_vector({})
    a = net.run(mel, e, seed=0)                                      # the zero code
    b = net.run(mel, e, seed=0, style=codes[0])
    c = net.run(mel, e, seed=0, style=np.zeros(4, np.float32))
    np.testing.assert_array_equal(a["upper"], c["upper"])           # None is the zero code
    assert np.abs(a["upper"] - b["upper"]).mean() > 1e-3
    np.testing.assert_array_equal(a["expression"][:, MOUTH_INDEX], b["expression"][:, MOUTH_INDEX])
    with pytest.raises(ValueError, match="3 numbers"):
        net.run(mel, e, style=np.zeros(3))


def test_the_animator_takes_a_presets_code_and_the_meta_records_it(styled, monkeypatch, caplog, tmp_path):
    from engine.animators.base import AnimateRequest
    from engine.animators.registry import ANIMATORS

    monkeypatch.setenv("PARLEY_NEURAL_CHECKPOINT", str(styled))
    _, codes = load_checkpoint(styled).styles()
    speech = load_audio(SPEECH)
    anim = ANIMATORS.create("neural")
    code = tuple(float(x) for x in codes[1])
    a = anim.animate(speech, AnimateRequest(seed=0, body=False))
    b = anim.animate(speech, AnimateRequest(seed=0, body=False, style=code))
    assert "style" not in a.meta and b.meta["style"] == pytest.approx(list(code))
    assert np.abs(a.expression[:, UPPER_INDEX] - b.expression[:, UPPER_INDEX]).mean() > 1e-4
    with pytest.raises(ConfigError, match="take 4"):
        anim.animate(speech, AnimateRequest(seed=0, body=False, style=(0.1, 0.2)))
    with caplog.at_level(logging.WARNING):                      # a code taken from other weights: used, with a word
        c = anim.animate(speech, AnimateRequest(seed=0, body=False, style=code, style_weights="neural-face-0123456789ab"))
    assert "comes from neural-face-0123456789ab" in caplog.text
    np.testing.assert_array_equal(b.expression, c.expression)


def test_emotions_cli_refuses_bad_style_specs(styled, lips, monkeypatch, tmp_path, capsys):
    from engine import cli

    monkeypatch.setenv("PARLEY_NEURAL_CHECKPOINT", str(styled))
    monkeypatch.setenv("PARLEY_CONFIG", str(tmp_path / "config"))
    names, _ = load_checkpoint(styled).styles()
    assert cli.main(["emotions", "show", "--style", f"{names[0]}:lots"]) == 2
    assert "the weight 'lots' is not a number" in capsys.readouterr().err
    assert cli.main(["emotions", "show", "--style", "demo"]) == 2                  # a part of names, not a name
    assert "clips with that text: demo#" in capsys.readouterr().err
    assert cli.main(["emotions", "styles", "--checkpoint", str(lips)]) == 2        # weights without face diffusion
    assert "no style codes" in capsys.readouterr().err
    assert cli.main(["emotions", "save", "x", "--style", names[0], "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "not found" in capsys.readouterr().err and not (tmp_path / "config" / "emotions" / "x.json").exists()


def test_weights_without_codes_ignore_a_style_with_a_warning(corpus, lips, tmp_path, monkeypatch, caplog):
    from engine.animators.base import AnimateRequest
    from engine.animators.registry import ANIMATORS
    from tests.test_neural import TINY_FACE

    out = tmp_path / "plain.pt"
    train(TrainConfig(kind="face", steps=2, batch_size=4, seed=0, threads=1), data=corpus, out=out,
          lips_checkpoint=str(lips), face_config=TINY_FACE)
    assert load_checkpoint(out).styles()[0] == [] and "style_clips" not in load_checkpoint(out).info
    monkeypatch.setenv("PARLEY_NEURAL_CHECKPOINT", str(out))
    speech = load_audio(SPEECH)
    anim = ANIMATORS.create("neural")
    with caplog.at_level(logging.WARNING):
        b = anim.animate(speech, AnimateRequest(seed=0, body=False, style=(0.1, 0.2)))
    a = anim.animate(speech, AnimateRequest(seed=0, body=False))
    assert "no style codes" in caplog.text
    np.testing.assert_array_equal(a.expression, b.expression)


def test_fine_tuning_on_new_clips_appends_codes_and_keeps_the_old(corpus, styled, tmp_path):
    other = make_corpus(tmp_path / "other", brow_style=True)
    # the same windows under other clip names: new takes of a new character
    for idx in (other / "shards").glob("*/windows.json"):
        rows = json.loads(idx.read_text())
        for r in rows:
            r["item"] = "actor/" + r["item"]
        idx.write_text(json.dumps(rows))
    out = tmp_path / "tuned.pt"
    train(TrainConfig(kind="face", steps=3, batch_size=4, seed=0, threads=1), data=other, out=out, init=str(styled))
    old_names, old_codes = load_checkpoint(styled).styles()
    names, codes = load_checkpoint(out).styles()
    assert names[:len(old_names)] == old_names and len(names) == 2 * len(old_names)
    assert all(n.startswith("actor/") for n in names[len(old_names):])
    assert codes.shape == (len(names), 4)
    # and resuming a run refuses a corpus whose clips differ from the ones the codes were learned for
    with pytest.raises(ConfigError, match="style codes for other clips"):
        train(TrainConfig(kind="face", steps=4, batch_size=4, seed=0, threads=1), data=corpus, out=out,
              init=str(styled), resume=True)


def test_emotions_cli_lists_and_saves_style_codes(styled, monkeypatch, tmp_path, capsys):
    from engine import cli
    from engine.animators.emotion_presets import resolve_emotion

    monkeypatch.setenv("PARLEY_NEURAL_CHECKPOINT", str(styled))
    monkeypatch.setenv("PARLEY_CONFIG", str(tmp_path / "config"))
    names, codes = load_checkpoint(styled).styles()
    assert cli.main(["emotions", "styles", "--match", names[2]]) == 0
    out = capsys.readouterr().out
    assert f"{len(names)} style codes of 4 numbers" in out and names[2] in out
    assert cli.main(["emotions", "styles", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [s["clip"] for s in listed["styles"]] == names
    assert cli.main(["emotions", "save", "calm", "joy:0.2", "--style", f"{names[0]}:0.5,{names[1]}:0.5"]) == 0
    capsys.readouterr()
    preset = resolve_emotion("calm")
    np.testing.assert_allclose(preset.style, 0.5 * codes[0] + 0.5 * codes[1], atol=1e-5)
    assert dict(preset.mix) == {"joy": 0.2} and preset.style_weights == load_checkpoint(styled).id
    assert cli.main(["emotions", "show", "--style", names[3], "--json"]) == 0
    np.testing.assert_allclose(json.loads(capsys.readouterr().out)["style"], codes[3], atol=1e-5)
    assert cli.main(["emotions", "show", "--style", "nobody#1"]) == 2
    assert "no training clip 'nobody#1'" in capsys.readouterr().err
    assert cli.main(["emotions", "show", "calm", "--style", names[3]]) == 2      # calm carries one already


def test_an_animate_run_with_a_style_preset_records_the_code(styled, monkeypatch, tmp_path):
    from engine import cli
    from rigs.core.clip import load_clip

    monkeypatch.setenv("PARLEY_NEURAL_CHECKPOINT", str(styled))
    monkeypatch.setenv("PARLEY_CONFIG", str(tmp_path / "config"))
    names, codes = load_checkpoint(styled).styles()
    assert cli.main(["emotions", "save", "raised", "--style", names[0]]) == 0
    assert cli.main(["animate", str(SPEECH), "--mode", "neural", "--no-body", "--emotion", "raised",
                     "-o", str(tmp_path / "a.npz")]) == 0
    clip = load_clip(tmp_path / "a.npz")
    np.testing.assert_allclose(clip.meta["style"], codes[0], atol=1e-5)
    assert clip.meta["style_weights"] == load_checkpoint(styled).id


# ---- early stopping --------------------------------------------------------------------------------------
def test_best_keeps_the_lowest_val_loss_weights(corpus, tmp_path):
    out, best = tmp_path / "last.pt", tmp_path / "best.pt"
    cfg = TrainConfig(kind="lips", steps=12, batch_size=4, lr=5e-3, warmup_steps=2, seed=0, val_every=3, threads=1)
    train(cfg, data=corpus, out=out, lip_config=TINY_LIPS, best=best)
    last, kept = load_checkpoint(out), load_checkpoint(best)
    history = json.loads(last.training["history"])
    losses = {h["step"]: h["val_loss"] for h in history}
    assert kept.training is None and kept.info["best_of"] == str(out)
    assert kept.info["step"] == min(losses, key=losses.get) and kept.info["val"]["val_loss"] == min(losses.values())
    if kept.info["step"] != 12:                                          # an earlier step won: other weights
        assert any(not torch.equal(a, b) for a, b in zip(kept.lips.state_dict().values(),
                                                         last.lips.state_dict().values()))
    with pytest.raises(ConfigError, match="another file"):
        train(cfg, data=corpus, out=out, lip_config=TINY_LIPS, best=out)
    from engine.learned.paths import DEFAULT_CHECKPOINT

    with pytest.raises(ConfigError, match="never overwrites"):
        train(cfg, data=corpus, out=out, lip_config=TINY_LIPS, best=DEFAULT_CHECKPOINT)


def test_the_style_benchmark_skips_without_a_corpus(monkeypatch, capsys):
    import sys

    from tests.test_neural import ROOT

    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    monkeypatch.delenv("PARLEY_CORPUS", raising=False)
    import bench_styles

    monkeypatch.setattr(sys, "argv", ["bench_styles.py"])
    assert bench_styles.main([]) == 0
    assert "skipped: it needs a corpus" in capsys.readouterr().out
    figures = bench_styles.manner(np.zeros((60, len(UPPER_INDEX))), np.zeros((60, 3)), 30.0)
    assert figures.shape == (4,) and not figures.any()
    upper = np.zeros((60, len(UPPER_INDEX)))
    upper[10:14, list(UPPER_INDEX).index(ARKIT_INDEX["eyeBlinkLeft"])] = 1.0     # one blink in 2 s
    upper[40:44, list(UPPER_INDEX).index(ARKIT_INDEX["eyeBlinkLeft"])] = 1.0     # and another
    assert bench_styles.manner(upper, np.zeros((60, 3)), 30.0)[1] == pytest.approx(1.0)
