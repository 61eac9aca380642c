"""`parley corpus build` on real speech: deterministic, resumable, bad input skipped and counted, the
benchmark's held-out utterances never in training."""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from engine.training.corpus.build import CHECKSUMS_FILE, BuildConfig, build_corpus
from engine.training.corpus.selection import HELD_OUT, corpus_selection
from engine.training.corpus.shards import MANIFEST_FILE, PHONE_INDEX, SHARDS_DIR, Corpus, read_manifest
from engine.training.corpus.sources import real_items

ARGS = ["--minutes", "0.3", "--seed", "0", "--sources", "real", "--shard-rows", "2"]


@pytest.fixture(scope="module")
def built(tmp_path_factory, data_dir):
    """The same small real-speech build twice: in one process, and with two worker processes."""
    dirs = [tmp_path_factory.mktemp(f"c{k}") / "corpus" for k in range(2)]
    assert main(["corpus", "build", "--out", str(dirs[0]), *ARGS]) == 0
    assert main(["corpus", "build", "--out", str(dirs[1]), *ARGS, "--jobs", "2"]) == 0
    return dirs


def test_build_is_deterministic_and_windows_match_the_manifest(built):
    a, b = built
    for name in (MANIFEST_FILE, CHECKSUMS_FILE):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    rows = read_manifest(a)
    assert rows and all(r["status"] == "ok" for r in rows)
    seconds = sum(r["duration_s"] for r in rows)
    assert 18.0 <= seconds <= 18.0 + 20.0            # 0.3 min asked; one utterance may overshoot
    corpus = Corpus(a)
    spec = corpus.spec
    assert len(corpus) == sum(r["windows"] for r in rows)
    # masked frames add up to each utterance's frames, i.e. its audio duration within a frame
    def tail(mask):          # the first sample after the last real frame's half-frame
        return int(np.ceil((mask.sum() + 0.5) * spec.sample_rate / spec.fps))

    real = {}
    for k in range(len(corpus)):
        w = corpus.window(k, keys=("mask", "phones", "audio", "lip_offsets_mm"))
        real[w["info"]["row"]] = real.get(w["info"]["row"], 0) + int(w["mask"].sum())
        assert np.all(w["phones"][~w["mask"]] == -1) and np.all(w["audio"][tail(w["mask"]):] == 0)
    for r in rows:
        assert abs(real[r["row"]] - r["duration_s"] * spec.fps) <= 1.0
    # labels are speech: phones other than silence, lips moving by millimetres
    w = corpus.window(0)
    assert np.mean((w["phones"] >= 0) & (w["phones"] != PHONE_INDEX["SIL"])) > 0.3
    assert 2.0 < float(np.abs(w["lip_offsets_mm"]).max()) < 40.0


def test_a_different_seed_gives_a_different_corpus(built, tmp_path):
    out = tmp_path / "other"
    assert main(["corpus", "build", "--out", str(out), *ARGS[:2], "--seed", "1", *ARGS[4:]]) == 0
    assert (out / CHECKSUMS_FILE).read_bytes() != (built[0] / CHECKSUMS_FILE).read_bytes()


def test_an_interrupted_build_resumes_to_the_same_corpus(built, tmp_path):
    out = tmp_path / "resumed"
    config = BuildConfig(minutes=0.3, seed=0, sources=("real",), shard_rows=2)
    done: list[str] = []

    def stop_after_first(name):
        done.append(name)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_corpus(out, config, on_shard=stop_after_first)
    first = out / SHARDS_DIR / done[0] / "expression.npy"
    mtime = first.stat().st_mtime_ns
    assert not (out / MANIFEST_FILE).exists()
    # a half-written shard left by a kill: never read, removed by the resumed build
    junk = out / SHARDS_DIR / "train-00099.partial"
    junk.mkdir()
    (junk / "windows.json").write_text("[]")
    assert [s.folder.name for s in Corpus(out).shards] == [done[0]]
    built_now: list[str] = []
    summary = build_corpus(out, config, on_shard=built_now.append)
    assert done[0] not in built_now and summary["resumed_shards"] == 1
    assert first.stat().st_mtime_ns == mtime and not junk.exists()
    for name in (MANIFEST_FILE, CHECKSUMS_FILE):
        assert (out / name).read_bytes() == (built[0] / name).read_bytes()


