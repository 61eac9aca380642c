"""The streaming animator: chunking invariance, streaming vs offline, bad streams, UDP packets, the CLI."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.audio.spectral import log_mel
from engine.streaming.animator import StreamingAnimator, StreamConfig
from engine.streaming.features import IncrementalLogMel, PcmBuffer
from engine.streaming.livelink_udp import (LiveLinkSender, decode_packet, encode_packet, livelink_values,
                                           yaw_pitch_roll)
from engine.streaming.model import EnergyFace, offline_predict
from rigs.core.arkit import ARKIT_INDEX, NUM_CHANNELS
from rigs.core.errors import AudioError, ConfigError
from rigs.core.timebase import num_frames

SR = 16000
ROOT = Path(__file__).resolve().parents[1]
JAW = ARKIT_INDEX["jawOpen"]


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """Voiced syllables (150-220 Hz harmonics, 4 per second) with pauses: a deterministic test voice."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 150 + 40 * np.sin(2 * np.pi * 0.7 * t)
    ph = 2 * np.pi * np.cumsum(f0) / SR
    voice = sum(np.sin(k * ph) / k for k in range(1, 12))
    env = np.clip(np.sin(2 * np.pi * 2.0 * t), 0, None) ** 2 * (np.sin(2 * np.pi * 0.25 * t) > -0.6)
    return (0.2 * env * voice + 0.002 * rng.standard_normal(t.size)).astype(np.float32)


def _stream(y, sizes, *, config=None, model=None, sr=SR):
    s = StreamingAnimator(model, config=config or StreamConfig())
    out, i, k = [], 0, 0
    while i < y.size:
        n = sizes[k % len(sizes)]
        out += s.feed(y[i:i + n], sr)
        i, k = i + n, k + 1
    return s, out + s.flush()


def _stack(frames, name):
    return np.stack([getattr(f, name) for f in frames])


@pytest.fixture(scope="module")
def voice():
    return _speechlike(4.0)


@pytest.fixture(scope="module")
def one_chunk(voice):
    return _stream(voice, [voice.size])[1]


def test_incremental_log_mel_equals_offline_for_random_chunks():
    rng = np.random.default_rng(3)
    y = (0.1 * rng.standard_normal(SR + 1234)).astype(np.float32)
    buf, mel = PcmBuffer(), IncrementalLogMel(sr=SR, feature_fps=120.0)
    i = 0
    while i < y.size:
        n = int(rng.integers(1, 2001))
        buf.append(y[i:i + n])
        i += n
        mel.update(buf)
    mel.update(buf, final=True)
    off = log_mel(y, sr=SR, fps=120.0)
    assert mel.rows.shape == off.shape
    assert np.abs(mel.rows - off).max() <= 1e-5


def test_random_chunk_sizes_give_the_frames_of_one_chunk(voice, one_chunk):
    rng = np.random.default_rng(1)
    _, frames = _stream(voice, [int(n) for n in rng.integers(1, 2001, size=200)])
    assert len(frames) == len(one_chunk) == num_frames(voice.size / SR, 30.0)
    assert [f.index for f in frames] == list(range(len(frames)))
    for name in ("expression", "head_rad", "eyes_rad", "joint_angles", "root_translation"):
        assert np.abs(_stack(frames, name) - _stack(one_chunk, name)).max() <= 1e-5, name


def test_streaming_jaw_within_tolerance_of_the_offline_model(voice, one_chunk):
    """Same model over the whole clip (whole-clip level): after the 1 s warm-up of the running level the
    streamed jawOpen is within 0.05 mean abs error and correlates > 0.9 (both measured ~0.01 / 0.99)."""
    off = offline_predict(EnergyFace(), voice, sr=SR)
    s = _stack(one_chunk, "expression")[:, JAW]
    assert off.shape == (len(one_chunk), NUM_CHANNELS)
    assert off[:, JAW].max() > 0.3                         # the voice opens the jaw
    w = slice(30, None)
    assert np.abs(s[w] - off[w, JAW]).mean() < 0.05
    assert np.corrcoef(s[w], off[w, JAW])[0, 1] > 0.9


