"""mnist-mlp end to end through the CLI: run directory, determinism, resume, 2-process DDP."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import DATA_PARALLEL, FAST, assert_ends_as_one_process, run_subprocess
from safetensors.torch import load_file

from mlprojects import registry
from mlprojects.config import resolve
from mlprojects.engine import checkpoint


def _metrics(run_dir) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_run_directory_holds_everything(cli, tmp_path):
    out = tmp_path / "run"
    result = cli("run", "mnist-mlp", *FAST, "--set", "epochs=2", "--out", str(out))
    assert result.code == 0, result.err
    assert str(out) in result.out and "test_accuracy" in result.out
    for name in ("config.yaml", "metrics.json", "history.jsonl", "model.safetensors", "checkpoint.safetensors",
                 "plots/learning_curves.png", "plots/confusion_matrix.png", "plots/misclassified.png"):
        assert (out / name).is_file(), name
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    metrics = _metrics(out)
    assert metrics["completed"] is True and metrics["epochs_completed"] == 2
    assert 0.5 < metrics["test_accuracy"] <= 1 and metrics["train_samples_per_sec"] > 0
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in history] == [1, 2]
    assert history[1]["loss"] < history[0]["loss"]

    # the saved weights reproduce the reported test accuracy
    project = registry.get("mnist-mlp")
    cfg = resolve(project.config_class, {"epochs": 2, "widths": "64,64"})
    data = project.prepare(cfg)
    model = project.build_model(cfg, data.preparation)
    checkpoint.load_weights(out / "model.safetensors", model)
    with torch.no_grad():
        accuracy = (model(data.test.inputs).argmax(1) == data.test.targets).sum().item() / len(data.test)
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-9)
    assert set(load_file(str(out / "model.safetensors"))) == set(model.state_dict())


def test_same_command_twice_gives_identical_metrics(cli, tmp_path):
    for name in ("a", "b"):
        result = cli("run", "mnist-mlp", *FAST, "--set", "dropout=0.2", "--seed", "7", "--out", str(tmp_path / name))
        assert result.code == 0
    a, b = _metrics(tmp_path / "a"), _metrics(tmp_path / "b")
    keys = ("test_loss", "test_accuracy", "train_loss")
    assert [a[key] for key in keys] == [b[key] for key in keys]
    assert (tmp_path / "a/model.safetensors").read_bytes() == (tmp_path / "b/model.safetensors").read_bytes()


def test_resumed_run_equals_a_straight_run(cli, tmp_path):
    common = ["--set", "widths=64,64", "--set", "dropout=0.1", "--set", "optimizer=momentum",
              "--set", "lr_schedule=step", "--set", "lr_step=1", "--quiet"]
    assert cli("run", "mnist-mlp", *common, "--set", "epochs=3", "--out", str(tmp_path / "straight")).code == 0
    assert cli("run", "mnist-mlp", *common, "--set", "epochs=1", "--out", str(tmp_path / "resumed")).code == 0
    assert _metrics(tmp_path / "resumed")["epochs_completed"] == 1
    result = cli("run", "--resume", str(tmp_path / "resumed"), "--set", "epochs=3", "--quiet")
    assert result.code == 0, result.err
    straight, resumed = _metrics(tmp_path / "straight"), _metrics(tmp_path / "resumed")
    for key in ("test_loss", "test_accuracy", "train_loss", "train_accuracy", "epochs_completed"):
        assert straight[key] == resumed[key], key
    lines = (tmp_path / "resumed/history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]


def test_resume_refuses_changes_that_would_break_the_model(cli, tmp_path):
    assert cli("run", "mnist-mlp", *FAST, "--out", str(tmp_path / "r")).code == 0
    result = cli("run", "--resume", str(tmp_path / "r"), "--set", "widths=8")
    assert result.code == 2 and "cannot change widths when resuming" in result.err


def test_an_existing_run_is_never_overwritten(cli, tmp_path):
    assert cli("run", "mnist-mlp", *FAST, "--out", str(tmp_path / "r")).code == 0
    before = (tmp_path / "r/model.safetensors").read_bytes()
    result = cli("run", "mnist-mlp", *FAST, "--out", str(tmp_path / "r"))
    assert result.code == 2 and "already holds a run" in result.err
    assert (tmp_path / "r/model.safetensors").read_bytes() == before


def test_nproc_workers_take_omp_num_threads_as_a_whole_number_or_their_share_of_the_cores(monkeypatch):
    """The environment `run --nproc` gives its workers, by the rule sweeps and searches follow
    (cores.per_process). A worker forked by the agent sets its threads from it with int(): a nested list such as
    "2,1", which OpenMP accepts, or a mistyped value passed on as it was, had ended every worker in a ValueError."""
    from mlprojects import cores
    from mlprojects.cli.run import Launch

    for value, expected in (("3", "3"), ("2,1", "2"), (" 1 ", "1"), ("many", str(cores.share(2))),
                            ("0", str(cores.share(2)))):
        monkeypatch.setenv("OMP_NUM_THREADS", value)
        assert Launch(nproc=2).environment()["OMP_NUM_THREADS"] == expected, value
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert Launch(nproc=2).environment()["OMP_NUM_THREADS"] == str(cores.share(2))


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path, one_process_run):
    """Same global batch on 2 gloo processes (torchrun) and on 1 process: same final metrics."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    double = run_subprocess("run", *DATA_PARALLEL, "--nproc", "2", "--out", str(tmp_path / "two"), "--quiet",
                            env={"TMPDIR": str(temporary)})
    assert double.returncode == 0, double.stderr
    assert_ends_as_one_process(one_process_run, tmp_path / "two")
    assert not list(temporary.iterdir())  # nothing left behind: not torchrun's log folder either


