"""Runs in MLflow: `mlprojects run ... --track`, `sweep --track`, `mlp.run(..., track=True)` and
`mlprojects track import RUN_DIR...`.

A run directory is the record; its MLflow run is a copy of it that can be made at any time. A tracked run is
copied as it goes (the settings as params and the tags when it starts, each epoch's figures with the epoch as
their step as the epoch ends, then the test figures and the files: plots, ``metrics.json``, the settings, the
history, the model and its ONNX export); ``track import`` copies whatever of a run directory the store lacks.
Both go through :class:`Tracked`, which keeps in the run's ``mlflow.json`` which MLflow run it is in each store
and how many epochs that store has, so a resumed run continues its MLflow run instead of starting another.

The store is ``MLFLOW_TRACKING_URI`` when set (a server, a database), otherwise MLflow's own default: the
SQLite file ``mlflow.db`` in the current folder, what ``mlflow ui`` opens when started there; a SQLite store keeps
the artifacts beside its file, in ``mlruns/EXPERIMENT/``. Tracking never fails a run: when the store stops
answering, the run says so in one warning and goes on untracked, and ``track import`` copies it later.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

from mlprojects import rundir
from mlprojects.engine.device import cpu_name
from mlprojects.engine.io import write_json
from mlprojects.engine.trainer import Callback
from mlprojects.errors import UserError, first_line, require

RECORD = "mlflow.json"  # in a run directory: {store URI: {"run_id", "experiment_id", "epochs", "finished"}}
FILES = (rundir.CONFIG, rundir.METRICS, rundir.HISTORY, rundir.WEIGHTS, rundir.DATA)
BATCH = 100  # MLflow takes at most 100 params, 1,000 metrics in one call


def mlflow():
    """The mlflow module, or one line naming the extra; its INFO lines (creating tables, ...) kept quiet."""
    module = require("mlflow", "tracking", "tracking logs to MLflow")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:  # SQLAlchemy's notes to MLflow's developers (a deprecated loader in its SQL store) are not the user's
        from sqlalchemy.exc import SADeprecationWarning

        warnings.filterwarnings("ignore", category=SADeprecationWarning)
    except ImportError:
        pass
    # a server that is down costs one short wait, not MLflow's default retries (7, with backoff: minutes)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    return module


def store_uri() -> str:
    return mlflow().get_tracking_uri()


def _numbers(row: dict[str, Any]) -> dict[str, float]:
    return {key: float(value) for key, value in row.items() if key != "epoch" and rundir.is_figure(value)}


def experiment_id(client, uri: str, name: str) -> str:
    """The experiment NAME, made when missing; in a SQLite store its artifacts go beside the database file, in
    mlruns/NAME (MLflow's own default is ./mlruns of whichever folder the process runs in)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).resolve().parent
        location = str(folder / "mlruns" / re.sub(r"[^A-Za-z0-9._-]+", "-", name))
    return client.create_experiment(name, artifact_location=location)


def _records(folder: Path) -> dict[str, Any]:
    """FOLDER's mlflow.json: {store URI: what that store holds of the run or sweep in FOLDER}."""
    path = folder / RECORD
    return json.loads(path.read_text()) if path.is_file() else {}


def _remember(folder: Path, uri: str, record: dict[str, Any]) -> None:
    write_json(folder / RECORD, {**_records(folder), uri: record})


def _package_commit() -> str:
    """The git commit of the mlprojects package when it runs from a checkout, else its version."""
    from importlib.metadata import version

    folder = Path(__file__).parent
    found = None
    if (folder.parent.parent / "pyproject.toml").is_file() and folder.parent.name == "src":  # a checkout's src/
        try:
            found = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
                                   timeout=10)
        except (OSError, subprocess.SubprocessError):
            pass
    return found.stdout.strip() if found is not None and found.returncode == 0 else version("mlprojects")


