"""Dyadic input: the character listens while a conversation partner speaks (engine.animators.listening).

A short real dialogue is built from two recordings: the character speaks (the shipped demo), pauses while the
partner speaks two phrases (JFK from $PARLEY_DATA/speech), then speaks again. Asserted in physical units:
head nods (degrees of head pitch) and a head turn toward the partner (degrees of head yaw from the skeleton's
forward kinematics), eyes toward the partner, backchannel smiles with the jaw closed, the character's own mouth
unchanged while it speaks, no pops (degrees per frame), the stereo ``--channels`` path, length and sample-rate
mismatches, the errors of bad ``--channels``, and determinism per seed.
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
import soundfile as sf

from engine.animators.base import AnimateRequest, FaceTrack
from engine.animators.compose import ComposeConfig, ComposedAnimator
from engine.animators.listening import (ListeningConfig, analyze_partner, conform_partner, listening_track)
from engine.animators.phonetic.animator import PhoneticAnimator
from engine.audio.accents import prosody_arrays
from engine.audio.load import audio_from_array, load_audio
from engine.audio.prosody import FeatureConfig, analyze
from engine.cli import main
from engine.runtime import animate_file
from rigs.core.arkit import ARKIT_INDEX, ARKIT_NAMES
from rigs.core.clip import load_clip
from rigs.core.errors import ConfigError
from rigs.core.rotations import axis_angle_to_matrix
from rigs.core.timebase import num_frames
from tests.test_animator_contract import SPEECH

SR = 16000
FPS = 30.0
# the dialogue (seconds): the character, then the partner (two phrases with a pause), then the character
ME_1 = (0.0, 1.8)
PARTNER = (2.2, 5.6)
ME_2 = (6.2, 7.6)
DURATION_S = 8.0
LISTEN = (2.9, 5.3)          # fully listening (after the fade-in)
MOUTH = [n for n in ARKIT_NAMES if n.startswith(("jaw", "mouth"))]
MAX_JUMP_DEG = 2.5           # per frame at 30 fps
CHAIN = ("pelvis", "spine1", "spine2", "spine3", "neck", "head")


def _dialogue(data_dir):
    me_src = load_audio(SPEECH).samples
    them_src = load_audio(data_dir / "speech" / "jfk.flac").samples
    n = int(DURATION_S * SR)
    me, them = np.zeros(n, np.float32), np.zeros(n, np.float32)
    a, b = (int(t * SR) for t in ME_1)
    me[a:b] = me_src[:b - a]
    a, b = (int(t * SR) for t in ME_2)
    me[a:b] = me_src[int(2.0 * SR):int(2.0 * SR) + b - a]
    a, b = (int(t * SR) for t in PARTNER)
    them[a:b] = them_src[:b - a]          # "And so my fellow Americans, ask not..." (a pause inside)
    return me, them


@pytest.fixture(scope="module")
def dialogue(data_dir, tmp_path_factory):
    me, them = _dialogue(data_dir)
    d = tmp_path_factory.mktemp("dialogue")
    sf.write(d / "me.wav", me, SR)
    sf.write(d / "them.wav", them, SR)
    sf.write(d / "stereo.wav", np.stack([them, me], axis=1), SR)    # the partner left, the character right
    sf.write(d / "mono.wav", me, SR)
    return d


@pytest.fixture(scope="module")
def runs(dialogue):
    """The phonetic animator on the character's audio without and with the partner (seed 0)."""
    me, them = load_audio(dialogue / "me.wav"), load_audio(dialogue / "them.wav")
    anim = PhoneticAnimator()
    alone = anim.animate(me, AnimateRequest(fps=FPS))
    listening = anim.animate(me, AnimateRequest(fps=FPS, partner=them))
    return alone, listening


def _frames(span):
    return slice(int(round(span[0] * FPS)), int(round(span[1] * FPS)))


def _head_world(clip) -> np.ndarray:
    """(T, 3, 3) head rotation in the character's frame (forward kinematics along pelvis..head)."""
    R = np.broadcast_to(np.eye(3), (clip.num_frames, 3, 3))
    for name in CHAIN:
        R = R @ axis_angle_to_matrix(clip.joint_angles[:, clip.joint_names.index(name)].astype(np.float64))
    return R


