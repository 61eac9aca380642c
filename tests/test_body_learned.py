"""The learned body (issue 12): pose VQ, guide transformer, body diffusion, its animator stage and trainer.

Tiny models on a tiny synthetic corpus (arm swings that follow the loudness of noise bursts): shapes,
rotation conversions in degrees, losses that fall, determinism per seed and different plans for different
seeds, no jump at chunk borders, joint limits, the checkpoint round trip and its float16 export, the
procedural fallback when weights are missing, training on BVH mocap (the CMU files, with synthetic audio),
``parley train body`` and ``parley animate --samples``.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.learned.body_diffusion import BodyDiffusionConfig, seam_jump_deg
from engine.learned.body_guide import GuideConfig, nucleus_sample
from engine.learned.body_model import LearnedBody, load_body, save_body
from engine.learned.body_vq import (BODY_JOINTS, POSE_DIMS, PoseVQ, VQConfig, axis_angle_to_matrix, geodesic_deg,
                                    poses_to_sixd, sixd_to_poses)
from engine.learned.encoder import EncoderConfig
from engine.training.corpus.shards import CorpusSpec, ShardWriter, Window, write_corpus_json, write_manifest
from engine.training.train_body import BodyTrainConfig, export_body, open_body_data, train_body
from rigs.core.emotions import EMOTIONS
from rigs.core.errors import ConfigError
from rigs.core.skeleton import canonical_skeleton, joint_limits_rad

SR = 16000
TINY = dict(vq=VQConfig(codebook_size=16, code_dim=8, hidden=48, dead_after_steps=20),
            guide=GuideConfig(encoder=EncoderConfig(channels=16, dilations=(1, 2)), codebook_size=16, d_model=32,
                              n_layers=1, n_heads=2),
            diffusion=BodyDiffusionConfig(encoder=EncoderConfig(channels=16, dilations=(1, 2)), channels=32,
                                          dilations=(1, 2, 4, 8), embed=32, sampling_steps=4, chunk_frames=60,
                                          overlap_frames=15))


def _audio(duration_s: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise bursts and their envelope at 30 fps."""
    rng = np.random.default_rng(seed)
    T = int(round(duration_s * 30))
    env = (np.sin(2 * np.pi * rng.uniform(0.4, 0.9) * np.arange(T) / 30 + rng.uniform(0, 6)) > 0.2).astype(float)
    env = np.convolve(env, np.ones(5) / 5, mode="same")
    y = rng.normal(0, 0.1, int(duration_s * SR)) * np.interp(np.arange(int(duration_s * SR)) / SR,
                                                             np.arange(T) / 30, env)
    return y.astype(np.float32), env


def _motion(env: np.ndarray, seed: int) -> np.ndarray:
    """(T, J, 3) axis-angle: arms raise with the loudness, the torso sways, and a gesture the audio does not
    predict (a random shoulder target each second, eased in) makes the plan a distribution, not a function."""
    sk = canonical_skeleton()
    rng = np.random.default_rng(seed)
    T = len(env)
    ja = np.zeros((T, sk.num_joints, 3), np.float32)
    t = np.arange(T) / 30
    for side, sgn in (("left", 1), ("right", -1)):
        ja[:, sk.names.index(f"{side}_shoulder"), 2] = sgn * (0.9 + 0.5 * env)
        ja[:, sk.names.index(f"{side}_elbow"), 1] = sgn * (0.3 + 0.6 * env * rng.uniform(0.5, 1))
    ja[:, sk.names.index("spine2"), 1] = 0.1 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6))
    keys = rng.uniform(-0.5, 0.5, (int(np.ceil(T / 30)) + 1, 2))
    gesture = np.stack([np.interp(t, np.arange(len(keys)), keys[:, k]) for k in range(2)], 1)   # (T, 2) rad
    ja[:, sk.names.index("left_shoulder"), 0] += gesture[:, 0]
    ja[:, sk.names.index("right_shoulder"), 0] += gesture[:, 1]
    return ja