def test_gaps_bursts_and_int16_and_other_rates(voice):
    gap = np.zeros(SR, np.float32)                          # 1 s of silence inside the stream
    y = np.concatenate([voice[:SR], gap, voice[SR:2 * SR]])
    _, frames = _stream(y, [7, 333, 1, 4000, 160])
    e = _stack(frames, "expression")
    assert len(frames) == num_frames(y.size / SR, 30.0)
    assert e[40:60, JAW].max() < 0.02                       # the mouth rests in the gap
    assert e[:30, JAW].max() > 0.2 and e[60:, JAW].max() > 0.2
    # a burst of many chunks in one go, as int16
    s = StreamingAnimator()
    pcm = (y * 32767).astype(np.int16)
    burst = [pcm[i:i + 320] for i in range(0, pcm.size, 320)]
    got = [f for c in burst for f in s.feed(c)] + s.flush()
    assert len(got) == len(frames)
    assert np.abs(_stack(got, "expression")[:, JAW] - e[:, JAW]).max() < 0.02
    # 44.1 kHz stereo input: resampled, same frame count within one frame
    y44 = np.repeat(np.interp(np.arange(int(y.size * 44100 / SR)) * SR / 44100, np.arange(y.size), y)
                    .astype(np.float32)[:, None], 2, axis=1)
    _, f44 = _stream(y44, [441 * 2 + 3], sr=44100)
    assert abs(len(f44) - len(frames)) <= 1


def test_stop_mid_word_flushes_cleanly(voice):
    cut = voice[: int(0.625 * SR)]                          # stops inside a syllable
    assert np.abs(cut[-160:]).max() > 0.05
    s = StreamingAnimator()
    before = s.feed(cut)
    rest = s.flush()
    frames = before + rest
    assert len(frames) == num_frames(cut.size / SR, 30.0)
    assert rest and [f.index for f in frames] == list(range(len(frames)))
    assert 1000 * s.lookahead_s <= 100.0                     # the documented bound
    assert all(np.all(np.isfinite(f.expression)) and np.all((f.expression >= 0) & (f.expression <= 1))
               for f in frames)
    assert s.flush() == []
    with pytest.raises(ConfigError):
        s.feed(cut)


def test_bad_chunks_are_refused():
    s = StreamingAnimator()
    with pytest.raises(AudioError):
        s.feed(np.array([0.0, np.nan], np.float32))
    with pytest.raises(AudioError):
        s.feed(np.zeros(10, np.int32))
    s.feed(np.zeros(10, np.float32), 16000)
    with pytest.raises(ConfigError):
        s.feed(np.zeros(10, np.float32), 48000)


def test_emitted_frames_only_use_audio_within_the_lookahead(voice):
    """Each frame is out as soon as its look-ahead has arrived, never before: the frame count after n
    samples is the number of frames whose centre + look-ahead is within them."""
    s = StreamingAnimator(config=StreamConfig(body=False))
    emitted = 0
    for n in range(160, 16000, 160):
        emitted += len(s.feed(voice[n - 160:n]))
        expect = max(0, int(np.floor((n / SR - s.lookahead_s) * 30.0 + 1e-9)) + 1)
        assert emitted in (expect - 1, expect) and emitted <= expect


def test_livelink_packets_decode_back_through_a_local_socket(one_chunk):
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5.0)
    port = rx.getsockname()[1]
    tx = LiveLinkSender("127.0.0.1", port, fps=30.0, subject="Tester")
    try:
        for f in one_chunk[40:43]:
            tx.send(f)
        pk = [decode_packet(rx.recvfrom(4096)[0]) for _ in range(3)]
    finally:
        tx.close()
        rx.close()
    assert [p.frame for p in pk] == [40, 41, 42]
    assert pk[0].subject == "Tester" and pk[0].rate == (30, 1) and pk[0].values.size == 61
    f = one_chunk[41]
    assert np.abs(pk[1].expression() - f.expression).max() < 1e-6
    assert np.abs(pk[1].values[52:55] - yaw_pitch_roll(f.head_rad)).max() < 1e-6


