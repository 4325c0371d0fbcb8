"""Large float32 dense layers through oneDNN (engine/linear.py): the same outputs and gradients as nn.Linear, the
rule that chooses it, and the layers left as they were."""

from __future__ import annotations

import platform

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from mlprojects.engine import TensorData, Trainer, linear

pytestmark = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64")
                                or not torch.backends.mkldnn.is_available(),
                                reason="oneDNN's inner product is PyTorch's on x86 CPUs")


def _close(ours: torch.Tensor, theirs: torch.Tensor) -> bool:
    """Equal to float32's rounding over sums of a few thousand products."""
    return bool(((ours - theirs).abs().max() <= 1e-5 * theirs.abs().max()).item())


@pytest.fixture
def chosen(monkeypatch):
    """The rule as on a CPU where it applies (an AMD one with AVX-512), whatever CPU runs the test."""
    monkeypatch.setattr(linear, "available", lambda: True)


@pytest.fixture
def products(monkeypatch) -> list[int]:
    """One entry for each product computed through oneDNN from here on (forward or backward)."""
    calls: list[int] = []
    product = linear._product
    monkeypatch.setattr(linear, "_product", lambda *args: calls.append(1) or product(*args))
    return calls


@pytest.mark.parametrize("shape", [(50, 3136), (8, 32, 384)], ids=["batch", "sequence"])
@pytest.mark.parametrize("bias", [True, False])
def test_outputs_and_gradients_are_nn_linears(shape, bias, chosen, products):
    torch.manual_seed(0)
    layer = nn.Linear(shape[-1], 1024 if len(shape) == 2 else 384, bias=bias)
    x = torch.randn(*shape, requires_grad=True)
    tensors = [x, *layer.parameters()]
    grad = torch.randn(*shape[:-1], layer.out_features)
    theirs = layer(x)
    theirs.backward(grad)
    expected = [tensor.grad for tensor in tensors]
    for tensor in tensors:
        tensor.grad = None
    with linear.through_onednn(layer):
        assert "forward" in layer.__dict__
        ours = layer(x)
        ours.backward(grad)
    assert len(products) == 3  # the output, then the input's and the weight's gradients
    assert ours.shape == theirs.shape and _close(ours, theirs)
    for tensor, want in zip(tensors, expected):
        assert _close(tensor.grad, want)
    assert "forward" not in layer.__dict__  # the layer is nn.Linear again: its exports do not change


def test_the_rule_small_products_autocast_and_other_precisions_stay_with_nn_linear(chosen):
    """Below MIN_PRODUCT (rows x inputs x outputs), under autocast and in bf16 the layer computes as nn.Linear
    does, bit for bit; at and above it, through oneDNN."""
    torch.manual_seed(0)
    layer = nn.Linear(1000, 1000)
    small, large = torch.randn(3, 1000), torch.randn(linear.MIN_PRODUCT // 1_000_000, 1000)
    with torch.no_grad(), linear.through_onednn(layer):
        assert torch.equal(layer(small), F.linear(small, layer.weight, layer.bias))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert layer(large).dtype == torch.bfloat16
        assert torch.equal(layer(large), linear._product(large, layer.weight, layer.bias))
    half = nn.Linear(1000, 1000).to(torch.bfloat16)
    with torch.no_grad(), linear.through_onednn(half):
        assert torch.equal(half(large.bfloat16()), F.linear(large.bfloat16(), half.weight, half.bias))


def test_a_replaced_forward_is_kept_and_nested_contexts_restore_only_their_own(chosen):
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8))
    mine = model[1].forward = lambda x: x
    with linear.through_onednn(model):
        with linear.through_onednn(model):
            pass
        assert "forward" in model[0].__dict__  # the outer context's, still in force
        assert model[1].forward is mine
    assert "forward" not in model[0].__dict__ and model[1].forward is mine