def _write_corpus(root: Path) -> Path:
    from engine.audio.spectral import log_mel

    spec = CorpusSpec(num_joints=canonical_skeleton().num_joints, num_lip_vertices=0)
    W = spec.frames
    items = [("a", "train", 3), ("b", "train", 3), ("c", "train", 2), ("d", "val", 2)]
    rows = []
    for row, (item, split, n_win) in enumerate(items):
        y, env = _audio(n_win * spec.window_s, row)
        mel = log_mel(y, sr=SR, fps=spec.feature_fps, n_mels=spec.n_mels, n_frames=n_win * spec.feature_frames)
        ja = _motion(env, row)
        w = ShardWriter(root, f"{split}-{row:05d}", spec)
        for k in range(n_win):
            s = slice(k * W, (k + 1) * W)
            pcm = np.round(y[k * spec.samples:(k + 1) * spec.samples] * 32767).astype(np.int16)
            w.add(Window(arrays={
                "audio": pcm, "mel": mel[k * spec.feature_frames:(k + 1) * spec.feature_frames],
                "expression": np.zeros((W, 52), np.float32), "joint_angles": ja[s],
                "root_translation": np.zeros((W, 3), np.float32), "lip_offsets_mm": np.zeros((W, 0, 3), np.float32),
                "phones": np.full(W, -1, np.int8), "emotion": np.zeros(len(EMOTIONS), np.float32),
                "mask": np.ones(W, bool), "has": np.array([False, True, True, False, False])},
                row=row, item=item, start_s=k * spec.window_s, split=split))
        w.close()
        rows.append({"id": item, "split": split})
    write_corpus_json(root, spec, joint_names=list(canonical_skeleton().names))
    write_manifest(root, rows)
    return root


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and leave the other CI core to other work)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return _write_corpus(tmp_path_factory.mktemp("bodycorpus"))


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("bodyckpt") / "body.pt"
    info = train_body(BodyTrainConfig(steps=300, seed=0, batch_size=8, vq_batch_frames=256, save_every_s=1e9, **TINY),
                      data=corpus, out=out, command="test")
    return out, info


@pytest.fixture(scope="module")
def model(trained):
    return LearnedBody(load_body(trained[0]))


def _mel(duration_s: float, seed: int = 7) -> np.ndarray:
    from engine.audio.spectral import log_mel

    y, _ = _audio(duration_s, seed)
    T = int(round(duration_s * 30))
    return log_mel(y, sr=SR, fps=120.0, n_mels=80, n_frames=4 * T)


# -- rotations and the VQ -------------------------------------------------------------------------------------
def test_sixd_round_trip_and_geodesic_in_degrees():
    rng = np.random.default_rng(0)
    aa = rng.normal(0, 0.8, (50, len(BODY_JOINTS), 3)).astype(np.float32)
    back = sixd_to_poses(poses_to_sixd(aa))
    R1 = axis_angle_to_matrix(torch.from_numpy(aa))
    R2 = axis_angle_to_matrix(torch.from_numpy(back))
    assert float(geodesic_deg(R1, R2).max()) < 0.05
    z = torch.zeros(1, 3)
    assert float(geodesic_deg(axis_angle_to_matrix(z), axis_angle_to_matrix(torch.tensor([[0.0, np.deg2rad(30), 0]], dtype=torch.float32)))) \
        == pytest.approx(30.0, abs=1e-3)
    assert poses_to_sixd(aa).shape == (50, POSE_DIMS)


