"""The neural face run chunk by chunk (issue 14): the same log-mel, normalisation and lip outputs as one pass over
the whole recording, deterministic face diffusion per seed with no jump at the chunk seams, and a clip of one
chunk sampled exactly as before chunking. Small random-weight models and synthetic audio: seconds in all."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.audio.spectral import chunked_log_mel, log_mel
from engine.learned.denoiser import DenoiserConfig
from engine.learned.encoder import EncoderConfig
from engine.learned.face import (ChunkConfig, FaceConfig, FaceDiffusion, NeuralFace, audio_condition, audio_dims,
                                 chunk_spans, split_face)
from engine.learned.features import normalize_mel
from engine.learned.layout import FACE_DIMS, UPPER_INDEX
from engine.learned.lipsync import LipConfig, LipRegressor
from engine.learned.streaming import receptive_rows
from engine.learned.threads import torch_threads

SR = 16000
FPS = 30.0
FEATURE_FPS = 120.0
EXPR_TOL = 1e-5       # ARKit units: chunked vs one pass (float rounding only; measured 0 on the shipped model)
LIPS_TOL_MM = 1e-4
SMOOTH_FRAMES = 31    # the stand-in denoiser's moving average (about 1 s)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


def _lips(seed: int = 0) -> LipRegressor:
    """A small random-weight lip regressor: 16 channels, dilations (1, 2, 4, 8): 127 rows (32 frames) of past."""
    torch.manual_seed(seed)
    cfg = LipConfig(encoder=EncoderConfig(channels=16, dilations=(1, 2, 4, 8), dropout=0.0), num_lip_vertices=7)
    lips = LipRegressor(cfg).eval()
    with torch.no_grad():
        lips.mel_mean.fill_(-9.0)
        lips.mel_std.fill_(3.0)
    return lips


def _face(lips: LipRegressor, seed: int = 1) -> FaceDiffusion:
    """A small random-weight face diffusion whose output layer is not zero (so the sample depends on the net)."""
    torch.manual_seed(seed)
    cfg = FaceConfig(denoiser=DenoiserConfig(audio_dims=audio_dims(lips.config), channels=16, dilations=(1, 2, 4),
                                             embed=16, dropout=0.0), diffusion_steps=100, sampling_steps=4)
    face = FaceDiffusion(cfg).eval()
    with torch.no_grad():
        nn.init.normal_(face.denoiser.out.weight, std=0.3)
        n = len(UPPER_INDEX)
        face.target_mean[:n] = 0.5                    # upper-face weights around 0.5, angles around 0
        face.target_std.fill_(0.1)
    return face


class SmoothDenoiser(nn.Module):
    """A stand-in network whose clean estimate is x_t averaged over SMOOTH_FRAMES frames: every sample is smooth
    in time, and two independent samples differ by far more than one frame's change."""

    def forward(self, x, t, cond, audio_on, emotion_on):                   # (B, D, T) -> (B, D, T)
        k = SMOOTH_FRAMES
        return F.avg_pool1d(F.pad(x, (k // 2, k // 2), mode="replicate"), k, stride=1)


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    ph = 2 * np.pi * np.cumsum(150 + 40 * np.sin(2 * np.pi * 0.7 * t)) / SR
    voice = sum(np.sin(k * ph) / k for k in range(1, 12))
    env = np.clip(np.sin(2 * np.pi * 2.0 * t), 0, None) ** 2
    return (0.2 * env * voice + 0.002 * rng.standard_normal(t.size)).astype(np.float32)


def _mel(seconds: float, seed: int = 0) -> np.ndarray:
    """(4T, 80) log-mel of ``seconds`` of synthetic speech at 120 rows/s (T clip frames at 30 fps)."""
    T = int(round(seconds * FPS))
    return log_mel(_speechlike(seconds, seed), sr=SR, fps=FEATURE_FPS, n_frames=4 * T)


def _emotion() -> np.ndarray:
    e = np.zeros(7, np.float32)
    e[2] = 0.8
    return e


# ---- the fast path: exact -------------------------------------------------------------------------------
def test_chunk_spans_cover_the_clip_with_the_overlap():
    for T, L, O in [(100, 100, 10), (101, 100, 10), (1000, 120, 30), (18227, 900, 60)]:
        spans = chunk_spans(T, L, O)
        assert spans[0][0] == 0 and spans[-1][1] == T
        assert all(e - s <= L for s, e in spans)
        assert all(e0 - s1 == O for (_, e0), (s1, _) in zip(spans, spans[1:]))
        assert len(spans) == max(1, int(np.ceil((T - O) / (L - O))))


def test_chunked_log_mel_equals_one_pass():
    y = _speechlike(7.3, seed=4)
    n = int(round(7.3 * FEATURE_FPS))
    whole = log_mel(y, sr=SR, fps=FEATURE_FPS, n_frames=n)
    for chunk in (90, 100, 301):           # not all multiples of the 3-frame period of 16 kHz / 120 rows per s
        part = chunked_log_mel(y, sr=SR, fps=FEATURE_FPS, n_mels=80, n_fft=512, n_frames=n, chunk_frames=chunk)
        np.testing.assert_allclose(part, whole, atol=1e-5, rtol=0)


def test_chunked_normalisation_and_lips_equal_one_pass():
    lips = _lips()
    assert receptive_rows(lips) == 127                                    # context of 32 frames per chunk
    mel = _mel(10.0)                                                      # 300 frames
    e = _emotion()
    whole = NeuralFace(lips, chunks=ChunkConfig(lips_chunk_s=100.0))
    chunked = NeuralFace(lips, chunks=ChunkConfig(lips_chunk_s=0.5))     # 20 chunks of 15 frames < the context
    mc = lips.config.encoder.mel
    ref_x, _ = normalize_mel(mel, mean=lips.mel_mean.numpy(), std=lips.mel_std.numpy(),
                             feature_fps=mc.feature_fps, tau_s=mc.tau_s)
    np.testing.assert_allclose(chunked.normalize(mel), ref_x, atol=1e-6, rtol=0)
    with torch.no_grad():
        ref = lips(torch.from_numpy(ref_x)[None], torch.from_numpy(e)[None])
    for net in (whole, chunked):
        out = net.run(mel, e)
        assert out["expression"].shape == (300, 52) and out["lip_offsets_mm"].shape == (300, 7, 3)
        np.testing.assert_allclose(out["expression"], ref["expression"][0].numpy(), atol=EXPR_TOL, rtol=0)
        np.testing.assert_allclose(out["lip_offsets_mm"], ref["lip_offsets_mm"][0].numpy(), atol=LIPS_TOL_MM, rtol=0)
        np.testing.assert_allclose(out["head_rad"], ref["head_rad"][0].numpy(), atol=1e-6, rtol=0)
        np.testing.assert_allclose(out["p_closed"], torch.sigmoid(ref["closed_logit"][0]).numpy(), atol=1e-5, rtol=0)
    # the outputs do depend on more than a chunk of the past: without its context a chunk would differ
    with torch.no_grad():
        cut = lips(torch.from_numpy(ref_x[4 * 150:])[None], torch.from_numpy(e)[None])
    gap_mm = np.abs(cut["lip_offsets_mm"][0, :20].numpy() - ref["lip_offsets_mm"][0, 150:170].numpy()).max()
    assert gap_mm > 10 * LIPS_TOL_MM


# ---- face diffusion: deterministic, no seams, one chunk as before -----------------------------------------
def _unchunked_reference(lips: LipRegressor, face: FaceDiffusion, mel: np.ndarray, e: np.ndarray, seed: int) -> dict:
    """The face as it was sampled before chunking: one lips pass and one DDIM run over the whole clip."""
    net = NeuralFace(lips)
    mc = lips.config.encoder.mel
    x, _ = normalize_mel(mel, mean=lips.mel_mean.numpy(), std=lips.mel_std.numpy(), feature_fps=mc.feature_fps,
                         tau_s=mc.tau_s)
    with torch.no_grad():
        et = torch.from_numpy(e)[None]
        out = net.lips(torch.from_numpy(x)[None], et)
        cfg = face.config
        xs = face.diffusion().ddim_sample(
            (1, FACE_DIMS, out["expression"].shape[1]), {"audio": audio_condition(out), "emotion": et},
            sampling_steps=cfg.sampling_steps, s_audio=cfg.s_audio, s_emotion=cfg.s_emotion,
            generator=torch.Generator().manual_seed(seed), clip_x0=face.clip_x0, eta=cfg.eta)
    upper, head, eyes = split_face(face.denormalize(xs)[0].numpy())
    return {"upper": np.clip(upper, 0, 1), "head_sampled_rad": head, "eyes_rad": eyes,
            "expression": out["expression"][0].numpy(), "lip_offsets_mm": out["lip_offsets_mm"][0].numpy()}


def test_a_clip_of_one_chunk_is_sampled_exactly_as_before():
    lips = _lips()
    face = _face(lips)
    mel, e = _mel(5.0), _emotion()
    ref = _unchunked_reference(lips, face, mel, e, seed=7)
    out = NeuralFace(lips, face).run(mel, e, seed=7)                      # default chunks: 30 s
    assert np.ptp(out["head_sampled_rad"]) > 1e-3                         # the random net does shape the sample
    for k, v in ref.items():
        np.testing.assert_array_equal(out[k], v, err_msg=k)


def test_chunked_diffusion_is_deterministic_per_seed():
    lips = _lips()
    face = _face(lips)
    mel, e = _mel(12.0), _emotion()                                       # 360 frames: 4 chunks of <= 120
    net = NeuralFace(lips, face, chunks=ChunkConfig(lips_chunk_s=3.0, diffusion_chunk_s=4.0, overlap_s=1.0))
    a, b, c = (net.run(mel, e, seed=s) for s in (3, 3, 4))
    for k in ("upper", "head_sampled_rad", "eyes_rad"):
        assert np.all(np.isfinite(a[k])), k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert np.abs(a["head_sampled_rad"] - c["head_sampled_rad"]).mean() > 1e-3   # another seed, another take
    assert np.all((a["upper"] >= 0) & (a["upper"] <= 1))
    np.testing.assert_array_equal(a["lip_offsets_mm"], c["lip_offsets_mm"])      # the mouth is not sampled


def test_chunk_seams_are_as_smooth_as_the_chunks():
    lips = _lips()
    face = _face(lips)
    face.denoiser = SmoothDenoiser()
    mel, e = _mel(20.0), _emotion()                                       # 600 frames
    cc = ChunkConfig(diffusion_chunk_s=5.0, overlap_s=2.0)                # chunks of <= 150 frames, 60 shared
    spans = chunk_spans(600, 150, 60)
    assert len(spans) == 6
    for seed in (0, 1, 2):
        out = NeuralFace(lips, face, chunks=cc).run(mel, e, seed=seed)
        y = np.concatenate([out["upper"], out["head_sampled_rad"], out["eyes_rad"].reshape(600, 6)], axis=1)
        d = np.abs(np.diff(y, axis=0)).max(axis=1)                        # (599,) largest change per frame step
        seam = np.zeros(599, bool)
        for (s, _), (_, e0) in zip(spans[1:], spans):
            seam[s - 1:e0] = True                                         # into, through and out of the overlap
        inside = d[~seam].max()
        # independent chunks would jump by the spread of a sample (~0.1 here), some 10x one frame's change
        assert d[seam].max() < 2.0 * inside, (seed, d[seam].max(), inside)


def test_run_uses_its_own_thread_count_and_restores_the_callers():
    lips = _lips()
    seen = []
    hook = lips.register_forward_pre_hook(lambda module, args: seen.append(torch.get_num_threads()))
    torch.set_num_threads(2)
    try:
        NeuralFace(lips).run(_mel(1.0), _emotion())
        assert torch.get_num_threads() == 2
        NeuralFace(lips, threads=None).run(_mel(1.0), _emotion())
    finally:
        torch.set_num_threads(1)
        hook.remove()
    assert seen == [1, 2]


# ---- the animator's whole-recording arrays, in blocks: the same numbers ---------------------------------
def test_animator_lips_stage_contact_and_resampling_in_blocks_are_exact():
    from engine.animators.base import FaceTrack
    from engine.animators.compose import LipStage, face_lips
    from engine.animators.neural.animator import LIPS_BLOCK_FRAMES, NeuralAnimator, _resample
    from engine.animators.neural.contact import enforce_contact

    lm = LipStage().model()
    if lm is None:
        pytest.skip("the ICT lip model is not available")
    rng = np.random.default_rng(5)
    T, L = LIPS_BLOCK_FRAMES * 2 + 37, lm.num_vertices
    expr = rng.uniform(0, 0.6, (T, 52)).astype(np.float32)
    offsets = rng.normal(0, 2.0, (T, L, 3)).astype(np.float32)
    p_closed = rng.uniform(0.3, 1, T).astype(np.float32)
    # contact: in place (the animator's call) gives what the copying call gives, and leaves nothing unchanged
    x_ref, off_ref = enforce_contact(expr, offsets, p_closed, threshold=0.5, lip_model=lm)
    own = offsets.copy()
    x_new, off_new = enforce_contact(expr, own, p_closed, threshold=0.5, lip_model=lm, copy=False)
    assert off_new is own and np.abs(off_ref - offsets).max() > 0.1      # mm: contact did move the lips
    np.testing.assert_array_equal(off_new, off_ref)
    np.testing.assert_array_equal(x_new, x_ref)
    # on every fully closed frame (all blocks of them) the lips meet: inner-lip gap at most the -0.5 mm target
    from engine.animators.neural.contact import CLOSE
    full = (p_closed > 0.56) & (x_new[:, CLOSE] < 1.0)
    assert full.sum() > LIPS_BLOCK_FRAMES
    gap_mm = lm.inner_lip_gap_m(lm.neutral_m + off_new[full] / 1000.0) * 1000.0
    assert gap_mm.max() < -0.5 + 1e-3
    # the lips stage block by block, with and without a later change of the expression (listening)
    anim = NeuralAnimator.__new__(NeuralAnimator)
    anim.lips = LipStage()
    face = FaceTrack(expression=x_ref, head_angles_rad=np.zeros((T, 3), np.float32),
                     eye_angles_rad=np.zeros((T, 2, 3), np.float32), lip_offsets_mm=off_ref, lips_model_id="m")
    changed = FaceTrack(expression=np.clip(x_ref + 0.1, 0, 1), head_angles_rad=face.head_angles_rad,
                        eye_angles_rad=face.eye_angles_rad, lip_offsets_mm=off_ref, lips_model_id="m")
    for f in (face, changed):
        pos, ids, model_id = anim.face_lips(f, own=face)
        ref_pos, ref_ids, ref_id = face_lips(anim.lips, f, own=face)
        assert pos.dtype == np.float32 and model_id == ref_id == "m"
        np.testing.assert_allclose(pos, ref_pos, atol=1e-7, rtol=0)      # m: 0.1 um (matrix products in blocks)
        np.testing.assert_array_equal(ids, ref_ids)
    # resampling to another frame rate: linear interpolation of every column
    src, dst = np.arange(T) / 30.0, np.arange(int(T * 0.8)) / 24.0
    out = _resample(off_ref, src, dst)
    assert out.dtype == np.float32 and out.shape == (len(dst), L, 3)
    np.testing.assert_allclose(out[:, 5, 1], np.interp(dst, src, off_ref[:, 5, 1]), atol=1e-5)
