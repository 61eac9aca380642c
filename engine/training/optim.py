"""The one optimizer step every trainer takes: refuse a non-finite loss, backpropagate, clip, step."""
from __future__ import annotations

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
