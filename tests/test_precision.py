"""Precision: one meaning of precision=auto for the networks and the NLP commands, said in one line and in
metrics.json; bf16 on a CPU without bfloat16 instructions warns; fp16 (a GPU's, with a gradient scaler) is refused
elsewhere, and on a GPU trains to where float32 does."""

from __future__ import annotations

import contextlib
import json

import pytest
import torch
from torch import nn

from mlprojects.engine import device as devices
from mlprojects.errors import UserError
from mlprojects.runner import run

CPU = torch.device("cpu")
SMALL = {"epochs": 1, "widths": "16,16", "batch_size": 128}


def conv_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.LazyLinear(10))


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def test_the_rule_of_auto_on_a_cpu_with_and_without_bfloat16(monkeypatch):
    monkeypatch.setattr(devices, "_cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16"})
    assert devices.choose_precision("auto", CPU, conv_net())[0] == "bf16"
    assert devices.choose_precision("auto", CPU, nn.TransformerEncoderLayer(16, 2))[0] == "bf16"  # attention
    assert devices.choose_precision("auto", CPU, None)[0] == "bf16"  # a transformer (the NLP commands)
    chosen, why = devices.choose_precision("auto", CPU, mlp())
    assert chosen == "fp32" and why.startswith("precision=auto: fp32") and "small matrix products" in why
    assert devices.choose_precision("auto", CPU, nn.LSTM(4, 8))[0] == "fp32"
    assert devices.choose_precision("bf16", CPU, mlp()) == ("bf16", "")  # asked for, and fast here: nothing said
    assert devices.choose_precision("fp32", CPU, conv_net()) == ("fp32", "")

    monkeypatch.setattr(devices, "_cpu_flags", lambda: {"avx2", "fma"})
    chosen, why = devices.choose_precision("auto", CPU, conv_net())
    assert chosen == "fp32" and "no bfloat16 instructions (avx512_bf16 or amx_bf16)" in why
    chosen, why = devices.choose_precision("bf16", CPU, conv_net())  # still runs, emulated, with a warning
    assert chosen == "bf16" and "avx512_bf16 or amx_bf16" in why and "slower than fp32" in why
    with pytest.raises(UserError, match="precision=fp16 is for CUDA GPUs"):
        devices.choose_precision("fp16", CPU)
    with pytest.raises(UserError, match="one of fp32, bf16, fp16, auto"):
        devices.choose_precision("fp8", CPU)


def test_auto_says_its_choice_in_one_line_and_in_metrics_json(cli, tmp_path):
    from mlprojects.nn import MLP

    expected, why = devices.choose_precision("auto", CPU, MLP(784, [16, 16], 10))
    done = cli("run", "mnist-mlp", *[f"--set={k}={v}" for k, v in SMALL.items()], "--set", "precision=auto",
               "--device", "cpu", "--out", str(tmp_path / "auto"))
    assert done.code == 0, done.err
    assert why in done.err.splitlines()
    metrics = json.loads((tmp_path / "auto" / "metrics.json").read_text())
    assert metrics["precision"] == expected
    plain = json.loads((run("mnist-mlp", SMALL, out=tmp_path / "fp32", device="cpu", progress=False)
                        / "metrics.json").read_text())
    assert plain["precision"] == "fp32"
    if expected == "fp32":  # the same arithmetic as a float32 run: the same figures
        assert metrics["test_loss"] == plain["test_loss"]


def test_fp16_off_a_gpu_is_one_line_and_creates_nothing(cli, tmp_path):
    done = cli("run", "mnist-mlp", "--set", "precision=fp16", "--device", "cpu", "--out", str(tmp_path / "run"))
    assert done.code == 2 and done.err.strip() == (
        "error: precision=fp16 is for CUDA GPUs (with a gradient scaler); on cpu use bf16 or auto")
    assert not (tmp_path / "run").exists()


def test_a_run_predicts_in_the_precision_auto_chose_for_it(tmp_path, monkeypatch):
    from mlprojects import predict as predicting

    # a machine and a rule under which auto chooses bf16 for the MLP: its settings say auto, its metrics bf16
    monkeypatch.setattr(devices, "_cpu_flags", lambda: {"avx512_bf16"})
    monkeypatch.setattr(devices, "_HEAVY", (nn.Linear,))
    run_dir = run("mnist-mlp", {**SMALL, "precision": "auto"}, out=tmp_path / "auto", device="cpu", progress=False)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["precision"] == "bf16"
    from mlprojects import rundir

    loaded = rundir.load(run_dir)
    images = torch.rand(64, 784)
    ours = predicting._outputs(loaded, images)
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
        by_hand = loaded.model(images).float().numpy()
    assert (ours == by_hand).all()


def test_an_image_network_trained_in_bf16_predicts_as_it_was_evaluated_where_the_cpu_computes_bf16(tmp_path):
    import numpy as np

    from mlprojects import registry, rundir
    from mlprojects.predict import predict

    settings = {**registry.get("mnist-cnn").smoke_settings, "precision": "bf16"}
    with pytest.warns(UserWarning) if not devices.bf16_is_fast(CPU) else contextlib.nullcontext():
        run_dir = run("mnist-cnn", settings, out=tmp_path / "bf16", device="cpu", progress=False)
    finished = rundir.load(run_dir)
    pixels, labels = finished.project.prepare(finished.cfg).raw_test
    pixels = list(pixels)  # one array per image
    auto = predict(finished, pixels)
    if devices.bf16_is_fast(CPU):  # PyTorch in bf16, as the run was evaluated: its test figure exactly, no export
        assert not (run_dir / "model.onnx").exists()
        assert np.mean(auto["label_1"].to_numpy() == np.asarray(labels)) == finished.metrics["test_accuracy"]
        assert auto.equals(predict(finished, pixels, engine="torch"))
        in_float32 = predict(finished, pixels, engine="onnxruntime")
        assert not np.array_equal(auto["probability_1"], in_float32["probability_1"])
        assert np.abs(auto["probability_1"] - in_float32["probability_1"]).max() < 0.05
    else:  # onnxruntime's float32, the model exported once
        assert (run_dir / "model.onnx").exists()


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@needs_cuda
def test_fp16_on_a_gpu_trains_to_where_fp32_does_and_resumes_with_its_scaler(tmp_path):
    settings = {"epochs": 2, "widths": "64,64", "batch_size": 64}
    fp32 = json.loads((run("mnist-mlp", settings, out=tmp_path / "fp32", device="cuda", progress=False)
                       / "metrics.json").read_text())
    half = run("mnist-mlp", {**settings, "precision": "fp16", "epochs": 1}, out=tmp_path / "fp16", device="cuda",
               progress=False)
    from safetensors import safe_open

    with safe_open(str(half / "checkpoint.safetensors"), framework="pt") as handle:
        assert json.loads(handle.metadata()["state"])["scaler"]["scale"] > 0  # the scaler's state is kept
    (half / "metrics.json").unlink()  # as if cut off after its first epoch
    run(resume=half, overrides={"epochs": 2}, device="cuda", progress=False)
    resumed = json.loads((half / "metrics.json").read_text())
    assert resumed["precision"] == "fp16" and resumed["epochs_completed"] == 2
    assert abs(resumed["test_accuracy"] - fp32["test_accuracy"]) <= 0.02


@needs_cuda
def test_auto_on_a_gpu_is_bf16_where_it_has_it_else_fp16():
    chosen, why = devices.choose_precision("auto", torch.device("cuda"), conv_net())
    assert chosen == ("bf16" if torch.cuda.is_bf16_supported() else "fp16") and why.startswith("precision=auto")
