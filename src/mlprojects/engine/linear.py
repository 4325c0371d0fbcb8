"""Fully connected layers through oneDNN on the CPUs where PyTorch's own float32 matrix product is slow.

On x86, PyTorch multiplies float32 matrices with Intel's MKL, which on AMD processors runs code that does not use
their AVX-512. On a 2-core AMD EPYC of family 26 (Zen 5, AVX-512) it reached 180 GFLOP/s for a 2048 x 2048
product, where oneDNN, the library PyTorch's convolutions already use, reached 387-423. For LeNet's dense layer
(batch 50, 3,136 -> 1,024) the forward and backward products took 7.3 ms through MKL and 3.4 ms through oneDNN.

Within :func:`through_onednn`, a model's ``nn.Linear`` layers compute through oneDNN's inner product
(``torch.ops.mkldnn._linear_pointwise``, the kernel PyTorch's compiler runs frozen CPU models on), forward and
backward, when all of these hold:

- the CPU is AMD's and has AVX-512 (where it was measured faster; Intel's CPUs get MKL's AVX-512 code);
- the layer computes in float32 on the CPU, outside autocast;
- its product is large enough: rows x inputs x outputs at least ``MIN_PRODUCT``. Smaller ones gain less or
  lose, the cost of a call outweighing the faster kernel. Forward and backward at batch 32, alone: a 256 x 256
  layer x0.78, 784 x 256 x1.26-1.39, 1,024 x 512 x1.78, 1,024 x 1,024 x2.0. In a whole run of the notebook
  MLP (784 x 256 first, 6.4 million), three alternated runs each way were no faster, and the default seed's test
  accuracy moved from 0.9610 to 0.9595 (one thread); below 16 million, MKL's products stay.

The choice depends on the CPU and the shapes alone, never on a timing, so the same command twice gives the same
numbers (oneDNN's are also the same for any thread count and for a row in any batch). The layers stay
``nn.Linear``: their weights, checkpoints and exports do not change.
"""

from __future__ import annotations

import contextlib
import functools
import platform
import threading
import weakref
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn import functional as F

MIN_PRODUCT = 16_000_000  # rows x inputs x outputs from which oneDNN is used


@functools.cache
def available() -> bool:
    """Whether this process computes large float32 dense layers through oneDNN (see the module's docstring)."""
    from mlprojects.engine.device import cpu_has, cpu_vendor

    if platform.machine().lower() not in ("x86_64", "amd64") or cpu_vendor() != "AuthenticAMD" \
            or not cpu_has("avx512f") or not torch.backends.mkldnn.is_available():
        return False
    try:  # a private operator: where a PyTorch release changed it, MKL's products serve as before
        # fixed numbers, not random ones: asking must not move the run's random stream
        x, weight, bias = torch.arange(15.0).view(3, 5) / 7, torch.arange(20.0).view(4, 5) / 11 - 0.8, torch.arange(4.0)
        return bool(torch.allclose(_product(x, weight, bias), F.linear(x, weight, bias), atol=1e-5))
    except (AttributeError, RuntimeError, TypeError):
        return False


def _product(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """x @ weight.T (+ bias) through oneDNN; x is (rows, inputs), weight (outputs, inputs), either may be strided."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


class _Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _product(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = _product(grad, weight.t(), None) if ctx.needs_input_grad[0] else None  # grad @ weight
        grad_weight = _product(grad.t(), x.t(), None) if ctx.needs_input_grad[1] else None  # grad.T @ x
        grad_bias = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias


def _forward(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """LAYER applied to X: through oneDNN where the rule of the module's docstring says, else as nn.Linear does."""
    weight, bias = layer.weight, layer.bias
    if (x.device.type != "cpu" or x.dtype != torch.float32 or weight.dtype != torch.float32 or x.dim() == 0
            or x.shape[-1] != layer.in_features or torch.is_autocast_enabled("cpu")
            or x.numel() * layer.out_features < MIN_PRODUCT):
        return F.linear(x, weight, bias)
    rows = x.reshape(-1, layer.in_features)
    tracked = x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)
    if tracked and torch.is_grad_enabled():
        out = _Linear.apply(rows, weight, bias)
    else:
        out = _product(rows, weight, bias)
    return out.view(*x.shape[:-1], layer.out_features)


_lock = threading.Lock()
_entered: weakref.WeakKeyDictionary[nn.Linear, int] = weakref.WeakKeyDictionary()  # layer -> contexts it is in


@contextlib.contextmanager
def through_onednn(model: nn.Module) -> Iterator[None]:
    """Within: MODEL's ``nn.Linear`` layers (not their subclasses) compute as the module's docstring says, where
    :func:`available`; elsewhere nothing changes. Contexts may nest and run in several threads at once (a server's
    requests): a layer computes through oneDNN while any of them is open. A layer whose ``forward`` was replaced
    by someone else is left as it is. Entering and leaving cost about 10 µs for a model of three layers.
    """
    if not available():
        yield
        return
    with _lock:
        layers = [layer for layer in model.modules()
                  if type(layer) is nn.Linear and (layer in _entered or "forward" not in layer.__dict__)]
        for layer in layers:
            count = _entered.get(layer, 0)
            if not count:  # straight into the instance's __dict__: nn.Module.__setattr__ only adds checks here
                layer.__dict__["forward"] = functools.partial(_forward, layer)
            _entered[layer] = count + 1
    try:
        yield
    finally:
        with _lock:
            for layer in layers:
                count = _entered[layer] - 1
                if count:
                    _entered[layer] = count
                else:
                    del _entered[layer]
                    layer.__dict__.pop("forward", None)

