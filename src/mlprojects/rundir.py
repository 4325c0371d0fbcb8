"""The run directory: its layout, its settings and metrics, whether it completed, and loading it back.

Every run, of every kind of project, is one folder::

    config.yaml              the resolved settings, with "project: NAME" first
    history.jsonl            one line per epoch (projects trained in epochs)
    checkpoint.safetensors   weights, optimizer, RNG and epoch state, rewritten each epoch (trained projects)
    model.safetensors        the trained model or fitted estimator, once training ends
    plots/  tensorboard/     figures; TensorBoard scalars
    metrics.json             written last, with "completed": true

A run is complete only when metrics.json says so, and everything that uses finished runs (the web
app, ``generate``, sweeps, ``reproduce``, ``show``) asks :func:`state` or :func:`load` here.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Literal

from mlprojects import config as configuration
from mlprojects import registry
from mlprojects.errors import UserError

CONFIG, METRICS, HISTORY, CHECKPOINT, WEIGHTS = ("config.yaml", "metrics.json", "history.jsonl",
                                                 "checkpoint.safetensors", "model.safetensors")
PLOTS, TENSORBOARD = "plots", "tensorboard"
DATA = "data.json"  # the user's data a run trained on, and its sha256 (checked when it resumes)
#: which way the figures the runner writes for every project are better (a project's entry declares its own)
RUN_GOALS: dict[str, registry.Goal] = {"test_loss": "min", "val_loss": "min", "train_loss": "min",
                                       "train_samples_per_sec": "max", "duration_s": "min", "fit_seconds": "min"}
State = Literal["done", "diverged", "partial", "broken", "new"]


def read_settings(run_dir: str | Path) -> dict[str, Any]:
    """config.yaml as written (``project`` first, then every setting)."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise UserError(f"{run_dir} is not a run directory (no {CONFIG})")
    return configuration.load_yaml(path)