class Tracked:
    """RUN_DIR's MLflow run in the store at URI (the current one by default): created, or found again from the
    run's ``mlflow.json``. EXPERIMENT: an experiment id (default: the one MLFLOW_EXPERIMENT_NAME names, else the
    one named after the project); PARENT: the MLflow run this one is nested under (a sweep's)."""

    def __init__(self, run_dir: str | Path, uri: str | None = None, experiment: str | None = None,
                 parent: str | None = None) -> None:
        from mlflow.tracking import MlflowClient

        self.dir = Path(run_dir)
        self.uri = uri or store_uri()
        self.client = MlflowClient(self.uri)
        self.experiment, self.parent = experiment, parent
        self.record: dict[str, Any] = _records(self.dir).get(self.uri, {})

    def _save(self) -> None:
        _remember(self.dir, self.uri, self.record)

    @property
    def run_id(self) -> str:
        return self.record["run_id"]

    def open(self) -> None:
        """Create the MLflow run with the settings and tags, or continue the one this folder has in the store;
        then copy the epochs on disk that the store lacks."""
        from mlflow.entities import Param, RunTag
        from mlflow.exceptions import MlflowException

        settings = rundir.read_settings(self.dir)
        project = settings.pop("project")
        params = {key: ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
                  for key, value in settings.items()}
        if self.record:
            try:
                logged = self.client.get_run(self.run_id).data.params
                self.client.update_run(self.run_id, status="RUNNING")
            except MlflowException:  # deleted from the store, or another store at the same address
                self.record = {}
            else:  # a param never changes in MLflow: what a resume changed (epochs, ...) is a tag
                changed = [RunTag(f"resumed.{key}", value) for key, value in params.items() if logged.get(key) != value]
                if changed:
                    self.client.log_batch(self.run_id, tags=changed)
                return self.epochs()
        experiment = self.experiment or experiment_id(self.client, self.uri,
                                                      os.environ.get("MLFLOW_EXPERIMENT_NAME") or project)
        tags = {"project": project, "seed": str(settings.get("seed", "")), "run_dir": str(self.dir.resolve()),
                "mlprojects_commit": _package_commit(), "mlflow.source.name": "mlprojects",
                "mlflow.source.type": "LOCAL", "cpu": cpu_name()}
        if self.parent:
            tags["mlflow.parentRunId"] = self.parent
        run = self.client.create_run(experiment, run_name=self.dir.name, tags=tags)
        self.record = {"run_id": run.info.run_id, "experiment_id": experiment, "epochs": 0, "finished": False}
        entries = [Param(key, value) for key, value in params.items()]
        for start in range(0, len(entries), BATCH):
            self.client.log_batch(self.run_id, params=entries[start:start + BATCH])
        self._save()
        self.client.log_batch(self.run_id, tags=[RunTag("mlflow.note.content", f"mlprojects run in {self.dir}")])
        self.epochs()

    def epochs(self) -> None:
        """The epochs of history.jsonl that the store lacks."""
        for row in rundir.read_history(self.dir):
            if row.get("epoch", 0) > self.record["epochs"]:
                self.epoch(row)

    def epoch(self, row: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        step = int(row["epoch"])
        metrics = [Metric(key, value, stamp, step) for key, value in _numbers(row).items()]
        self.client.log_batch(self.run_id, metrics=metrics)
        self.record["epochs"] = step
        self._save()

    def finish(self) -> None:
        """The test figures, the files and the ONNX export; the run FINISHED (FAILED when it diverged, KILLED
        when its folder holds no finished run)."""
        from mlflow.entities import Metric, RunTag

        diverged = rundir.diverged(self.dir)
        done = rundir.is_complete(self.dir)
        if done:
            metrics = rundir.read_metrics(self.dir)
            per_epoch = {key for row in rundir.read_history(self.dir) for key in row}
            stamp, step = int(time.time() * 1000), int(self.record.get("epochs", 0))
            figures = [Metric(key, value, stamp, step) for key, value in _numbers(metrics).items()
                       if key not in per_epoch]
            for start in range(0, len(figures), 1000):
                self.client.log_batch(self.run_id, metrics=figures[start:start + 1000])
            words = {key: str(value) for key, value in metrics.items()
                     if isinstance(value, (str, bool)) and key in ("device", "torch_version", "completed")}
            self.client.log_batch(self.run_id, tags=[RunTag(key, value) for key, value in words.items()])
            self._files()
        status = "FINISHED" if done else "FAILED" if diverged else "KILLED"
        self.client.set_terminated(self.run_id, status=status)
        self.record["finished"] = done or bool(diverged)
        self._save()

    def _files(self) -> None:
        for name in FILES:
            if (self.dir / name).is_file():
                self.client.log_artifact(self.run_id, str(self.dir / name))
        if (self.dir / rundir.PLOTS).is_dir():
            self.client.log_artifacts(self.run_id, str(self.dir / rundir.PLOTS), rundir.PLOTS)
        onnx = self._onnx()
        if onnx is not None:
            self.client.log_artifact(self.run_id, str(onnx))

    def _onnx(self) -> Path | None:
        """model.onnx, exported now when the run has none; None (with one warning) where it cannot be."""
        path = self.dir / "model.onnx"
        if path.is_file():
            return path
        project, _ = rundir.project_of(self.dir)
        if project.kind == "demo":
            return None
        from mlprojects import export

        try:
            export.export(rundir.load(self.dir), "onnx")
        except Exception as error:  # the exporter's limits are not the store's: the rest is still copied
            warnings.warn(f"the run is tracked without its ONNX file: {first_line(error)}", stacklevel=2)
            return None
        return path if path.is_file() else None


def attempt(step, what: str, folders: str) -> bool:
    """STEP(); False, with one warning saying that WHAT goes on untracked and how to copy FOLDERS later, when the
    store fails (down, full, refusing a value: the run matters more than its copy)."""
    try:
        step()
        return True
    except UserError:
        raise
    except Exception as error:
        warnings.warn(f"MLflow at {store_uri()} stopped answering ({first_line(error)}): {what} goes on untracked; "
                      f"`mlprojects track import {folders}` copies it later", stacklevel=3)
        return False


def track(run_dir: str | Path, uri: str | None = None, experiment: str | None = None,
          parent: str | None = None) -> Tracked:
    """Copy what of RUN_DIR the store lacks (``track import``): the run, its epochs, and, once, its end."""
    if not (Path(run_dir) / rundir.CONFIG).is_file():
        raise UserError(f"{run_dir} is not a run directory (no {rundir.CONFIG})")
    tracked = Tracked(run_dir, uri, experiment, parent)
    if tracked.record.get("finished"):
        return tracked
    tracked.open()
    tracked.finish()
    return tracked


class Live(Callback):
    """A run copied to MLflow as it trains (rank 0 only). The first error of the store stops the copying with
    one warning; the run goes on."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        self.tracked: Tracked | None = None
        self._safely(self._open)

    def _open(self) -> None:
        self.tracked = Tracked(self.dir)
        self.tracked.open()

    def _safely(self, step) -> None:
        if not attempt(step, "the run", str(self.dir)):
            self.tracked = None

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        if self.tracked is not None:
            self._safely(lambda: self.tracked.epoch(logs))

    def finish(self) -> None:
        if self.tracked is not None:
            self._safely(self.tracked.finish)


class Group:
    """A sweep or a search in MLflow: an experiment of its own (MLFLOW_EXPERIMENT_NAME, else "PROJECT sweep
    FOLDER") holding a parent run, under which each trial is copied when it ends; found again from the folder's
    mlflow.json when the sweep resumes. One trial is copied at a time (two threads writing one SQLite store at once
    can find it locked); the first error of the store stops the copying with one warning, and the sweep goes on."""

    def __init__(self, folder: Path, project: str, params: dict[str, str]) -> None:
        import threading

        self.folder, self.uri, self.lock, self.live = Path(folder), store_uri(), threading.Lock(), True
        self._safely(lambda: self._open(project, params))

    def _open(self, project: str, params: dict[str, str]) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(self.uri)
        record = _records(self.folder).get(self.uri)
        if record is None:
            experiment = experiment_id(self.client, self.uri, os.environ.get("MLFLOW_EXPERIMENT_NAME")
                                       or f"{project} sweep {self.folder.name}")
            run = self.client.create_run(experiment, run_name=self.folder.name,
                                         tags={"project": project, "sweep_dir": str(self.folder.resolve()),
                                               "mlprojects_commit": _package_commit()})
            record = {"run_id": run.info.run_id, "experiment_id": experiment}
            self.client.log_batch(record["run_id"], params=[Param(key, value) for key, value in params.items()])
            _remember(self.folder, self.uri, record)
        else:
            self.client.update_run(record["run_id"], status="RUNNING")
        self.parent, self.experiment = record["run_id"], record["experiment_id"]

    def _safely(self, step) -> None:
        with self.lock:
            self.live = self.live and attempt(step, "the sweep", f"{self.folder}/trials/*")

    def trial(self, run_dir: Path) -> None:
        """Copy a trial's run (finished, diverged or cut off) under the parent run."""
        if rundir.state(run_dir) in ("done", "diverged", "partial"):
            self._safely(lambda: track(run_dir, self.uri, self.experiment, self.parent))

    def close(self, finished: bool) -> None:
        """The sweep's results.csv, summary.md and plots on the parent run, which ends FINISHED or FAILED."""

        def end() -> None:
            for path in (self.folder / name for name in ("results.csv", "summary.md", "plots")):
                if path.is_dir():
                    self.client.log_artifacts(self.parent, str(path), path.name)
                elif path.is_file():
                    self.client.log_artifact(self.parent, str(path))
            self.client.set_terminated(self.parent, status="FINISHED" if finished else "FAILED")

        self._safely(end)