def test_vq_loss_falls_and_reconstruction_error_is_in_degrees(corpus):
    torch.manual_seed(0)
    train, _, _ = open_body_data(corpus)
    vq = PoseVQ(TINY["vq"])
    vq.norm.set(*train.pose_stats())
    x = vq.norm(torch.from_numpy(train.pose6[train.mask][::3]))
    err0 = float(vq.error_deg(x).mean())
    opt = torch.optim.Adam(vq.parameters(), lr=3e-3)
    first = None
    for _ in range(100):
        loss, parts = vq.loss(x)
        first = parts["rec"] if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    vq.eval()
    err1 = float(vq.error_deg(x).mean())
    assert parts["rec"] < 0.5 * first
    assert err1 < 0.5 * err0 and err1 < 8.0           # degrees per joint on arm swings of +-30 deg


def test_training_writes_every_stage_with_validation(trained):
    out, info = trained
    assert set(info["val"]) == {"vq", "guide", "diffusion"}
    assert info["val"]["vq"]["rec_err_deg_mean"] < 8.0
    assert info["val"]["guide"]["val_ce"] < np.log(16)                   # better than a uniform plan
    assert info["steps"]["diffusion"] > 0 and info["command"] == "test" and info["corpus_manifest_sha256"]
    ck = load_body(out)
    assert ck.complete() and ck.training is not None


# -- sampling ---------------------------------------------------------------------------------------------------
def test_shapes_determinism_and_seeds(model):
    mel = _mel(5.3)
    a = model.run(mel, np.zeros(7), seed=1)
    T = len(mel) // 4
    assert a["joint_angles_rad"].shape == (T, len(BODY_JOINTS), 3) and a["joint_angles_rad"].dtype == np.float32
    assert a["codes"].shape == (int(np.ceil(T / 30)),)
    b = model.run(mel, np.zeros(7), seed=1)
    np.testing.assert_array_equal(a["joint_angles_rad"], b["joint_angles_rad"])
    c = model.run(mel, np.zeros(7), seed=2)
    assert np.rad2deg(np.abs(a["joint_angles_rad"] - c["joint_angles_rad"])).max() > 2.0


def test_different_seeds_give_different_plans_and_greedy_is_fixed():
    g = torch.Generator().manual_seed(0)
    logits = torch.tensor([2.0, 1.9, 1.8, -5.0])
    picks = {nucleus_sample(logits, temperature=1.0, top_p=0.95, generator=g) for _ in range(60)}
    assert picks == {0, 1, 2}                                  # the improbable code is cut by top-p
    assert {nucleus_sample(logits, temperature=0.0, top_p=0.9) for _ in range(5)} == {0}


def test_plans_differ_across_seeds(model):
    mel = _mel(8.0)
    from engine.learned.body_model import SampleConfig

    hot = SampleConfig(temperature=1.5, top_p=1.0)       # the tiny guide is sure of its synthetic data
    plans = [tuple(model.run(mel, np.zeros(7), seed=s, sample=hot)["codes"]) for s in range(6)]
    assert len(set(plans)) >= 3


class ChunkMeanNet(torch.nn.Module):
    """A stand-in denoiser whose clean estimate is the mean of the guide over the chunk it sees: neighbouring
    chunks disagree (by the guide's slope times the chunk hop), as independently sampled chunks do."""

    def __init__(self, steps: int):
        super().__init__()
        from engine.learned.diffusion import cosine_alphas_cumprod

        self.ab = cosine_alphas_cumprod(steps).float()

    def forward(self, x, t, cond, audio_on, guide_on):
        ab = self.ab[t][:, None, None]
        x0 = cond["guide"].mean(-1, keepdim=True).expand_as(x)
        return (x - ab.sqrt() * x0) / (1 - ab).sqrt()