def _pitch_yaw_deg(R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T,) pitch (+ looks down) and yaw (+ toward the character's left) of the head's forward (+Z) axis."""
    f = R[:, :, 2]
    return np.rad2deg(np.arcsin(np.clip(-f[:, 1], -1, 1))), np.rad2deg(np.arctan2(f[:, 0], f[:, 2]))


def _jumps_deg(R: np.ndarray) -> np.ndarray:
    """(T-1,) rotation angle between consecutive frames, degrees."""
    d = np.einsum("tji,tjk->tik", R[:-1], R[1:])
    return np.rad2deg(np.arccos(np.clip((np.trace(d, axis1=1, axis2=2) - 1) / 2, -1, 1)))


def test_listener_nods_and_turns_toward_the_partner(runs):
    alone, listening = runs
    p0, y0 = _pitch_yaw_deg(_head_world(alone))
    p1, y1 = _pitch_yaw_deg(_head_world(listening))
    sl = _frames(LISTEN)
    nod = p1[sl] - p0[sl]
    assert nod.max() > 4.0, f"no nod while the partner speaks: head pitch rises at most {nod.max():.1f} deg"
    assert nod.max() - np.percentile(nod, 10) > 4.0       # a nod goes down and comes back: it oscillates
    turn = y1[sl] - y0[sl]
    # partner at +30 deg (the character's left): the head takes 60 %, the eyes the rest
    assert 12.0 < np.median(turn) < 24.0, f"head turned {np.median(turn):.1f} deg toward the partner"
    x = listening.expression
    assert x[sl, ARKIT_INDEX["eyeLookOutLeft"]].mean() > 0.15 + alone.expression[sl, ARKIT_INDEX["eyeLookOutLeft"]].mean()
    assert x[sl, ARKIT_INDEX["eyeLookInRight"]].mean() > 0.15 + alone.expression[sl, ARKIT_INDEX["eyeLookInRight"]].mean()
    for name in ("left_eye", "right_eye"):   # the eye joints turn with the eyeLook channels
        j = listening.joint_names.index(name)
        dy = np.rad2deg(listening.joint_angles[sl, j, 1] - alone.joint_angles[sl, j, 1])
        assert np.median(dy) > 5.0


def test_backchannel_smiles_with_the_jaw_closed(runs):
    alone, listening = runs
    sl = _frames(LISTEN)
    for name in ("mouthSmileLeft", "mouthSmileRight"):
        i = ARKIT_INDEX[name]
        assert (listening.expression[sl, i] - alone.expression[sl, i]).mean() > 0.04
    jaw = ARKIT_INDEX["jawOpen"]
    assert listening.expression[sl, jaw].max() < 0.05
    np.testing.assert_array_equal(listening.expression[:, jaw], alone.expression[:, jaw])


def test_own_speech_keeps_its_mouth(runs):
    alone, listening = runs
    idx = [ARKIT_INDEX[n] for n in MOUTH]
    for span in (ME_1, ME_2):
        sl = _frames((span[0] + 0.1, span[1] - 0.1))
        np.testing.assert_allclose(listening.expression[sl][:, idx], alone.expression[sl][:, idx], atol=1e-6)
        np.testing.assert_allclose(listening.lip_vertices[sl], alone.lip_vertices[sl], atol=1e-7)
    assert listening.meta["partner_audio"] == "them.wav" and len(listening.meta["partner_sha256"]) == 64
    assert listening.meta["model_ids"]["listening"] and "listening" not in alone.meta["model_ids"]
    assert "partner_audio" not in alone.meta


def test_no_pops(runs):
    """The listening overlay alone (with-partner head relative to the run without) moves at most 2.5 deg a frame
    at 30 fps (75 deg/s; a listener's nod peaks near 40 deg/s, its gaze turn too) although it turns the head
    ~18 deg and nods ~7 deg; the whole head gains no more than that; the eyes turn as smoothly."""
    alone, listening = runs
    R0, R1 = _head_world(alone), _head_world(listening)
    overlay = np.einsum("tij,tkj->tik", R1, R0)
    assert _jumps_deg(overlay).max() < MAX_JUMP_DEG
    assert _jumps_deg(R1).max() < MAX_JUMP_DEG + _jumps_deg(R0).max()
    for name in ("left_eye", "right_eye"):
        j = listening.joint_names.index(name)
        d = np.rad2deg(np.abs(np.diff(listening.joint_angles[:, j] - alone.joint_angles[:, j], axis=0)))
        assert d.max() < MAX_JUMP_DEG


def test_fade_is_what_prevents_pops(data_dir):
    """The check above can fail: without the fade the head turn is a step of over 10 degrees."""
    me, them = _dialogue(data_dir)
    me_a, them_a = audio_from_array(me, sr=SR), audio_from_array(them, sr=SR)
    T = num_frames(DURATION_S, FPS)
    own = prosody_arrays(analyze(me_a, fps=FPS, config=FeatureConfig(use_silero=False)), T)["speech"]
    pa = analyze_partner(them_a, me_a, fps=FPS, n_frames=T)
    smooth = listening_track(own, pa, fps=FPS, direction_deg=30.0, seed=0)
    step = listening_track(own, pa, fps=FPS, direction_deg=30.0, seed=0, config=ListeningConfig(ramp_s=0.0))
    assert np.abs(np.diff(smooth.head_yaw_deg)).max() < MAX_JUMP_DEG
    assert np.abs(np.diff(step.head_yaw_deg)).max() > 10.0
    # the weight is exactly zero while the character speaks, one while only the partner speaks
    assert np.all(smooth.weight[own] == 0) and smooth.weight[_frames(LISTEN)].min() > 0.99
    # the other side: a partner at -30 deg turns the head to the character's right
    right = listening_track(own, pa, fps=FPS, direction_deg=-30.0, seed=0)
    assert right.head_yaw_deg[_frames(LISTEN)].max() < -15.0


def test_determinism_per_seed(data_dir):
    me, them = _dialogue(data_dir)
    me_a, them_a = audio_from_array(me, sr=SR), audio_from_array(them, sr=SR)
    T = num_frames(DURATION_S, FPS)
    own = prosody_arrays(analyze(me_a, fps=FPS, config=FeatureConfig(use_silero=False)), T)["speech"]
    pa = analyze_partner(them_a, me_a, fps=FPS, n_frames=T)
    tracks = [listening_track(own, pa, fps=FPS, direction_deg=30.0, seed=s) for s in (0, 0, 1, 2, 3)]
    for f in dataclasses.fields(tracks[0]):
        np.testing.assert_array_equal(getattr(tracks[0], f.name), getattr(tracks[1], f.name))
    assert any(not np.array_equal(tracks[0].nod_deg, t.nod_deg) or not np.array_equal(tracks[0].lean_deg, t.lean_deg)
               for t in tracks[2:])
    # and through a whole animator
    anim = _Tiny()
    a = anim.animate(me_a, AnimateRequest(fps=FPS, seed=5, partner=them_a))
    b = anim.animate(me_a, AnimateRequest(fps=FPS, seed=5, partner=them_a))
    np.testing.assert_array_equal(a.expression, b.expression)
    np.testing.assert_array_equal(a.joint_angles, b.joint_angles)


class _Tiny(ComposedAnimator):
    """A cheap face (jaw follows loudness) on the shared stages, without lips: the listening stage is shared."""

    name = "tiny-listener"
    model_id = "tiny-listener-v1"

    def __init__(self):
        super().__init__(ComposeConfig(lips=False))

    def face(self, audio, analysis, request):
        T = analysis.n_frames
        x = np.zeros((T, len(ARKIT_NAMES)), np.float32)
        x[:, ARKIT_INDEX["jawOpen"]] = 0.5 * np.asarray(analysis.prosody.loudness, np.float32)
        return FaceTrack(expression=x, head_angles_rad=np.zeros((T, 3), np.float32),
                         eye_angles_rad=np.zeros((T, 2, 3), np.float32))


def test_stereo_channels(dialogue, runs, tmp_path, capsys):
    _, listening = runs
    out = tmp_path / "take.npz"
    assert main(["animate", str(dialogue / "stereo.wav"), "--mode", "phonetic", "--channels", "right,left", "-o", str(out)]) == 0
    clip = load_clip(out)
    assert clip.meta["partner_audio"] == "stereo.wav[1]" and clip.meta["source_audio"] == "stereo.wav[2]"
    np.testing.assert_allclose(clip.expression, listening.expression, atol=1e-4)
    np.testing.assert_allclose(clip.joint_angles, listening.joint_angles, atol=1e-4)


@pytest.mark.parametrize("channels, words", [("left,right", "mono"), ("1,2", "mono")])
def test_channels_of_a_mono_file(dialogue, tmp_path, capsys, channels, words):
    rc = main(["animate", str(dialogue / "mono.wav"), "--channels", channels, "-o", str(tmp_path / "t.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and "parley: error:" in err and words in err and not (tmp_path / "t.npz").exists()


@pytest.mark.parametrize("channels, words", [("1,3", "channel 3"), ("left,left", "different"),
                                             ("me,you", "not a channel"), ("2", "two channels")])
def test_bad_channels(dialogue, tmp_path, capsys, channels, words):
    rc = main(["animate", str(dialogue / "stereo.wav"), "--channels", channels, "-o", str(tmp_path / "t.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and "parley: error:" in err and words in err


def test_partner_and_channels_together_is_an_error(dialogue, tmp_path):
    with pytest.raises(ConfigError, match="not both"):
        animate_file(dialogue / "stereo.wav", tmp_path / "t.npz", partner=dialogue / "them.wav", channels="1,2")
    with pytest.raises(ConfigError, match="partner-direction"):
        animate_file(dialogue / "me.wav", tmp_path / "t.npz", partner=dialogue / "them.wav",
                     request=AnimateRequest(partner_direction_deg=120.0))


def test_length_and_rate_mismatch_warn_and_work(data_dir, caplog):
    me, them = _dialogue(data_dir)
    me_a = audio_from_array(me, sr=SR)
    import soxr

    short = np.asarray(soxr.resample(them[: int(4.0 * SR)], SR, 22050), np.float32)   # 4 s at 22.05 kHz
    with caplog.at_level(logging.WARNING, logger="engine.animators.listening"):
        clip = _Tiny().animate(me_a, AnimateRequest(fps=FPS, partner=audio_from_array(short, sr=22050)))
    text = caplog.text
    assert "resampled" in text and "padded" in text
    assert clip.num_frames == num_frames(DURATION_S, FPS)
    p = conform_partner(audio_from_array(np.concatenate([them, them]), sr=SR), me_a)
    assert p.samples.size == me_a.samples.size and "cut" in caplog.text
    # the partner spoke 2.2..4.0 s: the character listens there (head turned by the stage)
    j = clip.joint_names.index("head")
    assert np.rad2deg(clip.joint_angles[_frames((2.9, 3.8)), j, 1]).min() > 5.0


def test_short_and_silent_inputs(caplog, tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(int(0.6 * SR)) / SR
    voice = (0.3 * np.sin(2 * np.pi * 140 * t) * (1 + 0.3 * rng.standard_normal(t.size))).astype(np.float32)
    me = audio_from_array(voice, sr=SR)                                     # 0.6 s
    silent = audio_from_array(np.zeros(int(0.3 * SR), np.float32), sr=SR)   # 0.3 s of silence
    with caplog.at_level(logging.WARNING, logger="engine.animators.listening"):
        a = _Tiny().animate(me, AnimateRequest(fps=FPS, partner=silent))
        b = _Tiny().animate(silent, AnimateRequest(fps=FPS, partner=me))
    assert "silent" in caplog.text and "padded" in caplog.text
    alone = _Tiny().animate(me, AnimateRequest(fps=FPS))
    np.testing.assert_allclose(a.expression, alone.expression, atol=1e-6)   # a silent partner changes nothing
    assert a.num_frames == alone.num_frames and b.num_frames == num_frames(0.3, FPS)


def test_overlap_own_speech_wins(data_dir):
    """The partner talks through the whole clip, over the character: wherever the character speaks its face is
    that of a run without a partner (mouth, smiles, eyes); the listener shows only in its pauses."""
    me, _ = _dialogue(data_dir)
    them = load_audio(data_dir / "speech" / "jfk.flac").samples[: me.size]
    me_a, them_a = audio_from_array(me, sr=SR), audio_from_array(them, sr=SR)
    anim = _Tiny()
    alone = anim.animate(me_a, AnimateRequest(fps=FPS))
    both = anim.animate(me_a, AnimateRequest(fps=FPS, partner=them_a))
    own = prosody_arrays(analyze(me_a, fps=FPS, config=FeatureConfig(use_silero=False)), alone.num_frames)["speech"]
    assert own.sum() > FPS   # the character does speak
    np.testing.assert_array_equal(both.expression[own], alone.expression[own])
    sl = _frames((ME_1[1] + 0.8, ME_2[0] - 0.8))   # the character's pause: it listens
    assert (both.expression[sl, ARKIT_INDEX["mouthSmileLeft"]] - alone.expression[sl, ARKIT_INDEX["mouthSmileLeft"]]).min() > 0.03


def test_the_neural_face_listens_too(dialogue):
    """The default (neural) face goes through the same shared listening stage: head turn toward the partner,
    and its own network-predicted lip vertices stay its own where listening leaves the expression alone."""
    from engine.animators.registry import ANIMATORS

    me, them = load_audio(dialogue / "me.wav"), load_audio(dialogue / "them.wav")
    anim = ANIMATORS.create("neural")
    alone = anim.animate(me, AnimateRequest(fps=FPS))
    listening = anim.animate(me, AnimateRequest(fps=FPS, partner=them))
    assert listening.meta["model_ids"]["listening"] and listening.meta["partner_audio"] == "them.wav"
    sl = _frames(LISTEN)
    turn = _pitch_yaw_deg(_head_world(listening))[1][sl] - _pitch_yaw_deg(_head_world(alone))[1][sl]
    assert 12.0 < np.median(turn) < 24.0, f"head turned {np.median(turn):.1f} deg toward the partner"
    same = np.all(listening.expression == alone.expression, axis=1)        # frames listening did not touch
    assert same.sum() > 0.2 * len(same)
    np.testing.assert_allclose(listening.lip_vertices[same], alone.lip_vertices[same], atol=1e-7)
    assert listening.meta["model_ids"]["lips"] == f"{anim.model_id}-lips"      # the network's lips, not the lip model
