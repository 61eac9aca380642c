"""PhoneticAnimator wiring: silence gives a valid idle clip; body=False rests; meta and lips filled."""
import logging

import numpy as np
import soundfile as sf

from engine.animate.base import AnimateRequest
from engine.animate.phonetic import PhoneticAnimator
from rigs.arkit import ARKIT_INDEX as A


def test_silence_gives_idle_clip(tmp_path, caplog, data_dir):
    from engine.audio import load_audio
    p = tmp_path / "quiet.wav"
    sf.write(p, np.zeros(16000 * 3, np.float32), 16000)
    with caplog.at_level(logging.WARNING):
        clip = PhoneticAnimator().animate(load_audio(p), AnimateRequest(fps=30, seed=2, body=False))
    assert "no speech" in caplog.text
    clip.validate()
    assert clip.num_frames == 90
    assert clip.channel("jawOpen").max() < 0.01
    assert np.all(clip.joint_angles == 0) and np.all(clip.root_translation == 0)
    assert clip.lip_vertices.shape[1] == len(clip.lip_vertex_ids) > 200
    assert clip.meta["mode"] == "phonetic" and clip.meta["model_ids"]["face"] == "phonetic-v1"
    assert clip.meta["model_ids"]["lips"] == "ict-facekit-linear" and clip.meta["template_id"] == "ict-facekit"


def test_speech_clip_moves_mouth_and_body(data_dir):
    from engine.audio import load_audio
    audio = load_audio(data_dir / "speech" / "sr_english.wav")
    clip = PhoneticAnimator().animate(audio, AnimateRequest(fps=30, seed=0, transcript="one two three"))
    assert clip.channel("jawOpen").max() > 0.15
    assert any(p.label == "W" or p.label == "UW" for p in clip.phonemes)
    assert np.abs(clip.joint_angles).max() > 0
    assert clip.meta["source_sha256"] == audio.source_sha256