def test_a_folder_with_another_corpus_or_other_files_is_refused(built, tmp_path, capsys):
    assert main(["corpus", "build", "--out", str(built[0]), *ARGS[:2], "--seed", "5", *ARGS[4:]]) == 2
    assert "other settings" in capsys.readouterr().err
    (tmp_path / "stuff.txt").write_text("x")
    assert main(["corpus", "build", "--out", str(tmp_path), *ARGS]) == 2
    assert "not a Parley corpus" in capsys.readouterr().err


def test_bad_inputs_are_skipped_with_a_reason_and_counted(tmp_path, data_dir, monkeypatch, caplog):
    """A fake data root: one good utterance, one that does not decode, one with NaN samples, one whose
    transcript has no words, one whose audio is a second longer than its manifest says."""
    import soundfile as sf

    root = tmp_path / "data"
    (root / "speech_corpus" / "ljspeech_part" / "flac16k").mkdir(parents=True)
    for folder in ("vctk_p239", "librispeech"):
        (root / "speech_corpus" / folder).mkdir()
        (root / "speech_corpus" / folder / "manifest.tsv").write_text("path\tspeaker\tseconds\ttext\n")
    os.symlink(data_dir / "ict_facekit", root / "ict_facekit")
    lj = data_dir / "speech_corpus" / "ljspeech_part"
    src = next(r for r in (lj / "manifest.tsv").read_text().splitlines()[1:] if r.startswith("flac16k/LJ001-0002"))
    path, _spk, secs, text = src.split("\t")
    d = root / "speech_corpus" / "ljspeech_part"
    shutil.copy(lj / path, d / "flac16k" / "good.flac")
    (d / "flac16k" / "broken.flac").write_bytes(b"fLaC this is not audio")
    nan = np.zeros(16000, np.float32)
    nan[100] = np.nan
    sf.write(d / "flac16k" / "nan.wav", nan, 16000, subtype="FLOAT")
    shutil.copy(lj / path, d / "flac16k" / "nowords.flac")
    shutil.copy(lj / path, d / "flac16k" / "long.flac")
    rows = [("good.flac", secs, text), ("broken.flac", "1.0", "a word"), ("nan.wav", "1.0", "a word"),
            ("nowords.flac", secs, "... --"), ("long.flac", f"{float(secs) - 1.0:.3f}", text)]
    (d / "manifest.tsv").write_text("path\tspeaker\tseconds\ttext_normalized\n" + "".join(
        f"flac16k/{p}\tLJ\t{s}\t{t}\n" for p, s, t in rows))
    monkeypatch.setenv("PARLEY_DATA", str(root))
    out = tmp_path / "corpus"
    summary = build_corpus(out, BuildConfig(minutes=10, sources=("real",)))
    assert (summary["rows"], summary["kept"], summary["skipped"]) == (5, 1, 4)
    by = {Path(r["path"]).name: r for r in read_manifest(out)}
    assert by["good.flac"]["status"] == "ok" and by["good.flac"]["windows"] == 1
    assert "unreadable" in by["broken.flac"]["reason"] and "unreadable" in by["nan.wav"]["reason"]
    assert "does not align" in by["nowords.flac"]["reason"]
    assert "frames apart" in by["long.flac"]["reason"]
    assert all(by[n]["windows"] == 0 for n in ("broken.flac", "nan.wav", "nowords.flac", "long.flac"))
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert all(n in warned for n in ("broken.flac", "nan.wav", "nowords.flac", "long.flac"))
    assert len(Corpus(out)) == 1