def test_no_jump_at_chunk_borders():
    from engine.learned.body_diffusion import BodyDiffusion

    cfg = TINY["diffusion"]
    L, O = cfg.chunk_frames, cfg.overlap_frames
    d = BodyDiffusion(cfg)
    d.denoiser = ChunkMeanNet(cfg.diffusion_steps)
    T = 200
    ramp_deg = 0.5                                         # the guide turns every joint component 0.5 deg a frame
    aa = np.deg2rad(ramp_deg) * np.arange(T, dtype=np.float32)[:, None, None] * np.ones((1, len(BODY_JOINTS), 3))
    guide = torch.from_numpy(poses_to_sixd(aa.astype(np.float32)).T[None].copy())        # (1, D, T), unnormalised
    mel = torch.zeros(1, 4 * T, cfg.encoder.mel.n_mels)

    def seams(overlap: int) -> tuple[float, float]:
        x = d.sample(mel, torch.zeros(1, 7), guide, generator=torch.Generator().manual_seed(0), overlap_frames=overlap)
        y = sixd_to_poses(x[0].T.numpy())
        hop = L - overlap                                  # later chunks start at k * hop and blend in over
        borders = [f for s in range(hop, T - overlap, hop) for f in range(s, min(T, s + overlap + 1))]  # the overlap
        inner = np.rad2deg(np.abs(np.diff(y, axis=0))).max(axis=(1, 2))
        return seam_jump_deg(y, borders), float(inner.max())

    hard, _ = seams(0)
    assert hard > 15.0                                     # chunks without overlap jump by about the hop's turn
    soft, _ = seams(O)
    assert soft < hard / (O - 1)                           # the inpainted, cross-faded overlap spreads it out
    assert soft < 2.0


def test_joint_limits_respected(model):
    out = model.run(_mel(4.0), np.zeros(7), seed=0)["joint_angles_rad"]
    from rigs.core.rotations import axis_angle_to_matrix as np_aa, matrix_to_euler

    E = np.rad2deg(matrix_to_euler(np_aa(out.astype(np.float64)), "XYZ"))
    lim = joint_limits_rad()
    for j, name in enumerate(BODY_JOINTS):
        lo, hi = np.rad2deg(lim[name][:, 0]), np.rad2deg(lim[name][:, 1])
        assert (E[:, j] >= lo - 0.01).all() and (E[:, j] <= hi + 0.01).all(), name


# -- checkpoints ------------------------------------------------------------------------------------------------
def test_checkpoint_round_trip_and_float16_export(trained, model, tmp_path):
    mel = _mel(3.0)
    a = model.run(mel, np.zeros(7), seed=5)["joint_angles_rad"]
    copy = tmp_path / "copy.pt"
    save_body(copy, model.loaded.modules, info={"x": 1})
    b = LearnedBody(load_body(copy)).run(mel, np.zeros(7), seed=5)["joint_angles_rad"]
    np.testing.assert_array_equal(a, b)
    ship = export_body(trained[0], tmp_path / "ship.pt", card={"made_by": "test"})
    ck = load_body(ship)
    assert ck.training is None and ck.info["made_by"] == "test"
    assert ship.stat().st_size < 0.7 * trained[0].stat().st_size
    c = LearnedBody(ck).run(mel, np.zeros(7), seed=5)["joint_angles_rad"]
    assert np.rad2deg(np.abs(a - c)).max() < 5.0            # float16 weights: nearly the same motion


