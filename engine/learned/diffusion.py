"""Gaussian diffusion over motion sequences: DDPM training, DDIM sampling, classifier-free guidance.

A plain class that takes the denoising network as an argument, after improved-diffusion's
``gaussian_diffusion.py`` (Nichol & Dhariwal 2021): the cosine noise schedule, the epsilon-prediction
objective of DDPM (Ho et al. 2020) and deterministic DDIM sampling on a few evenly spaced steps (Song et al.
2021). Guidance follows classifier-free guidance (Ho & Salimans 2022) with two conditions, as in
InstructPix2Pix (Brooks et al. 2023): audio, then emotion on top of it,

    eps = eps(-, -) + s_audio * (eps(a, -) - eps(-, -)) + s_emotion * (eps(a, e) - eps(a, -)).

The network is called as ``network(x_t, t, cond, audio_on, emotion_on)`` with x_t (B, D, T), t (B,) integer
steps, cond a dict of condition tensors (the network knows their meaning) and audio_on / emotion_on (B,)
bool masks (False: that condition is dropped, the network's learned null is used instead).
"""
from __future__ import annotations

import math

import torch


def cosine_alphas_cumprod(steps: int, s: float = 0.008) -> torch.Tensor:
    """(steps,) float64 alpha-bar of the cosine schedule, clipped so beta <= 0.999."""
    t = torch.arange(steps + 1, dtype=torch.float64) / steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, dim=0)


class GaussianDiffusion:
    def __init__(self, network, *, steps: int = 1000):
        self.network = network
        self.steps = steps
        self.alphas_cumprod = cosine_alphas_cumprod(steps).float()            # (S,)

    def q_sample(self, x0, t, noise):
        """x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) noise; x0, noise (B, D, T), t (B,)."""
        ab = self.alphas_cumprod.to(x0.device)[t][:, None, None]              # (B, 1, 1)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def training_loss(self, x0, cond: dict, mask, *, p_drop_audio: float = 0.1, p_drop_emotion: float = 0.2,
                      generator: torch.Generator | None = None):
        """Masked epsilon MSE. x0 (B, D, T); mask (B, T) float; conditions dropped at random for guidance."""
        B = x0.shape[0]
        dev = x0.device
        t = torch.randint(0, self.steps, (B,), generator=generator, device=dev)
        noise = torch.randn(x0.shape, generator=generator, device=dev)
        audio_on = torch.rand(B, generator=generator, device=dev) >= p_drop_audio
        emotion_on = torch.rand(B, generator=generator, device=dev) >= p_drop_emotion
        eps = self.network(self.q_sample(x0, t, noise), t, cond, audio_on, emotion_on)
        err = ((eps - noise) ** 2).mean(1)                                    # (B, T)
        return (err * mask).sum() / mask.sum().clamp(min=1)

    def _guided_eps(self, x, t, cond, s_audio: float, s_emotion: float):
        B = x.shape[0]
        on, off = torch.ones(B, dtype=torch.bool, device=x.device), torch.zeros(B, dtype=torch.bool, device=x.device)
        # three passes in one batch: (-, -), (a, -), (a, e)
        x3 = torch.cat([x, x, x])                                             # (3B, D, T)
        t3 = torch.full((3 * B,), int(t), dtype=torch.long, device=x.device)
        c3 = {k: torch.cat([v, v, v]) for k, v in cond.items()}
        eps = self.network(x3, t3, c3, torch.cat([off, on, on]), torch.cat([off, off, on]))
        e0, ea, eae = eps.chunk(3)
        return e0 + s_audio * (ea - e0) + s_emotion * (eae - ea)

    @torch.no_grad()
    def ddim_sample(self, shape, cond: dict, *, sampling_steps: int = 10, s_audio: float = 1.5,
                    s_emotion: float = 1.0, generator: torch.Generator | None = None, device="cpu"):
        """(B, D, T) sample from noise with ``sampling_steps`` deterministic DDIM steps (eta = 0)."""
        x = torch.randn(shape, generator=generator, device=device)
        ts = torch.linspace(self.steps - 1, 0, sampling_steps).round().long().tolist()
        ab = self.alphas_cumprod.to(device)
        for k, t in enumerate(ts):
            eps = self._guided_eps(x, t, cond, s_audio, s_emotion)
            x0 = (x - (1 - ab[t]).sqrt() * eps) / ab[t].sqrt()
            if k + 1 == len(ts):
                return x0
            a_next = ab[ts[k + 1]]
            x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps
        return x
