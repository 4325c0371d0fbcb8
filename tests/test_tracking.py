"""Runs in MLflow, checked against a real MLflow store (SQLite, as MLflow's own default): what search_runs and
get_metric_history return equals the run directory's metrics.json, history.jsonl and settings, for a run, a
resumed run, a 2-process run, a sweep, a run whose store was down, and an estimator."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from conftest import free_port, run_subprocess

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

SMALL = ["--set", "epochs=2", "--set", "widths=16,16", "--set", "batch_size=128", "--quiet"]


@pytest.fixture
def store(tmp_path, monkeypatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def runs(uri: str):
    return mlflow.search_runs(search_all_experiments=True, output_format="list", filter_string="")


def history(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]


def numbers(row: dict) -> dict[str, float]:
    return {key: float(value) for key, value in row.items() if isinstance(value, (int, float))
            and not isinstance(value, bool) and key != "epoch" and math.isfinite(value)}


def assert_same(uri: str, run_dir: Path, expect_epochs: int | None = None) -> str:
    """The MLflow run of RUN_DIR holds its settings, its history epoch by epoch and its final figures; its id."""
    client = MlflowClient(uri)
    record = json.loads((run_dir / "mlflow.json").read_text())[uri]
    run = client.get_run(record["run_id"])
    settings = __import__("yaml").safe_load((run_dir / "config.yaml").read_text())
    project = settings.pop("project")
    assert run.data.tags["project"] == project and run.data.tags["run_dir"] == str(run_dir.resolve())
    assert run.data.tags["cpu"] and run.data.tags["mlprojects_commit"] and run.data.tags["seed"] == "42"
    resumed = {key.removeprefix("resumed."): value for key, value in run.data.tags.items()
               if key.startswith("resumed.")}  # what a resume changed (MLflow's params never change)
    assert {**run.data.params, **resumed} == {key: ",".join(map(str, value)) if isinstance(value, list)
                                              else str(value) for key, value in settings.items()}
    rows = history(run_dir) if (run_dir / "history.jsonl").is_file() else []
    if expect_epochs is not None:
        assert len(rows) == expect_epochs
    for key in set().union(*(numbers(row) for row in rows)) if rows else ():
        logged = sorted((point.step, point.value) for point in client.get_metric_history(run.info.run_id, key))
        assert logged == [(row["epoch"], pytest.approx(numbers(row)[key])) for row in rows if key in numbers(row)]
    final = numbers(json.loads((run_dir / "metrics.json").read_text()))
    for key, value in final.items():
        assert run.data.metrics[key] == pytest.approx(value), key
    assert run.info.status == "FINISHED"
    files = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "metrics.json", "plots"} <= files
    assert {name for name in ("history.jsonl", "model.safetensors") if (run_dir / name).is_file()} <= files
    return run.info.run_id


def test_a_tracked_run_is_in_mlflow_as_in_its_folder(cli, tmp_path, store):
    done = cli("run", "mnist-mlp", *SMALL, "--track", "--out", str(tmp_path / "run"))
    assert done.code == 0, done.err
    assert "warning" not in done.err
    run_id = assert_same(store, tmp_path / "run", expect_epochs=2)
    client = MlflowClient(store)
    files = {item.path for item in client.list_artifacts(run_id)}
    assert {"history.jsonl", "model.onnx"} <= files
    assert {item.path for item in client.list_artifacts(run_id, "plots")} == {
        f"plots/{path.name}" for path in (tmp_path / "run" / "plots").iterdir()}
    experiment = client.get_experiment(client.get_run(run_id).info.experiment_id)
    assert experiment.name == "mnist-mlp"
    assert experiment.artifact_location == str(tmp_path / "mlruns" / "mnist-mlp")  # beside the database
    assert (tmp_path / "mlruns" / "mnist-mlp" / run_id / "artifacts" / "model.onnx").is_file()

    again = cli("track", "import", str(tmp_path / "run"))  # already there: nothing doubled
    assert again.code == 0 and run_id in again.out
    assert len(runs(store)) == 1 and len(client.get_metric_history(run_id, "loss")) == 2


def test_a_resumed_run_continues_its_mlflow_run(cli, tmp_path, store):
    run_dir = tmp_path / "run"
    assert cli("run", "mnist-mlp", *SMALL, "--track", "--out", str(run_dir)).code == 0
    first = json.loads((run_dir / "mlflow.json").read_text())[store]["run_id"]
    resumed = cli("run", "--resume", str(run_dir), "--set", "epochs=3", "--quiet", "--track")
    assert resumed.code == 0, resumed.err
    assert assert_same(store, run_dir, expect_epochs=3) == first
    run = MlflowClient(store).get_run(first)
    assert run.data.params["epochs"] == "2" and run.data.tags["resumed.epochs"] == "3"
    assert len(runs(store)) == 1


def test_a_two_process_run_is_logged_once(tmp_path, store):
    done = run_subprocess("run", "mnist-mlp", *SMALL, "--device", "cpu", "--nproc", "2", "--track", "--out",
                          str(tmp_path / "ddp"))
    assert done.returncode == 0, done.stderr
    assert_same(store, tmp_path / "ddp", expect_epochs=2)
    assert len(runs(store)) == 1


def test_a_sweep_is_an_experiment_with_a_run_per_trial_under_a_parent(cli, tmp_path, store):
    out = tmp_path / "sweep"
    done = cli("sweep", "mnist-mlp", "--grid", "lr=0.05,0.1", "--set", "epochs=1", "--set", "widths=16,16",
               "--workers", "2", "--track", "--out", str(out))
    assert done.code == 0, done.err
    client = MlflowClient(store)
    parent_id = json.loads((out / "mlflow.json").read_text())[store]["run_id"]
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED" and parent.data.params["lr"] == "0.05,0.1"
    assert {"results.csv", "summary.md"} <= {item.path for item in client.list_artifacts(parent_id)}
    trials = [run for run in runs(store) if run.info.run_id != parent_id]
    assert len(trials) == 2 and {run.data.tags["mlflow.parentRunId"] for run in trials} == {parent_id}
    assert {run.info.experiment_id for run in trials} == {parent.info.experiment_id}
    assert client.get_experiment(parent.info.experiment_id).name == f"mnist-mlp sweep {out.name}"
    for folder in (out / "trials").iterdir():
        assert_same(store, folder, expect_epochs=1)

    again = cli("sweep", "mnist-mlp", "--grid", "lr=0.05,0.1", "--set", "epochs=1", "--set", "widths=16,16",
                "--track", "--out", str(out))  # all done: the same parent, nothing doubled
    assert again.code == 0 and len(runs(store)) == 3


def test_a_store_that_does_not_answer_never_fails_the_run_and_import_copies_it_later(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    done = cli("run", "mnist-mlp", *SMALL, "--track", "--out", str(tmp_path / "run"))
    assert done.code == 0, done.err
    lines = done.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: MLflow at http://127.0.0.1:") and \
        f"`mlprojects track import {tmp_path / 'run'}` copies it later" in lines[0], done.err
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["completed"]

    uri = f"sqlite:///{tmp_path / 'later.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    imported = cli("track", "import", str(tmp_path / "run"))
    assert imported.code == 0, imported.err
    assert_same(uri, tmp_path / "run", expect_epochs=2)


def test_an_estimator_and_a_demo_are_tracked_too(cli, tmp_path, store):
    assert cli("run", "linreg-synthetic", "--quiet", "--track", "--out", str(tmp_path / "fit")).code == 0
    assert_same(store, tmp_path / "fit")
    done = cli("run", "pi", "--set", "points=10000", "--quiet", "--track", "--out", str(tmp_path / "pi"))
    assert done.code == 0, done.err
    assert_same(store, tmp_path / "pi")


def test_without_mlflow_track_is_one_line_naming_the_extra(cli, tmp_path, monkeypatch, store):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if the extra were not installed
    for args in (["run", "mnist-mlp", *SMALL, "--track", "--out", str(tmp_path / "run")],
                 ["sweep", "mnist-mlp", "--grid", "lr=0.1,0.2", "--track", "--out", str(tmp_path / "sweep")],
                 ["track", "import", str(tmp_path)]):
        done = cli(*args)
        assert done.code == 2 and done.err.strip().splitlines() == [
            "error: tracking logs to MLflow, which is not installed: pip install 'mlprojects[tracking]'"], done.err
    assert not (tmp_path / "run").exists() and not (tmp_path / "sweep").exists()


def test_import_refuses_what_is_not_a_run(cli, tmp_path, store):
    done = cli("track", "import", str(tmp_path))
    assert done.code == 2 and done.err.strip() == f"error: {tmp_path} is not a run directory (no config.yaml)"


def test_a_store_that_fails_mid_run_stops_the_copying_with_one_warning(cli, tmp_path, store):
    import sqlite3
    import warnings

    from mlprojects.tracking import Live

    run_dir = tmp_path / "run"
    assert cli("run", "mnist-mlp", *SMALL, "--out", str(run_dir)).code == 0  # untracked
    live = Live(run_dir)  # as the runner opens it on rank 0: the epochs on disk are copied
    rows = history(run_dir)
    with sqlite3.connect(tmp_path / "mlflow.db") as db:  # the store breaks between two epochs
        db.execute("DROP TABLE latest_metrics")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        live.on_epoch_end(None, 2, {**rows[-1], "epoch": 3})
        live.on_epoch_end(None, 3, {**rows[-1], "epoch": 4})  # not tried again
        live.finish()
    assert [str(warning.message).split(" (")[0] for warning in caught] == [f"MLflow at {store} stopped answering"]
    assert f"`mlprojects track import {run_dir}` copies it later" in str(caught[0].message)
    assert json.loads((run_dir / "mlflow.json").read_text())[store]["epochs"] == 2
