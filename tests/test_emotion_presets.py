"""Emotion presets (engine/animators/emotion_presets.py) and `parley emotions list | show | save`: saving is
atomic and refuses clashes, specs mix named emotions and presets, interpolation is linear in the blended
weights, and `parley animate --emotion PRESET` animates with the preset's mix."""
import json

import numpy as np
import pytest
import soundfile as sf

from engine.animators import emotion_presets as ep
from engine.cli import main
from rigs.core.clip import load_clip
from rigs.core.emotions import parse_emotion
from rigs.core.errors import ConfigError


@pytest.fixture(autouse=True)
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("PARLEY_CONFIG", str(tmp_path / "config"))
    return tmp_path / "config"


def test_save_and_load_round_trip_with_a_style_code(config):
    path = ep.save_preset(ep.EmotionPreset("Wistful", (("sadness", 0.6), ("joy", 0.2)), style=(0.5, -1.25)))
    assert path == config / "emotions" / "wistful.json"
    data = json.loads(path.read_text())
    assert data["mix"] == {"joy": 0.2, "sadness": 0.6} and data["style"] == [0.5, -1.25]
    assert [p.name for p in path.parent.iterdir()] == ["wistful.json"]      # no temp file left behind
    p = ep.load_preset("wistful")
    assert p.mix == (("joy", 0.2), ("sadness", 0.6)) and p.style == (0.5, -1.25)
    assert p.weights() == {"joy": 0.2, "sadness": 0.6} and p.neutral_weight() == pytest.approx(0.2)
    with pytest.raises(ConfigError, match="exists"):
        ep.save_preset(ep.EmotionPreset("wistful", (("joy", 1.0),)))
    ep.save_preset(ep.EmotionPreset("wistful", (("joy", 1.0),)), overwrite=True)
    assert ep.load_preset("wistful").mix == (("joy", 1.0),) and ep.load_preset("wistful").style is None


def test_a_style_code_keeps_the_name_of_the_weights_it_came_from(config, caplog):
    ep.save_preset(ep.EmotionPreset("a", (), style=(1.0, 0.0), style_weights="neural-face-aaaaaaaaaaaa"))
    ep.save_preset(ep.EmotionPreset("b", (), style=(0.0, 1.0), style_weights="neural-face-aaaaaaaaaaaa"))
    ep.save_preset(ep.EmotionPreset("c", (), style=(0.0, 1.0), style_weights="neural-face-cccccccccccc"))
    ep.save_preset(ep.EmotionPreset("plain", (("joy", 0.5),), style_weights="neural-face-aaaaaaaaaaaa"))
    assert json.loads((config / "emotions" / "a.json").read_text())["style_weights"] == "neural-face-aaaaaaaaaaaa"
    assert "style_weights" not in json.loads((config / "emotions" / "plain.json").read_text())   # no code, no source
    assert ep.resolve_emotion("a,joy:0.2").style_weights == "neural-face-aaaaaaaaaaaa"
    mixed = ep.interpolate(ep.load_preset("a"), ep.load_preset("b"), 0.25)
    assert mixed.style == (0.75, 0.25) and mixed.style_weights == "neural-face-aaaaaaaaaaaa"
    with caplog.at_level("WARNING"):
        other = ep.interpolate(ep.load_preset("a"), ep.load_preset("c"), 0.5)
    assert other.style_weights is None and "different weights" in caplog.text
    (config / "emotions" / "bad.json").write_text(json.dumps({"format": ep.PRESET_FORMAT, "version": 1, "mix": {},
                                                              "style": [1.0], "style_weights": 3}))
    with pytest.raises(ConfigError, match="style_weights"):
        ep.load_preset("bad")


@pytest.mark.parametrize("name", ["joy", "Neutral", "9lives", "a b", "../x", "x" * 65])
def test_bad_preset_names_are_refused(name):
    with pytest.raises(ConfigError):
        ep.save_preset(ep.EmotionPreset(name, (("joy", 0.5),)))


