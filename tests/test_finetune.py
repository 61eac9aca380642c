"""Fine-tuning the neural face on a user's own capture (issue 11): the capture corpus built from the real FACEGOOD
files (two short training takes and one held-out take, 12 s each), the trainer's masking of what a capture does
not hold (FACEGOOD's unmeasured channels, phones), the shipped weights never overwritten, and a few fine-tuning
steps from the shipped weights lowering the loss on the capture."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.learned.checkpoint import load_checkpoint
from engine.learned.paths import DEFAULT_CHECKPOINT
from engine.training.corpus.captures import build_capture_corpus
from engine.training.corpus.shards import TARGETS, Corpus
from engine.learned.layout import FACE_DIMS, HEAD_DIMS
from engine.training.data import FaceData, face_target_valid
from engine.training.readers.facegood import MAPPED_DIR, mapped_csv_path, read_facegood
from engine.training.train_face import TrainConfig, masked_lip_loss, train
from rigs.core.arkit import ARKIT_INDEX, ARKIT_NAMES, NUM_CHANNELS
from rigs.core.errors import ConfigError
from rigs.core.files import data_root, sha256_file

TAKES = ("1114_2_01", "1114_2_02", "1114_2_04")
HOLDOUT = ("1114_2_04",)
SECONDS = 12.0                          # three 4 s windows per take


def _facegood() -> Path:
    d = data_root() / "facegood"
    if not all((d / f"{t}.wav").is_file() and mapped_csv_path(d, t).is_file() for t in TAKES):
        pytest.skip("FACEGOOD captures not in $PARLEY_DATA/facegood")
    return d


@pytest.fixture(scope="module")
def capture_corpus(tmp_path_factory):
    src = _facegood()
    folder = tmp_path_factory.mktemp("takes")               # a user's folder: three of the takes
    (folder / MAPPED_DIR).mkdir()
    for t in TAKES:
        (folder / f"{t}.wav").symlink_to(src / f"{t}.wav")
        mapped_csv_path(folder, t).symlink_to(mapped_csv_path(src, t))
    out = tmp_path_factory.mktemp("corpus") / "fg"
    summary = build_capture_corpus(out, folder, fmt="facegood", holdout=HOLDOUT, val_share=0.34,
                                   max_seconds=SECONDS)
    return out, folder, summary


def test_capture_corpus_holds_the_capture_with_honest_flags(capture_corpus):
    from engine.animators.lips import load_lip_model

    out, folder, summary = capture_corpus
    assert summary["train"] == 4 and summary["val"] == 2 and summary["test"] == 3
    test = Corpus(out, split="test")
    assert {test.window(k)["info"]["item"] for k in range(len(test))} == set(HOLDOUT)
    lm = load_lip_model()
    take = read_facegood(folder, "1114_2_04")
    w = test.window(0)
    has = dict(zip(TARGETS, w["has"], strict=True))
    assert has == {"expression": True, "joint_angles": False, "root_translation": False, "lip_offsets_mm": True,
                   "phones": False}
    valid = [ARKIT_NAMES[i] for i in w["info"]["expression_valid"]]
    assert len(valid) == 27 and "jawOpen" in valid and "eyeBlinkLeft" not in valid
    np.testing.assert_allclose(w["expression"], take.expression[:120], atol=1e-3)       # float16 shards
    # lip offsets are the captured weights through the ICT lip model: the lower lip drops with jawOpen
    mm = w["lip_offsets_mm"].astype(np.float64)
    ref = (lm.positions_m(take.expression[:120]) - lm.neutral_m) * 1000.0
    np.testing.assert_allclose(mm, ref, atol=0.02)
    jaw = take.expression[:120, ARKIT_INDEX["jawOpen"]]
    gap_mm = (mm[:, lm.gap_upper, 1] - mm[:, lm.gap_lower, 1]).mean(-1)
    assert np.corrcoef(gap_mm, jaw)[0, 1] > 0.8 and np.ptp(gap_mm) > 3.0
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["split"] for r in rows] == ["train+val", "train+val", "test"]


def test_capture_corpus_refuses_unknown_holdout_and_busy_folder(capture_corpus, tmp_path):
    out, folder, _ = capture_corpus
    with pytest.raises(ConfigError, match="no such take"):
        build_capture_corpus(tmp_path / "a", folder, fmt="facegood", holdout=("1114_2_09",))
    with pytest.raises(ConfigError, match="not empty"):
        build_capture_corpus(out, folder, fmt="facegood")


def _shipped_lips():
    lips = load_checkpoint(DEFAULT_CHECKPOINT).lips.float().eval()
    return lips


def test_loss_ignores_unmeasured_channels_and_missing_phones(capture_corpus):
    out, _, _ = capture_corpus
    data = FaceData(out, "train")
    lips = _shipped_lips()
    b = data.batch(np.arange(2), mel_mean=lips.mel_mean.numpy(), mel_std=lips.mel_std.numpy())
    valid = b["expression_valid"]
    assert valid.shape == (2, NUM_CHANNELS) and int(valid[0].sum()) == 27
    assert float(b["has_phones"].sum()) == 0 and float(b["has_lips"].sum()) == 2
    with torch.no_grad():
        pred = lips(b["mel"], b["emotion"])
    base, parts = masked_lip_loss(pred, b, lips.config)
    assert parts["closed"] == 0.0                               # no phones: no lips-closed labels
    garbage = dict(b, expression=b["expression"] + (1 - valid[:, None, :]) * torch.rand_like(b["expression"]) * 5)
    assert float(masked_lip_loss(pred, garbage, lips.config)[0]) == pytest.approx(float(base), rel=1e-6)
    jaw = ARKIT_INDEX["jawOpen"]                                 # a measured channel does count
    moved = dict(b, expression=b["expression"].clone())
    moved["expression"][..., jaw] += 0.5
    assert float(masked_lip_loss(pred, moved, lips.config)[0]) > float(base) * 1.05


def test_fine_tuning_never_overwrites_the_shipped_weights(capture_corpus):
    out, _, _ = capture_corpus
    before = sha256_file(DEFAULT_CHECKPOINT)
    with pytest.raises(ConfigError, match="never overwrites"):
        train(TrainConfig(kind="lips", steps=1, batch_size=2, threads=1), data=out, out=DEFAULT_CHECKPOINT,
              init="default")
    assert sha256_file(DEFAULT_CHECKPOINT) == before


def _capture_loss(lips, data: FaceData) -> float:
    b = data.batch(np.arange(len(data)), mel_mean=lips.mel_mean.numpy(), mel_std=lips.mel_std.numpy())
    with torch.no_grad():
        return float(masked_lip_loss(lips(b["mel"], b["emotion"]), b, lips.config)[0])


def test_a_few_fine_tuning_steps_lower_the_loss_on_the_capture(capture_corpus, tmp_path):
    out, _, _ = capture_corpus
    data = FaceData(out, "train")
    before = _capture_loss(_shipped_lips(), data)
    ck = tmp_path / "fg.pt"
    info = train(TrainConfig(kind="lips", steps=6, batch_size=4, lr=5e-4, warmup_steps=1, seed=0, threads=1,
                             warp=0.0), data=out, out=ck, init="default")
    tuned = load_checkpoint(ck)
    after = _capture_loss(tuned.lips.float().eval(), data)
    assert after < 0.9 * before
    assert tuned.face is not None                               # the shipped face diffusion travels along
    assert info["closed_threshold"] == load_checkpoint(DEFAULT_CHECKPOINT).info["closed_threshold"]
    assert info["val"]["jaw_corr"] == info["val"]["jaw_corr"]   # measured on the valid jawOpen (not NaN)


def test_parley_corpus_captures_command(capture_corpus, tmp_path, capsys):
    from engine.cli import main

    _, folder, _ = capture_corpus
    assert main(["corpus", "captures", "--facegood", str(folder), "--holdout", "1114_2_04",
                 "--out", str(tmp_path / "c")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["takes"] == 3 and summary["test"] >= 27 and summary["val"] >= 2     # 110 s takes, 4 s windows
    assert main(["corpus", "captures", "--facegood", str(folder), "--holdout", "nope",
                 "--out", str(tmp_path / "d")]) == 2
    assert "parley: error: --holdout nope: no such take" in capsys.readouterr().err


def test_face_diffusion_refuses_a_mouth_only_capture(capture_corpus, tmp_path):
    out, _, _ = capture_corpus
    with pytest.raises(ConfigError, match="does not measure the upper face"):
        train(TrainConfig(kind="face", steps=1, batch_size=2, threads=1), data=out, out=tmp_path / "f.pt",
              init="default")


LL_TAKES = ("take_head", "take_still")     # the real recording twice: with a moving head written in, and as it is


@pytest.fixture(scope="module")
def livelink_corpus(tmp_path_factory):
    """Two Live Link takes made of the real recording (5.5 s, eyes moving, head columns zero: tracking was off),
    with the demo speech resized to their length: ``take_head`` has a nodding head written into its HeadPitch
    column, ``take_still`` is the recording as it is."""
    import soundfile as sf

    from engine.audio.load import load_audio

    csv = data_root() / "livelink" / "MySlate_3_Jason_Millers_iPhone.csv"
    if not csv.is_file():
        pytest.skip("no Live Link recording in $PARLEY_DATA/livelink")
    folder = tmp_path_factory.mktemp("ll_takes")
    lines = csv.read_text().splitlines()
    header = lines[0].split(",")
    pitch = header.index("HeadPitch")
    rows = [r.split(",") for r in lines[1:]]
    nodding = [r[:pitch] + [f"{0.15 * np.sin(i / 15):.6f}"] + r[pitch + 1:] for i, r in enumerate(rows)]
    demo = load_audio(Path(__file__).resolve().parent.parent / "engine" / "samples" / "demo.wav")
    n = int(round(len(rows) / 59.94 * demo.sr))              # the recording: 328 rows at 59.94 rows a second
    for name, body in zip(LL_TAKES, (nodding, rows), strict=True):
        (folder / f"{name}.csv").write_text("\n".join(",".join(r) for r in [header, *body]) + "\n")
        sf.write(folder / f"{name}.wav", np.resize(demo.samples, n), demo.sr)
    out = tmp_path_factory.mktemp("ll_corpus") / "ll"
    summary = build_capture_corpus(out, folder, fmt="livelink")
    return out, folder, summary


def test_live_link_takes_build_a_capture_corpus_with_head_and_eyes(livelink_corpus):
    from engine.training.readers.livelink import read_livelink
    from rigs.core.skeleton import canonical_skeleton

    out, folder, summary = livelink_corpus
    assert summary["train"] == 2 and summary["val"] == 2            # 5.5 s each: two 4 s windows per take
    sk = canonical_skeleton()
    head, eyes = sk.index("head"), [sk.index("left_eye"), sk.index("right_eye")]
    corpus = Corpus(out, split="train")
    ws = {corpus.window(k)["info"]["item"]: corpus.window(k) for k in range(len(corpus))}
    for name, w in ws.items():
        assert "expression_valid" not in w["info"]                 # Live Link measures all 52 channels
        has = dict(zip(TARGETS, w["has"], strict=True))
        assert has["expression"] and has["lip_offsets_mm"] and not has["phones"]
        assert not has["joint_angles"]                              # a head is not a body: body trainers pass it over
        assert np.abs(w["lip_offsets_mm"]).max() > 1.0             # the recorded mouth moves the lips (mm)
        take = read_livelink(folder / f"{name}.csv")
        assert w["joint_angles"][:, eyes] == pytest.approx(take.eye_rotations[:120], abs=2e-3)  # float16 shards
    assert ws["take_head"]["info"]["joints_valid"] == sorted([head, *eyes])
    assert ws["take_still"]["info"]["joints_valid"] == sorted(eyes)  # zero head columns: not measured
    take = read_livelink(folder / "take_head.csv")
    assert ws["take_head"]["joint_angles"][:, head] == pytest.approx(take.head_rotation[:120], abs=2e-3)
    assert np.degrees(np.abs(take.head_rotation).max()) > 5

    data = FaceData(out, "train")
    order = [data.raw(k)["info"]["item"] for k in range(len(data))]
    b = data.batch(np.arange(len(data)), mel_mean=None, mel_std=None)
    assert b["has_head"].tolist() == [float(i == "take_head") for i in order]
    assert b["has_eyes"].tolist() == [1.0, 1.0]
    valid = face_target_valid(b)
    assert valid.shape == (2, FACE_DIMS)
    k = order.index("take_still")
    assert valid[k].sum() == FACE_DIMS - HEAD_DIMS and valid[1 - k].sum() == FACE_DIMS


def test_diffusion_loss_leaves_out_unmeasured_dimensions():
    from engine.learned.diffusion import GaussianDiffusion as Diffusion

    torch.manual_seed(0)
    net = lambda x, t, cond, a, e: x * 0.5              # noqa: E731  a stand-in network: predicts half its input
    diff = Diffusion(net)
    x0, mask = torch.randn(2, 4, 6), torch.ones(2, 6)
    dims = torch.tensor([[1.0, 1, 1, 1], [1, 0, 0, 1]])
    g = lambda: torch.Generator().manual_seed(3)        # noqa: E731  the same t, noise and drops for every call
    full = diff.training_loss(x0, {}, mask, generator=g())
    assert float(diff.training_loss(x0, {}, mask, generator=g(), dims=torch.ones(2, 4))) == pytest.approx(float(full))
    t = torch.randint(0, diff.steps, (2,), generator=(gen := g()))
    noise = torch.randn(x0.shape, generator=gen)
    target = x0 if diff.prediction == "x0" else noise
    sq = (net(diff.q_sample(x0, t, noise), t, {}, None, None) - target) ** 2
    want = ((sq * dims[:, :, None]).sum(1) / dims.sum(1, keepdim=True)).mean()
    assert float(diff.training_loss(x0, {}, mask, generator=g(), dims=dims)) == pytest.approx(float(want), rel=1e-5)


def test_face_diffusion_fine_tunes_on_live_link_takes(livelink_corpus, tmp_path):
    """`parley train face --init default` on Live Link takes: codes for the takes join the table, the shipped
    weights stay as they were, and the fine-tuned weights animate with a take's code."""
    from engine.animators.base import AnimateRequest
    from engine.animators.registry import ANIMATORS
    from engine.audio.load import load_audio

    out, _, _ = livelink_corpus
    before = sha256_file(DEFAULT_CHECKPOINT)
    shipped = load_checkpoint(DEFAULT_CHECKPOINT).info["style_clips"]
    ck = tmp_path / "ll_face.pt"
    info = train(TrainConfig(kind="face", steps=3, batch_size=2, lr=5e-4, warmup_steps=1, threads=1), data=out,
                 out=ck, init="default")
    assert sha256_file(DEFAULT_CHECKPOINT) == before
    assert info["style_clips"] == [*shipped, *LL_TAKES]          # sorted: take_head, take_still
    assert np.isfinite(info["val"]["val_loss"])
    tuned = load_checkpoint(ck)
    assert tuned.face.style_codes.weight.shape[0] == len(shipped) + 2
    code = tuple(float(v) for v in tuned.face.style_codes.weight[len(shipped)].detach())   # take_head's
    demo = load_audio(Path(__file__).resolve().parent.parent / "engine" / "samples" / "demo.wav")
    clip = ANIMATORS.create("neural", checkpoint=str(ck)).animate(demo, AnimateRequest(seed=0, style=code))
    assert clip.num_frames > 0 and np.isfinite(clip.joint_angles).all()
    assert clip.meta["style"] == pytest.approx(code)