def test_livelink_layout_and_angles():
    from engine.streaming.livelink_udp import UDP_ORDER
    from rigs.core.arkit import LIVELINK_COLUMNS

    assert sorted(UDP_ORDER) == sorted(LIVELINK_COLUMNS) and len(UDP_ORDER) == 61
    e = np.zeros(52, np.float32)
    e[ARKIT_INDEX["jawLeft"]], e[ARKIT_INDEX["mouthRight"]] = 0.25, 0.75
    v = livelink_values(e, np.array([0.0, 0.3, 0.0]), np.zeros((2, 3)))   # head turned (yaw)
    # Unreal's EARFaceBlendShape slots (JawLeft 15, MouthRight 22), not the CSV's column order
    assert v[15] == 0.25 and v[16] == 0.0 and v[22] == 0.75 and v[21] == 0.0
    assert abs(v[52] - 0.3) < 1e-6 and abs(v[53]) < 1e-6                              # HeadYaw, HeadPitch
    b = encode_packet(v, frame=5, fps=29.97, device_id="d", subject="s")
    assert b[0] == 6 and len(b) == 1 + 4 + 1 + 4 + 1 + 16 + 1 + 61 * 4
    p = decode_packet(b)
    assert p.rate == (2997, 100) and p.frame == 5
    with pytest.raises(ConfigError):
        decode_packet(b[:-3])


