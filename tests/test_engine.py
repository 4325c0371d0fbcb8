"""The engine without any project: evaluation by hand, batching, checkpoints, early stopping."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mlprojects.engine import TensorData, Trainer, checkpoint
from mlprojects.engine.callbacks import EarlyStopping
from mlprojects.engine.data import batches, epoch_order
from mlprojects.engine.io import write_text
from mlprojects.engine.optim import build_optimizer


def _linear(weight, bias) -> nn.Linear:
    layer = nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight, dtype=torch.float32))
        layer.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return layer


def _trainer(model, **kw) -> Trainer:
    return Trainer(model, nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.1),
                   device=torch.device("cpu"), **kw)


def test_evaluate_matches_a_hand_computation():
    # identity logits: sample (2, 0) -> class 0, sample (0, 1) -> class 1, sample (1, 3) -> class 1
    model = _linear([[1, 0], [0, 1]], [0, 0])
    data = TensorData(torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 3.0]]), torch.tensor([0, 1, 0]))
    result = _trainer(model).evaluate(data, batch_size=2)
    # cross-entropy of logits (a, b) for label 0 is log(1 + e^(b - a)); for label 1, log(1 + e^(a - b))
    expected = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1)) + math.log(1 + math.exp(2))) / 3
    assert result["loss"] == pytest.approx(expected, rel=1e-6)
    assert result["accuracy"] == pytest.approx(2 / 3)


def test_one_sgd_step_by_hand():
    # loss = mean((w x - y)^2) with x = 1, y = 3, w = 1: gradient 2 (w - 3) = -4, new w = 1 + 0.1 * 4
    model = nn.Linear(1, 1, bias=False)
    nn.init.ones_(model.weight)
    def mse(out, y, reduction="mean"):
        return nn.functional.mse_loss(out.squeeze(1), y, reduction=reduction)

    trainer = Trainer(model, mse, torch.optim.SGD(model.parameters(), lr=0.1), device=torch.device("cpu"), metrics={})
    logs = trainer.train_epoch(TensorData(torch.ones(1, 1), torch.full((1,), 3.0)), batch_size=1, seed=0, epoch=0)
    assert logs["loss"] == pytest.approx(4.0)
    assert model.weight.item() == pytest.approx(1.4)


def test_an_epochs_loss_and_accuracy_are_the_per_step_figures_summed_by_hand():
    """Losses and outputs are held and summed every FLUSH_STEPS steps, or sooner when the held outputs are many
    numbers: the epoch's figures are the per-batch ones, a smaller last batch weighed by its size, whatever the
    stretches; the progress bar's running loss reads them without changing them."""
    from mlprojects.engine import trainer as engine

    torch.manual_seed(0)
    x, y = torch.randn(203, 2), torch.randint(0, 2, (203,))  # 13 batches of 16, the last of 11
    seen = []

    class Reader(engine.Callback):
        def on_step(self, trainer, step, count):
            seen.append(trainer.running_loss() / count)

    for steps, elements in ((engine.FLUSH_STEPS, engine.FLUSH_ELEMENTS), (4, 10**9), (10**9, 40)):
        model = _linear([[1, 0], [0, 1]], [0, 0])
        by_hand = _linear([[1, 0], [0, 1]], [0, 0])
        optimizer = torch.optim.SGD(by_hand.parameters(), lr=0.1)
        loss_sum = correct = 0.0
        for inputs, targets in batches(TensorData(x, y), 16, epoch_order(203, 0, 0, torch.device("cpu"))):
            outputs = by_hand(inputs)
            loss = nn.functional.cross_entropy(outputs, targets)
            loss_sum += loss.item() * len(targets)
            correct += (outputs.argmax(1) == targets).sum().item()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        seen.clear()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(engine, "FLUSH_STEPS", steps)
            patch.setattr(engine, "FLUSH_ELEMENTS", elements)
            logs = _trainer(model, callbacks=[Reader()]).train_epoch(TensorData(x, y), 16, seed=0, epoch=0)
        assert logs["loss"] == pytest.approx(loss_sum / 203, rel=1e-6)
        assert logs["accuracy"] == pytest.approx(correct / 203)
        assert seen[-1] == pytest.approx(logs["loss"], rel=1e-6) and len(seen) == 13