def test_fine_tuning_leaves_out_the_head_a_take_did_not_measure(livelink_corpus):
    """Face diffusion's loss on Live Link windows: moving the head target of the take recorded with head tracking
    off changes nothing; moving the head of the take that measured one does."""
    from engine.learned.face import audio_condition
    from engine.training.train_face import face_batch

    out, _, _ = livelink_corpus
    ck = load_checkpoint(DEFAULT_CHECKPOINT)
    face, lips = ck.face.float().eval(), ck.lips.float().eval()
    data = FaceData(out, "train")
    order = [data.raw(k)["info"]["item"] for k in range(len(data))]
    b = data.batch(np.arange(len(data)), mel_mean=lips.mel_mean.numpy(), mel_std=lips.mel_std.numpy())
    diff = face.diffusion()
    with torch.no_grad():
        cond = {"audio": audio_condition(lips(b["mel"], b["emotion"])), "emotion": b["emotion"]}

        def loss(batch) -> float:
            x0, dims = face_batch(face, batch)
            return float(diff.training_loss(x0, cond, batch["mask"], p_drop_audio=0.0, p_drop_emotion=0.0,
                                            generator=torch.Generator().manual_seed(0), dims=dims))

        base = loss(b)
        for name, unchanged in (("take_still", True), ("take_head", False)):
            moved = dict(b, head_rad=b["head_rad"].clone())
            moved["head_rad"][order.index(name)] += 0.3
            assert (loss(moved) == pytest.approx(base, rel=1e-6)) is unchanged, name


