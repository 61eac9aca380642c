"""The face-diffusion denoiser: a small FiLM-modulated dilated conv net over the whole sequence.

x_t (B, D, T) -- D = upper-face ARKit channels + head + eyes, normalised (:mod:`.layout`) -- is denoised given
per-frame audio conditions (the shared encoder's features and the fast path's outputs, (B, A, T)) and a
per-clip emotion (B, 7), and, in models with ``style_dims`` > 0, a learned continuous style code (B, S) (Karras et
al. 2017's emotion database: one code per training clip, :class:`engine.learned.face.FaceDiffusion`). The diffusion
step and the emotion (plus the style code, through a bias-free projection, so a zero code adds nothing) modulate
every block by FiLM (Perez et al. 2018: per-channel scale and shift); the audio conditions are added to the input
projection. Dropped conditions (classifier-free guidance) are replaced by learned null vectors; the style code
counts as part of the emotion condition and is dropped with it. Convolutions are not causal: diffusion
samples a whole clip (or a chunk with margins) at once. Receptive field: 2 * sum(dilations) frames each way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.learned.encoder import ChannelNorm
from engine.learned.layout import FACE_DIMS
from rigs.core.emotions import EMOTIONS


@dataclass(frozen=True)
class DenoiserConfig:
    dims: int = FACE_DIMS
    audio_dims: int = 128 + 52 + 1       # encoder features + fast-path expression + lips-closed probability
    channels: int = 96
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 1, 2, 4)
    embed: int = 128
    dropout: float = 0.1
    style_dims: int = 0                  # size of the style code (0: none, as in weights made before it)


def timestep_embedding(t, dim: int):
    """(B,) steps -> (B, dim) sinusoidal embedding (Transformer positions; improved-diffusion's nn.py)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    a = t.float()[:, None] * freqs[None]                                      # (B, half)
    return torch.cat([torch.cos(a), torch.sin(a)], dim=1)


class FiLMBlock(nn.Module):
    def __init__(self, channels: int, embed: int, dilation: int, dropout: float):
        super().__init__()
        self.norm = ChannelNorm(channels)
        self.film = nn.Linear(embed, 2 * channels)
        self.conv = nn.Conv1d(channels, channels, 3, dilation=dilation, padding=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, emb):                                  # (B, C, T), (B, E)
        scale, shift = self.film(emb)[:, :, None].chunk(2, dim=1)            # (B, C, 1) each
        h = self.norm(x) * (1 + scale) + shift
        return x + self.drop(self.mix(F.gelu(self.conv(F.gelu(h)))))


class FaceDenoiser(nn.Module):
    """network(x_t, t, cond, audio_on, emotion_on) -> prediction (B, D, T); cond: ``audio`` (B, A, T),
    ``emotion`` (B, 7), optionally ``style`` (B, S) (absent: the zero code)."""

    def __init__(self, config: DenoiserConfig):
        super().__init__()
        self.config = config
        C, E = config.channels, config.embed
        self.inp = nn.Conv1d(config.dims, C, 1)
        self.audio = nn.Conv1d(config.audio_dims, C, 1)
        self.audio_null = nn.Parameter(torch.zeros(C))
        self.time = nn.Sequential(nn.Linear(E, E), nn.GELU(), nn.Linear(E, E))
        self.emotion = nn.Linear(len(EMOTIONS), E)
        self.emotion_null = nn.Parameter(torch.zeros(E))
        self.style = nn.Linear(config.style_dims, E, bias=False) if config.style_dims else None
        self.blocks = nn.ModuleList(FiLMBlock(C, E, d, config.dropout) for d in config.dilations)
        self.out_norm = ChannelNorm(C)
        self.out = nn.Conv1d(C, config.dims, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, t, cond, audio_on, emotion_on):
        a = self.audio(cond["audio"])                                          # (B, C, T)
        a = torch.where(audio_on[:, None, None], a, self.audio_null[None, :, None].expand_as(a))
        e = self.emotion(cond["emotion"])                                      # (B, E)
        if self.style is not None and cond.get("style") is not None:
            e = e + self.style(cond["style"])
        e = torch.where(emotion_on[:, None], e, self.emotion_null[None])
        emb = self.time(timestep_embedding(t, self.config.embed)) + e          # (B, E)
        h = self.inp(x) + a                                                    # (B, C, T)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(F.gelu(self.out_norm(h)))                             # (B, D, T)
