"""What every trainer shares: the one optimizer step (refuse a non-finite loss, backpropagate, clip, step), the
learning-rate schedule over a step or time budget, and the RNG state a checkpoint carries so a run resumes
exactly."""
from __future__ import annotations

import json
import math

import numpy as np
import torch

from rigs.core.errors import ConfigError


def optimizer_step(opt: torch.optim.Optimizer, loss: torch.Tensor, params, *, grad_clip: float, what: str,
                   step: int) -> None:
    """One update of ``params`` from ``loss`` (gradient norm clipped to ``grad_clip``); ConfigError naming
    ``what`` and the step when the loss is NaN or infinite."""
    if not torch.isfinite(loss):
        raise ConfigError(f"{what} diverged at step {step} (loss {float(loss)}); lower --lr")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, grad_clip)
    opt.step()


def lr_at(cfg, step: int, total: int, elapsed_s: float = 0.0) -> float:
    """Linear warm-up over ``cfg.warmup_steps``, then cosine decay from ``cfg.lr`` to ``cfg.min_lr_ratio`` of it
    over the budget: the larger of the step fraction (of ``total``) and the time fraction (of ``cfg.minutes``)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    if cfg.minutes:
        frac = max(frac, min(1.0, elapsed_s / (60.0 * cfg.minutes)))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))


def rng_state(rng: np.random.Generator) -> dict:
    """torch's global and ``rng``'s state, as a checkpoint stores them."""
    return {"torch": torch.get_rng_state(), "numpy": json.dumps(rng.bit_generator.state)}


def set_rng_state(rng: np.random.Generator, state: dict) -> None:
    """Put back what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    rng.bit_generator.state = json.loads(state["numpy"])
