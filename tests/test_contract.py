"""Checks every registered project must pass (scikit-learn's common-checks idea)."""

from __future__ import annotations

import json

import pytest
import torch

from mlprojects import registry
from mlprojects.config import describe, resolve
from mlprojects.engine import checkpoint
from mlprojects.runner import is_demo_project, is_estimator_project, run

PROJECTS = [info.name for info in registry.all_projects()]
ESTIMATED = [name for name in PROJECTS if is_estimator_project(registry.get(name))]
DEMOS = [name for name in PROJECTS if is_demo_project(registry.get(name))]
TRAINED = [name for name in PROJECTS if name not in ESTIMATED + DEMOS]


@pytest.mark.parametrize("name", PROJECTS)
def test_metadata_and_settings_are_complete(name):
    info = registry.info(name)
    assert info.source and info.dataset and info.published
    project = registry.get(name)
    assert project.name == name
    for setting, _, _, help_text in describe(project.config_class):
        assert help_text, f"setting {setting} has no help"
    resolve(project.config_class)  # the published defaults pass their own checks


@pytest.mark.parametrize("name", TRAINED)
def test_short_run_learns_and_its_saved_model_predicts_the_same(name, tmp_path, request):
    project = registry.get(name)
    if getattr(project, "needs_download", False):  # its data in the real format, written by the tests
        request.getfixturevalue(f"{name.split('-')[0]}_files")
    run_dir = run(name, dict(project.smoke_settings), out=tmp_path / "run", progress=False)
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in history]
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["completed"] is True

    cfg = resolve(project.config_class, project.smoke_settings)
    data = project.prepare(cfg)
    assert list((run_dir / "plots").glob("*.png"))
    outputs = []
    for seed in (0, 1):  # two different initialisations, then the same saved weights
        torch.manual_seed(seed)
        model = project.build_model(cfg)
        checkpoint.load_weights(run_dir / "model.safetensors", model)
        model.eval()
        with torch.no_grad():
            outputs.append(model(project.example_inputs(data)))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)


@pytest.mark.parametrize("option", [{"precision": "bf16"}, {"compile": True}])
def test_bf16_autocast_and_torch_compile_train_to_the_same_place(option, tmp_path):
    settings = {"epochs": 2, "widths": "64,64"}
    eager = json.loads((run("mnist-mlp", settings, out=tmp_path / "eager", progress=False) / "metrics.json").read_text())
    other = json.loads((run("mnist-mlp", {**settings, **option}, out=tmp_path / "other", progress=False)
                        / "metrics.json").read_text())
    tolerance = 0.02 if "precision" in option else 0.005
    assert abs(other["test_accuracy"] - eager["test_accuracy"]) <= tolerance
    assert other["test_loss"] == pytest.approx(eager["test_loss"], rel=0.1 if "precision" in option else 0.02)


@pytest.mark.parametrize("name", ESTIMATED)
def test_estimator_project_runs_writes_plots_and_its_saved_model_predicts_the_same(name, tmp_path):
    from mlprojects import estimators

    project = registry.get(name)
    run_dir = run(name, dict(project.smoke_settings), out=tmp_path / "run", progress=False)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["completed"] is True
    assert any(k.startswith("test_") for k in metrics)
    assert list((run_dir / "plots").glob("*.png"))

    cfg = resolve(project.config_class, project.smoke_settings)
    data = project.prepare(cfg)
    fitted = project.fit(cfg, project.build_estimator(cfg, "cpu"), data)  # the same settings fit the same model
    loaded = estimators.load(run_dir / "model.safetensors")
    X = project.features(cfg, data.X_test) if hasattr(project, "features") else data.X_test
    assert (loaded.predict(X) == fitted.predict(X)).all()
    if (run_dir / "history.jsonl").exists():  # trained in epochs: a finite, falling loss
        losses = [json.loads(line)["loss"] for line in (run_dir / "history.jsonl").read_text().splitlines()]
        assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]


@pytest.mark.parametrize("name", DEMOS)
def test_demo_project_writes_its_figures(name, tmp_path):
    project = registry.get(name)
    run_dir = run(name, dict(project.smoke_settings), out=tmp_path / "run", progress=False)
    assert json.loads((run_dir / "metrics.json").read_text())["completed"] is True
    assert list((run_dir / "plots").glob("*.png"))
