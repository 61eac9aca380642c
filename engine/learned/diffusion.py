"""Gaussian diffusion over motion sequences: DDPM training, DDIM sampling, classifier-free guidance.

A plain class that takes the denoising network as an argument, after improved-diffusion's
``gaussian_diffusion.py`` (Nichol & Dhariwal 2021): the cosine noise schedule, DDPM training (Ho et al. 2020)
and deterministic DDIM sampling on a few evenly spaced steps (Song et al. 2021). The network predicts either
the noise (``prediction="eps"``, DDPM's objective) or the clean sample (``"x0"``, as motion diffusion models
such as MDM, Tevet et al. 2023, and Audio2Photoreal do): with a few sampling steps x0-prediction stays bounded
where epsilon-prediction divides its error by sqrt(alpha-bar) ~ 0 near t = T. Guidance follows classifier-free guidance (Ho & Salimans 2022) with two conditions, as in
InstructPix2Pix (Brooks et al. 2023): audio, then emotion on top of it,

    eps = eps(-, -) + s_audio * (eps(a, -) - eps(-, -)) + s_emotion * (eps(a, e) - eps(a, -)),

applied to whatever the network predicts (the combination is linear). With s_audio == s_emotion = s it is
eps(-, -) + s * (eps(a, e) - eps(-, -)) (two passes), and with s = 1 the conditional pass alone.

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
    def __init__(self, network, *, steps: int = 1000, prediction: str = "x0"):
        if prediction not in ("x0", "eps"):
            raise ValueError(f"prediction must be 'x0' or 'eps', got {prediction!r}")
        self.network = network
        self.steps = steps
        self.prediction = prediction
        self.alphas_cumprod = cosine_alphas_cumprod(steps).float()            # (S,)

    def q_sample(self, x0, t, noise):
        """x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) noise; x0, noise (B, D, T), t (B,)."""
        ab = self.alphas_cumprod.to(x0.device)[t][:, None, None]              # (B, 1, 1)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def training_loss(self, x0, cond: dict, mask, *, p_drop_audio: float = 0.1, p_drop_emotion: float = 0.2,
                      generator: torch.Generator | None = None, dims=None):
        """Masked MSE of the prediction (noise or clean sample). x0 (B, D, T); mask (B, T) float; conditions
        dropped at random for guidance. ``dims`` (B, D) float 0/1: the dimensions each sample really holds (a
        capture that did not measure some); the others add no error, and their x0 should be a neutral value
        (0 in normalised units) since the network still sees them, noised. None: all."""
        B = x0.shape[0]
        dev = x0.device
        t = torch.randint(0, self.steps, (B,), generator=generator, device=dev)
        noise = torch.randn(x0.shape, generator=generator, device=dev)
        audio_on = torch.rand(B, generator=generator, device=dev) >= p_drop_audio
        emotion_on = torch.rand(B, generator=generator, device=dev) >= p_drop_emotion
        pred = self.network(self.q_sample(x0, t, noise), t, cond, audio_on, emotion_on)
        sq = (pred - (x0 if self.prediction == "x0" else noise)) ** 2                  # (B, D, T)
        if dims is None:
            err = sq.mean(1)                                                             # (B, T)
        else:
            err = (sq * dims[:, :, None]).sum(1) / dims.sum(1, keepdim=True).clamp(min=1)   # (B, T)
        return (err * mask).sum() / mask.sum().clamp(min=1)

    def _guided(self, x, t, cond, s_audio: float, s_emotion: float):
        """The guided prediction at step t (module docstring), in as few network passes as the scales allow."""
        B = x.shape[0]
        on, off = torch.ones(B, dtype=torch.bool, device=x.device), torch.zeros(B, dtype=torch.bool, device=x.device)
        if s_audio == s_emotion == 1.0:
            passes = [(on, on)]
        elif s_audio == s_emotion:
            passes = [(off, off), (on, on)]
        else:
            passes = [(off, off), (on, off), (on, on)]
        n = len(passes)
        xn = torch.cat([x] * n)                                               # (nB, D, T)
        tn = torch.full((n * B,), int(t), dtype=torch.long, device=x.device)
        cn = {k: torch.cat([v] * n) for k, v in cond.items()}
        out = self.network(xn, tn, cn, torch.cat([a for a, _ in passes]), torch.cat([e for _, e in passes]))
        parts = out.chunk(n)
        if n == 1:
            return parts[0]
        if n == 2:
            return parts[0] + s_audio * (parts[1] - parts[0])
        p0, pa, pae = parts
        return p0 + s_audio * (pa - p0) + s_emotion * (pae - pa)

    @torch.no_grad()
    def ddim_sample(self, shape, cond: dict, *, sampling_steps: int = 10, s_audio: float = 1.5,
                    s_emotion: float = 1.0, generator: torch.Generator | None = None, device="cpu",
                    clip_x0=None, eta: float = 0.0):
        """(B, D, T) sample from noise with ``sampling_steps`` DDIM steps; ``eta`` = 0 is deterministic DDIM,
        1 adds DDPM's fresh noise at every step (more varied samples of events the audio does not decide, such
        as blinks).

        ``clip_x0(x0) -> x0`` bounds each step's predicted clean sample to the data's range (improved-diffusion's
        ``clip_denoised``): near t = T the prediction divides by sqrt(alpha-bar) ~ 0 and would otherwise blow up."""
        x = torch.randn(shape, generator=generator, device=device)
        ts = torch.linspace(self.steps - 1, 0, sampling_steps).round().long().tolist()
        ab = self.alphas_cumprod.to(device)
        for k, t in enumerate(ts):
            pred = self._guided(x, t, cond, s_audio, s_emotion)
            x0 = pred if self.prediction == "x0" else (x - (1 - ab[t]).sqrt() * pred) / ab[t].sqrt()
            if clip_x0 is not None:
                x0 = clip_x0(x0)
            eps = (x - ab[t].sqrt() * x0) / (1 - ab[t]).sqrt()          # the noise consistent with x0
            if k + 1 == len(ts):
                return x0
            a_t, a_next = ab[t], ab[ts[k + 1]]
            sigma = eta * ((1 - a_next) / (1 - a_t) * (1 - a_t / a_next)).clamp(min=0).sqrt()
            z = torch.randn(x.shape, generator=generator, device=device)
            x = a_next.sqrt() * x0 + (1 - a_next - sigma ** 2).clamp(min=0).sqrt() * eps + sigma * z
        return x
