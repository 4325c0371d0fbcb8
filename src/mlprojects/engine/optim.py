"""Optimizers and learning-rate schedules by name, as the configs spell them."""

from __future__ import annotations

import torch

from mlprojects.errors import UserError


def _fusable(params: list) -> bool | None:
    """Adam, AdamW and Adagrad as one fused kernel per step where PyTorch has one: measured on a
    2-core CPU, the default multi-tensor Adam spent 13 of LeNet's 52 ms per step in sqrt, div and
    lerp; fused, the whole step ran 1.5x faster (benchmarks/bench_cnn.py)."""
    return True if params and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params) else None


def build_optimizer(name: str, parameters, lr: float, momentum: float = 0.9,
                    weight_decay: float = 0.0) -> torch.optim.Optimizer:
    params = list(parameters)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    fused = _fusable(params)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=momentum if momentum < 1 else 0.0,
                                   weight_decay=weight_decay)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay, fused=fused)
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, weight_decay=weight_decay)
    if name == "ftrl":
        if weight_decay:
            raise UserError("optimizer=ftrl takes no weight_decay (its L2 term is part of the update)")
        return Ftrl(params, lr=lr)
    raise UserError(f"unknown optimizer {name!r}")


def build_scheduler(name: str, optimizer: torch.optim.Optimizer, epochs: int, step: int = 5,
                    gamma: float = 0.5):
    """A per-epoch schedule, or None for a constant rate."""
    if name == "constant":
        return None
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step, gamma=gamma)
    if name == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    raise UserError(f"unknown lr_schedule {name!r}")


class Ftrl(torch.optim.Optimizer):
    """FTRL-Proximal (McMahan et al., 2013), with the update rule of TensorFlow's ``Ftrl``.

    Per coordinate: ``n += g^2``; ``z += g - (sqrt(n_new) - sqrt(n_old)) / lr * w``;
    ``w = (clip(z, -l1, l1) - z) / (sqrt(n) / lr + 2 l2)``, which is 0 where ``|z| <= l1``:
    the L1 term gives exact zeros, the reason FTRL was used for sparse models.
    """

    def __init__(self, params, lr: float = 0.001, initial_accumulator_value: float = 0.1,
                 l1: float = 0.0, l2: float = 0.0):
        if lr <= 0 or initial_accumulator_value < 0 or l1 < 0 or l2 < 0:
            raise ValueError("Ftrl: lr must be > 0; initial_accumulator_value, l1 and l2 >= 0")
        super().__init__(params, dict(lr=lr, initial_accumulator_value=initial_accumulator_value, l1=l1, l2=l2))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, l1, l2 = group["lr"], group["l1"], group["l2"]
            for weight in group["params"]:
                if weight.grad is None:
                    continue
                state = self.state[weight]
                if not state:
                    state["accumulator"] = torch.full_like(weight, group["initial_accumulator_value"])
                    state["linear"] = torch.zeros_like(weight)
                grad, accumulator, linear = weight.grad, state["accumulator"], state["linear"]
                new_accumulator = accumulator + grad * grad
                linear.add_(grad - (new_accumulator.sqrt() - accumulator.sqrt()) / lr * weight)
                quadratic = new_accumulator.sqrt() / lr + 2 * l2
                weight.copy_((linear.clamp(-l1, l1) - linear) / quadratic)
                accumulator.copy_(new_accumulator)
        return loss