def test_cli_reads_stdin(tmp_path, voice):
    pcm = (voice[: SR] * 32767).astype("<i2").tobytes()
    out = tmp_path / "frames.jsonl"
    r = subprocess.run([sys.executable, "-m", "engine", "stream", "-", "--format", "s16le", "--rate", "16000",
                        "--jsonl", str(out), "--no-body"], input=pcm, capture_output=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 30 and lines[0]["index"] == 0 and len(lines[5]["expression"]) == 52
    assert lines[-1]["joint_angles"] is None
    assert max(x["expression"][JAW] for x in lines) > 0.2
    assert b"look-ahead" in r.stderr
    bad = subprocess.run([sys.executable, "-m", "engine", "stream", "-", "--rate", "5"], input=b"",
                         capture_output=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and bad.stderr.decode().startswith("parley: error:")


def test_stream_animator_gives_a_valid_clip_equal_to_the_stream(voice, one_chunk):
    from engine.animators.base import AnimateRequest, Animator
    from engine.audio.load import audio_from_array
    from engine.streaming.clip import StreamAnimator

    audio = audio_from_array(voice, sr=SR)
    anim = StreamAnimator(lips=False)
    assert isinstance(anim, Animator)
    clip = anim.animate(audio, AnimateRequest(seed=0))
    assert clip.num_frames == len(one_chunk) and clip.meta["mode"] == "stream"
    assert np.abs(clip.expression - _stack(one_chunk, "expression")).max() <= 1e-6
    assert np.abs(clip.joint_angles - _stack(one_chunk, "joint_angles")).max() <= 1e-6
    again = anim.animate(audio, AnimateRequest(seed=0))
    other = anim.animate(audio, AnimateRequest(seed=1, body=False))
    assert np.array_equal(again.joint_angles, clip.joint_angles)
    assert not np.allclose(other.expression, clip.expression)           # blinks and gaze follow the seed
    assert np.abs(other.joint_angles).max() == 0.0                      # body at rest


def test_an_empty_stream_flushes_to_nothing():
    s = StreamingAnimator()
    assert s.feed(np.zeros(0, np.float32)) == []
    assert s.flush() == []


def test_running_loudness_settles_on_the_offline_loudness(voice):
    from engine.audio.causal import RunningLoudness
    from engine.audio.prosody import frame_rms, robust_loudness

    T = num_frames(voice.size / SR, 30.0)
    rms = frame_rms(voice, sr=SR, fps=30.0, n_frames=T)
    run = RunningLoudness(fps=30.0)
    got = np.asarray([run.push(float(r)) for r in rms])
    off = robust_loudness(rms)
    assert np.abs(got[45:] - off[45:]).max() < 0.05        # after 1.5 s of a stationary voice
    assert 20 * np.log10(np.percentile(rms[rms > 1e-4], 98)) == pytest.approx(run.level_db, abs=0.5)


def test_causal_accents_find_pitch_rises_with_the_stated_delay():
    from engine.audio.causal import CausalAccents

    fps = 30.0
    t = np.arange(150) / fps
    st = sum(4.0 * np.exp(-0.5 * ((t - c) / 0.08) ** 2) for c in (1.0, 2.0, 3.0, 4.0))
    f0 = 120.0 * 2 ** (st / 12.0)
    acc = CausalAccents(fps=fps)
    found = [(i, f, s) for i in range(t.size) for f, s in acc.push(0.6, float(f0[i]), True, True)]
    assert [f for _, f, _ in found] == pytest.approx([30, 60, 90, 120], abs=1)
    assert all(i - f == acc.delay_frames for i, f, _ in found)  # decided exactly delay_frames later
    assert acc.delay_frames / fps <= 0.3
    assert all(0.3 <= s <= 1.0 for _, _, s in found)


def test_realtime_pacing_waits_for_the_audio_duration():
    import time

    from engine.streaming.cli import _paced

    chunks = [(np.zeros(1600, np.float32), SR)] * 3                  # 0.3 s of audio
    t0 = time.monotonic()
    assert len(list(_paced(iter(chunks), True))) == 3
    assert time.monotonic() - t0 >= 0.29
    t0 = time.monotonic()
    list(_paced(iter(chunks), False))
    assert time.monotonic() - t0 < 0.2


def test_cli_sends_livelink_packets_for_an_audio_file(tmp_path, voice):
    import soundfile as sf

    wav = tmp_path / "voice.wav"
    sf.write(wav, voice[: SR // 2], SR)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.5)
    try:
        r = subprocess.run([sys.executable, "-m", "engine", "stream", str(wav), "--udp",
                            f"127.0.0.1:{rx.getsockname()[1]}", "--no-body", "--subject", "Clip"],
                           capture_output=True, cwd=ROOT, timeout=120)
        assert r.returncode == 0, r.stderr.decode()
        got = []
        with pytest.raises(socket.timeout):
            while True:
                got.append(decode_packet(rx.recvfrom(4096)[0]))
    finally:
        rx.close()
    assert [p.frame for p in got] == list(range(15)) and {p.subject for p in got} == {"Clip"}
    assert r.stdout == b""                                            # --udp alone: no JSON lines


class _NormalisedToy:
    """A stand-in for a learned model using the optional hooks: a causal running-mean normalisation of the
    rows (state carried between batches), zero padding in the normalised domain, and a batched predict."""

    model_id = "toy-normalised"
    fps, feature_fps, n_mels = 30.0, 120.0, 80
    context_frames, lookahead_frames = 40, 10
    pad_value = 0.0

    def __init__(self):
        self.batches = 0

    def normalize_rows(self, rows, state):
        m = np.full(rows.shape[1], -10.0) if state is None else state.copy()
        out = np.empty_like(rows)
        for j, x in enumerate(rows):
            out[j] = x - m
            m = 0.98 * m + 0.02 * x
        return out, m

    def predict_many(self, windows, *, level_db):
        from engine.streaming.model import FrameOutput
        self.batches += 1
        out = []
        for w in windows:
            e = np.zeros(NUM_CHANNELS, np.float32)
            e[JAW] = np.clip(0.3 + 0.02 * float(w[-15:, 5:30].mean()), 0, 1)
            out.append(FrameOutput(e))
        return out

    def predict(self, window, *, level_db):
        raise AssertionError("predict_many should be used")


def test_optional_hooks_normalisation_padding_and_batches_stream_like_offline(voice):
    toy = _NormalisedToy()
    rng = np.random.default_rng(5)
    s, frames = _stream(voice, [int(n) for n in rng.integers(1, 3000, size=100)], model=toy,
                        config=StreamConfig(body=False, procedural_upper_face=False))
    e = _stack(frames, "expression")[:, JAW]
    off = offline_predict(_NormalisedToy(), voice, sr=SR)[:, JAW]
    assert toy.batches > 1 and e.std() > 0.01
    assert np.abs(e - off).max() <= 1e-5                     # no level dependence: the stream equals offline
    assert s.lookahead_s == pytest.approx(10 / 120 + 256 / 16000)


class _StatefulToy:
    """A stateful model (``stream()``): an exponential average over rows, read with a 6-row look-ahead."""

    model_id = "toy-stateful"
    fps, feature_fps, n_mels = 30.0, 120.0, 80
    context_frames, lookahead_frames = 0, 6

    class _Stepper:
        def __init__(self):
            self.m, self.row, self.frame, self.hist = -20.0, 0, 0, []

        def step(self, rows, n_frames, *, level_db):
            from engine.streaming.model import FrameOutput
            for x in rows:
                self.m = 0.9 * self.m + 0.1 * float(x[5:30].mean())
                self.hist.append(self.m)
                self.row += 1
            out = []
            for _ in range(n_frames):
                r = self.frame * 4 + 6                      # the frame's row + look-ahead: must be in
                assert r < self.row
                e = np.zeros(NUM_CHANNELS, np.float32)
                e[JAW] = np.clip(0.5 + 0.03 * self.hist[r], 0, 1)
                out.append(FrameOutput(e))
                self.frame += 1
            return out

    def stream(self):
        return self._Stepper()

    def predict(self, window, *, level_db):
        raise AssertionError("the stepper should be used")


def test_a_stateful_model_streams_like_offline(voice):
    rng = np.random.default_rng(9)
    _, frames = _stream(voice, [int(n) for n in rng.integers(1, 2500, size=100)], model=_StatefulToy(),
                        config=StreamConfig(body=False, procedural_upper_face=False))
    e = _stack(frames, "expression")[:, JAW]
    off = offline_predict(_StatefulToy(), voice, sr=SR)[:, JAW]
    assert len(e) == len(off) and e.std() > 0.01
    assert np.abs(e - off).max() <= 1e-5


# --- the streamed body (engine/streaming/body.py) against the offline body v2, in degrees (engine.metrics.body)

BODY_FPS = 30.0
ACCENT_DELAY_FRAMES = 8        # CausalAccents' decision delay at 30 fps


def _stream_body(speech, *, accents_s=(), seed=0, emotion=None, sizes=(10 ** 9,)):
    """StreamingBody fed a speech mask (loudness 0.5 in speech, 0.02 out) in blocks of ``sizes`` frames, each
    accent confirmed ``ACCENT_DELAY_FRAMES`` after it; (T, 25, 3) axis-angles and (T, 3) root."""
    from engine.streaming.body import StreamingBody

    speech = np.asarray(speech, bool)
    T = len(speech)
    loud = np.where(speech, 0.5, 0.02)
    at: list[list[float]] = [[] for _ in range(T)]
    for a in accents_s:
        f = int(round(a * BODY_FPS)) + ACCENT_DELAY_FRAMES
        if f < T:
            at[f].append(0.7)
    body = StreamingBody(fps=BODY_FPS, seed=seed, emotion=emotion)
    aa, root, i, k = [], [], 0, 0
    while i < T:
        sl = slice(i, min(T, i + sizes[k % len(sizes)]))
        n = sl.stop - sl.start
        a, r = body.step(speech=speech[sl], loudness=loud[sl], head_rad=np.zeros((n, 3)),
                         eyes_rad=np.zeros((n, 2, 3)), accents_at=at[sl])
        aa.append(a)
        root.append(r)
        i, k = sl.stop, k + 1
    return np.concatenate(aa), np.concatenate(root)


def _offline_body(speech, *, accents_s=(), seed=0, emotion=None):
    from types import SimpleNamespace

    from engine.animators.body import animate_body

    speech = np.asarray(speech, bool)
    pro = SimpleNamespace(loudness=np.where(speech, 0.5, 0.02), speech=speech, voiced=speech.copy())
    return animate_body(fps=BODY_FPS, n_frames=len(speech), prosody=pro, head_angles_rad=None,
                        eye_angles_rad=None, accent_times_s=list(accents_s), emotion=emotion or {}, seed=seed)


def _kin(aa, root, mask):
    from engine.metrics.body import body_kinematics

    return body_kinematics(aa, root, fps=BODY_FPS, frames=mask)


def test_streamed_body_carries_the_arms_while_speaking_like_the_offline_body():
    """8 s of speech with accents every 0.8 s, then 8 s of silence: while speaking the streamed upper arms are
    abducted like the offline body's for the same seed (the same stance stream: measured within 1 degree, the
    seeds' stances span 12-20 degrees of carriage), the elbows flexed into gesture space; in silence they hang."""
    T = int(16 * BODY_FPS)
    t = np.arange(T) / BODY_FPS
    speech = t < 8.0
    accents = np.arange(0.6, 7.5, 0.8)
    talk, quiet = (t > 1.5) & (t < 7.5), t > 12.0
    for seed in (0, 2):
        st = _kin(*_stream_body(speech, accents_s=accents, seed=seed), talk)
        off = _kin(*_offline_body(speech, accents_s=accents, seed=seed), talk)
        still = _kin(*_stream_body(speech, accents_s=accents, seed=seed), quiet)
        assert st.abduction_deg > 15.0 and abs(st.abduction_deg - off.abduction_deg) < 3.0, (seed, st, off)
        assert st.elbow_flexion_deg > 45.0 and st.gesture_space_share > 0.9, (seed, st)
        assert still.abduction_deg < st.abduction_deg - 7.0 and still.gesture_space_share == 0.0, (seed, still)
        assert st.torso_range_deg > 6.0 and st.torso_speed_deg_s > 2.0 * still.torso_speed_deg_s, (seed, st, still)
    # the emotion style scales the carriage as offline
    ang = _kin(*_stream_body(speech, accents_s=accents, emotion={"anger": 1.0}), talk)
    sad = _kin(*_stream_body(speech, accents_s=accents, emotion={"sadness": 1.0}), talk)
    assert ang.abduction_deg > sad.abduction_deg + 5.0, (ang, sad)


def test_streamed_body_relaxes_the_arms_only_after_a_long_pause():
    """The turn is decided from the speech heard so far: a 0.8 s pause keeps the arms carried; in a 5 s pause
    they relax once it has lasted relax_pause_s (1.5 s) and the causal smoothing has settled."""
    T = int(12 * BODY_FPS)
    t = np.arange(T) / BODY_FPS
    short = _kin(*_stream_body((t < 4.0) | (t > 4.8), seed=4), (t > 4.1) & (t < 4.7))
    long_ = _stream_body((t < 4.0) | (t > 9.0), seed=4)
    held = _kin(*long_, (t > 4.1) & (t < 5.4))
    relaxed = _kin(*long_, (t > 6.5) & (t < 8.5))
    assert short.abduction_deg > 15.0 and short.gesture_space_share > 0.9, short
    assert held.abduction_deg > 15.0, held
    assert relaxed.abduction_deg < 11.0 and relaxed.gesture_space_share == 0.0, relaxed


def test_streamed_head_nods_after_a_confirmed_accent_never_before():
    from rigs.core.rotations import axis_angle_to_matrix, matrix_to_euler
    from rigs.core.skeleton import canonical_skeleton

    head = canonical_skeleton().index("head")
    T = int(4 * BODY_FPS)
    t = np.arange(T) / BODY_FPS
    pitch = {}
    for name, acc in (("with", [2.0]), ("without", [])):
        aa, _ = _stream_body(np.ones(T, bool), accents_s=acc, seed=3)
        pitch[name] = np.rad2deg(matrix_to_euler(axis_angle_to_matrix(aa.astype(np.float64))))[:, head, 0]
    d = pitch["with"] - pitch["without"]
    decided = 2.0 + ACCENT_DELAY_FRAMES / BODY_FPS
    assert np.abs(d[t <= decided]).max() == 0.0                 # causal: nothing before the decision
    assert decided + 0.15 <= t[np.argmax(d)] <= decided + 0.3   # the bump peaks half its 0.45 s in
    assert 0.6 < d.max() < 1.5, d.max()                         # the head's 40 % of a 1.8-3 degree nod


def test_streamed_body_frames_do_not_depend_on_the_block_sizes():
    T = int(10 * BODY_FPS)
    t = np.arange(T) / BODY_FPS
    speech = (t < 4.0) | ((t > 6.0) & (t < 9.0))
    accents = [0.7, 1.5, 2.1, 3.0, 6.4, 7.2, 8.1]
    one = _stream_body(speech, accents_s=accents, seed=5)
    rng = np.random.default_rng(7)
    many = _stream_body(speech, accents_s=accents, seed=5, sizes=[int(n) for n in rng.integers(1, 40, 200)])
    assert _kin(*one, (t > 1.5) & (t < 4.0)).abduction_deg > 15.0   # the frames compared carry the arms
    assert np.array_equal(one[0], many[0]) and np.array_equal(one[1], many[1])


def test_streamed_voice_carries_the_arms(voice, one_chunk):
    """Through the whole StreamingAnimator (the voice's pauses are shorter than relax_pause_s): after the
    first 1.5 s the upper arms stay abducted (the pre-carriage body: ~9 degrees)."""
    aa = _stack(one_chunk, "joint_angles")
    root = _stack(one_chunk, "root_translation")
    t = np.arange(len(aa)) / BODY_FPS
    k = _kin(aa, root, t > 1.5)
    assert k.abduction_deg > 15.0 and k.gesture_space_share > 0.9, k
