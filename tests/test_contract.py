"""Checks every registered project must pass (scikit-learn's common-checks idea)."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import assert_picture

from mlprojects import registry
from mlprojects.config import describe, resolve
from mlprojects.data import catalog
from mlprojects.engine import checkpoint
from mlprojects.project import KINDS, Project
from mlprojects.runner import run

PROJECTS = [entry.name for entry in registry.entries()]
KIND = {name: registry.get(name).kind for name in PROJECTS}
ESTIMATED = [name for name in PROJECTS if KIND[name] == "estimator"]
DEMOS = [name for name in PROJECTS if KIND[name] == "demo"]
TRAINED = [name for name in PROJECTS if KIND[name] == "trained"]


def smoke_settings(name: str, request) -> dict:
    """The project's smoke settings, plus what its entry says it needs that is not embedded: each need is a
    fixture of the same name (conftest.py), which writes that input in its real format and returns the
    settings that point at it."""
    settings = dict(registry.get(name).smoke_settings)
    for need in registry.entry(name).needs:
        settings.update(request.getfixturevalue(need.replace("-", "_")) or {})
    return settings


@pytest.mark.parametrize("name", PROJECTS)
def test_metadata_and_settings_are_complete(name):
    entry = registry.entry(name)
    assert entry.source and entry.dataset and entry.published
    project = registry.get(name)
    assert project.name == name and isinstance(project, KINDS[project.kind])
    for setting, _, _, help_text in describe(project.config_class):
        assert help_text, f"setting {setting} has no help"
    resolve(project.config_class)  # the published defaults pass their own checks
    assert set(entry.goals.values()) <= {"max", "min"}
    generates = getattr(type(project), "generate", None) not in (None, Project.generate)  # defined, not inherited
    assert bool(entry.generates) == generates
    if entry.serves == "digits":
        assert type(project).images_to_inputs is not KINDS["trained"].images_to_inputs
    for need in entry.needs:  # a catalog dataset that is downloaded, or an input the user gives
        assert need in catalog.CATALOG or need in ("pretrained-model", "labelled-texts", "tagged-sentences"), need
    for figure in entry.reproduce:
        assert figure.metric and (not figure.data or figure.data in catalog.CATALOG)
        resolve(project.config_class, figure.settings)


@pytest.mark.parametrize("name", TRAINED)
def test_short_run_learns_and_its_saved_model_predicts_the_same(name, tmp_path, request):
    project = registry.get(name)
    settings = smoke_settings(name, request)
    run_dir = run(name, settings, out=tmp_path / "run", progress=False)
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in history]
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["completed"] is True

    cfg = resolve(project.config_class, settings)
    data = project.prepare(cfg)
    pictures = sorted((run_dir / "plots").glob("*.png"))
    assert pictures and all(assert_picture(path) is not None for path in pictures)
    outputs = []
    for seed in (0, 1):  # two different initialisations, then the same saved weights
        torch.manual_seed(seed)
        model = project.build_model(cfg, data.preparation)
        checkpoint.load_weights(run_dir / "model.safetensors", model)
        model.eval()
        with torch.no_grad():
            outputs.append(model(project.example_inputs(data)))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)


@pytest.mark.slow
@pytest.mark.parametrize("option", [{"precision": "bf16"}, {"compile": True}])
def test_bf16_autocast_and_torch_compile_train_to_the_same_place(option, tmp_path, digits_run):
    settings = {"epochs": 2, "widths": "64,64"}  # digits_run's: the eager run
    eager = json.loads((digits_run / "metrics.json").read_text())
    import yaml

    saved = yaml.safe_load((digits_run / "config.yaml").read_text())
    assert (saved["epochs"], saved["widths"]) == (2, [64, 64])
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
    pictures = sorted((run_dir / "plots").glob("*.png"))
    assert pictures and all(assert_picture(path) is not None for path in pictures)

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
    pictures = sorted((run_dir / "plots").glob("*.png"))
    assert pictures and all(assert_picture(path) is not None for path in pictures)