def test_on_other_cpus_nothing_changes(monkeypatch):
    monkeypatch.setattr(linear, "available", lambda: False)
    layer = nn.Linear(3136, 1024)
    with linear.through_onednn(layer):
        assert "forward" not in layer.__dict__


def _train() -> tuple[nn.Module, list[dict]]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 10))
    data = TensorData(torch.randn(256, 784), torch.randint(0, 10, (256,)))
    trainer = Trainer(model, F.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.05),
                      device=torch.device("cpu"))
    logs = [trainer.train_epoch(data, 64, seed=0, epoch=epoch) for epoch in range(2)]
    logs.append(trainer.evaluate(data))
    return model, logs


def test_a_trainer_on_such_a_cpu_trains_as_with_nn_linear_and_the_same_twice(chosen, products, monkeypatch):
    """Two epochs at batch 64 through 784 -> 1,024 -> 10 (the first layer above MIN_PRODUCT): the same losses and
    weights as nn.Linear's to float32's rounding, and bit for bit the same when run twice."""
    ours, ours_logs = _train()
    again, _ = _train()
    assert products  # the first layer went through oneDNN, forward and backward
    monkeypatch.setattr(linear, "available", lambda: False)
    theirs, their_logs = _train()
    for a, b in zip(ours_logs, their_logs):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5) and a["accuracy"] == pytest.approx(b["accuracy"])
    for a, b, c in zip(ours.parameters(), theirs.parameters(), again.parameters()):
        assert _close(a, b) and torch.equal(a, c)
    assert not any("forward" in module.__dict__ for module in ours.modules())


def test_available_only_on_an_amd_cpu_with_avx512():
    from mlprojects.engine import device

    linear.available.cache_clear()
    try:
        expected = device.cpu_vendor() == "AuthenticAMD" and device.cpu_has("avx512f")
        state = torch.random.get_rng_state()
        assert linear.available() == expected
        assert torch.equal(torch.random.get_rng_state(), state)  # asking draws nothing from the run's stream
    finally:
        linear.available.cache_clear()


def test_predict_in_threads_at_once_gives_one_answer_and_leaves_the_layers_as_they_were(chosen, monkeypatch):
    """A server's requests: contexts opened and closed by threads in any order. Every batch is computed through
    oneDNN while any context is open, so a request's answer does not depend on the others; a single row (a served
    request) never enters one."""
    from concurrent.futures import ThreadPoolExecutor

    from mlprojects.engine.trainer import predict

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 10))
    batch = torch.randn(32, 784)
    expected = predict(model, batch, 1000)
    with torch.no_grad():
        assert _close(expected, model(batch)) and not torch.equal(expected, model(batch))
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: predict(model, batch, 1000), range(200)))
    assert all(torch.equal(answer, expected) for answer in answers)
    assert not any("forward" in module.__dict__ for module in model.modules()) and not linear._entered
    monkeypatch.setattr(linear, "_product", lambda *args: pytest.fail("one row went through oneDNN"))
    with torch.no_grad():
        assert torch.equal(predict(model, batch[:1], 1000), model(batch[:1]))


def test_a_task_runs_its_model_through_onednn_in_float32_only(chosen, products):
    """`nlp run`'s tasks (and question answering) compute in nlp.batching.computing: inference mode, the chosen
    precision and, in float32, the large dense layers through oneDNN; under bf16 autocast, nn.Linear's own."""
    from mlprojects.nlp.batching import computing

    model = nn.Linear(384, 384)
    model.device = torch.device("cpu")  # a transformers model's attribute, which the tasks read
    tokens = torch.randn(2, 64, 384)  # 128 rows of 384: above MIN_PRODUCT
    with computing(model, "fp32"):
        assert torch.is_inference_mode_enabled() and model(tokens).shape == (2, 64, 384)
    assert products == [1]
    with computing(model, "bf16"):
        assert model(tokens).dtype == torch.bfloat16
    assert products == [1] and "forward" not in model.__dict__
