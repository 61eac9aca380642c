"""Body diffusion: audio + guide keyframes -> 30 fps upper-body poses, sampled with few DDIM steps in
overlapping chunks.

The denoiser is a network for :class:`engine.learned.diffusion.GaussianDiffusion` (the shared DDPM/DDIM
process): x_t (B, D, T) normalised 6-D poses of :data:`engine.learned.body_vq.BODY_JOINTS`, conditioned on

- ``audio`` (B, C, T): the shared :class:`engine.learned.encoder.AudioEncoder`'s features (this model's
  own weights), dropped with the process's first guidance condition;
- ``guide`` (B, D, T): the guide keyframes (:mod:`.body_guide`, decoded by the VQ) interpolated to every
  frame, dropped with the second condition, so ``s_audio`` and ``s_guide`` are the two guidance weights of
  the shared process (its ``s_emotion`` slot);
- ``emotion`` (B, 7): always on, added to the step embedding.

The blocks are FiLM-modulated dilated convolutions (the face denoiser's :class:`~engine.learned.denoiser.FiLMBlock`).
The network predicts the clean motion and returns the noise it implies (the process's interface); it is trained
on the clean motion and its velocity (MDM, Tevet et al. 2023), because with noise prediction the first DDIM
steps (alpha-bar ~1e-9 at t = 999) amplified the network's error into 13 deg/frame jitter.

Long audio is sampled in chunks of ``chunk_frames`` overlapping by ``overlap_frames``: the overlap of each
chunk is inpainted from the previous chunk's result (at every DDIM step the known frames are replaced by the
previous result noised to that step, as in RePaint's replacement method, Lugmayr et al. 2022) and then
cross-faded linearly into it, so there is no seam at chunk borders.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.learned.body_guide import MelNorm
from engine.learned.body_vq import POSE_DIMS, PoseNorm
from engine.learned.denoiser import FiLMBlock, timestep_embedding
from engine.learned.diffusion import GaussianDiffusion, cosine_alphas_cumprod
from engine.learned.encoder import AudioEncoder, ChannelNorm, EncoderConfig
from rigs.core.emotions import EMOTIONS


X0_CLIP = 10.0    # normalised poses lie within a few std; the clean estimate is clipped there (improved-diffusion's
                  # clip_denoised): at the first steps alpha-bar is ~1e-9 and an unclipped estimate explodes


@dataclass(frozen=True)
class BodyDiffusionConfig:
    encoder: EncoderConfig = EncoderConfig(channels=64, dilations=(1, 2, 4, 8, 1, 2, 4, 8))
    channels: int = 64
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 1, 2, 4, 8, 16)
    embed: int = 64
    dropout: float = 0.1
    diffusion_steps: int = 1000
    sampling_steps: int = 8
    s_audio: float = 1.0            # guidance weight of the audio
    s_guide: float = 1.5            # guidance weight of the guide keyframes
    p_drop_audio: float = 0.1
    p_drop_guide: float = 0.15
    velocity_weight: float = 1.0
    chunk_frames: int = 120
    overlap_frames: int = 30


class BodyDenoiser(nn.Module):
    """network(x_t, t, cond, audio_on, guide_on) -> predicted noise (B, D, T) (module docstring); inside it
    predicts the clean motion (:meth:`predict_x0`) and returns the noise that implies."""

    def __init__(self, config: BodyDiffusionConfig):
        super().__init__()
        self.config = config
        self.register_buffer("alphas_cumprod", cosine_alphas_cumprod(config.diffusion_steps).float(), persistent=False)
        C, E = config.channels, config.embed
        self.inp = nn.Conv1d(POSE_DIMS, C, 1)
        self.audio = nn.Conv1d(config.encoder.channels, C, 1)
        self.audio_null = nn.Parameter(torch.zeros(C))
        self.guide = nn.Conv1d(POSE_DIMS, C, 1)
        self.guide_null = nn.Parameter(torch.zeros(C))
        self.time = nn.Sequential(nn.Linear(E, E), nn.GELU(), nn.Linear(E, E))
        self.emotion = nn.Linear(len(EMOTIONS), E)
        self.blocks = nn.ModuleList(FiLMBlock(C, E, d, config.dropout) for d in config.dilations)
        self.out_norm = ChannelNorm(C)
        self.out = nn.Conv1d(C, POSE_DIMS, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, t, cond, audio_on, guide_on):
        ab = self.alphas_cumprod[t][:, None, None]                               # (B, 1, 1)
        x0 = self.predict_x0(x, t, cond, audio_on, guide_on)
        return (x - ab.sqrt() * x0) / (1 - ab).sqrt()

    def predict_x0(self, x, t, cond, audio_on, guide_on):
        a = self.audio(cond["audio"])                                            # (B, C, T)
        a = torch.where(audio_on[:, None, None], a, self.audio_null[None, :, None].expand_as(a))
        g = self.guide(cond["guide"])                                            # (B, C, T)
        g = torch.where(guide_on[:, None, None], g, self.guide_null[None, :, None].expand_as(g))
        emb = self.time(timestep_embedding(t, self.config.embed)) + self.emotion(cond["emotion"])   # (B, E)
        h = self.inp(x) + a + g
        for block in self.blocks:
            h = block(h, emb)
        return self.out(F.gelu(self.out_norm(h)))                               # (B, D, T)


def upsample_keys(keys: torch.Tensor, n_frames: int, frames_per_key: int) -> torch.Tensor:
    """(B, S, D) keyframes at frames s * F + F // 2 -> (B, D, T) linear in between, held at both ends."""
    B, S, D = keys.shape
    pos = (torch.arange(n_frames, dtype=torch.float32, device=keys.device) - frames_per_key // 2) / frames_per_key
    pos = pos.clamp(0, S - 1)
    i0 = pos.floor().long()
    i1 = (i0 + 1).clamp(max=S - 1)
    w = (pos - i0.float())[None, :, None]                                       # (1, T, 1)
    y = keys[:, i0] * (1 - w) + keys[:, i1] * w                                 # (B, T, D)
    return y.transpose(1, 2)


class BodyDiffusion(nn.Module):
    """Encoder + denoiser + the normalisation of mel and poses (buffers)."""

    def __init__(self, config: BodyDiffusionConfig = BodyDiffusionConfig()):
        super().__init__()
        self.config = config
        self.mel_norm = MelNorm(config.encoder.mel.n_mels)
        self.pose_norm = PoseNorm()
        self.encoder = AudioEncoder(config.encoder)
        self.denoiser = BodyDenoiser(config)

    def diffusion(self) -> GaussianDiffusion:
        return GaussianDiffusion(self.denoiser, steps=self.config.diffusion_steps)

    def loss(self, mel, emotion, x0, guide, mask, *, generator: torch.Generator | None = None,
             p_drop: tuple[float, float] | None = None):
        """mel (B, ratio T, M) normalised, x0 and guide (B, D, T) normalised poses, mask (B, T) -> the masked
        MSE of the clean-motion estimate plus ``velocity_weight`` times that of its frame-to-frame change (the
        motion-diffusion objective of MDM, Tevet et al. 2023), at steps drawn uniformly; conditions dropped at
        random for guidance."""
        c = self.config
        pa, pg = p_drop if p_drop is not None else (c.p_drop_audio, c.p_drop_guide)
        diff = self.diffusion()
        B, dev = x0.shape[0], x0.device
        t = torch.randint(0, diff.steps, (B,), generator=generator, device=dev)
        noise = torch.randn(x0.shape, generator=generator, device=dev)
        audio_on = torch.rand(B, generator=generator, device=dev) >= pa
        guide_on = torch.rand(B, generator=generator, device=dev) >= pg
        cond = {"audio": self.encoder(mel).transpose(1, 2), "guide": guide, "emotion": emotion}
        x0_hat = self.denoiser.predict_x0(diff.q_sample(x0, t, noise), t, cond, audio_on, guide_on)
        err = ((x0_hat - x0) ** 2).mean(1)                                       # (B, T)
        vel = ((x0_hat.diff(dim=-1) - x0.diff(dim=-1)) ** 2).mean(1)             # (B, T - 1)
        m, mv = mask, mask[:, 1:] * mask[:, :-1]
        return (err * m).sum() / m.sum().clamp(min=1) + c.velocity_weight * (vel * mv).sum() / mv.sum().clamp(min=1)

    @torch.no_grad()
    def sample(self, mel, emotion, guide, *, generator: torch.Generator | None = None,
               sampling_steps: int | None = None, s_audio: float | None = None, s_guide: float | None = None,
               chunk_frames: int | None = None, overlap_frames: int | None = None) -> torch.Tensor:
        """mel (1, ratio T, M) normalised, emotion (1, 7), guide (1, D, T) -> (1, D, T) normalised poses."""
        c = self.config
        L = chunk_frames or c.chunk_frames
        O = c.overlap_frames if overlap_frames is None else overlap_frames
        if not 0 <= O < L:
            raise ValueError(f"overlap {O} frames must be below the chunk's {L}")
        feats = self.encoder(mel).transpose(1, 2)                                # (1, C, T)
        T = guide.shape[-1]
        out = torch.zeros_like(guide)
        start, prev_end = 0, 0
        while True:
            end = min(T, start + L)
            known = prev_end - start                                             # frames already sampled
            cond = {"audio": feats[..., start:end], "guide": guide[..., start:end], "emotion": emotion}
            x = ddim_inpaint(self.diffusion(), cond, out[..., start:end], known, generator=generator,
                             sampling_steps=sampling_steps or c.sampling_steps,
                             s_audio=c.s_audio if s_audio is None else s_audio,
                             s_guide=c.s_guide if s_guide is None else s_guide)
            if known > 0:                                                        # cross-fade the overlap
                w = torch.linspace(0, 1, known + 2, device=x.device)[1:-1]
                x[..., :known] = out[..., start:start + known] * (1 - w) + x[..., :known] * w
            out[..., start:end] = x
            prev_end = end
            if end >= T:
                return out
            start = end - O


def ddim_inpaint(diffusion: GaussianDiffusion, cond: dict, known_x0: torch.Tensor, known: int, *,
                 generator: torch.Generator | None, sampling_steps: int, s_audio: float, s_guide: float):
    """(B, D, L) DDIM sample (eta 0) with two-condition guidance whose first ``known`` frames follow
    ``known_x0`` (replaced at every step by it noised to that step)."""
    net, ab = diffusion.network, diffusion.alphas_cumprod.to(known_x0.device)
    shape = known_x0.shape
    x = torch.randn(shape, generator=generator, device=known_x0.device)
    noise = torch.randn(shape, generator=generator, device=known_x0.device)
    ts = torch.linspace(diffusion.steps - 1, 0, sampling_steps).round().long().tolist()
    B = shape[0]
    on = torch.ones(B, dtype=torch.bool, device=x.device)
    off = ~on
    c3 = {k: torch.cat([v, v, v]) for k, v in cond.items()}
    a3, g3 = torch.cat([off, on, on]), torch.cat([off, off, on])
    for k, t in enumerate(ts):
        if known > 0:
            x[..., :known] = ab[t].sqrt() * known_x0[..., :known] + (1 - ab[t]).sqrt() * noise[..., :known]
        e0, ea, eag = net(torch.cat([x, x, x]), torch.full((3 * B,), t, dtype=torch.long, device=x.device),
                          c3, a3, g3).chunk(3)
        eps = e0 + s_audio * (ea - e0) + s_guide * (eag - ea)
        x0 = ((x - (1 - ab[t]).sqrt() * eps) / ab[t].sqrt()).clamp(-X0_CLIP, X0_CLIP)   # = the network's x0
        eps = (x - ab[t].sqrt() * x0) / (1 - ab[t]).sqrt()                       # consistent with the clipped x0
        if k + 1 == len(ts):
            return x0
        a_next = ab[ts[k + 1]]
        x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps
    return x


def seam_jump_deg(poses: np.ndarray, borders) -> float:
    """Largest frame-to-frame change (degrees, any joint component of (T, J, 3) axis-angle) at ``borders``."""
    d = np.rad2deg(np.abs(np.diff(poses, axis=0))).max(axis=(1, 2))             # (T - 1,)
    return float(max(d[b - 1] for b in borders)) if len(borders) else 0.0
