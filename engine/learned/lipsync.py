"""The fast deterministic path: audio -> mouth (ARKit-52, lip-region vertices, lips-closed probability) + head.

Karras et al. 2017-style regression from the shared :class:`~engine.learned.encoder.AudioEncoder` (plus an
emotion vector added to its features), with Audio2Photoreal's lip path as a target: the offsets of the ICT
lip-region vertices from the template's neutral, in mm. Four linear heads per frame:

- ``expression`` (T, 52) in [0, 1] (sigmoid); the animator keeps the mouth channels (:mod:`.layout`);
- ``lip_offsets_mm`` (T, L, 3);
- ``head_rad`` (T, 3);
- ``closed_logit`` (T,): the lips-closed head, trained with a focal loss on the bilabial (p, b, m) frames of the
  corpus's phones. Plain regression smears or erases short closures (the prototype of issue 11: L1 drove
  mouthClose to zero); this head's firing is turned into lip contact by the animator
  (:func:`engine.animators.neural.contact.enforce_contact`).

:func:`lip_loss` is position + velocity (Karras's motion term) + contact: every frame's position error is
weighted up on bilabials and open vowels (missed closures and false openings cost more) and the closed head
gets the focal loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.learned.encoder import AudioEncoder, EncoderConfig
from engine.learned.layout import HEAD_DIMS
from rigs.core.arkit import NUM_CHANNELS
from rigs.core.emotions import EMOTIONS


@dataclass(frozen=True)
class LipConfig:
    encoder: EncoderConfig = EncoderConfig()
    num_lip_vertices: int = 299
    lip_scale_mm: float = 2.0         # lip offsets are predicted in units of this (about their spread)
    head_scale_rad: float = 0.05
    # loss weights
    w_expression: float = 10.0        # ARKit weights are in [0, 1]: MSE x 10 is comparable to lip offsets / scale
    w_lips: float = 1.0
    w_head: float = 0.2
    w_velocity: float = 2.0
    w_bilabial: float = 4.0           # extra position weight on p/b/m frames
    w_open_vowel: float = 1.0         # extra position weight on open-vowel frames
    w_closed: float = 1.0             # focal loss of the lips-closed head
    focal_gamma: float = 2.0
    focal_alpha: float = 0.75         # weight of the (rare) closed class


class LipRegressor(nn.Module):
    """(B, 4T, n_mels) normalised log-mel + (B, 7) emotion -> dict of per-frame outputs (module docstring)."""

    def __init__(self, config: LipConfig):
        super().__init__()
        self.config = config
        C, L = config.encoder.channels, config.num_lip_vertices
        self.encoder = AudioEncoder(config.encoder)
        self.emotion = nn.Linear(len(EMOTIONS), C)
        self.head_out = nn.Linear(C, NUM_CHANNELS + 3 * L + HEAD_DIMS + 1)
        # buffers travel with the weights: the corpus statistics of the mel normalisation
        self.register_buffer("mel_mean", torch.zeros(config.encoder.mel.n_mels))
        self.register_buffer("mel_std", torch.ones(config.encoder.mel.n_mels))

    def features(self, mel, emotion):                           # (B, F, M), (B, 7) -> (B, T, C)
        return self.encoder(mel) + self.emotion(emotion)[:, None, :]

    def heads(self, h) -> dict[str, torch.Tensor]:
        B, T, _ = h.shape
        L, cfg = self.config.num_lip_vertices, self.config
        y = self.head_out(h)                                    # (B, T, 52 + 3L + 3 + 1)
        e, lips, head, closed = torch.split(y, [NUM_CHANNELS, 3 * L, HEAD_DIMS, 1], dim=-1)
        return {"expression": torch.sigmoid(e),                 # (B, T, 52)
                "lip_offsets_mm": lips.view(B, T, L, 3) * cfg.lip_scale_mm,
                "head_rad": head * cfg.head_scale_rad,          # (B, T, 3)
                "closed_logit": closed.squeeze(-1),             # (B, T)
                "features": h}

    def forward(self, mel, emotion) -> dict[str, torch.Tensor]:
        return self.heads(self.features(mel, emotion))


def focal_bce(logit, target, *, gamma: float, alpha: float):
    """Per-element focal loss (Lin et al. 2017) of logits against 0/1 targets."""
    ce = F.binary_cross_entropy_with_logits(logit, target, reduction="none")
    p = torch.sigmoid(logit)
    pt = p * target + (1 - p) * (1 - target)
    at = alpha * target + (1 - alpha) * (1 - target)
    return at * (1 - pt) ** gamma * ce


def lip_loss(out: dict, batch: dict, config: LipConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts. batch: expression (B,T,52), lip_offsets_mm (B,T,L,3), head_rad (B,T,3),
    bilabial/open_vowel/mask (B,T) float, has_lips/has_head (B,) float."""
    c = config
    m = batch["mask"]                                           # (B, T)
    wf = m * (1 + c.w_bilabial * batch["bilabial"] + c.w_open_vowel * batch["open_vowel"])
    norm = m.sum().clamp(min=1)

    def pos_vel(pred, target, scale, has=None):                 # (B, T, ...) -> two scalars
        err = ((pred - target) / scale) ** 2
        err = err.flatten(2).mean(-1)                           # (B, T)
        dv = ((pred[:, 1:] - pred[:, :-1]) - (target[:, 1:] - target[:, :-1])) / scale
        verr = (dv ** 2).flatten(2).mean(-1)                    # (B, T-1)
        hw = 1.0 if has is None else has[:, None]
        pos = (err * wf * hw).sum() / norm
        vel = (verr * (m[:, 1:] * m[:, :-1]) * hw).sum() / norm
        return pos, vel

    pe, ve = pos_vel(out["expression"], batch["expression"], 1.0)
    pl, vl = pos_vel(out["lip_offsets_mm"], batch["lip_offsets_mm"], c.lip_scale_mm, batch["has_lips"])
    ph, vh = pos_vel(out["head_rad"], batch["head_rad"], c.head_scale_rad, batch["has_head"])
    mp = m * batch["has_phones"][:, None] if "has_phones" in batch else m   # windows without phones: no contact loss
    closed = (focal_bce(out["closed_logit"], batch["bilabial"], gamma=c.focal_gamma, alpha=c.focal_alpha)
              * mp).sum() / mp.sum().clamp(min=1)
    pos = c.w_expression * pe + c.w_lips * pl + c.w_head * ph
    vel = c.w_velocity * (c.w_expression * ve + c.w_lips * vl + c.w_head * vh)
    total = pos + vel + c.w_closed * closed
    parts = {"loss": total, "position": pos, "velocity": vel, "closed": closed}
    return total, {k: float(v.detach()) for k, v in parts.items()}
