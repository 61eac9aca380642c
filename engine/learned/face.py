"""The neural face: the fast lip path plus face diffusion for the upper face, head and eyes; numpy in and out.

:class:`FaceDiffusion` is the trainable part of face diffusion (the denoiser and the normalisation of its
targets); :class:`NeuralFace` runs a loaded pair on one recording's log-mel:

1. the log-mel is normalised causally (:func:`engine.learned.features.normalize_mel`);
2. the lip regressor gives the mouth (ARKit, lip offsets, lips-closed probability) and a head estimate;
3. face diffusion samples the upper face, head and eyes (:mod:`.layout`) conditioned on the encoder's
   features, the fast path's outputs and the emotion, with the request's seed: different seeds give different
   blinks, brows and head motion while the mouth, which diffusion never touches, stays the same.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from engine.learned.denoiser import DenoiserConfig, FaceDenoiser
from engine.learned.diffusion import GaussianDiffusion
from engine.learned.features import normalize_mel
from engine.learned.layout import FACE_DIMS, HEAD_DIMS, UPPER_INDEX
from engine.learned.lipsync import LipRegressor
from rigs.core.arkit import NUM_CHANNELS


MAX_ANGLE_RAD = 0.6      # bound of a sampled head or eye rotation component (about 34 degrees)
MAX_SIGMAS = 8.0         # and of any normalised dimension (a blink is about 6 standard deviations)


@dataclass(frozen=True)
class FaceConfig:
    denoiser: DenoiserConfig = DenoiserConfig()
    diffusion_steps: int = 1000
    prediction: str = "x0"         # the denoiser predicts the clean sample (see engine.learned.diffusion)
    sampling_steps: int = 20
    eta: float = 1.0               # 0: deterministic DDIM; 1: fresh noise each step (varied blinks)
    s_audio: float = 1.0           # classifier-free guidance scales (1, 1: the conditional pass alone; equal:
    s_emotion: float = 1.0         # two passes per step); 1.5 suppressed blinks on jfk.flac
    p_drop_audio: float = 0.1
    p_drop_emotion: float = 0.2


class FaceDiffusion(nn.Module):
    """Denoiser + the per-dimension statistics that normalise its targets (buffers, saved with the weights)."""

    def __init__(self, config: FaceConfig):
        super().__init__()
        self.config = config
        self.denoiser = FaceDenoiser(config.denoiser)
        self.register_buffer("target_mean", torch.zeros(FACE_DIMS))
        self.register_buffer("target_std", torch.ones(FACE_DIMS))

    def diffusion(self) -> GaussianDiffusion:
        return GaussianDiffusion(self.denoiser, steps=self.config.diffusion_steps, prediction=self.config.prediction)

    def normalize(self, y):                                     # (B, T, D) -> (B, D, T)
        return ((y - self.target_mean) / self.target_std).transpose(1, 2)

    def denormalize(self, x):                                   # (B, D, T) -> (B, T, D)
        return x.transpose(1, 2) * self.target_std + self.target_mean

    def clip_x0(self, x):                                       # (B, D, T) normalised -> the same, in range
        y = self.denormalize(x)                                 # (B, T, D)
        n = len(UPPER_INDEX)
        y = torch.cat([y[..., :n].clamp(0.0, 1.0), y[..., n:].clamp(-MAX_ANGLE_RAD, MAX_ANGLE_RAD)], dim=-1)
        return self.normalize(y).clamp(-MAX_SIGMAS, MAX_SIGMAS)


def audio_dims(lip_config) -> int:
    """A of :func:`audio_condition` for a lip regressor's config."""
    return lip_config.encoder.channels + NUM_CHANNELS + 1


def audio_condition(lips_out: dict) -> torch.Tensor:
    """(B, A, T) what face diffusion hears: encoder features, fast-path expression, lips-closed probability."""
    p = torch.sigmoid(lips_out["closed_logit"])[..., None]                  # (B, T, 1)
    a = torch.cat([lips_out["features"], lips_out["expression"], p], dim=-1)  # (B, T, A)
    return a.transpose(1, 2).detach()


def split_face(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, FACE_DIMS) -> upper-face weights (T, 23), head (T, 3), eyes (T, 2, 3)."""
    n = len(UPPER_INDEX)
    return y[:, :n], y[:, n:n + HEAD_DIMS], y[:, n + HEAD_DIMS:].reshape(len(y), 2, 3)


class NeuralFace:
    """A loaded lip regressor and (optionally) face diffusion, in eval mode on ``device``."""

    def __init__(self, lips: LipRegressor, face: FaceDiffusion | None = None, *, device: str = "cpu"):
        self.lips = lips.eval().to(device)
        self.face = None if face is None else face.eval().to(device)
        self.device = device

    @property
    def mel_config(self):
        return self.lips.config.encoder.mel

    def normalize(self, mel: np.ndarray) -> np.ndarray:
        mc = self.mel_config
        x, _ = normalize_mel(mel, mean=self.lips.mel_mean.float().cpu().numpy(),
                             std=self.lips.mel_std.float().cpu().numpy(), feature_fps=mc.feature_fps, tau_s=mc.tau_s)
        return x

    @torch.no_grad()
    def run(self, mel: np.ndarray, emotion: np.ndarray, *, seed: int = 0, sampling_steps: int | None = None) -> dict:
        """mel (4T, n_mels) log-mel at the model's feature rate; emotion (7,) intensities in EMOTIONS order.

        Returns float32 numpy: ``expression`` (T, 52) fast path, ``lip_offsets_mm`` (T, L, 3), ``p_closed``
        (T,), ``head_rad`` (T, 3) fast path; with face diffusion also ``upper`` (T, 23), ``head_sampled_rad``
        (T, 3), ``eyes_rad`` (T, 2, 3) for this seed.
        """
        ratio = self.mel_config.feature_ratio
        if len(mel) % ratio:
            raise ValueError(f"mel: {len(mel)} frames is not a multiple of {ratio}")
        x = torch.from_numpy(self.normalize(mel))[None].to(self.device)        # (1, 4T, M)
        e = torch.as_tensor(np.asarray(emotion, np.float32))[None].to(self.device)   # (1, 7)
        out = self.lips(x, e)
        res = {"expression": out["expression"][0], "lip_offsets_mm": out["lip_offsets_mm"][0],
               "p_closed": torch.sigmoid(out["closed_logit"][0]), "head_rad": out["head_rad"][0]}
        if self.face is not None:
            cfg = self.face.config
            g = torch.Generator(device=self.device).manual_seed(int(seed))
            T = out["expression"].shape[1]
            xs = self.face.diffusion().ddim_sample(
                (1, FACE_DIMS, T), {"audio": audio_condition(out), "emotion": e},
                sampling_steps=sampling_steps or cfg.sampling_steps, s_audio=cfg.s_audio, s_emotion=cfg.s_emotion,
                generator=g, device=self.device, clip_x0=self.face.clip_x0, eta=cfg.eta)
            y = self.face.denormalize(xs)[0].float().cpu().numpy()              # (T, D)
            upper, head, eyes = split_face(y)
            res = {k: v.float().cpu().numpy() for k, v in res.items()}
            res.update(upper=np.clip(upper, 0, 1), head_sampled_rad=head, eyes_rad=eyes)
            return res
        return {k: v.float().cpu().numpy() for k, v in res.items()}
