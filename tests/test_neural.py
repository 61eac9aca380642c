"""The neural face: features, models, diffusion, checkpoints, the trainer and the neural animator.

Everything trains tiny models for a few steps on a tiny corpus made here (the shipped demo speech cut into
2-second windows, labelled from its own loudness: the jaw opens with the voice, the frames where the voice
dips inside speech are bilabial closures), so the whole file runs in well under a minute on two cores.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.audio.load import load_audio
from engine.audio.spectral import log_mel
from engine.learned.checkpoint import load_checkpoint, save_checkpoint
from engine.learned.denoiser import DenoiserConfig
from engine.learned.encoder import AudioEncoder, EncoderConfig
from engine.learned.face import FaceConfig
from engine.learned.features import normalize_mel
from engine.learned.layout import MOUTH_INDEX, emotion_vector
from engine.learned.lipsync import LipConfig
from engine.training.corpus.shards import CorpusSpec, ShardWriter, Window, write_corpus_json, write_manifest
from engine.training.train_face import TrainConfig, train
from rigs.core.arkit import ARKIT_INDEX, NUM_CHANNELS
from rigs.core.emotions import EMOTIONS
from rigs.core.errors import ConfigError
from rigs.core.phones import LABELS

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "engine" / "samples" / "demo.wav"
TINY_ENCODER = EncoderConfig(channels=16, dilations=(1, 2), lookahead_feature_frames=6, dropout=0.0)
TINY_LIPS = LipConfig(encoder=TINY_ENCODER)
TINY_FACE = FaceConfig(denoiser=DenoiserConfig(channels=16, dilations=(1, 2), embed=16, dropout=0.0),
                       diffusion_steps=100, sampling_steps=4)


def _lip_model():
    from engine.animators.lips import load_lip_model

    return load_lip_model()


def make_corpus(root: Path, *, silent: bool = False, window_s: float = 2.0, brow_style: bool = False) -> Path:
    """A tiny corpus from the demo speech (module docstring): train and val windows, real lip offsets.
    ``brow_style``: every other pair of windows holds its brows up (browInnerUp 0.8) throughout, a manner of
    the clip that neither its audio nor its emotion (which alternates window by window) tells."""
    lm = _lip_model()
    audio = load_audio(SPEECH)
    y = np.zeros_like(audio.samples) if silent else audio.samples
    spec = CorpusSpec(window_s=window_s, num_joints=25, num_lip_vertices=lm.num_vertices)
    W, Wf, S = spec.frames, spec.feature_frames, spec.samples
    hop = S // 4                                       # overlapping windows: enough of them from a short file
    n = (len(y) - S) // hop + 1
    rng = np.random.default_rng(0)
    rows = []
    for k in range(n):
        seg = y[k * hop:k * hop + S]
        mel = log_mel(seg, sr=spec.sample_rate, fps=spec.feature_fps, n_mels=spec.n_mels, n_frames=Wf)
        energy = mel.reshape(W, spec.feature_ratio, -1).mean(axis=(1, 2))          # (W,)
        loud = np.clip((energy - np.percentile(energy, 20)) / (np.ptp(energy) + 1e-6) * 1.5, 0, 1)
        expr = np.zeros((W, NUM_CHANNELS), np.float32)
        expr[:, ARKIT_INDEX["jawOpen"]] = 0.6 * loud
        expr[:, ARKIT_INDEX["eyeBlinkLeft"]] = expr[:, ARKIT_INDEX["eyeBlinkRight"]] = rng.random(W) < 0.05
        if brow_style and (k // 2) % 2:
            expr[:, ARKIT_INDEX["browInnerUp"]] = 0.8
        phones = np.full(W, LABELS.index("SIL"), np.int8)
        phones[loud > 0.5] = LABELS.index("AA")
        phones[(loud > 0.05) & (loud < 0.2)] = LABELS.index("M")
        expr[phones == LABELS.index("M"), ARKIT_INDEX["mouthClose"]] = expr[phones == LABELS.index("M"),
                                                                           ARKIT_INDEX["jawOpen"]]
        offsets = (lm.positions_m(expr) - lm.neutral_m) * 1000.0
        ja = np.zeros((W, 25, 3), np.float32)
        ja[:, 15, 0] = 0.05 * np.sin(np.arange(W) / 9.0 + k)
        arrays = {"audio": (seg * 32767).astype(np.int16), "mel": mel, "expression": expr, "joint_angles": ja,
                  "root_translation": np.zeros((W, 3)), "lip_offsets_mm": offsets, "phones": phones,
                  "emotion": np.eye(len(EMOTIONS), dtype=np.float32)[k % 2], "mask": np.ones(W, bool),
                  "has": np.ones(5, bool)}
        split = "val" if k % 4 == 3 else "train"
        w = ShardWriter(root, f"{split}-{k:05d}", spec)
        w.add(Window(arrays=arrays, row=k, item=f"demo#{k}", start_s=k * hop / spec.sample_rate, split=split))
        w.close()
        rows.append({"row": k, "item": f"demo#{k}", "split": split})
    write_corpus_json(root, spec, teacher="test")
    write_manifest(root, rows)
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def lips_ckpt(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("ck") / "lips.pt"
    losses = []
    train(TrainConfig(kind="lips", steps=30, batch_size=4, lr=5e-3, warmup_steps=5, seed=0, val_every=15, threads=1),
          data=corpus, out=out,
          lip_config=TINY_LIPS, progress=lambda s, t, parts: losses.append(parts["loss"]))
    return out, losses


@pytest.fixture(scope="module")
def face_ckpt(corpus, lips_ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("ck") / "face.pt"
    losses = []
    train(TrainConfig(kind="face", steps=30, batch_size=4, lr=1e-2, warmup_steps=5, seed=0, val_every=30, threads=1),
          data=corpus, out=out,
          lips_checkpoint=str(lips_ckpt[0]), face_config=TINY_FACE,
          progress=lambda s, t, parts: losses.append(parts["loss"]))
    return out, losses


# ---- features and the encoder ----------------------------------------------------------------------------
def test_normalisation_is_causal_and_chunkable():
    rng = np.random.default_rng(0)
    mel = rng.normal(-5, 2, (1500, 80))                 # 12.5 s at 120 Hz: six time constants
    mean, std = np.full(80, -5.0), np.full(80, 2.0)
    whole, _ = normalize_mel(mel, mean=mean, std=std, feature_fps=120, tau_s=2.0)
    a, state = normalize_mel(mel[:700], mean=mean, std=std, feature_fps=120, tau_s=2.0)
    b, _ = normalize_mel(mel[700:], mean=mean, std=std, feature_fps=120, tau_s=2.0, state=state)
    np.testing.assert_allclose(np.concatenate([a, b]), whole, atol=1e-5)
    louder, _ = normalize_mel(mel + 3.0, mean=mean, std=std, feature_fps=120, tau_s=2.0)   # +13 dB of gain
    assert np.abs(louder[-120:] - whole[-120:]).max() < 0.05     # removed after a few time constants


def test_encoder_look_ahead_is_what_the_docstring_says():
    cfg = EncoderConfig(channels=8, dilations=(1, 2), lookahead_feature_frames=10, dropout=0.0)
    assert cfg.lookahead_s == pytest.approx(10 / 120 + 256 / 16000) and cfg.lookahead_s <= 0.100
    enc = AudioEncoder(cfg).eval()
    x = torch.randn(1, 4 * 40, 80)
    i = 20                                            # clip frame 20 = feature frame 80
    with torch.no_grad():
        base = enc(x)
        y = x.clone()
        y[:, 4 * i + 10 + 1:] += 5.0                  # beyond the look-ahead of frame i
        assert torch.equal(enc(y)[:, :i + 1], base[:, :i + 1])
        y = x.clone()
        y[:, 4 * i + 10] += 5.0                       # the last frame frame i may hear
        assert not torch.allclose(enc(y)[:, i], base[:, i])


# ---- training -------------------------------------------------------------------------------------------
def test_lips_loss_falls_and_validation_is_recorded(lips_ckpt):
    out, losses = lips_ckpt
    assert np.mean(losses[-5:]) < 0.75 * np.mean(losses[:5])
    ck = load_checkpoint(out)
    assert ck.info["step"] == 30 and ck.info["kind"] == "lips" and 0.1 <= ck.info["closed_threshold"] <= 0.9
    assert ck.info["val"]["lve_mm"] > 0 and ck.training["step"] == 30
    assert ck.info["corpus_manifest_sha256"] and len(ck.info["corpus_manifest_sha256"]) == 64


def test_face_diffusion_loss_falls(face_ckpt):
    out, losses = face_ckpt
    assert load_checkpoint(out).info["val"]["val_loss"] < 0.85 * np.mean(losses[:5])


def test_training_is_deterministic_per_seed(corpus, tmp_path):
    def run(seed, name):
        cfg = TrainConfig(kind="lips", steps=3, batch_size=4, warmup_steps=1, seed=seed, threads=1)
        train(cfg, data=corpus, out=tmp_path / name, lip_config=TINY_LIPS)
        return load_checkpoint(tmp_path / name).lips.state_dict()

    a, b, c = run(1, "a.pt"), run(1, "b.pt"), run(2, "c.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_resume_continues_the_same_run(corpus, tmp_path):
    cfg = TrainConfig(kind="lips", steps=6, batch_size=4, warmup_steps=1, seed=3, schedule_steps=6, threads=1)
    train(cfg, data=corpus, out=tmp_path / "full.pt", lip_config=TINY_LIPS)
    train(dataclasses.replace(cfg, steps=3), data=corpus, out=tmp_path / "half.pt", lip_config=TINY_LIPS)
    train(cfg, data=corpus, out=tmp_path / "half.pt", lip_config=TINY_LIPS, resume=True)
    a, b = load_checkpoint(tmp_path / "full.pt"), load_checkpoint(tmp_path / "half.pt")
    assert b.info["step"] == 6
    for k, v in a.lips.state_dict().items():
        torch.testing.assert_close(v, b.lips.state_dict()[k], atol=1e-5, rtol=1e-4)


def test_bad_data_and_outputs_are_refused(tmp_path, lips_ckpt):
    silent = make_corpus(tmp_path / "silent", silent=True)
    with pytest.raises(ConfigError, match="silent"):
        train(TrainConfig(steps=1), data=silent, out=tmp_path / "x.pt", lip_config=TINY_LIPS)
    from engine.learned.paths import DEFAULT_CHECKPOINT

    with pytest.raises(ConfigError, match="never overwrites"):
        train(TrainConfig(steps=1), data=silent, out=DEFAULT_CHECKPOINT, init="default")
    with pytest.raises(ConfigError, match="--lips"):
        train(TrainConfig(kind="face", steps=1), data=make_corpus(tmp_path / "c"), out=tmp_path / "y.pt")


# ---- checkpoints ----------------------------------------------------------------------------------------
def test_checkpoint_rebuilds_from_the_file_alone(face_ckpt, tmp_path):
    ck = load_checkpoint(face_ckpt[0])
    assert ck.lips.config.encoder == TINY_ENCODER and ck.face.config.sampling_steps == 4
    mel = log_mel(load_audio(SPEECH).samples[:32000], sr=16000, fps=120, n_frames=240)
    a = ck.model().run(mel, emotion_vector({}), seed=0)
    b = load_checkpoint(face_ckpt[0]).model().run(mel, emotion_vector({}), seed=0)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    # the float16 shipping copy: a few times smaller, same outputs to float16 precision
    from engine.training.train_face import export

    small = export(face_ckpt[0], tmp_path / "ship.pt", card={"note": "test"})
    assert small.stat().st_size < 0.5 * face_ckpt[0].stat().st_size
    c = load_checkpoint(small)
    assert c.training is None and c.info["note"] == "test"
    d = c.model().run(mel, emotion_vector({}), seed=0)
    assert np.abs(d["expression"] - a["expression"]).max() < 0.02


def test_missing_or_foreign_weights_say_how_to_build_them(tmp_path, face_ckpt):
    with pytest.raises(ConfigError, match="parley train"):
        load_checkpoint(tmp_path / "none.pt")
    body = torch.load(face_ckpt[0], weights_only=True)
    body["schema_version"] = 99
    torch.save(body, tmp_path / "future.pt")
    with pytest.raises(ConfigError, match="schema 99.*parley train"):
        load_checkpoint(tmp_path / "future.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a neural-face checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    ck = load_checkpoint(face_ckpt[0])
    save_checkpoint(tmp_path / "lips_only.pt", lips=ck.lips)
    with pytest.raises(ConfigError, match="face diffusion"):
        load_checkpoint(tmp_path / "lips_only.pt", require_face=True)


# ---- diffusion and the animator --------------------------------------------------------------------------
def test_seeds_change_the_upper_face_but_not_the_mouth(face_ckpt):
    net = load_checkpoint(face_ckpt[0]).model()
    mel = log_mel(load_audio(SPEECH).samples[:48000], sr=16000, fps=120, n_frames=360)
    a = net.run(mel, emotion_vector({}), seed=0)
    b = net.run(mel, emotion_vector({}), seed=1)
    c = net.run(mel, emotion_vector({}), seed=0)
    np.testing.assert_array_equal(a["upper"], c["upper"])                 # same seed, same take
    assert np.abs(a["upper"] - b["upper"]).mean() > 1e-3                  # other seed, other blinks/brows
    assert np.abs(a["head_sampled_rad"] - b["head_sampled_rad"]).mean() > 1e-5
    np.testing.assert_array_equal(a["expression"][:, MOUTH_INDEX], b["expression"][:, MOUTH_INDEX])
    np.testing.assert_array_equal(a["lip_offsets_mm"], b["lip_offsets_mm"])


def test_contact_closes_the_lips_where_the_closed_head_fires():
    from engine.animators.neural.contact import ContactConfig, enforce_contact

    lm = _lip_model()
    T = 6
    x = np.zeros((T, NUM_CHANNELS), np.float32)
    x[:, ARKIT_INDEX["jawOpen"]] = 0.3                                    # an open mouth (about 9 mm)
    off = (lm.positions_m(x) - lm.neutral_m) * 1000.0
    p = np.array([0.0, 0.2, 0.5, 0.8, 0.95, 1.0])
    gap = lambda o: lm.inner_lip_gap_m(lm.neutral_m + o / 1000.0) * 1000.0   # noqa: E731
    assert gap(off).min() > 5.0
    cfg = ContactConfig(target_gap_mm=-0.5, ramp=0.1)
    x2, off2 = enforce_contact(x, off, p, threshold=0.5, config=cfg, lip_model=lm)
    g = gap(off2)
    assert np.all(g[3:] <= -0.5 + 1e-3) and np.all(g[:2] > 5.0)          # closed where it fires, open elsewhere
    np.testing.assert_allclose(gap((lm.positions_m(x2) - lm.neutral_m) * 1000.0), g, atol=1e-3)   # weights agree
    assert np.all(x2[3:, ARKIT_INDEX["mouthClose"]] > 0.2) and np.all(x2[3:, ARKIT_INDEX["mouthPressLeft"]] > 0.2)


@pytest.fixture()
def neural_weights(face_ckpt, monkeypatch):
    monkeypatch.setenv("PARLEY_NEURAL_CHECKPOINT", str(face_ckpt[0]))
    return face_ckpt[0]


def test_the_neural_animator_passes_the_animator_contract(neural_weights, tmp_path):
    import tests.test_animator_contract as contract
    from engine.animators.registry import ANIMATORS

    speech = load_audio(SPEECH)
    import soundfile as sf

    sf.write(tmp_path / "silence.wav", np.zeros(32000, np.float32), 16000)
    silence = load_audio(tmp_path / "silence.wav")
    contract.test_shapes_ranges_and_duration("neural", speech)
    contract.test_determinism_and_seeds("neural", speech)
    contract.test_meta_records_the_animator_and_its_config("neural", speech)
    contract.test_idle_clip_on_silence("neural", silence)
    contract.test_progress_between_stages_and_cancel("neural", speech)
    from engine.animators.base import AnimateRequest

    clip = ANIMATORS.create("neural").animate(speech, AnimateRequest(seed=0, emotion=(("joy", 0.8),)))
    assert clip.meta["checkpoint"]["sha256"] == load_checkpoint(neural_weights).sha256
    assert clip.lip_vertices.shape[1] == _lip_model().num_vertices
    ck = ANIMATORS.create("neural", checkpoint=str(neural_weights))
    assert ck.checkpoint()["id"].startswith("neural-face-")


def test_emotion_vector_follows_the_blending_rule():
    v = emotion_vector({"joy": 0.5})
    assert v[EMOTIONS.index("joy")] == pytest.approx(0.5) and v[EMOTIONS.index("neutral")] == pytest.approx(0.5)
    v = emotion_vector({"joy": 1.0, "anger": 1.0})
    assert v.sum() == pytest.approx(1.0) and v[0] == 0


def test_cli_trains_and_refuses(corpus, tmp_path, capsys):
    from engine import cli

    out = tmp_path / "cli.pt"
    assert cli.main(["train", "lips", "--data", str(corpus), "--out", str(out), "--steps", "2",
                     "--batch-size", "4", "--threads", "1"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["step"] == 2
    assert cli.main(["train", "lips", "--data", str(corpus), "--out", str(out)]) == 2    # no budget
    assert "budget" in capsys.readouterr().err
    more = tmp_path / "more.pt"                  # another corpus's train split: twice the windows here
    assert cli.main(["train", "lips", "--data", str(corpus), "--more-data", str(corpus), "--out", str(more),
                     "--steps", "1", "--batch-size", "4", "--threads", "1"]) == 0
    info = load_checkpoint(more).info
    assert info["extra_corpora"] == [{"corpus": corpus.name, "corpus_manifest_sha256": info["corpus_manifest_sha256"]}]
    for kind in ("body", "export"):
        assert cli.main(["train", kind, "--data", str(corpus), "--more-data", str(corpus), "--init", str(out),
                         "--out", str(tmp_path / "x.pt"), "--steps", "1"]) == 2
        assert "--more-data is for lips, face and phones" in capsys.readouterr().err


def test_voice_warp_moves_formants_and_crops_keep_frames_aligned():
    from engine.training.data import warp_mel
    from engine.training.train_face import crop_batch

    mel = np.zeros((2, 4, 80), np.float32)
    mel[:, :, 40] = 1.0                                     # one formant at bin 40
    w = warp_mel(mel, np.array([1.0, 1.1]))
    assert np.argmax(w[0, 0]) == 40 and np.argmax(w[1, 0]) == 44     # a shorter vocal tract: formants move up
    b = {"mel": torch.arange(4 * 10).float().view(1, 40, 1), "mask": torch.ones(1, 10),
         "phones_like": torch.arange(10).float().view(1, 10), "emotion": torch.ones(1, 7)}
    c = crop_batch(b, 4, 4, np.random.default_rng(0))
    start = int(c["phones_like"][0, 0])
    assert c["mel"].shape[1] == 16 and int(c["mel"][0, 0, 0]) == 4 * start     # feature frame 4i <-> clip frame i
    assert c["emotion"].shape == (1, 7)
