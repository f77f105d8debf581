"""Optimisers and the learning-rate schedules: SGD, LARS, Adam or AdamW, linear scaling, per-step warm-up then cosine
decay or steps at given epochs."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn


def peak_lr(base_lr: float, global_batch: int) -> float:
    """Linear scaling rule: ``base_lr`` is the rate for 256 videos (0.08 -> 0.32 at the paper's batch 1024)."""
    return base_lr * global_batch / 256


def lr_at(step: int, total_steps: int, warmup_steps: int, peak: float) -> float:
    """Learning rate at optimiser step ``step``: linear warm-up from 0 to ``peak``, then cosine decay to 0."""
    if step < warmup_steps:
        return peak * step / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def multistep_lr(step: int, warmup_steps: int, peak: float, *, milestone_steps: Sequence[int], gamma: float) -> float:
    """Learning rate at optimiser step ``step``: linear warm-up from 0 to ``peak``, then ``peak`` times ``gamma`` for
    every milestone already reached (torch's MultiStepLR stepped once an epoch, as SEVERE's fine-tuning runs it)."""
    if step < warmup_steps:
        return peak * step / warmup_steps
    return peak * gamma ** sum(step >= m for m in milestone_steps)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: conv/linear weights (decayed, LARS-adapted) and BN parameters and biases (neither)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay, "lars_adapt": True},
        {"params": no_decay, "weight_decay": 0.0, "lars_adapt": False},
    ]


def grid_groups(parts: Sequence[tuple[nn.Module, float, float]]) -> list[dict]:
    """The parameter groups of modules trained side by side, each (module, learning rate, weight decay) with its own
    rate and decay (param_groups' split: no decay on BN parameters and biases)."""
    return [{**group, "lr": lr} for module, lr, decay in parts for group in param_groups(module, decay)]


def lars_trust_ratio(w_norm: torch.Tensor, g_norm: torch.Tensor, eta: float) -> torch.Tensor:
    """LARS local LR multiplier eta * ||w|| / ||g + wd w||; 1 where either norm is zero (You et al. 2017)."""
    ratio = eta * w_norm / g_norm
    return torch.where((w_norm > 0) & (g_norm > 0), ratio, torch.ones_like(ratio))


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise adaptive rate scaling, skipped for groups with ``lars_adapt=False``.

    ``keras_momentum``: the learning rate scales each step's direction as it enters the velocity (Keras, as the
    official TensorFlow code applies SGD: v = m v - lr d, w += v) instead of scaling the whole velocity (torch:
    v = m v + d, w -= lr v). The two differ only while the learning rate changes (warm-up, decay)."""

    def __init__(
        self,
        params: Iterable,
        lr: float,
        *,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        eta: float = 0.001,
        keras_momentum: bool = False,
    ):
        defaults = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "eta": eta, "lars_adapt": True}
        super().__init__(params, defaults)
        self.keras_momentum = keras_momentum

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad.add(p, alpha=group["weight_decay"]) if group["weight_decay"] else p.grad.clone()
                if group["lars_adapt"]:
                    d.mul_(lars_trust_ratio(p.norm(), d.norm(), group["eta"]))
                if self.keras_momentum:
                    d.mul_(group["lr"])
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = d
                else:
                    buf.mul_(group["momentum"]).add_(d)
                p.add_(buf, alpha=-1.0 if self.keras_momentum else -group["lr"])
        return loss


def _plain(groups: list[dict]) -> list[dict]:
    """The groups without the LARS flag, for optimisers that do not know it."""
    return [{k: v for k, v in g.items() if k != "lars_adapt"} for g in groups]


def _sgd(groups: list[dict], lr: float, momentum: float, lars_eta: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(_plain(groups), lr=lr, momentum=momentum)


def _lars(groups: list[dict], lr: float, momentum: float, lars_eta: float) -> torch.optim.Optimizer:
    return LARS(groups, lr=lr, momentum=momentum, eta=lars_eta)


def _sgd_keras(groups: list[dict], lr: float, momentum: float, lars_eta: float) -> torch.optim.Optimizer:
    return LARS([{**g, "lars_adapt": False} for g in groups], lr=lr, momentum=momentum, keras_momentum=True)


def _adam(groups: list[dict], lr: float, momentum: float, lars_eta: float) -> torch.optim.Optimizer:
    # Adam's weight decay is an L2 term in the gradient (SEVERE's fine-tuning: Adam, weight decay 0).
    return torch.optim.Adam(_plain(groups), lr=lr, fused=True)


def _adamw(groups: list[dict], lr: float, momentum: float, lars_eta: float) -> torch.optim.Optimizer:
    # fused: one kernel per step, and the step counts stay on the device (the default reads them with .item()).
    return torch.optim.AdamW(_plain(groups), lr=lr, fused=True)


# name -> (parameter groups, lr, momentum, lars_eta) -> optimiser. Adding one here is all it takes: the config's
# choices (optim.name) are these names. SGD is the paper's default; LARS its large-batch option; AdamW (momentum
# unused) suits small models trained for few steps, such as the CPU demo; sgd_keras is SGD as the official code
# applies it; Adam is SEVERE's fine-tuning optimiser.
OPTIMIZERS: dict[str, Callable[[list[dict], float, float, float], torch.optim.Optimizer]] = {
    "sgd": _sgd,
    "sgd_keras": _sgd_keras,  # the official TF code's SGD (LARS's docstring): with loss.update_scale=official
    "lars": _lars,
    "adam": _adam,
    "adamw": _adamw,
}

SCHEDULES = ("cosine", "multistep")  # after the warm-up: cosine decay to 0, or steps at optim.milestones


def build_optimizer(
    name: str,
    model: nn.Module,
    lr: float,
    *,
    momentum: float,
    weight_decay: float,
    lars_eta: float,
    groups: list[dict] | None = None,
) -> torch.optim.Optimizer:
    """An optimiser of ``OPTIMIZERS`` over ``model``'s trainable parameters, without weight decay on BN parameters
    and biases; or over ``groups`` (grid_groups), each at its own rate and decay."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimiser '{name}'; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](groups or param_groups(model, weight_decay), lr, momentum, lars_eta)