@pytest.mark.slow
def test_default_configuration_reaches_the_target_on_the_embedded_split(cli, tmp_path):
    """The notebook's final model, unchanged, on the embedded 8,000/2,000 split: >= 0.96."""
    result = cli("run", "mnist-mlp", "--quiet", "--out", str(tmp_path / "full"))
    assert result.code == 0, result.err
    metrics = _metrics(tmp_path / "full")
    assert metrics["epochs_completed"] == 15 and metrics["test_accuracy"] >= 0.96


def test_validation_split_and_early_stopping_end_to_end(cli, tmp_path):
    out = tmp_path / "es"
    result = cli("run", "mnist-mlp", "--set", "widths=64", "--set", "epochs=40", "--set", "val_fraction=0.1",
                 "--set", "early_stopping=2", "--set", "lr=0.3", "--quiet", "--out", str(out))
    assert result.code == 0, result.err
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    metrics = _metrics(out)
    assert metrics["early_stopped"] is True and metrics["epochs_completed"] == len(history) < 40
    val_losses = [row["val_loss"] for row in history]
    best = val_losses.index(min(val_losses))
    assert len(history) == best + 1 + 2  # stopped exactly `patience` epochs after the best one
    assert "val_accuracy" in metrics


def test_the_misclassified_grid_draws_each_picture_in_its_cell_under_its_title(tmp_path):
    """plots.image_grid draws one picture for all: each image in its cell (grayscale scaled to its own range, ink
    dark on white; RGB as it is), its title above it, the figure 1.3 x 1.5 inches a cell."""
    import numpy as np
    from conftest import DPI, assert_picture

    from mlprojects import plots

    digits = np.zeros((11, 28, 28), dtype=np.uint8)
    digits[::2] = 200  # every other picture all ink (its own range is one value: drawn blank, as imshow draws it)
    digits[1::2, 4:24, 4:24] = 9  # the others a square of faint ink, scaled to its own range: black
    pixels = assert_picture(plots.image_grid(digits, [f"{i} as {i + 1}" for i in range(11)], tmp_path / "g.png"),
                            (1.3 * 8, 1.5 * 2))
    cell_w, cell_h = 1.3 * DPI, 1.5 * DPI
    for index in range(16):
        row, column = divmod(index, 8)
        centre = pixels[int((row + 0.6) * cell_h), int((column + 0.5) * cell_w)]
        title = pixels[int(row * cell_h + 0.1 * cell_h):int(row * cell_h + 0.2 * cell_h),
                       int(column * cell_w):int((column + 1) * cell_w)]
        if index < 11 and index % 2:
            assert centre.max() < 40, (index, centre)  # the square, black
        else:
            assert centre.min() > 215, (index, centre)  # white: a one-value picture, or no picture
        assert (title.min() < 128) == (index < 11), index  # a title's text above each picture, none beyond

    colours = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    colours[0, ..., 0], colours[1, ..., 2] = 255, 255
    pixels = assert_picture(plots.image_grid(colours, ["red", "blue"], tmp_path / "c.png", columns=2), (2.6, 1.5))
    assert list(pixels[int(0.6 * cell_h), int(0.5 * cell_w)]) == [255, 0, 0]
    assert list(pixels[int(0.6 * cell_h), int(1.5 * cell_w)]) == [0, 0, 255]