def test_short_takes_validate_whole(livelink_corpus, tmp_path):
    """Takes of one window each (short lines) cannot give their tails to val: some validate whole, enough for
    training to run; too few takes for both splits are refused at build time, not at training time."""
    _, src, _ = livelink_corpus
    folder = tmp_path / "lines"
    folder.mkdir()
    for k in range(4):
        for suffix in (".csv", ".wav"):
            (folder / f"line{k}{suffix}").symlink_to(src / f"{LL_TAKES[k % 2]}{suffix}")
    out = tmp_path / "short"
    summary = build_capture_corpus(out, folder, fmt="livelink", max_seconds=3.0)   # 3 s: one window a take
    assert (summary["train"], summary["val"]) == (2, 2)
    items = {split: {Corpus(out, split=split).window(k)["info"]["item"] for k in range(2)}
             for split in ("train", "val")}
    assert items == {"train": {"line0", "line1"}, "val": {"line2", "line3"}}                  # from the last
    info = train(TrainConfig(kind="lips", steps=1, batch_size=2, threads=1), data=out, out=tmp_path / "l.pt",
                 init="default")
    assert np.isfinite(info["val"]["val_loss"])
    for k in (2, 3):
        for suffix in (".csv", ".wav"):
            (folder / f"line{k}{suffix}").unlink()
    with pytest.raises(ConfigError, match="too little capture"):       # two lines: not two windows each
        build_capture_corpus(tmp_path / "two", folder, fmt="livelink", max_seconds=3.0)