def test_benchmark_held_out_speech_is_never_trained_on(data_dir):
    items = real_items(data_dir)
    bench = {(i.corpus, i.utt_id): i.split for i in corpus_selection(data_dir)}
    for it in items:
        key = (it.corpus, it.id.split("/", 1)[1])
        if it.corpus == "librispeech":
            assert it.split in ("val", "test")
        elif key in bench:
            assert it.split == ("test" if bench[key] == HELD_OUT else "val")
        else:
            assert it.split == "train"
    splits = {it.split for it in items}
    assert splits == {"train", "val", "test"}
    assert json.dumps([it.as_dict() for it in items])   # plain data (goes into the manifest)


def test_teacher_takes_share_the_audio_and_phones_but_not_the_motion(tmp_path, data_dir):
    out = tmp_path / "takes"
    build_corpus(out, BuildConfig(minutes=0.05, seed=0, sources=("real",), takes=2))
    rows = read_manifest(out)
    assert len(rows) % 2 == 0 and {r["take"] for r in rows} == {0, 1}
    corpus = Corpus(out)
    by = {}
    for k in range(len(corpus)):
        w = corpus.window(k)
        by[(w["info"]["item"], w["info"]["start_s"])] = w
    pairs = [(w, by[(key[0].replace("#t0", "#t1"), key[1])]) for key, w in by.items() if "#t0" in key[0]]
    assert pairs
    for a, b in pairs:
        np.testing.assert_array_equal(a["audio"], b["audio"])
        np.testing.assert_array_equal(a["phones"], b["phones"])
        moved = np.abs(a["expression"].astype(np.float32) - b["expression"].astype(np.float32)).max()
        head = np.abs(a["joint_angles"].astype(np.float32) - b["joint_angles"].astype(np.float32)).max()
        assert moved > 0.05 or np.degrees(head) > 1.0       # other blinks, brows or head motion


def test_a_row_with_nan_labels_in_a_later_window_leaves_no_window_behind(tmp_path, data_dir, monkeypatch):
    from engine.training.corpus import windows

    real_cut = windows.cut_windows

    def nan_in_second_window(samples, labels, spec):
        wins = real_cut(samples, labels, spec)
        if len(wins) > 1:
            wins[1][1]["expression"] = np.full_like(wins[1][1]["expression"], np.nan)
        return wins

    monkeypatch.setattr(windows, "cut_windows", nan_in_second_window)
    out = tmp_path / "nan"
    build_corpus(out, BuildConfig(minutes=0.2, seed=0, sources=("real",)))
    rows = read_manifest(out)
    long_rows = [r for r in rows if r["status"] == "skipped"]
    assert long_rows and all("NaN" in r["reason"] for r in long_rows)
    ok = {r["row"] for r in rows if r["status"] == "ok"}
    if (out / SHARDS_DIR).exists() and any((out / SHARDS_DIR).iterdir()):
        corpus = Corpus(out)
        assert {corpus.window(k, keys=("mask",))["info"]["row"] for k in range(len(corpus))} <= ok


def test_untranscribed_speakers_are_labelled_by_recognition_for_training_only(tmp_path, data_dir):
    from engine.training.corpus.sources import untranscribed_items

    items = untranscribed_items(data_dir)
    benchmark = {i.speaker for i in corpus_selection(data_dir)} | {i.voice for i in real_items(data_dir)}
    assert len(items) == 251 and {i.split for i in items} == {"train"} and {i.source for i in items} == {"pseudo"}
    assert not benchmark & {i.voice for i in items} and all("train-clean-100/" in i.path for i in items)
    out = tmp_path / "pseudo"
    build_corpus(out, BuildConfig(minutes=0.1, seed=0, sources=("pseudo",)))
    rows = read_manifest(out)
    assert rows and all(r["source"] == "pseudo" and r["status"] == "ok" and r["text"] == "" for r in rows)
    assert all(r["phones_from"].startswith("PocketSphinx words") for r in rows)
    corpus = Corpus(out, split="train")
    phones = np.concatenate([corpus.window(k)["phones"] for k in range(len(corpus))])
    spoken = phones[(phones >= 0) & (phones != PHONE_INDEX["SIL"])]
    assert spoken.size > 0.3 * phones.size and np.unique(spoken).size >= 10     # recognised phones, not silence
