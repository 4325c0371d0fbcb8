"""``mlprojects reproduce``: each project with its published configuration, against the published figure.

The published figures, their sources and what is wrong with how some were measured are data here
(``PUBLISHED``); the runs are ordinary runs made by the sweep machinery (resumable, ``workers`` at a
time, one run directory per seed); REPRODUCTION.md is written from their metrics.json and links to
their plots. It is generated, never edited by hand.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mlprojects.errors import UserError
from mlprojects.experiments.sweep import SEEDS_FROM, Sweep, execute, has_direction, lower_is_better, state


@dataclass(frozen=True)
class Published:
    project: str
    source: str
    published: str  # as the source states it
    metric: str  # the key of metrics.json compared with it
    value: float | None = None  # the published figure as a number, when there is one to compare
    settings: dict[str, Any] = field(default_factory=dict)  # the published configuration
    seeds: int = 3  # seeds where a run is cheap; 1 where it takes minutes
    also: tuple[str, ...] = ()  # more metrics shown beside ours
    note: str = ""
    data: str = ""  # a dataset that must be present (a download); "" = embedded or generated

    @property
    def key(self) -> str:
        return self.project + "".join(f" {k}={v}" for k, v in self.settings.items())


PUBLISHED = [
    Published("mnist-mlp", "Keras notebook: MLP 784-4x256-10, SGD 0.087, batch 32, 15 epochs", "test accuracy 0.983",
              "test_accuracy", 0.983, {"data": "mnist"}, seeds=1, data="mnist",
              note="on full MNIST (60,000 training digits)"),
    Published("mnist-mlp", "Keras notebook (same network)", "test accuracy 0.983 (full MNIST)", "test_accuracy",
              0.983, seeds=2, note="ours on the embedded 8,000/2,000 subset of MNIST, so a lower figure is expected"),
    Published("kmeans-blobs", "Bonnin ch. 2, k-means on 4 blobs", "converges in 8 iterations, centroids to 0.01",
              "iterations", 8, seeds=1, also=("test_adjusted_rand_index",),
              note="the centroids also agree to 0.01 (tests assert it)"),
    Published("kmeans-circles", "Bonnin ch. 2, k-means on two rings", "a plot only", "test_adjusted_rand_index",
              seeds=3, note="k-means cannot separate rings; `--set features=radius` gives 1.000"),
    Published("knn-circles", "Bonnin ch. 2, nearest neighbour (k = 1)", "never scored", "test_accuracy", seeds=3),
    Published("linreg-synthetic", "Bonnin ch. 3, gradient descent, lr 0.05, 100 epochs", "w = 2.094, b = 0.256",
              "slope", 2.094, seeds=3, also=("intercept",), note="the book's noise was unseeded; the true w is 2"),
    Published("linreg-boston", "Bonnin ch. 3 (fixed: one model on all 12 features)", "none (two separate lines)",
              "test_rmse", seeds=1, also=("test_r2",)),
    Published("logreg-chd", "Bonnin ch. 4, logistic regression of CHD on age", "accuracy 0.74", "train_accuracy", 0.74,
              seeds=1, also=("test_accuracy",),
              note="the book scored its training data; ours is compared on the training data too, and the held-out "
                   "30% is shown beside it"),
    Published("softmax-iris", "Bonnin ch. 4, softmax regression", "none", "test_accuracy", seeds=3),
    Published("nonlinear-regression", "Bonnin ch. 5, 1-10-1 sigmoid network", "the error of one test point",
              "test_mse", seeds=3, note="one point is no test set; ours is over 60 held-out points"),
    Published("auto-mpg", "Bonnin ch. 5, MLP regressor", "test MSE 15.08", "test_mse", 15.08, seeds=3,
              also=("test_mae",)),
    Published("wine", "Bonnin ch. 5, softmax regression on 12 features", "none", "test_accuracy", seeds=3),
    Published("mnist-cnn", "Bonnin ch. 6, LeNet-style CNN", "none", "test_accuracy", seeds=1,
              note="ours on the embedded MNIST subset"),
    Published("mnist-cnn", "Fashion-MNIST benchmark table: 2 conv + pooling", "test accuracy 0.916",
              "test_accuracy", 0.916, {"data": "fashion-mnist"}, seeds=1, data="fashion-mnist"),
    Published("mnist-mlp", "Fashion-MNIST benchmark table: MLP 256-128-100", "test accuracy 0.8833", "test_accuracy",
              0.8833, {"data": "fashion-mnist"}, seeds=1, data="fashion-mnist",
              note="the table's MLP is 256-128-100; ours is the notebook's 4x256"),
    Published("cifar10-cnn", "Bonnin ch. 6, the book's CIFAR-10 network", "an accuracy on the batch it trained on",
              "test_accuracy", settings={"preset": "book"}, seeds=1, data="cifar10",
              note="the book's figure is a training-set score"),
    Published("energy-lstm", "Bonnin ch. 7, LSTM load forecast (5 readings, 5 units)", "test MSE 0.001139",
              "LSTM_test_mse_scaled", 0.001139, {"preset": "book"}, seeds=1, also=("persistence_test_mse_scaled",),
              note="the book's test set was the end of its first 14,000 readings (2011); ours is the last 15% "
                   "of the whole series"),
    Published("bach-charrnn", "Bonnin ch. 7, character LSTM writing ABC", "samples only", "val_bits_per_char",
              seeds=1, also=("sample_valid_fraction",), note="the book's Goldberg corpus is no longer published"),
]


def entries(projects: list[str] | tuple[str, ...] = ()) -> list[Published]:
    from mlprojects import registry

    for name in projects:
        registry.get(name)  # an unknown project: one line with the known ones
        if not any(entry.project == name for entry in PUBLISHED):
            raise UserError(f"{name} has no published figure to reproduce")
    return [entry for entry in PUBLISHED if not projects or entry.project in projects]


def available(dataset: str) -> str:
    """'' when DATASET is present (nothing is downloaded), else why not."""
    if not dataset:
        return ""
    from mlprojects.data import store

    try:
        store.locate(dataset, download=False)
        return ""
    except UserError:
        return "data not available"


def sweep_of(entry: Published, out: Path, quick: bool, workers: int) -> Sweep:
    from mlprojects import registry

    settings = {**entry.settings, **(registry.get(entry.project).smoke_settings if quick else {})}
    folder = entry.key.replace(" ", "__").replace("=", "-")
    # the projects run side by side, `workers` at a time, each trial with its share of the cores
    return Sweep(entry.project, {}, [SEEDS_FROM + i for i in range(1 if quick else entry.seeds)], out / "runs" / folder,
                 fixed={key: str(value) for key, value in settings.items()}, metric=entry.metric,
                 threads=max(1, (os.cpu_count() or 1) // workers))


def reproduce(projects: list[str] | tuple[str, ...], out: Path, quick: bool = False, workers: int = 1,
              echo: Callable[[str], None] = print) -> Path:
    from concurrent.futures import ThreadPoolExecutor

    from mlprojects.engine.io import write_text

    def one(entry: Published) -> tuple[Published, Sweep | None, str]:
        missing = available(entry.data)
        if missing:
            echo(f"{entry.key}: not run: {missing}")
            return entry, None, missing
        plan = sweep_of(entry, out, quick, workers)
        outcomes = execute(plan, echo=lambda line: echo(f"{entry.key}: {line.strip()}"))
        failed = [outcome for _, outcome in outcomes if outcome.startswith("failed")]
        return entry, plan, failed[0] if failed else ""

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, entries(projects)))

    return write_text(out / "REPRODUCTION.md", report(results, out, quick, workers))


def _metrics(plan: Sweep) -> list[dict[str, Any]]:
    return [json.loads((plan.run_dir(trial) / "metrics.json").read_text()) for trial in plan.trials
            if state(plan.run_dir(trial)) == "done"]


def _figure(values: list[float]) -> str:
    if all(float(v).is_integer() for v in values) and len(set(values)) == 1:
        return f"{int(values[0])}" + (f" ({len(values)} seeds)" if len(values) > 1 else "")
    digits = 4 if all(abs(v) < 1 for v in values) else 3 if all(abs(v) < 100 for v in values) else 1
    if all(abs(v) < 0.01 for v in values if v):
        digits = 6
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f} ({len(values)} seeds)"


def copy_plots(plan: Sweep, out: Path, limit: int = 3) -> list[Path]:
    """The first seed's plots, copied to OUT/plots/ so the report and its figures can be kept without
    the runs (weights and checkpoints)."""
    import shutil

    copied = []
    for path in sorted((plan.run_dir(plan.trials[0]) / "plots").glob("*.png"))[:limit]:
        target = out / "plots" / f"{plan.out.name}__{path.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        copied.append(target)
    return copied


def report(results: list[tuple[Published, Sweep | None, str]], out: Path, quick: bool, workers: int = 1) -> str:
    import platform

    import torch

    cores = os.cpu_count() or 1
    lines = ["# Reproduction report", "",
             f"Generated by `mlprojects reproduce{' --quick' if quick else ''} --workers {workers}` on "
             f"{time.strftime('%Y-%m-%d')}; do not edit by hand. Each project runs with its published configuration "
             "(seeds 42, 43, ...); *ours* is the mean ± std over seeds.", "",
             f"Machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}, torch "
             f"{torch.__version__}; {workers} runs at a time with {max(1, cores // workers)} threads each (float "
             "sums round differently with another thread count, and a network's training drifts from there, so "
             "a figure can differ slightly from a run made with other threads).", ""]
    if quick:
        lines += ["**Quick mode**: each project ran its smoke settings (fewer epochs, smaller data), so these "
                  "figures only show that everything runs; they are not the reproduction.", ""]
    lines += ["| project | source | published | ours | difference | notes |", "|---|---|---|---|---|---|"]
    for entry, plan, problem in results:
        name = f"`{entry.key}`"
        if plan is None:
            lines.append(f"| {name} | {entry.source} | {entry.published} | not run: {problem} | — | {entry.note} |")
            continue
        found = _metrics(plan)
        values = [m[entry.metric] for m in found if isinstance(m.get(entry.metric), (int, float))]
        if not values:
            lines.append(f"| {name} | {entry.source} | {entry.published} | failed: {problem or 'no metric'} | — | "
                         f"{entry.note} |")
            continue
        ours = f"{entry.metric} **{_figure(values)}**"
        for other in entry.also:
            extra = [m[other] for m in found if isinstance(m.get(other), (int, float))]
            if extra:
                ours += f"; {other} {_figure(extra)}"
        difference = "—"
        if entry.value is not None:
            delta = statistics.fmean(values) - entry.value
            better = (delta < 0) == lower_is_better(entry.metric) if delta and has_direction(entry.metric) else None
            difference = ("0 (the same)" if delta == 0 else
                          f"{delta:+.4g}" + ("" if better is None else " (better)" if better else " (worse)"))
        links = " ".join(f"[{path.stem.split('__')[-1]}]({path.relative_to(out).as_posix()})"
                         for path in copy_plots(plan, out))
        note = "; ".join(part for part in (entry.note, links) if part)
        lines.append(f"| {name} | {entry.source} | {entry.published} | {ours} | {difference} | {note} |")
    return "\n".join(lines) + "\n"