def test_the_face_fine_tuning_benchmark_writes_its_character_and_reads_it_back(tmp_path, monkeypatch):
    """bench_finetune_face's made character: the posture, motion gain and brows land in the Live Link columns, and
    the figures read back from the CSV are the ones of the clip with the character applied."""
    from tests.test_neural import ROOT

    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import bench_finetune_face as bench

    from engine.animators.base import AnimateRequest
    from engine.animators.registry import ANIMATORS
    from engine.audio.load import load_audio

    wav = ROOT / "engine" / "samples" / "demo.wav"
    clip = ANIMATORS.create("phonetic").animate(load_audio(wav), AnimateRequest(seed=0))
    plain = bench.clip_figures(clip)
    folder = tmp_path / "takes"
    folder.mkdir()
    assert bench.write_takes(folder, [(wav, "")], 0) == ["take000"]
    made = bench.reference_figures(folder / "take000.csv")
    assert made[0] == pytest.approx(plain[0] + np.degrees(bench.PITCH_RAD), abs=0.2)     # pitch held up
    assert made[1] == pytest.approx(plain[1] + np.degrees(bench.ROLL_RAD), abs=0.2)      # roll held over
    assert made[2] == pytest.approx(plain[2] * bench.MOTION_GAIN, rel=0.1)              # more head motion
    assert made[3] > plain[3] + 0.2                                                      # brows up
    assert (folder / "take000.wav").resolve() == wav.resolve()


