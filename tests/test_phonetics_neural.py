"""Parley's own phone model in the phonetic engine: the numpy network against its torch twin, the Viterbi
searches on made-up posteriors (where the right answer is known), the trainer on a tiny corpus, and phone
timing with the shipped weights on real speech (word alignment, the phone loop, the TH guard, a transcript that
does not fit)."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from engine.audio.load import Audio, load_audio
from engine.learned.phone_net import PhoneNet, PhoneNetConfig, shipped_weights_present
from engine.phonetics import PhoneticsConfig, phone_timing
from engine.phonetics.config import AlignmentMismatch
from engine.phonetics.neural import chain, phone_loop, viterbi_chain
from engine.training.train_phones import PhoneData, PhoneNetTorch, PhoneTrainConfig, export, torch_twin, train
from rigs.core.errors import ConfigError
from tests.test_phonetics import JFK, _contiguous
from rigs.core.phones import LABELS

K = len(LABELS)
SIL = LABELS.index("SIL")
TINY = PhoneNetConfig(channels=16, dilations=(1, 2))
NEURAL = PhoneticsConfig(acoustic="neural")
needs_weights = pytest.mark.skipif(not shipped_weights_present(), reason="no shipped phone model")


def _random_net(config: PhoneNetConfig = TINY, seed: int = 0) -> PhoneNet:
    torch.manual_seed(seed)
    m = PhoneNetTorch(config, dropout=0.0)
    for p in m.parameters():                       # LayerNorm gains away from 1 so the test sees them
        torch.nn.init.normal_(p, std=0.3)
    w = {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}
    return PhoneNet(config, w, np.zeros(config.n_mels, np.float32), np.ones(config.n_mels, np.float32),
                    np.full(K, -np.log(K), np.float32), np.full((K, K), -np.log(K), np.float32))


def _emissions(segments: list[tuple[int, int]], noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """(T, K) log-posteriors that favour class c for n frames, segment after segment."""
    rng = np.random.default_rng(seed)
    rows = []
    for c, n in segments:
        e = np.full((n, K), -6.0) + noise * rng.normal(size=(n, K))
        e[:, c] = -0.05
        rows.append(e)
    return np.concatenate(rows)


# ---- the network -------------------------------------------------------------------------------------


def test_numpy_forward_matches_torch_and_chunking_is_exact():
    net = _random_net()
    x = np.random.default_rng(1).normal(size=(700, TINY.n_mels)).astype(np.float32)
    ours = net.logits(x)
    theirs = torch_twin(net)(torch.from_numpy(x)[None])[0].detach().numpy()
    assert ours.shape == (350, K)
    np.testing.assert_allclose(ours, theirs, atol=2e-4)
    np.testing.assert_allclose(net.logits(x, chunk_frames=40), ours, atol=1e-5)
    lp = net.log_posteriors(x)
    np.testing.assert_allclose(np.exp(lp).sum(1), 1.0, atol=1e-5)


def test_weights_file_round_trip_and_bad_files(tmp_path):
    net = _random_net()
    p = net.save(tmp_path / "p.npz", half=False)
    back = PhoneNet.load(p)
    assert back.config == net.config
    x = np.random.default_rng(2).normal(size=(100, TINY.n_mels)).astype(np.float32)
    np.testing.assert_allclose(back.logits(x), net.logits(x), atol=1e-5)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="not a phone model"):
        PhoneNet.load(tmp_path / "junk.npz")
    with pytest.raises(ConfigError, match="does not exist"):
        PhoneNet.load(tmp_path / "missing.npz")


# ---- the searches ------------------------------------------------------------------------------------


def test_phone_loop_recovers_segments_and_respects_the_minimum_duration():
    P, AA, M = LABELS.index("P"), LABELS.index("AA"), LABELS.index("M")
    truth = [(SIL, 10), (P, 3), (AA, 12), (M, 4), (AA, 9), (SIL, 6)]
    emit = _emissions(truth, noise=0.5)
    flat = np.zeros((K, K))
    segs, score = phone_loop(emit, flat, min_frames=2, lm_weight=0.0, insertion_penalty=-1.0)
    assert [(c, b - a) for c, a, b in segs] == truth
    assert segs[0][1] == 0 and segs[-1][2] == len(emit)
    assert score == pytest.approx(sum(emit[a:b, c].sum() for c, a, b in segs))
    # a one-frame blip cannot become a phone when phones last at least two frames
    blip = _emissions([(AA, 8), (M, 1), (AA, 8)])
    blip[8, AA] = -1.0                                   # the blip frame is M, but AA is not far off
    segs, _ = phone_loop(blip, flat, min_frames=2, lm_weight=0.0, insertion_penalty=0.0)
    assert [c for c, _, _ in segs] == [AA]
    segs, _ = phone_loop(blip, flat, min_frames=1, lm_weight=0.0, insertion_penalty=0.0)
    assert [c for c, _, _ in segs] == [AA, M, AA]


def test_phone_loop_bigram_decides_between_equal_evidence():
    """Where the audio cannot tell two phones apart, the bigram picks the likelier successor."""
    B, D, IY = LABELS.index("B"), LABELS.index("D"), LABELS.index("IY")
    emit = _emissions([(SIL, 5), (B, 4), (IY, 8)])
    emit[5:9, D] = emit[5:9, B]                                  # B and D equally likely there
    big = np.full((K, K), np.log(0.5 / K))
    big[SIL, D], big[SIL, B] = np.log(0.3), np.log(0.01)
    segs, _ = phone_loop(emit, big, min_frames=2, lm_weight=1.0, insertion_penalty=0.0)
    assert [c for c, _, _ in segs] == [SIL, D, IY]


def test_forced_alignment_finds_boundaries_and_skips_optional_silence():
    M, AA, P = LABELS.index("M"), LABELS.index("AA"), LABELS.index("P")
    emit = _emissions([(SIL, 7), (M, 4), (AA, 10), (P, 3), (AA, 6)], noise=0.3)
    labels = [SIL, M, AA, SIL, P, AA, SIL]              # optional silences around and between two words
    optional = [True, False, False, True, False, False, True]
    g = chain(labels, optional, min_frames=2)
    path, score = viterbi_chain(emit, g)
    phone = path // 2
    runs = [(labels[phone[i]], int(np.sum(phone == phone[i]))) for i in np.flatnonzero(np.r_[True, np.diff(phone) != 0])]
    assert runs == [(SIL, 7), (M, 4), (AA, 10), (P, 3), (AA, 6)]    # the middle and final silences skipped
    assert np.all(np.diff(path) >= 0)
    assert score == pytest.approx(sum(emit[t, g["cls"][s]] for t, s in enumerate(path)))


def test_forced_alignment_with_more_phones_than_frames_is_a_mismatch():
    g = chain([LABELS.index("AA")] * 10, [False] * 10, min_frames=2)
    with pytest.raises(AlignmentMismatch):
        viterbi_chain(_emissions([(LABELS.index("AA"), 12)]), g)


# ---- the trainer ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    from tests.test_neural import make_corpus

    return make_corpus(tmp_path_factory.mktemp("phones_corpus"))


def test_trainer_learns_resumes_and_exports(tiny_corpus, tmp_path):
    cfg = PhoneTrainConfig(steps=24, batch_size=4, lr=5e-3, warmup_steps=4, val_every=12, threads=1, seed=0,
                           schedule_steps=24)
    losses = []
    info = train(cfg, data=tiny_corpus, out=tmp_path / "p.pt", net_config=TINY,
                 progress=lambda s, t, parts: losses.append(parts["loss"]))
    assert info["step"] == 24 and np.mean(losses[-5:]) < np.mean(losses[:5])
    assert info["val"]["frame_accuracy"] > 0.5        # the toy labels follow loudness: learnable
    ck = torch.load(tmp_path / "p.pt", weights_only=False)
    assert ck["train_config"]["steps"] == 24 and ck["net_config"]["channels"] == 16 and len(ck["history"]) == 2
    # resume: 12 steps, then 12 more, equals 24 in one go
    train(PhoneTrainConfig(**{**cfg.__dict__, "steps": 12}), data=tiny_corpus, out=tmp_path / "h.pt", net_config=TINY)
    train(cfg, data=tiny_corpus, out=tmp_path / "h.pt", resume=True)
    a, b = torch.load(tmp_path / "h.pt", weights_only=False), ck
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k])
    out = export(tmp_path / "p.pt", tmp_path / "p.npz", data=tiny_corpus, card={"note": "test"})
    net = PhoneNet.load(out)
    assert net.info["note"] == "test" and net.info["step"] == 24
    assert np.isclose(np.exp(net.log_prior).sum(), 1.0, atol=1e-3)
    assert np.allclose(np.exp(net.log_bigram[SIL]).sum(), 1.0, atol=1e-3)


def test_trainer_refuses_a_corpus_without_phones_and_no_budget(tiny_corpus, tmp_path):
    with pytest.raises(ConfigError, match="budget"):
        train(PhoneTrainConfig(), data=tiny_corpus, out=tmp_path / "x.pt", net_config=TINY)
    with pytest.raises(ConfigError, match="does not exist"):
        train(PhoneTrainConfig(steps=1), data=tiny_corpus, out=tmp_path / "x.pt", resume=True)


def test_acoustic_setting_is_checked():
    with pytest.raises(ConfigError, match="acoustic"):
        PhoneticsConfig(acoustic="kaldi")
    with pytest.raises(ConfigError, match="neural_min_frames"):
        PhoneticsConfig(neural_min_frames=0)


# ---- with the shipped weights on real speech -------------------------------------------------------------

@needs_weights
def test_neural_recognition_of_jfk_finds_its_bilabials_and_no_stray_dentals(data_dir):
    """No transcript: the phone loop over the model's posteriors. JFK's bilabials (my, Americans, ...)
    come back near their aligned times, and TH/DH appear only where the audio fricates."""
    a = load_audio(data_dir / "speech" / "jfk.flac")
    ref = phone_timing(a, transcript=JFK, config=NEURAL)
    ph = phone_timing(a, config=NEURAL)
    _contiguous(ph, a.duration_s)
    assert all(p.word is None for p in ph) and min(p.duration_s for p in ph) >= 0.03 - 1e-9
    bil = [p for p in ref if p.label in ("P", "B", "M")]
    found = sum(any(q.label in ("P", "B", "M") and q.start_s < p.end_s + 0.03 and q.end_s > p.start_s - 0.03
                    for q in ph) for p in bil)
    assert found >= 0.7 * len(bil), (found, len(bil))
    dental = sum(p.duration_s for p in ph if p.label in ("TH", "DH"))
    assert dental < 0.05 * a.duration_s


@needs_weights
def test_neural_mismatched_transcript_falls_back(data_dir, caplog):
    a = load_audio(data_dir / "speech" / "jfk.flac")
    with caplog.at_level(logging.WARNING, logger="engine.phonetics"):
        ph = phone_timing(a, transcript="one two three", config=NEURAL)
    assert any("does not match" in r.getMessage() for r in caplog.records)
    _contiguous(ph, a.duration_s)
    assert all(p.word is None for p in ph)


@needs_weights
def test_neural_silence_and_missing_weights(tmp_path, monkeypatch):
    a = Audio(samples=np.zeros(16000, np.float32), sr=16000, duration_s=1.0, source_name="z",
              source_sha256="0" * 64, original_sr=16000, channels=1)
    ph = phone_timing(a, config=NEURAL)
    assert {p.label for p in ph} == {"SIL"}, ph
    from engine.phonetics import neural
    with pytest.raises(ConfigError, match="does not exist"):
        neural.load_net(str(tmp_path / "none.npz"))


def test_guard_keeps_dentals_out_without_frication():
    """The TH guard applies to the phone model's output too: a made-up recognition with TH over a pure tone
    (no energy above 3 kHz) loses it."""
    from engine.phonetics.recognize import plausible
    from rigs.core.phones import Phone

    sr = 16000
    t = np.arange(sr) / sr
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
    raw = [Phone(0.0, 0.3, "AA"), Phone(0.3, 0.5, "TH"), Phone(0.5, 1.0, "AA")]
    out = plausible(raw, tone, 1.0, PhoneticsConfig())
    assert not any(p.label in ("TH", "DH") for p in out)



def test_bilabials_the_model_hears_are_added_to_other_phones(monkeypatch):
    """Recognised phones without a bilabial where the phone model is sure of one get it (the words around it
    cut back); where the phones already close the lips nearby, or the model is unsure, nothing changes."""
    from engine.phonetics import neural
    from rigs.core.phones import Phone

    net = _random_net()
    assert net.config.output_fps == 60.0                          # frame k below is at k / 60 s
    T = 120                                                       # 2 s
    post = np.full((T, K), 1e-3)
    post[:, LABELS.index("AA")] = 1.0
    post[30:36, LABELS.index("M")] = 5.0                         # 0.50-0.60 s: a clear M
    post[90:96, LABELS.index("B")] = 5.0                         # 1.50-1.60 s: a B, but the phones have a P there
    post[60:61, LABELS.index("P")] = 5.0                         # one frame only: too short to count
    logpost = np.log(post / post.sum(1, keepdims=True))
    monkeypatch.setattr(neural, "log_posteriors", lambda audio, n: logpost)
    a = Audio(samples=np.zeros(32000, np.float32), sr=16000, duration_s=2.0, source_name="z",
              source_sha256="0" * 64, original_sr=16000, channels=1)
    phones = [Phone(0.0, 0.2, "SIL"), Phone(0.2, 0.8, "AA", 1, "ODD"), Phone(0.8, 1.48, "IY", 1, "WORD"),
              Phone(1.48, 1.56, "P", None, "WORD"), Phone(1.56, 2.0, "SIL")]
    out = neural.add_bilabials(phones, a, threshold=0.5, config=NEURAL, net=net)
    assert out[0].start_s == 0.0 and out[-1].end_s == pytest.approx(2.0)
    assert all(x.end_s == y.start_s for x, y in zip(out, out[1:]))
    m = [p for p in out if p.label == "M"]
    assert len(m) == 1 and m[0].start_s == pytest.approx(0.5) and m[0].end_s == pytest.approx(0.6)
    assert [p.label for p in out if p.start_s < 0.5 and p.end_s > 0.2] == ["AA"]    # the word is cut, not lost
    assert [p.label for p in out if p.label in ("P", "B", "M")] == ["M", "P"]      # no B next to the P, no 1-frame P
    assert neural.add_bilabials(phones, a, threshold=0.99, config=NEURAL, net=net) == phones


@needs_weights
def test_default_policy_aligns_with_the_model_and_recognises_words_plus_its_bilabials(data_dir, monkeypatch):
    """acoustic="auto" with the model shipped: a transcript is aligned by the phone model (recordings up to
    chunk_align_s), no transcript goes through PocketSphinx's words with the model's bilabials added; "sphinx"
    never calls the model."""
    from engine.phonetics import neural

    calls = []
    for name in ("align_neural", "recognize_neural", "add_bilabials"):
        real = getattr(neural, name)
        monkeypatch.setattr(neural, name, lambda *a, _n=name, _f=real, **k: calls.append(_n) or _f(*a, **k))
    a = load_audio(data_dir / "speech" / "jfk.flac")
    phone_timing(a, transcript=JFK)
    assert calls == ["align_neural"]
    ph = phone_timing(a)
    assert calls[1:] == ["add_bilabials"] and any(p.word for p in ph)          # words from PocketSphinx
    phone_timing(a, config=PhoneticsConfig(chunk_align_s=5.0), transcript=JFK)  # 11 s > 5 s: PocketSphinx
    assert calls[2:] == []
    calls.clear()
    phone_timing(a, config=PhoneticsConfig(acoustic="sphinx"))
    phone_timing(a, transcript=JFK, config=PhoneticsConfig(acoustic="sphinx"))
    assert calls == []
    phone_timing(a, config=NEURAL)
    assert calls == ["recognize_neural"]
    # --model words: the default without the added bilabials (the model still aligns transcripts)
    from engine.animators.phonetic.animator import PhoneticAnimator

    words = PhoneticAnimator.create(model="words").config.phonetics
    calls.clear()
    phone_timing(a, config=words)
    phone_timing(a, transcript=JFK, config=words)
    assert calls == ["align_neural"]


def test_trainer_adds_the_train_split_of_more_corpora(tiny_corpus, tmp_path, monkeypatch):
    cfg = PhoneTrainConfig(steps=2, batch_size=4, threads=1, seed=0, val_every=2)
    one, val = len(PhoneData(tiny_corpus, "train", TINY)), len(PhoneData(tiny_corpus, "val", TINY))
    seen = []
    orig = PhoneData.__init__

    def spy(self, corpus_dir, split, config):
        orig(self, corpus_dir, split, config)
        seen.append((split, len(self)))

    monkeypatch.setattr(PhoneData, "__init__", spy)
    train(cfg, data=tiny_corpus, out=tmp_path / "m.pt", extra_data=[tiny_corpus], net_config=TINY)
    assert seen == [("train", 2 * one), ("val", val)]             # validation on --data's val split only
    ck = torch.load(tmp_path / "m.pt", weights_only=False)
    assert ck["extra_corpora"][0]["corpus_manifest_sha256"] == ck["corpus_manifest_sha256"]
    with pytest.raises(ConfigError, match="extra corpora"):
        train(PhoneTrainConfig(steps=4, batch_size=4, threads=1), data=tiny_corpus, out=tmp_path / "m.pt",
              resume=True)
    net = PhoneNet.load(export(tmp_path / "m.pt", tmp_path / "m.npz", data=tiny_corpus, extra_data=[tiny_corpus]))
    assert net.info["extra_corpora"] == ck["extra_corpora"]