def is_figure(value: Any) -> bool:
    """Whether a metric's value is a finite number (a bool is not one)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    """metrics.json, or {} while the run has not completed (or the file is unreadable)."""
    try:
        metrics = json.loads((Path(run_dir) / METRICS).read_text())
    except (OSError, ValueError):
        return {}
    return metrics if isinstance(metrics, dict) else {}


def read_history(run_dir: str | Path) -> list[dict[str, Any]]:
    """history.jsonl's rows, one per epoch (none for a run without one: an estimator fitted in one pass)."""
    path = Path(run_dir) / HISTORY
    rows = []
    for number, line in enumerate(path.read_text().splitlines() if path.is_file() else [], 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError:
                raise UserError(f"{path}: line {number} is not a JSON object (the file is damaged)") from None
    return rows


def is_complete(run_dir: str | Path) -> bool:
    return read_metrics(run_dir).get("completed") is True


def diverged(run_dir: str | Path) -> dict[str, Any] | None:
    """Where training diverged ({epoch, step, steps, loss}), or None: a diverged run is kept for inspection
    (its settings, its history up to the last whole epoch, its last checkpoint) and is never complete."""
    metrics = read_metrics(run_dir)
    return metrics.get("diverged") if isinstance(metrics.get("diverged"), dict) else None


def mark_diverged(run_dir: Path, epoch: int, step: int, steps: int, loss: float, epochs_completed: int,
                  message: str) -> None:
    from mlprojects.engine.io import write_json

    write_json(run_dir / METRICS, {"completed": False, "diverged": {"epoch": epoch, "step": step, "steps": steps,
                                                                    "loss": str(loss)},
                                   "epochs_completed": epochs_completed, "message": message})


def state(run_dir: str | Path) -> State:
    """'done', 'diverged', 'partial' (it has a checkpoint to continue from), 'broken' (started, nothing to keep)
    or 'new'."""
    run_dir = Path(run_dir)
    if is_complete(run_dir):
        return "done"
    if diverged(run_dir):
        return "diverged"
    if (run_dir / CHECKPOINT).is_file():
        return "partial"
    return "broken" if run_dir.exists() else "new"


def goal(metric: str, entry: registry.Entry | None = None) -> registry.Goal | None:
    """'max' or 'min' when a larger or smaller METRIC is better, as declared; None when neither is."""
    return (entry.goals.get(metric) if entry else None) or RUN_GOALS.get(metric)


# --- making run directories --------------------------------------------------------------------------

def default_out(name: str, root: str | Path = "runs") -> Path:
    """runs/NAME/<date-time>, with a suffix when that folder is taken."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / name / stamp
    candidate, suffix = base, 1
    while candidate.exists():
        candidate, suffix = base.with_name(f"{stamp}-{suffix}"), suffix + 1
    return candidate


def open_run(run_dir: Path, name: str, cfg, resuming: bool = False) -> None:
    """Create the run directory and write its settings; a finished run is never overwritten."""
    import yaml

    from mlprojects.engine.io import write_text

    if not resuming and (run_dir / CONFIG).exists():
        raise UserError(f"{run_dir} already holds a run: choose another --out, or --resume it")
    run_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / METRICS).exists():  # resuming: the run is not complete until it ends again
        os.unlink(run_dir / METRICS)
    write_text(run_dir / CONFIG, yaml.safe_dump({"project": name, **configuration.to_dict(cfg)}, sort_keys=False))


def record_data(run_dir: Path, path: Path | None) -> None:
    """Note the user's data file or folder a run trains on, and its fingerprint, for ``check_data``."""
    if path is not None:
        from mlprojects.engine.io import write_json
        from mlprojects.inputs.base import fingerprint

        write_json(run_dir / DATA, {"data": str(path), "sha256": fingerprint(path)})


def check_data(run_dir: Path, path: Path | None) -> None:
    """Refuse to resume RUN_DIR on data that changed since it started."""
    if path is None or not (run_dir / DATA).is_file():
        return
    from mlprojects.inputs.base import fingerprint

    if not path.exists():
        raise UserError(f"{run_dir} trained on {path}, which is gone; resume needs the same data")
    recorded = json.loads((run_dir / DATA).read_text())["sha256"]
    if fingerprint(path) != recorded:
        raise UserError(f"{run_dir} trained on {path}, which has changed since (sha256 {recorded[:12]}... then); "
                        "resume needs the same data: restore it, or start a new run")


@contextlib.contextmanager
def fresh_run(run_dir: Path, name: str, cfg) -> Iterator[Path]:
    """A new run directory for a one-pass run; removed again if the run fails (bad data, a bad image),
    so a mistake leaves nothing half-written behind."""
    existed = run_dir.exists()
    open_run(run_dir, name, cfg)
    try:
        yield run_dir
    except BaseException:
        if existed:
            for leftover in (CONFIG, METRICS, WEIGHTS, HISTORY):
                (run_dir / leftover).unlink(missing_ok=True)
            shutil.rmtree(run_dir / PLOTS, ignore_errors=True)
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


# --- using finished runs --------------------------------------------------------------------------

@dataclass
class Run:
    """A completed run loaded back: its project, resolved settings, metrics and model (a torch module in
    eval mode, or a fitted estimator)."""

    path: Path
    project: Any
    cfg: Any
    metrics: dict[str, Any]
    model: Any
    preparation: Any = None  # how raw inputs become model inputs, as saved with the model (or None)

    @property
    def name(self) -> str:
        return self.project.name

    def class_names(self) -> list[str]:
        """The labels of a classifier's outputs: as saved with the model (a user's classes), else the project's."""
        saved = getattr(self.preparation, "classes", None)
        return list(saved) if saved else self.project.class_names(self.cfg)


def project_of(run_dir: str | Path):
    """(the project, its resolved settings) of a run directory, without loading any weights."""
    settings = read_settings(run_dir)
    name = settings.pop("project", None)
    if not name:
        raise UserError(f"{run_dir}/{CONFIG} names no project")
    project = registry.get(name)
    return project, configuration.resolve(project.config_class, settings)


def load(run_dir: str | Path, expect: str | tuple[str, ...] = ()) -> Run:
    """A completed run's project, settings and trained model. EXPECT: the project names that are
    acceptable here (a one-line error names them otherwise)."""
    run_dir = Path(run_dir)
    project, cfg = project_of(run_dir)
    expect = (expect,) if isinstance(expect, str) else expect
    if expect and project.name not in expect:
        raise UserError(f"{run_dir} is a {project.name} run; this needs a run of {' or '.join(expect)}")
    if project.kind == "demo":
        raise UserError(f"{run_dir} is a {project.name} run, a demonstration: it has no model to use")
    refuse_diverged(run_dir)
    if not is_complete(run_dir):
        raise UserError(f"{run_dir}: the run did not complete; continue it (mlprojects run --resume {run_dir}) "
                        "or choose another")
    prep = preparation(run_dir)
    if prep is None and project.inputs.needs_preparation:
        raise UserError(f"{run_dir} was trained before runs kept the description of their data; run it again "
                        f"(mlprojects run {project.name} ...) to use it")
    if project.kind == "estimator":
        from mlprojects import estimators

        model = estimators.load(run_dir / WEIGHTS)
    else:
        from mlprojects.engine import checkpoint

        model = project.model_for_run(cfg, run_dir, prep)
        checkpoint.load_weights(run_dir / WEIGHTS, model)
        model.eval()
    return Run(run_dir, project, cfg, read_metrics(run_dir), model, prep)


def preparation(run_dir: Path):
    """The preparation of raw inputs saved in model.safetensors' metadata (mlprojects.data.preparation)."""
    from safetensors import SafetensorError, safe_open

    from mlprojects.data.preparation import from_json

    path = Path(run_dir) / WEIGHTS
    try:  # the first reading of the model file: one cut short, overwritten or gone is one line, not a traceback
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UserError(f"{path}: not a readable safetensors file ({first}); the run's model is damaged: restore "
                        "the file, or train the run again") from None
    return from_json(metadata.get("preparation"))


def refuse_diverged(run_dir: Path) -> None:
    where = diverged(run_dir)
    if where:
        raise UserError(f"{run_dir} diverged (the loss became {where['loss']} at epoch {where['epoch']}, step "
                        f"{where['step']}): it has no usable model; run it again with a lower lr or grad_clip")


def newest(names: list[str] | tuple[str, ...], root: str | Path = "runs") -> Path | None:
    """The newest completed run under ROOT/NAME/ of any of these projects."""
    found = [path.parent for name in names for path in Path(root, name).glob(f"*/{METRICS}")
             if is_complete(path.parent) and (path.parent / CONFIG).is_file()]
    return max(found, key=lambda path: (path / METRICS).stat().st_mtime) if found else None