def test_train_on_a_folder_of_takes_builds_and_reuses_its_corpus(livelink_corpus, tmp_path, caplog, capsys):
    """`parley train face --init default --data TAKES/`: the issue's command. The takes' corpus is built beside
    --out, reused while the takes are unchanged (--resume), rebuilt when they change; a folder of other files
    and a corpus path taken by something else are refused in one line."""
    import logging
    import shutil

    from engine.cli import main

    _, src, _ = livelink_corpus
    takes = tmp_path / "takes"
    shutil.copytree(src, takes)
    out = tmp_path / "mine.pt"
    args = ["train", "face", "--init", "default", "--data", str(takes), "--out", str(out), "--batch-size", "2",
            "--threads", "1"]
    assert main([*args, "--steps", "1"]) == 0
    auto = tmp_path / "mine.corpus"
    assert Corpus(auto, split="train").spec.fps == 30 and load_checkpoint(out).info["corpus"] == "mine.corpus"
    built = (auto / "corpus.json").stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="engine.training.corpus.captures"):
        assert main([*args, "--steps", "2", "--resume"]) == 0
    assert "unchanged since it was built" in caplog.text and (auto / "corpus.json").stat().st_mtime_ns == built
    assert load_checkpoint(out).info["step"] == 2
    shutil.copy(takes / "take_still.csv", takes / "take_more.csv")        # a new take: the corpus is rebuilt
    shutil.copy(takes / "take_still.wav", takes / "take_more.wav")
    assert main([*args, "--steps", "1", "--out", str(tmp_path / "more.pt")]) == 0
    assert (tmp_path / "more.corpus").is_dir() and (auto / "corpus.json").stat().st_mtime_ns == built
    assert main([*args, "--steps", "1"]) == 0
    assert {Corpus(auto, split=s).window(k)["info"]["item"] for s in ("train", "val")
            for k in range(len(Corpus(auto, split=s)))} == {"take_head", "take_more", "take_still"}
    capsys.readouterr()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "readme.txt").write_text("no takes here")
    assert main([*args, "--steps", "1", "--data", str(other)]) == 2
    assert "neither a Parley corpus nor a folder of FACEGOOD or Live Link Face takes" in capsys.readouterr().err
    (tmp_path / "taken.corpus").mkdir()
    (tmp_path / "taken.corpus" / "mine.txt").write_text("somebody's")
    assert main([*args, "--steps", "1", "--out", str(tmp_path / "taken.pt")]) == 2
    assert "is not the corpus `parley train` built" in capsys.readouterr().err
    (tmp_path / "file.corpus").write_text("a file")
    assert main([*args, "--steps", "1", "--out", str(tmp_path / "file.pt")]) == 2
    assert "is not the corpus `parley train` built" in capsys.readouterr().err
    # a run that cannot start is refused before the takes are read: no corpus is built for it
    assert main([*args, "--out", str(tmp_path / "nobudget.pt")]) == 2
    assert "give a budget" in capsys.readouterr().err and not (tmp_path / "nobudget.corpus").exists()
    assert main([*args, "--steps", "1", "--out", str(DEFAULT_CHECKPOINT)]) == 2
    assert "never overwrites" in capsys.readouterr().err
    assert not DEFAULT_CHECKPOINT.with_suffix(".corpus").exists()


def test_an_interrupted_build_of_the_takes_corpus_is_not_reused(livelink_corpus, tmp_path, monkeypatch):
    from engine.training.corpus import captures

    _, takes, _ = livelink_corpus
    out = tmp_path / "mine.pt"

    def crash(*a, **k):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(captures, "write_manifest", crash)          # the last step of a build
        with pytest.raises(KeyboardInterrupt):
            captures.corpus_for_training(takes, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == []     # neither the corpus nor its partial remains
    auto = captures.corpus_for_training(takes, out)
    assert auto == tmp_path / "mine.corpus" and len(Corpus(auto, split="train")) == 2
