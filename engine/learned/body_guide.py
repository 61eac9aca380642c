"""Guide transformer: an autoregressive plan of pose codes at one keyframe a second, conditioned on the audio.

Speech predicts gesture only loosely, so the coarse plan is *sampled* rather than regressed (Audio2Photoreal,
Ng et al. 2024: guide poses from a VQ codebook, then diffusion fills in the detail). Keyframe ``s`` is the
pose at the middle of second ``s`` (frame ``s * F + F // 2`` with ``F`` = frames per keyframe). Its code is
predicted from

- the previous code (a learned begin token at the start of a plan),
- what was heard during second ``s``: the shared :class:`engine.learned.encoder.AudioEncoder`'s features
  averaged over the second, plus prosody of the normalised log-mel (mean, spread and peak of the frame
  energy over the second),
- the clip's emotion vector (:data:`rigs.core.emotions.EMOTIONS` order),

by a small causal transformer (nanoGPT's blocks: pre-norm attention and MLP). A plan is sampled block by
block of ``context`` keyframes, each block starting from the previous block's last code, exactly as the
training windows do; sampling uses temperature and nucleus (top-p, Holtzman et al. 2020) truncation with a
seeded generator.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.learned.encoder import AudioEncoder, EncoderConfig
from rigs.core.emotions import EMOTIONS

PROSODY_DIMS = 3          # energy mean, std and max over a keyframe's second


@dataclass(frozen=True)
class GuideConfig:
    encoder: EncoderConfig = EncoderConfig(channels=64, dilations=(1, 2, 4, 8, 1, 2, 4, 8))
    codebook_size: int = 128
    frames_per_key: int = 30          # F: one keyframe per second at 30 fps
    context: int = 4                  # keyframes per block (the corpus window's length in seconds)
    d_model: int = 96
    n_layers: int = 2
    n_heads: int = 4
    dropout: float = 0.1


class MelNorm(nn.Module):
    """Corpus log-mel statistics (buffers), for :func:`engine.learned.features.normalize_mel`."""

    def __init__(self, n_mels: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_mels))
        self.register_buffer("std", torch.ones(n_mels))


def pool_keys(x: torch.Tensor, frames_per_key: int) -> torch.Tensor:
    """(B, T, C) -> (B, S, C) means over consecutive blocks of ``frames_per_key`` frames, S = ceil(T / F);
    the last block averages the frames it has."""
    B, T, C = x.shape
    S = -(-T // frames_per_key)
    pad = S * frames_per_key - T
    xs = F.pad(x, (0, 0, 0, pad)).reshape(B, S, frames_per_key, C)               # (B, S, F, C)
    n = torch.full((S,), float(frames_per_key), device=x.device)
    n[-1] = frames_per_key - pad
    return xs.sum(2) / n[None, :, None]


def key_prosody(mel: torch.Tensor, frames_per_key: int, feature_ratio: int) -> torch.Tensor:
    """(B, ratio * T, M) normalised log-mel -> (B, S, 3): energy mean, std, max per keyframe second."""
    e = mel.mean(-1, keepdim=True)                                               # (B, Fm, 1)
    per = frames_per_key * feature_ratio
    mean = pool_keys(e, per)
    std = (pool_keys(e * e, per) - mean ** 2).clamp(min=0).sqrt()
    B, Fm, _ = e.shape
    S = mean.shape[1]
    mx = F.pad(e, (0, 0, 0, S * per - Fm), value=-1e4).reshape(B, S, per).amax(-1, keepdim=True)
    return torch.cat([mean, std, mx], -1)


class Block(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d), nn.Dropout(dropout))
        self.heads = heads
        self.dropout = dropout

    def forward(self, x):                                                        # (B, S, d)
        B, S, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (t.reshape(B, S, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))  # (B, H, S, d/H)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        x = x + self.proj(y.transpose(1, 2).reshape(B, S, d))
        return x + self.mlp(self.ln2(x))


class BodyGuide(nn.Module):
    """Audio (normalised log-mel) + emotion -> logits over the next pose code, keyframe by keyframe."""

    def __init__(self, config: GuideConfig = GuideConfig()):
        super().__init__()
        self.config = config
        c, d = config, config.d_model
        self.mel_norm = MelNorm(c.encoder.mel.n_mels)
        self.encoder = AudioEncoder(c.encoder)
        self.audio = nn.Linear(c.encoder.channels + PROSODY_DIMS, d)
        self.emotion = nn.Linear(len(EMOTIONS), d)
        self.tok = nn.Embedding(c.codebook_size + 1, d)                           # + the begin token
        self.pos = nn.Parameter(torch.zeros(c.context, d))
        self.blocks = nn.ModuleList(Block(d, c.n_heads, c.dropout) for _ in range(c.n_layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, c.codebook_size)

    @property
    def begin(self) -> int:
        return self.config.codebook_size

    def condition(self, mel, emotion):
        """(B, ratio T, M) normalised mel, (B, 7) -> (B, S, d) per-keyframe conditions."""
        c = self.config
        feats = pool_keys(self.encoder(mel), c.frames_per_key)                    # (B, S, C)
        pros = key_prosody(mel, c.frames_per_key, c.encoder.mel.feature_ratio)    # (B, S, 3)
        return self.audio(torch.cat([feats, pros], -1)) + self.emotion(emotion)[:, None]

    def logits(self, cond, prev_codes):
        """cond (B, S <= context, d), prev_codes (B, S) (code before each keyframe) -> (B, S, K)."""
        S = cond.shape[1]
        h = cond + self.tok(prev_codes) + self.pos[:S]
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln(h))

    def loss(self, mel, emotion, codes, first_prev, mask) -> tuple[torch.Tensor, dict]:
        """Teacher-forced cross-entropy. codes (B, S) keyframe codes of the window, first_prev (B,) the code
        before it (``begin`` when none), mask (B, S) keyframes with real labels."""
        cond = self.condition(mel, emotion)[:, :codes.shape[1]]
        prev = torch.cat([first_prev[:, None], codes[:, :-1]], 1)                # (B, S)
        lg = self.logits(cond, prev)
        ce = F.cross_entropy(lg.reshape(-1, lg.shape[-1]), codes.reshape(-1), reduction="none").reshape(codes.shape)
        loss = (ce * mask).sum() / mask.sum().clamp(min=1)
        acc = ((lg.argmax(-1) == codes).float() * mask).sum() / mask.sum().clamp(min=1)
        return loss, {"loss": float(loss.detach()), "acc": float(acc)}

    @torch.no_grad()
    def sample(self, mel, emotion, *, generator: torch.Generator | None = None, temperature: float = 1.0,
               top_p: float = 0.9) -> torch.Tensor:
        """(1, ratio T, M) normalised mel, (1, 7) -> (S,) sampled codes, S = ceil(T / frames_per_key)."""
        cond = self.condition(mel, emotion)[0]                                   # (S, d)
        S, ctx = cond.shape[0], self.config.context
        codes: list[int] = []
        prev_block_last = self.begin
        for b0 in range(0, S, ctx):
            block = [prev_block_last]
            for s in range(b0, min(S, b0 + ctx)):
                lg = self.logits(cond[None, b0:s + 1], torch.tensor([block], device=cond.device))[0, -1]
                code = nucleus_sample(lg, temperature=temperature, top_p=top_p, generator=generator)
                codes.append(code)
                block.append(code)
            prev_block_last = codes[-1]
        return torch.tensor(codes, dtype=torch.long)


def nucleus_sample(logits: torch.Tensor, *, temperature: float, top_p: float,
                   generator: torch.Generator | None = None) -> int:
    """One index from (K,) logits: temperature (0: greedy), then the smallest set of most probable indices
    whose probability reaches ``top_p``."""
    if temperature <= 0:
        return int(logits.argmax())
    p = torch.softmax(logits.float() / temperature, -1)
    ps, idx = p.sort(descending=True)
    keep = ps.cumsum(0) - ps < top_p                                            # always keeps the first
    ps = ps * keep
    k = torch.multinomial(ps / ps.sum(), 1, generator=generator)
    return int(idx[k])
