"""PhoneticAnimator wiring: silence gives a valid idle clip; body=False rests; meta and lips filled."""
import logging

import numpy as np
import pytest
import soundfile as sf

from engine.animators.base import AnimateRequest
from engine.animators.phonetic.animator import PhoneticAnimator


def test_silence_gives_idle_clip(tmp_path, caplog, data_dir):
    from engine.audio.load import load_audio
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
    from engine.audio.load import load_audio
    audio = load_audio(data_dir / "speech" / "sr_english.wav")
    clip = PhoneticAnimator().animate(audio, AnimateRequest(fps=30, seed=0, transcript="one two three"))
    assert clip.channel("jawOpen").max() > 0.15
    assert any(p.label == "W" or p.label == "UW" for p in clip.phonemes)
    labels = {p.label for p in clip.phonemes}
    assert "SIL" in labels and all(lab == lab.upper() for lab in labels)   # upper-case ARPAbet, "SIL"
    assert np.abs(clip.joint_angles).max() > 0
    assert clip.meta["source_sha256"] == audio.source_sha256


def test_speech_mask_from_phones():
    from engine.animators.phonetic.animator import speech_mask
    from engine.phonetics import Phone
    ph = [Phone(0.0, 1.0, "SIL"), Phone(1.0, 1.2, "AA"), Phone(1.2, 2.0, "SIL"), Phone(2.0, 2.1, "M"),
          Phone(2.1, 3.0, "SIL")]
    m = speech_mask(ph, fps=10, n_frames=30, hangover_s=0.1)
    assert np.flatnonzero(m).tolist() == [9, 10, 11, 12, 19, 20, 21]
    assert not speech_mask(ph[:1], fps=10, n_frames=10).any()


def test_speech_mask_drives_animation_without_silero(data_dir, monkeypatch):
    """The default animator takes its speech mask from the phones and never loads Silero."""
    import engine.audio.vad as vad
    from engine.audio.load import load_audio

    def boom(*a, **k):
        raise AssertionError("silero called")
    monkeypatch.setattr(vad, "silero_vad_frames", boom)    # where engine.audio.vad.voice_activity looks it up
    audio = load_audio(data_dir / "speech" / "sr_english.wav")
    seen = {}
    import engine.animators.phonetic.animator as P
    real = P.animate_face

    def spy(phones, prosody, **kw):
        seen["prosody"], seen["phones"] = prosody, phones
        return real(phones, prosody, **kw)
    monkeypatch.setattr(P, "animate_face", spy)
    PhoneticAnimator().animate(audio, AnimateRequest(fps=30, seed=0, transcript="one two three", body=False))
    pr, ph = seen["prosody"], seen["phones"]
    assert pr.vad_method == "phones"
    t = np.arange(pr.speech.size) / 30.0
    for p in ph:
        inside = (t >= p.start_s + 0.11) & (t < p.end_s - 0.11)
        if p.label != "SIL":
            assert pr.speech[(t >= p.start_s) & (t < p.end_s)].all()
        elif inside.any():
            assert not pr.speech[inside].any()


def test_phone_timing_reports_progress_and_can_be_cancelled_midway(data_dir):
    """Cancellation reaches inside the slowest stage: the decoder reports each utterance it finishes."""
    from engine.animators.phonetic.animator import PhoneticConfig
    from engine.audio.load import load_audio
    from engine.phonetics import PhoneticsConfig
    from rigs.core.errors import CancelledError

    audio = load_audio(data_dir / "speech" / "jfk.flac")
    animator = PhoneticAnimator(PhoneticConfig(phonetics=PhoneticsConfig(segment_s=3.0)))  # 4 utterances
    seen = []
    animator.animate(audio, AnimateRequest(body=False), progress=lambda s, f: seen.append((s, f)))
    phones = [f for s, f in seen if s == "phones"]
    assert len(phones) >= 4 and phones == sorted(phones) and len(set(phones)) == len(phones)

    def stop_after_first_utterance(stage, frac):
        if stage == "phones" and frac > phones[0]:
            raise CancelledError("stop")

    with pytest.raises(CancelledError):
        animator.animate(audio, AnimateRequest(body=False), progress=stop_after_first_utterance)


def test_no_tongue_without_dentals_or_frication(data_dir):
    """The TH guard: without a transcript, tongueOut exceeds 0.2 outside the TH/DH phones of the true words
    (JFK's speech force-aligned to its transcript) on under 2% of the speech frames (it was 20% when the
    phone loop's TH/DH were shown as heard and the tongue was blended into the neighbours)."""
    from engine.audio.load import load_audio
    from engine.phonetics import phone_timing
    from rigs.core.arkit import ARKIT_INDEX

    audio = load_audio(data_dir / "speech" / "jfk.flac")
    truth = phone_timing(audio, transcript="And so my fellow Americans, ask not what your country can do for "
                                           "you, ask what you can do for your country.")
    fps = 30.0
    for recognizer in ("words", "phones"):
        from engine.animators.phonetic.animator import PhoneticConfig
        from engine.phonetics import PhoneticsConfig
        an = PhoneticAnimator(PhoneticConfig(phonetics=PhoneticsConfig(recognizer=recognizer)))
        clip = an.animate(audio, AnimateRequest(fps=fps, body=False))
        tongue = clip.expression[:, ARKIT_INDEX["tongueOut"]]
        t = np.arange(tongue.size) / fps
        speech = np.zeros(tongue.size, bool)
        dental = np.zeros(tongue.size, bool)
        for p in truth:
            inside = (t >= p.start_s) & (t < p.end_s)
            speech |= inside & (p.label != "SIL")
            dental |= inside & (p.label in ("TH", "DH"))
        stray = np.count_nonzero(speech & ~dental & (tongue > 0.2)) / np.count_nonzero(speech)
        assert stray < 0.02, (recognizer, stray)