def test_bad_checkpoints_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_body(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not torch")
    with pytest.raises(ConfigError, match="not a learned-body"):
        load_body(tmp_path / "junk.pt")
    partial = tmp_path / "vq_only.pt"
    save_body(partial, {"vq": PoseVQ(TINY["vq"])})
    with pytest.raises(ConfigError, match="guide, diffusion"):
        LearnedBody(load_body(partial))


# -- the animator stage ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def short_audio(tmp_path_factory):
    from engine.audio.load import load_audio

    p = tmp_path_factory.mktemp("aud") / "burst.wav"
    sf.write(p, _audio(2.5, 11)[0], SR)
    return p, load_audio(p)


def test_fallback_to_the_procedural_body_when_weights_are_missing(short_audio, tmp_path, monkeypatch, caplog):
    from engine.animators.base import AnimateRequest
    from engine.animators.learned_body import PhoneticBodyAnimator
    from engine.animators.phonetic.animator import PhoneticAnimator

    monkeypatch.setenv("PARLEY_BODY_CHECKPOINT", str(tmp_path / "missing.pt"))
    with caplog.at_level(logging.WARNING):
        anim = PhoneticBodyAnimator.create()
    assert "procedural body" in caplog.text
    req = AnimateRequest(seed=2)
    clip = anim.animate(short_audio[1], req)
    ref = PhoneticAnimator().animate(short_audio[1], req)
    np.testing.assert_array_equal(clip.joint_angles, ref.joint_angles)
    assert clip.meta["model_ids"]["upper_body"] is None
    with pytest.raises(ConfigError, match="not found"):          # weights the caller names must exist
        PhoneticBodyAnimator.create(checkpoint=str(tmp_path / "missing.pt"))


def test_learned_stage_moves_only_the_upper_body(trained, short_audio):
    from engine.animators.base import AnimateRequest
    from engine.animators.learned_body import PhoneticBodyAnimator
    from engine.animators.phonetic.animator import PhoneticAnimator

    anim = PhoneticBodyAnimator.create(checkpoint=str(trained[0]))
    for fps in (30.0, 24.0):
        req = AnimateRequest(seed=4, fps=fps)
        clip = anim.animate(short_audio[1], req)
        ref = PhoneticAnimator().animate(short_audio[1], req)
        names = canonical_skeleton().names
        body = [names.index(n) for n in BODY_JOINTS]
        rest = [i for i in range(len(names)) if i not in body]
        np.testing.assert_array_equal(clip.joint_angles[:, rest], ref.joint_angles[:, rest])   # legs, head: procedural
        np.testing.assert_array_equal(clip.root_translation, ref.root_translation)            # feet stay planted
        assert np.rad2deg(np.abs(clip.joint_angles[:, body] - ref.joint_angles[:, body])).max() > 5.0
        assert clip.meta["model_ids"]["upper_body"].startswith("learned-body-")
        assert clip.meta["model_ids"]["body"] == "procedural-body-v2"


# -- real mocap and the command line -------------------------------------------------------------------------
def test_training_on_bvh_mocap_with_audio(tmp_path):
    from rigs.core.files import data_root

    src = sorted((data_root() / "bvh").glob("cmu_131_0[12].bvh"))
    if len(src) < 2:
        pytest.skip("the CMU BVH files are not in PARLEY_DATA")
    folder = tmp_path / "mocap"
    folder.mkdir()
    for k, p in enumerate(src):
        shutil.copy(p, folder / p.name)
        frames = next(int(line.split()[1]) for line in p.read_text().splitlines() if line.startswith("Frames:"))
        duration_s = frames * 0.0083333                          # CMU takes have no audio: noise of their length
        sf.write(folder / f"{p.stem}.wav", _audio(duration_s, k)[0], SR)
    train, val, prov = open_body_data(folder)
    assert prov["kind"] == "mocap" and prov["takes"] == 2 and len(train) >= 2 and len(val) >= 1
    # the captured arms really move: more than 5 degrees of range somewhere in the upper body
    sixd = train.pose6[train.mask]
    assert np.rad2deg(np.ptp(sixd, axis=0)).max() > 5.0
    out = tmp_path / "mocap_body.pt"
    info = train_body(BodyTrainConfig(steps=20, batch_size=2, vq_batch_frames=64, **TINY), data=folder, out=out)
    assert info["kind"] == "mocap" and load_body(out).complete()
    (folder / "extra.bvh").write_text("HIERARCHY\nROOT Hips\n{\n")          # an unreadable take is skipped
    train2, _, prov2 = open_body_data(folder)
    assert prov2["takes"] == 2


def test_cli_train_body_and_resume(corpus, tmp_path, capsys):
    from engine import cli

    out = tmp_path / "cli.pt"
    assert cli.main(["train", "body", "--data", str(corpus), "--out", str(out), "--steps", "4", "--threads", "1"]) == 0
    ck = load_body(out)
    assert ck.complete() and ck.info["command"].startswith("parley ")
    assert cli.main(["train", "body", "--data", str(tmp_path / "nothing"), "--out", str(out), "--steps", "2"]) == 2
    assert "parley: error:" in capsys.readouterr().err


def test_animate_samples_gives_different_upper_body_takes(trained, short_audio, tmp_path, monkeypatch):
    from engine import cli
    from rigs.core.clip import load_clip

    monkeypatch.setenv("PARLEY_BODY_CHECKPOINT", str(trained[0]))
    out = tmp_path / "take.npz"
    assert cli.main(["animate", str(short_audio[0]), "--mode", "phonetic-body", "--samples", "3", "-o", str(out)]) == 0
    clips = [load_clip(tmp_path / f"take_take0{k}.npz") for k in (1, 2, 3)]
    names = canonical_skeleton().names
    body = [names.index(n) for n in BODY_JOINTS]
    for i in range(3):
        for j in range(i + 1, 3):
            d = np.rad2deg(np.abs(clips[i].joint_angles[:, body] - clips[j].joint_angles[:, body])).max()
            assert d > 2.0
    assert [c.meta["seed"] for c in clips] == [0, 1, 2]
    assert os.environ["PARLEY_BODY_CHECKPOINT"] == str(trained[0])


def test_a_killed_run_resumes_where_it_stopped(corpus, tmp_path):
    out = tmp_path / "resume.pt"
    cfg = BodyTrainConfig(steps=40, batch_size=4, vq_batch_frames=64, save_every_s=0.0, **TINY)

    def kill(stage, step, total, parts):
        if stage == "guide" and step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_body(cfg, data=corpus, out=out, progress=kill)
    state = load_body(out).training
    assert state["done"] == ["vq"] and state["stage"] == "guide" and state["step"] == 2   # saved after step 2
    seen = []
    info = train_body(cfg, data=corpus, out=out, resume=True, progress=lambda s, k, n, p: seen.append((s, k)))
    assert seen[0] == ("guide", 3)                              # no stage or step is done twice
    assert info["steps"] == {"vq": 4, "guide": 10, "diffusion": 26}
    assert load_body(out).complete()


def test_plan_temperature_and_top_p_from_the_command_line(trained, short_audio, tmp_path, monkeypatch, capsys):
    """--temperature/--top-p reach the learned body's plan sampling (same seed, other motion), are recorded in the
    clip meta, and out-of-range values are refused before any work."""
    from engine import cli
    from rigs.core.clip import load_clip

    from engine.learned.body_model import LearnedBody

    monkeypatch.setenv("PARLEY_BODY_CHECKPOINT", str(trained[0]))
    seen = []
    run = LearnedBody.run

    def spy(self, *args, **kw):
        seen.append(kw["sample"])
        return run(self, *args, **kw)

    monkeypatch.setattr(LearnedBody, "run", spy)
    base = ["animate", str(short_audio[0]), "--mode", "phonetic-body", "--seed", "3"]
    assert cli.main([*base, "-o", str(tmp_path / "a.npz")]) == 0
    assert cli.main([*base, "--temperature", "3.0", "--top-p", "1.0", "-o", str(tmp_path / "b.npz")]) == 0
    assert [(s.temperature, s.top_p) for s in seen] == [(1.0, 0.9), (3.0, 1.0)]   # what the plan sampler got
    a, b = load_clip(tmp_path / "a.npz"), load_clip(tmp_path / "b.npz")
    assert a.meta["config"]["learned_body"]["temperature"] == 1.0
    assert b.meta["config"]["learned_body"]["temperature"] == 3.0 and b.meta["config"]["learned_body"]["top_p"] == 1.0
    capsys.readouterr()
    for flag, value in (("--temperature", "0"), ("--top-p", "1.5")):
        assert cli.main([*base, flag, value, "-o", str(tmp_path / "c.npz")]) == 2
        assert flag in capsys.readouterr().err and not (tmp_path / "c.npz").exists()