def test_a_runs_training_speed_leaves_out_the_first_epoch():
    from mlprojects.runner import summarize

    history = [{"epoch": 1, "time_s": 4.0, "samples_per_sec": 100.0},  # the warm-up epoch: 400 samples in 4 s
               {"epoch": 2, "time_s": 1.0, "samples_per_sec": 400.0}, {"epoch": 3, "time_s": 3.0,
                                                                       "samples_per_sec": 400.0 / 3}]
    assert summarize(history, {}, {}, "cpu", 1, 9.0)["train_samples_per_sec"] == pytest.approx(800 / 4)
    assert summarize(history[:1], {}, {}, "cpu", 1, 5.0)["train_samples_per_sec"] == pytest.approx(100.0)


def test_epoch_order_is_a_function_of_seed_and_epoch():
    a = epoch_order(100, seed=3, epoch=2, device=torch.device("cpu"))
    assert torch.equal(a, epoch_order(100, 3, 2, torch.device("cpu")))
    assert not torch.equal(a, epoch_order(100, 3, 3, torch.device("cpu")))
    assert sorted(a.tolist()) == list(range(100))


def test_rank_shards_partition_every_global_batch():
    data = TensorData(torch.arange(10).float().unsqueeze(1), torch.arange(10))
    order = epoch_order(10, 0, 0, torch.device("cpu"))
    whole = [y.tolist() for _, y in batches(data, 4, order)]
    shards = [[y.tolist() for _, y in batches(data, 4, order, rank, 2)] for rank in range(2)]
    for step, batch in enumerate(whole):
        assert sorted(shards[0][step] + shards[1][step]) == sorted(batch)
    assert [len(b) for b in whole] == [4, 4, 2]


def test_training_lowers_the_loss_on_separable_data():
    torch.manual_seed(0)
    inputs = torch.randn(256, 2)
    data = TensorData(inputs, (inputs[:, 0] > 0).long())
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    history = _trainer(model).fit(data, epochs=5, batch_size=16, seed=0)
    assert history[-1]["loss"] < history[0]["loss"] * 0.7
    assert history[-1]["accuracy"] > 0.9


