"""The vocabulary layer (rigs.core): one home per concept, and the rules every layer shares.

Emotions have one list and one blending rule that the face and the body both follow; files are written
atomically; the one time base counts frames the same way everywhere.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from rigs.core import emotions, files, timebase
from rigs.core.errors import ConfigError


def test_every_emotion_table_covers_exactly_the_one_list():
    from engine.animators.body.style import STYLES
    from engine.animators.phonetic.expression import _STYLE, OVERLAYS

    for table in (OVERLAYS, _STYLE, STYLES):
        assert tuple(table) == emotions.EMOTIONS


def test_one_blending_rule_for_face_and_body():
    """joy:1,anger:1 is half joy and half anger for the face and for the body alike."""
    from engine.animators.body.style import STYLES, blend_style
    from engine.animators.phonetic.expression import OVERLAYS, emotion_style
    from rigs.core.arkit import ARKIT_INDEX

    assert emotions.blend_weights({"joy": 1.0, "anger": 1.0}) == {"joy": 0.5, "anger": 0.5}
    assert emotions.blend_weights({"joy": 0.3, "neutral": 1.0}) == {"joy": 0.3}
    face = emotion_style({"joy": 1.0, "anger": 1.0})
    i = ARKIT_INDEX["mouthSmileLeft"]
    assert face.overlay[i] == pytest.approx(0.5 * OVERLAYS["joy"]["mouthSmileLeft"])
    body = blend_style({"joy": 1.0, "anger": 1.0})
    assert body.amp == pytest.approx(0.5 * STYLES["joy"].amp + 0.5 * STYLES["anger"].amp)
    # below a total of 1 nothing is rescaled, for either
    assert emotion_style({"joy": 0.5}).overlay[i] == pytest.approx(0.5 * OVERLAYS["joy"]["mouthSmileLeft"])
    with pytest.raises(ConfigError, match="unknown emotion"):
        emotions.blend_weights({"glee": 1.0})
    with pytest.raises(ConfigError, match=">= 0"):
        emotions.blend_weights({"joy": -0.1})


def test_parse_emotion():
    assert emotions.parse_emotion("Joy:0.7, surprise") == (("joy", 0.7), ("surprise", 1.0))
    assert emotions.parse_emotion(None) == () and emotions.parse_emotion("  ") == ()
    for bad, msg in (("glee", "unknown"), ("joy:x", "not a number"), ("joy:2", r"\[0, 1\]")):
        with pytest.raises(ConfigError, match=msg):
            emotions.parse_emotion(bad)


def test_one_frame_count_rule():
    assert timebase.num_frames(11.0, 30) == 330 and timebase.num_frames(0.001, 30) == 1
    assert timebase.num_frames(1.0166, 30) == 30 and timebase.num_frames(1.0167, 30) == 31
    t = timebase.frame_times_s(4, 2.0)
    np.testing.assert_array_equal(t, [0, 0.5, 1.0, 1.5])
    frames, t_s = timebase.timeline_samples(1.0, 24.0, latency_s=0.1)
    assert len(frames) == 24 and t_s[0] == 0.0 and t_s[10] == pytest.approx(10 / 24 - 0.1)


def test_atomic_path_replaces_on_success_and_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.bin"]
    with files.atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["out.bin"]
    files.atomic_write(tmp_path / "t.txt", lambda f: f.write("text"), text=True)
    assert (tmp_path / "t.txt").read_text() == "text"
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "t.txt").stat().st_mode & 0o777 == 0o666 & ~mask   # not mkstemp's 0600
