"""The audio encoder shared by the learned face models: normalised log-mel at 4 x fps -> features at fps.

A temporal conv stack in the spirit of Karras et al. 2017 (articulation network over a short audio window)
and the audio encoders of Audio2Photoreal (Ng et al., CVPR 2024), sized for a CPU:

    (B, F = 4T, n_mels) --shift by R frames--> causal conv k5 --causal conv k4 stride 4--> (B, C, T)
        --> n_blocks residual blocks [ChannelNorm, GELU, causal dilated conv k3, GELU, 1x1 conv]
        --> (B, T, C)

Every convolution is causal (padded on the left only); the one fixed right context is the input shift:
feature frame j is replaced by frame j + R before the causal stack, so output frame i (clip time i / fps =
feature frame 4i) sees audio up to feature frame 4i + R. **Look-ahead** = R / feature_fps + the half
analysis window of the log-mel (n_fft / 2 samples) = 10 / 120 s + 256 / 16000 s = 83.3 + 16.0 = 99.3 ms
with the defaults. The receptive field into the past is 4 + 3 feature frames plus
2 * sum(dilations) clip frames (1 s with the defaults). The same weights can therefore stream with a fixed
latency of one look-ahead.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn
import torch.nn.functional as F

from engine.learned.features import MelConfig


@dataclass(frozen=True)
class EncoderConfig:
    mel: MelConfig = MelConfig()
    channels: int = 128
    dilations: tuple[int, ...] = (1, 2, 4, 8, 1, 2, 4, 8)
    lookahead_feature_frames: int = 10       # R: the fixed right context, in feature frames
    dropout: float = 0.1

    @property
    def lookahead_s(self) -> float:
        return self.lookahead_feature_frames / self.mel.feature_fps + self.mel.window_lookahead_s


class ChannelNorm(nn.Module):
    """LayerNorm over channels of (B, C, T), frame by frame (causal: no statistics across time)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x):                                       # (B, C, T)
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class CausalConv(nn.Conv1d):
    """Conv1d padded on the left only: output t depends on inputs <= t * stride."""

    def __init__(self, cin: int, cout: int, kernel: int, *, stride: int = 1, dilation: int = 1):
        super().__init__(cin, cout, kernel, stride=stride, dilation=dilation)
        self.left = (kernel - 1) * dilation

    def forward(self, x):                                       # (B, Cin, L) -> (B, Cout, L // stride)
        return super().forward(F.pad(x, (self.left, 0)))


class ResBlock(nn.Module):
    def __init__(self, channels: int, dilation: int, dropout: float, *, causal: bool = True):
        super().__init__()
        self.norm = ChannelNorm(channels)
        self.conv = CausalConv(channels, channels, 3, dilation=dilation) if causal else \
            nn.Conv1d(channels, channels, 3, dilation=dilation, padding=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):                                       # (B, C, T) -> (B, C, T)
        return x + self.drop(self.mix(F.gelu(self.conv(F.gelu(self.norm(x))))))


class AudioEncoder(nn.Module):
    """(B, 4T, n_mels) normalised log-mel -> (B, T, C) features; see the module docstring for the timing."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        C, M, ratio = config.channels, config.mel.n_mels, config.mel.feature_ratio
        self.stem = CausalConv(M, C, 5)
        self.down = CausalConv(C, C, ratio, stride=ratio)
        self.blocks = nn.ModuleList(ResBlock(C, d, config.dropout) for d in config.dilations)
        self.norm = ChannelNorm(C)

    def forward(self, mel):                                     # (B, F, M), F = ratio * T
        R = self.config.lookahead_feature_frames
        x = mel.transpose(1, 2)                                 # (B, M, F)
        x = F.pad(x, (0, R))[:, :, R:]                          # (B, M, F): frame j now holds frame j + R
        h = F.gelu(self.down(F.gelu(self.stem(x))))             # (B, C, T)
        for block in self.blocks:
            h = block(h)
        return self.norm(h).transpose(1, 2)                     # (B, T, C)
