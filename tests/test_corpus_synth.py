"""Synthetic corpus speech: the sentence generator covers every phone, the synthesisers' phone times fit
their audio, splits hold one voice out, and augmentation keeps audio and labels on one clock."""
import json

import numpy as np
import pytest

from engine.training.corpus import augment
from engine.training.corpus.build import BuildConfig, build_corpus
from engine.training.corpus.shards import Corpus, read_manifest
from engine.training.corpus.synth import (TEST_VOICE, SynthError, Voice, available_voices, fit_phones,
                                          synthesize, synthetic_items)
from engine.training.corpus.textgen import KINDS, coverage, generate, sentence_phones
from rigs.core.phones import ARPABET, SIL

SR = 16000


def test_sentences_cover_all_39_phones_and_every_kind_and_are_seeded():
    a = generate(30, seed=3)
    assert [s.text for s in a] == [s.text for s in generate(30, seed=3)]
    assert [s.text for s in a] != [s.text for s in generate(30, seed=4)]
    cov = coverage(a)
    assert set(cov) == set(ARPABET) and min(cov.values()) >= 1, [p for p, n in cov.items() if n == 0]
    assert {s.kind for s in a} == set(KINDS)
    assert any(s.text.endswith("?") for s in a) and any(s.text.endswith("!") for s in a)
    assert len({s.text for s in a}) == len(a)


def _voices_of(engine):
    return [v for v in available_voices() if v.engine == engine]


@pytest.mark.parametrize("engine", ["espeak-ng", "festival", "flite"])
def test_synthesiser_phones_cover_the_audio_and_say_the_sentence(engine):
    voices = _voices_of(engine)
    if not voices:
        pytest.skip(f"{engine} is not installed")
    voice = voices[0]
    item = synthetic_items(3.0, seed=0, voices=[voice])[0]
    audio, phones = synthesize(item, sr=SR)
    assert audio.sr == SR and audio.duration_s > 0.8
    assert phones[0].start_s == 0.0 and abs(phones[-1].end_s - audio.duration_s) < 1e-6
    assert all(abs(a.end_s - b.start_s) < 1e-9 for a, b in zip(phones, phones[1:]))
    said = [p.label for p in phones if p.label != SIL]
    want = list(sentence_phones(item.text))
    # the synthesiser's own lexicon and letter-to-sound differ a little from CMUdict's first pronunciation
    common = sum(min(said.count(p), want.count(p)) for p in set(want))
    assert common >= 0.7 * len(want), (item.text, said, want)
    # speech fills the audio: the last speech phone ends within 0.5 s of the end
    assert audio.duration_s - max(p.end_s for p in phones if p.label != SIL) < 0.5


def test_fit_phones_cuts_trailing_silence_and_refuses_speech_past_the_audio():
    got = fit_phones([(0.2, SIL), (0.5, "AA"), (0.9, SIL)], 0.6)
    assert [(p.label, p.end_s) for p in got] == [(SIL, 0.2), ("AA", 0.5), (SIL, 0.6)]
    got = fit_phones([(0.2, SIL), (0.5, "AA")], 0.8)
    assert got[-1].label == SIL and got[-1].end_s == 0.8
    with pytest.raises(SynthError):
        fit_phones([(0.2, SIL), (0.9, "AA")], 0.6)       # 0.3 s of speech past the end of the audio


def test_synthetic_splits_hold_one_voice_out_and_items_do_not_depend_on_the_budget():
    voices = [Voice("espeak-ng:en-us", "espeak-ng", "en-us"), Voice(TEST_VOICE, "flite", "rms")]
    small = synthetic_items(60.0, seed=1, voices=voices)
    big = synthetic_items(600.0, seed=1, voices=voices)
    assert [i.as_dict() for i in small] == [i.as_dict() for i in big[:len(small)]]
    assert all((i.split == "test") == (i.voice == TEST_VOICE) for i in big)
    others = [i for i in big if i.voice != TEST_VOICE]
    val = sum(i.split == "val" for i in others) / len(others)
    assert 0.0 < val < 0.15


def _bursts(duration_s=3.0, at=(0.5, 1.4, 2.3)):
    t = np.arange(int(duration_s * SR)) / SR
    y = np.zeros(t.size, np.float32)
    for c in at:
        m = (t >= c) & (t < c + 0.15)
        y[m] = (0.5 * np.sin(2 * np.pi * 180 * t[m]) + 0.3 * np.sin(2 * np.pi * 900 * t[m])) * np.hanning(m.sum())
    return y, [c + 0.075 for c in at]


def _centroids_s(y, centres, scale=1.0):
    e = y.astype(np.float64) ** 2
    out = []
    for c in centres:
        a, b = int((c / scale - 0.25) * SR), int((c / scale + 0.25) * SR)
        out.append(float((np.arange(a, b) * e[a:b]).sum() / e[a:b].sum() / SR))
    return np.array(out)


