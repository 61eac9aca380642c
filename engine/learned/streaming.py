"""The lip regressor run frame by frame: a streaming form of :class:`~engine.learned.encoder.AudioEncoder`.

Every convolution of the encoder is causal, so a stream can keep, per layer, the inputs its next outputs still
read (the last ``(kernel - 1) * dilation`` inputs, and for the stride-4 down-sampling the inputs of the
incomplete frame) and compute only the new columns: a 30 fps frame costs 4 stem columns, one down-sampling
column and one column per residual block instead of the whole receptive field (the "fast wavenet" cache of
Paine et al. 2016, "Fast Wavenet Generation Algorithm"). The caches start as zeros, which is exactly the
zero padding of the offline convolutions, so :class:`LipStepper` gives the offline
:class:`~engine.learned.lipsync.LipRegressor` outputs on the same normalised rows (up to float rounding) for any
split of the rows into calls.

Timing is the encoder's: rows 0..R-1 (R = ``lookahead_feature_frames``) are only look-ahead (the offline
encoder shifts its input by R rows), and output frame ``t`` is complete once row ``4 t + R`` has arrived.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from engine.learned.lipsync import LipRegressor
from rigs.core.arkit import NUM_CHANNELS


def receptive_rows(model: LipRegressor) -> int:
    """Feature rows of past (before a frame's own row) the regressor's output reads: stem + down-sampling +
    the residual blocks' dilated convolutions (2 frames of ``ratio`` rows per unit of dilation)."""
    enc = model.encoder
    ratio = enc.config.mel.feature_ratio
    return enc.stem.left + enc.down.left + ratio * sum(b.conv.left for b in enc.blocks)


class _ConvCache:
    """The inputs a causal ``nn.Conv1d`` (kernel k, dilation d, stride s) still needs: starts as the zero padding
    of the offline layer; ``__call__`` appends (C, n) new inputs and returns the (C_out, m) outputs they complete."""

    def __init__(self, conv: torch.nn.Conv1d):
        self.conv = conv
        self.span = (conv.kernel_size[0] - 1) * conv.dilation[0] + 1        # inputs one output reads
        self.stride = conv.stride[0]
        self.buf = torch.zeros(conv.in_channels, self.span - 1)            # (C_in, held)
        k, d = conv.kernel_size[0], conv.dilation[0]
        self.taps = torch.arange(k) * d                                    # (k,) input offsets of one output
        self.weight = conv.weight.detach().permute(0, 2, 1).reshape(conv.out_channels, -1)   # (C_out, k * C_in)
        self.bias = conv.bias.detach()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:                   # (C_in, n) -> (C_out, m)
        buf = torch.cat([self.buf, x], dim=1)
        m = (buf.shape[1] - self.span) // self.stride + 1 if buf.shape[1] >= self.span else 0
        if m <= 0:
            self.buf = buf
            return x.new_zeros(self.conv.out_channels, 0)
        # a few output columns: one matmul over the gathered taps is cheaper than conv1d's set-up
        idx = (torch.arange(m) * self.stride)[:, None] + self.taps[None, :]   # (m, k)
        cols = buf.T[idx].reshape(m, -1)                                   # (m, k * C_in)
        y = torch.addmm(self.bias, cols, self.weight.T).T                  # (C_out, m)
        self.buf = buf[:, m * self.stride:]
        return y


class LipStepper:
    """Per-stream state of a :class:`LipRegressor` in eval mode: :meth:`push` takes normalised log-mel rows
    (n, n_mels) in stream order and returns the heads of the frames they complete (module docstring)."""

    def __init__(self, model: LipRegressor, emotion: np.ndarray):
        if model.training:
            raise ValueError("LipStepper needs a model in eval mode (dropout off)")
        self.model = model
        enc = model.encoder
        self.skip = enc.config.lookahead_feature_frames          # rows that are only look-ahead
        self.stem = _ConvCache(enc.stem)
        self.down = _ConvCache(enc.down)
        self.blocks = [(b, _ConvCache(b.conv)) for b in enc.blocks]
        with torch.no_grad():
            e = torch.as_tensor(np.asarray(emotion, np.float32))[None]
            self.bias = model.emotion(e)[0]                            # (C,)

    def _empty(self) -> dict[str, np.ndarray]:
        L = self.model.config.num_lip_vertices
        return {"expression": np.zeros((0, NUM_CHANNELS), np.float32),
                "lip_offsets_mm": np.zeros((0, L, 3), np.float32), "head_rad": np.zeros((0, 3), np.float32),
                "p_closed": np.zeros(0, np.float32)}

    @torch.no_grad()
    def push(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """rows (n, n_mels) -> float32 numpy ``expression`` (m, 52), ``lip_offsets_mm`` (m, L, 3),
        ``head_rad`` (m, 3), ``p_closed`` (m,) for the m frames completed (m may be 0)."""
        x = torch.from_numpy(np.ascontiguousarray(rows, np.float32))    # (n, M)
        if self.skip:
            k = min(self.skip, len(x))
            x, self.skip = x[k:], self.skip - k
        h = F.gelu(self.down(F.gelu(self.stem(x.T))))                   # stem: (C, n) -> down: (C, m)
        if h.shape[1] == 0:                                             # no frame completed yet
            return self._empty()
        for block, cache in self.blocks:                                # (C, m) each
            u = F.gelu(block.norm.norm(h.T).T)
            h = h + torch.addmm(block.mix.bias, F.gelu(cache(u)).T, block.mix.weight[:, :, 0].T).T
        feats = (self.model.encoder.norm.norm(h.T) + self.bias)[None]   # (1, m, C)
        out = self.model.heads(feats)
        return {"expression": out["expression"][0].numpy(), "lip_offsets_mm": out["lip_offsets_mm"][0].numpy(),
                "head_rad": out["head_rad"][0].numpy(), "p_closed": torch.sigmoid(out["closed_logit"][0]).numpy()}


@torch.no_grad()
def lips_forward(model: LipRegressor, mel: np.ndarray, emotion: np.ndarray) -> dict[str, np.ndarray]:
    """The offline forward pass in numpy: mel (B, F, n_mels) normalised rows, emotion (7,) -> float32
    ``expression`` (B, T, 52), ``lip_offsets_mm`` (B, T, L, 3), ``head_rad`` (B, T, 3), ``p_closed`` (B, T)."""
    x = torch.from_numpy(np.ascontiguousarray(mel, np.float32))
    e = torch.from_numpy(np.asarray(emotion, np.float32))[None].expand(len(x), -1)
    out = model(x, e)
    return {"expression": out["expression"].numpy(), "lip_offsets_mm": out["lip_offsets_mm"].numpy(),
            "head_rad": out["head_rad"].numpy(), "p_closed": torch.sigmoid(out["closed_logit"]).numpy()}


def set_threads(n: int) -> None:
    """Intra-op threads of torch (the streaming path is fastest on one: its tensors are tiny)."""
    torch.set_num_threads(int(n))