def test_checkpoint_round_trip_restores_model_optimizer_and_rng(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    optimizer = build_optimizer("adam", model.parameters(), 0.01)
    data = TensorData(torch.randn(32, 3), torch.randint(0, 2, (32,)))
    trainer = Trainer(model, nn.functional.cross_entropy, optimizer, device=torch.device("cpu"))
    trainer.fit(data, epochs=1, batch_size=8, seed=0)
    checkpoint.save(tmp_path / "ckpt.safetensors", model, optimizer, None, {"epoch": 1, "note": "x"})
    expected_next = torch.rand(3)

    torch.manual_seed(123)
    copy = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    copy_optimizer = build_optimizer("adam", copy.parameters(), 0.01)
    state = checkpoint.load(tmp_path / "ckpt.safetensors", copy, copy_optimizer, None)
    assert state == {"epoch": 1, "note": "x"}
    assert torch.equal(torch.rand(3), expected_next)  # the RNG continues where it was saved
    for a, b in zip(model.state_dict().values(), copy.state_dict().values()):
        assert torch.equal(a, b)
    original, restored = optimizer.state_dict(), copy_optimizer.state_dict()
    assert original["param_groups"] == restored["param_groups"]
    for key in original["state"]:
        for name, value in original["state"][key].items():
            assert torch.equal(value, restored["state"][key][name])


def test_weights_file_is_plain_safetensors(tmp_path):
    from safetensors.torch import load_file

    model = nn.Linear(2, 3)
    checkpoint.save_weights(tmp_path / "model.safetensors", model)
    tensors = load_file(str(tmp_path / "model.safetensors"))
    assert set(tensors) == {"weight", "bias"} and torch.equal(tensors["weight"], model.weight.detach())


def test_corrupt_checkpoint_is_a_user_error(tmp_path):
    from mlprojects.errors import UserError

    (tmp_path / "c.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(UserError, match="corrupt"):
        checkpoint.load_weights(tmp_path / "c.safetensors", nn.Linear(1, 1))


def test_early_stopping_waits_patience_epochs():
    stopper = EarlyStopping("val_loss", patience=2)
    trainer = _trainer(nn.Linear(2, 2))
    for epoch, value in enumerate([1.0, 0.8, 0.9, 0.85, 0.7]):
        stopper.on_epoch_end(trainer, epoch, {"val_loss": value})
        if trainer.stop_training:
            break
    assert epoch == 3 and stopper.best == 0.8 and stopper.best_epoch == 2


def test_atomic_write_leaves_old_content_on_failure(tmp_path):
    from mlprojects.engine.io import atomic_write

    target = write_text(tmp_path / "f.txt", "old")

    def fail(temporary):
        open(temporary, "w").write("half")
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_dataloader_path_trains_exactly_like_the_tensor_path():
    """A map-style Dataset (data that does not fit in memory) visits the same batches in the same order."""
    torch.manual_seed(0)
    inputs, targets = torch.randn(100, 5), torch.randint(0, 3, (100,))
    histories, weights = [], []
    for data in (TensorData(inputs, targets), torch.utils.data.TensorDataset(inputs, targets)):
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
        trainer = _trainer(model)
        histories.append([row["loss"] for row in trainer.fit(data, epochs=2, batch_size=16, seed=4)])
        histories.append(trainer.evaluate(data)["loss"])
        weights.append(model[0].weight.detach().clone())
    assert histories[0] == pytest.approx(histories[2], rel=1e-6)
    assert histories[1] == pytest.approx(histories[3], rel=1e-6)
    torch.testing.assert_close(weights[0], weights[1])


@pytest.mark.parametrize("name", ["adam", "adamw", "adagrad"])
def test_fused_optimizers_take_the_same_steps_as_the_reference_ones(name):
    """build_optimizer fuses these on CPU and CUDA; the steps must equal torch's multi-tensor ones."""
    torch.manual_seed(0)
    fused_model = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    plain_model = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    plain_model.load_state_dict(fused_model.state_dict())
    fused = build_optimizer(name, fused_model.parameters(), 0.05, weight_decay=0.01)
    assert fused.defaults["fused"] is True
    plain = type(fused)(plain_model.parameters(), lr=0.05, weight_decay=0.01, foreach=True)
    x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
    for _ in range(5):
        for model, optimizer in ((fused_model, fused), (plain_model, plain)):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    for a, b in zip(fused_model.parameters(), plain_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_the_same_weights_and_metadata_give_the_same_file_in_every_process(tmp_path):
    """safetensors orders metadata by a hash map seeded per process; save_safetensors sorts it."""
    import json
    import subprocess
    import sys

    from safetensors import safe_open

    from mlprojects.engine.io import save_safetensors

    metadata = {k: k * 3 for k in ("project", "preparation", "zeta", "alpha", "mu")}
    script = ("import sys, torch; from mlprojects.engine.io import save_safetensors; "
              f"save_safetensors(sys.argv[1], {{'w': torch.arange(6.).view(2, 3)}}, {metadata!r})")
    files = [tmp_path / f"{i}.safetensors" for i in range(3)]
    save_safetensors(files[0], {"w": torch.arange(6.).view(2, 3)}, metadata)  # this process, and two others
    for path in files[1:]:
        subprocess.run([sys.executable, "-c", script, str(path)], check=True)
    assert len({path.read_bytes() for path in files}) == 1
    # the header's metadata in sorted order (with 5 keys, three processes' orders agree by chance once in 14,400)
    data = files[0].read_bytes()
    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    assert list(header["__metadata__"]) == ["alpha", "mu", "preparation", "project", "zeta"]
    with safe_open(str(files[0]), framework="pt") as handle:
        assert handle.metadata()["preparation"] == "preparation" * 3
        torch.testing.assert_close(handle.get_tensor("w"), torch.arange(6.).view(2, 3))