@pytest.mark.parametrize("op", [
    {"op": "pitch", "semitones": 2.5}, {"op": "formant", "alpha": 1.1}, {"op": "eq", "kind": "telephone",
    "cutoff_hz": 4000}, {"op": "eq", "kind": "laptop", "cutoff_hz": 4000}, {"op": "reverb", "rt60_s": 0.4,
    "drr_db": 6.0}, {"op": "noise", "kind": "pink", "snr_db": 20.0}, {"op": "level", "gain_db": -6.0},
    {"op": "codec", "format": "mp3", "codec": "libmp3lame", "bitrate": "32k"},
    {"op": "codec", "format": "opus", "codec": "libopus", "bitrate": "16k"}], ids=lambda op: op["op"] +
    str(op.get("kind", op.get("codec", ""))))
def test_length_keeping_augmentations_keep_events_in_place(op):
    y, centres = _bursts()
    z = augment.apply_chain(y, [op], sr=SR, seed=0)
    assert z.size == y.size and np.all(np.isfinite(z)) and np.abs(z).max() <= augment.PEAK + 1e-6
    tol_s = {"pitch": 0.025, "reverb": 0.02}.get(op["op"], 0.003)   # a reverb tail moves energy later
    assert np.all(np.abs(_centroids_s(z, centres) - centres) < tol_s)


def test_tempo_moves_events_and_phones_by_the_same_factor():
    from rigs.core.phones import Phone

    y, centres = _bursts()
    phones = [Phone(0.0, c, "AA") for c in centres] + [Phone(centres[-1], 3.0, SIL)]
    for rate in (0.87, 1.12):
        z, ph = augment.time_stretch(y, phones, rate=rate, sr=SR)
        assert z.size == round(y.size / rate)
        assert ph[-1].end_s == pytest.approx(z.size / SR)
        got = _centroids_s(z, centres, scale=rate)
        assert np.all(np.abs(got - np.array(centres) / rate) < 0.02)         # events moved ...
        assert np.allclose([p.end_s for p in ph[:3]], np.array(centres) / rate)  # ... and the phones with them


def test_augmented_rows_keep_labels_and_audio_the_same_length(tmp_path):
    if not _voices_of("espeak-ng"):
        pytest.skip("espeak-ng is not installed")
    out = tmp_path / "aug"
    summary = build_corpus(out, BuildConfig(minutes=0.1, seed=2, sources=("synthetic",), augment=3))
    rows = read_manifest(out)
    assert summary["skipped"] == 0 and len(rows) % 4 == 0
    corpus = Corpus(out)
    frames: dict = {}
    for k in range(len(corpus)):
        w = corpus.window(k, keys=("mask",))
        frames[w["info"]["row"]] = frames.get(w["info"]["row"], 0) + int(w["mask"].sum())
    clean = {r["id"].split("#")[0]: r for r in rows if r["augment_index"] == 0}
    assert any(op["op"] == "tempo" for r in rows for op in r["augment"]), json.dumps([r["augment"] for r in rows])
    for r in rows:
        assert frames[r["row"]] == r["frames"]
        assert abs(r["frames"] - r["duration_s"] * corpus.spec.fps) <= 1.0
        base = clean[r["id"].split("#")[0]]
        rate = augment.tempo_of(r["augment"])
        assert abs(r["duration_s"] - base["duration_s"] / rate) < 1.0 / corpus.spec.fps


def test_espeak_stop_closures_go_to_the_stop():
    from engine.training.corpus.synth import stop_closures

    sr = 22050
    t = np.arange(int(0.6 * sr)) / sr
    x = 8000 * np.sin(2 * np.pi * 150 * t)
    x[(t >= 0.30) & (t < 0.35)] = 3.0                    # a 50 ms closure, 68 dB below the vowel
    segs = [(0.35, "AA"), (0.45, "P"), (0.6, "AA")]       # espeak's times: the P from its release
    got = stop_closures(segs, x, sr)
    assert got[0][0] == pytest.approx(0.30, abs=0.003) and got[1:] == segs[1:]
    assert stop_closures([(0.35, "AA"), (0.45, "M"), (0.6, "AA")], x, sr)[0][0] == 0.35   # not a stop
    loud = 8000 * np.sin(2 * np.pi * 150 * t)
    assert stop_closures(segs, loud, sr) == segs                                          # no closure heard


def test_timing_crosscheck_measures_start_differences_of_matched_phones():
    from engine.training.corpus.crosscheck import compare
    from rigs.core.phones import Phone

    synth = [Phone(0.0, 0.1, SIL), Phone(0.1, 0.2, "HH"), Phone(0.2, 0.35, "AH"), Phone(0.35, 0.5, "L")]
    aligned = [Phone(0.0, 0.12, SIL), Phone(0.12, 0.21, "HH"), Phone(0.21, 0.3, "EH"), Phone(0.3, 0.5, "L")]
    d = compare(synth, aligned)
    assert sorted(np.round(d * 1000).astype(int).tolist()) == [20, 50]     # HH 20 ms, L 50 ms; AH/EH unmatched