def test_specs_mix_named_emotions_and_scaled_presets():
    assert ep.resolve_emotion("Joy:0.7, surprise").mix == parse_emotion("Joy:0.7, surprise")   # old syntax unchanged
    assert ep.resolve_emotion(None).mix == () and ep.resolve_emotion("  ").mix == ()
    ep.save_preset(ep.EmotionPreset("wistful", (("sadness", 0.6), ("joy", 0.2))))
    assert ep.resolve_emotion("wistful").mix == (("joy", 0.2), ("sadness", 0.6))
    got = dict(ep.resolve_emotion("wistful:0.5,joy:0.4").mix)
    assert got == pytest.approx({"joy": 0.1 + 0.4, "sadness": 0.3})
    with pytest.raises(ConfigError, match="unknown emotion 'glee'"):
        ep.resolve_emotion("glee")
    with pytest.raises(ConfigError, match=r"in \[0, 1\]"):
        ep.resolve_emotion("wistful:2")


def test_interpolation_is_linear_in_the_blended_weights():
    a = ep.resolve_emotion("joy:1,anger:1")          # blended: joy 0.5, anger 0.5
    b = ep.EmotionPreset("b", (("sadness", 0.8),), style=(1.0, 3.0))
    a = ep.EmotionPreset(a.name, a.mix, style=(0.0, 1.0))
    m = ep.interpolate(a, b, 0.3)
    assert m.weights() == pytest.approx({"joy": 0.35, "anger": 0.35, "sadness": 0.24})
    assert m.style == pytest.approx((0.3, 1.6))
    assert ep.interpolate(a, b, 0.0).weights() == pytest.approx(a.weights())
    assert ep.interpolate(a, b, 1.0).weights() == pytest.approx(b.weights())
    with pytest.raises(ConfigError):
        ep.interpolate(a, b, 1.5)


def test_a_corrupt_preset_is_skipped_in_the_list_and_named_when_used(config, caplog):
    ep.save_preset(ep.EmotionPreset("calm", (("neutral", 1.0),)))
    folder = config / "emotions"
    (folder / "broken.json").write_text("{not json")
    (folder / "evil.json").write_text(json.dumps({"format": ep.PRESET_FORMAT, "version": 1, "mix": {"glee": 1}}))
    assert [p.name for p in ep.list_presets()] == ["calm"]
    assert "broken.json" in caplog.text and "evil.json" in caplog.text
    with pytest.raises(ConfigError, match="broken.json"):
        ep.resolve_emotion("broken")


def test_cli_show_save_list(capsys):
    assert main(["emotions", "show", "joy:1,anger:1"]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert "joy        0.500" in lines and "anger      0.500" in lines and "neutral    0.000" in lines
    assert main(["emotions", "save", "tense", "--between", "fear", "anger:0.5", "--t", "0.5"]) == 0
    capsys.readouterr()
    assert main(["emotions", "show", "tense", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["weights"] == pytest.approx(
        {"anger": 0.25, "fear": 0.5, "neutral": 0.25})
    assert main(["emotions", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed["emotions"]) == 7 and [p["name"] for p in listed["presets"]] == ["tense"]
    assert main(["emotions", "save", "tense", "joy"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["emotions", "show"]) == 2
    assert main(["emotions", "show", "joy", "--between", "joy", "fear"]) == 2


def test_animate_with_a_preset_uses_its_mix(tmp_path):
    sr = 16000
    t = np.arange(sr) / sr
    sf.write(tmp_path / "a.wav", (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), sr)
    ep.save_preset(ep.EmotionPreset("wistful", (("sadness", 0.6), ("joy", 0.2))))
    out = tmp_path / "a.npz"
    assert main(["animate", str(tmp_path / "a.wav"), "-o", str(out), "--mode", "neutral",
                 "--emotion", "wistful:0.5"]) == 0
    assert load_clip(out).meta["emotion"] == pytest.approx({"joy": 0.1, "sadness": 0.3})
