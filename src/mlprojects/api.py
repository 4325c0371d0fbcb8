"""The Python API: the workbench from Python or a notebook, with the CLI's names and the same checks.

    import mlprojects as mlp
    run = mlp.run("mnist-mlp", epochs=3, seed=1)      # the same runner as `mlprojects run`
    run.metrics["test_accuracy"]; run.history          # a pandas DataFrame of the epochs
    model = mlp.load(run.dir)                          # any finished run
    model.predict(x)                                   # DataFrames, arrays, CSV paths, images, texts
    mlp.projects()                                     # what `mlprojects list` shows, as data

Settings are keyword arguments checked exactly as ``--set`` (an unknown or mistyped name, a wrong type:
the same one-line ``UserError``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlprojects import registry, rundir


@dataclass(frozen=True)
class RunResult:
    """A run directory and what it holds."""

    dir: Path

    @property
    def project(self) -> str:
        return rundir.read_settings(self.dir)["project"]

    @property
    def settings(self) -> dict[str, Any]:
        return {key: value for key, value in rundir.read_settings(self.dir).items() if key != "project"}

    @property
    def metrics(self) -> dict[str, Any]:
        return rundir.read_metrics(self.dir)

    @property
    def completed(self) -> bool:
        return rundir.is_complete(self.dir)

    @property
    def history(self) -> pd.DataFrame:
        """One row per epoch (loss, metrics, learning rate, time), as history.jsonl holds them."""
        return pd.DataFrame(rundir.read_history(self.dir))

    def load(self) -> Model:
        return load(self.dir)

    def published(self) -> pd.DataFrame:
        """The figures the project's source published beside ours from this run (the published configuration
        may differ from this run's settings: the column says which settings the published figure needs)."""
        entry = registry.entry(self.project)
        metrics = self.metrics
        rows = [{"source": figure.source, "published": figure.published, "metric": figure.metric,
                 "published value": figure.value, "ours": metrics.get(figure.metric),
                 "published with": ", ".join(f"{k}={v}" for k, v in figure.settings.items()) or "these defaults"}
                for figure in entry.reproduce]
        if not rows:
            rows = [{"source": entry.source, "published": entry.published, "metric": entry.headline,
                     "published value": None, "ours": metrics.get(entry.headline), "published with": ""}]
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        figures = ", ".join(f"{k}={v:.4g}" for k, v in self.metrics.items() if k.startswith("test_")
                            and isinstance(v, float))
        return f"RunResult({str(self.dir)!r}{', ' + figures if figures else ''})"


def run(project: str, *, seed: int | None = None, out: str | Path | None = None, device: str = "auto",
        config: str | Path | None = None, progress: bool = True, track: bool = False, **settings: Any) -> RunResult:
    """Train and evaluate PROJECT (or fit it) with SETTINGS as keyword arguments; returns the finished run.
    TRACK: copied to MLflow as it goes (MLFLOW_TRACKING_URI, else ./mlflow.db)."""
    from mlprojects.runner import run as run_project

    return RunResult(run_project(project, settings, config_file=str(config) if config else None, out=out,
                                 device=device, seed=seed, progress=progress, track=track))


def resume(run_dir: str | Path, *, device: str = "auto", progress: bool = True, track: bool = False,
           **settings: Any) -> RunResult:
    """Continue a run from its last checkpoint (settings: epochs, early_stopping, eval_batch_size); TRACK continues
    its MLflow run."""
    from mlprojects.runner import run as run_project

    return RunResult(run_project(None, settings, resume=run_dir, device=device, progress=progress, track=track))


class Model:
    """A finished run's model, ready to predict."""

    def __init__(self, finished: rundir.Run):
        self.run = finished

    @property
    def project(self) -> str:
        return self.run.name

    @property
    def metrics(self) -> dict[str, Any]:
        return self.run.metrics

    @property
    def module(self) -> Any:
        """The torch module (trained projects) or the fitted estimator."""
        return self.run.model

    def predict(self, inputs: Any, *, top_k: int = 3, backtest: bool = False, strict: bool = False) -> pd.DataFrame:
        """Predictions for INPUTS, as a DataFrame: a DataFrame, array or CSV path of the training columns
        (tabular projects), images (paths, folders, PIL images, arrays), recent readings (forecasting),
        or texts (fine-tuned transformers). STRICT: refuse a table's missing values rather than fill them."""
        from mlprojects.predict import predict

        return predict(self.run, inputs, top_k=top_k, backtest=backtest, strict=strict)

    def __repr__(self) -> str:
        return f"Model({self.project!r} from {str(self.run.path)!r})"


def load(run_dir: str | Path) -> Model:
    """A finished run's model (any project that trains or fits one)."""
    return Model(rundir.load(run_dir))


def projects() -> pd.DataFrame:
    """Every project, with its source, data, published figure and summary (what `mlprojects list` shows)."""
    return pd.DataFrame([{"name": entry.name, "source": entry.source, "dataset": entry.dataset,
                          "published": entry.published, "summary": entry.summary} for entry in registry.entries()])
