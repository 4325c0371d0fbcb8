"""``mlprojects reproduce``: each project with its published configuration, against the published figure.

The published figures, their sources and what is wrong with how some were measured are data in the
projects' registry entries (``Entry.reproduce``); the runs are ordinary runs made by the sweep
machinery (resumable, ``workers`` at a time, one run directory per seed); REPRODUCTION.md is written
from their metrics.json and links to their plots. It is generated, never edited by hand.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from mlprojects import cores, registry, rundir
from mlprojects.errors import UserError
from mlprojects.experiments import backends
from mlprojects.experiments.sweep import SEEDS_FROM, Sweep, execute


@dataclass(frozen=True)
class Figure:
    """One published figure of one project: what ``reproduce`` runs and reports."""

    entry: registry.Entry
    published: registry.Published

    @property
    def project(self) -> str:
        return self.entry.name

    @property
    def key(self) -> str:
        return self.project + "".join(f" {k}={v}" for k, v in self.published.settings.items())


def figures(projects: list[str] | tuple[str, ...] = ()) -> list[Figure]:
    """The published figures of PROJECTS (default: every project), in the registry's order."""
    for name in projects:
        entry = registry.entry(name)  # an unknown project: one line with the known ones
        if not entry.reproduce:
            raise UserError(f"{name} has no published figure to reproduce: {entry.why_unreproduced}")
    return [Figure(entry, published) for entry in registry.entries() if not projects or entry.name in projects
            for published in entry.reproduce]


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


def sweep_of(figure: Figure, out: Path, quick: bool, workers: int) -> Sweep:
    published = figure.published
    settings = {**published.settings, **(registry.get(figure.project).smoke_settings if quick else {})}
    folder = figure.key.replace(" ", "__").replace("=", "-")
    # the projects run side by side, `workers` at a time, each trial with its share of the cores
    return Sweep(figure.project, {}, [SEEDS_FROM + i for i in range(1 if quick else published.seeds)],
                 out / "runs" / folder, fixed={key: str(value) for key, value in settings.items()},
                 metric=published.metric, threads=cores.per_process(workers))


def reproduce(projects: list[str] | tuple[str, ...], out: Path, quick: bool = False, workers: int = 1,
              echo: Callable[[str], None] = print) -> Path:
    from concurrent.futures import ThreadPoolExecutor

    from mlprojects.engine.io import write_text

    def one(figure: Figure) -> tuple[Figure, Sweep | None, str]:
        missing = available(figure.published.data)
        if missing:
            echo(f"{figure.key}: not run: {missing}")
            return figure, None, missing
        plan = sweep_of(figure, out, quick, workers)
        outcomes = execute(plan, echo=lambda line: echo(f"{figure.key}: {line.strip()}"))
        failed = [outcome for _, outcome in outcomes if outcome.startswith("failed")]
        return figure, plan, failed[0] if failed else ""

    backends.start_trial_server()  # before the threads: each sweep's trials are forked from it
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, figures(projects)))

    # a report of every project also names those with no figure (a report of some names only those)
    unreproduced = [] if projects else [entry for entry in registry.entries() if not entry.reproduce]
    return write_text(out / "REPRODUCTION.md", report(results, out, quick, workers, unreproduced))


def _metrics(plan: Sweep) -> list[dict[str, Any]]:
    return [metrics for metrics in (rundir.read_metrics(plan.run_dir(trial)) for trial in plan.trials)
            if metrics.get("completed") is True]


def _figure(values: list[float]) -> str:
    """The mean (± the std over seeds) with enough digits to show the spread: 61,100,840; 0.9603 ± 0.0018 (2 seeds);
    3.14146 ± 0.00031 (3 seeds)."""
    if all(float(v).is_integer() for v in values) and len(set(values)) == 1:
        return f"{int(values[0]):,}" + (f" ({len(values)} seeds)" if len(values) > 1 else "")
    digits = 4 if all(abs(v) < 1 for v in values) else 3 if all(abs(v) < 100 for v in values) else 1
    if all(abs(v) < 0.01 for v in values if v):
        digits = 6
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    spread = statistics.stdev(values)
    if spread:  # the std's first two significant digits, up to 6 decimals
        digits = max(digits, min(6, 1 - math.floor(math.log10(spread))))
    return f"{mean:.{digits}f} ± {spread:.{digits}f} ({len(values)} seeds)"


def _difference(delta: float) -> str:
    return f"{delta:+,.0f}" if abs(delta) >= 1e4 and float(delta).is_integer() else f"{delta:+.4g}"


def copy_plots(plan: Sweep, out: Path, limit: int = 3) -> list[Path]:
    """The first seed's plots, copied to OUT/plots/ so the report and its figures can be kept without
    the runs (weights and checkpoints)."""
    import shutil

    copied = []
    for path in sorted((plan.run_dir(plan.trials[0]) / rundir.PLOTS).glob("*.png"))[:limit]:
        target = out / "plots" / f"{plan.out.name}__{path.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        copied.append(target)
    return copied


def report(results: list[tuple[Figure, Sweep | None, str]], out: Path, quick: bool, workers: int = 1,
           unreproduced: list[registry.Entry] = ()) -> str:
    """The report's text: a row per published figure, then the projects that have none, each with why."""
    import platform

    import torch

    available = cores.available()
    lines = ["# Reproduction report", "",
             f"Generated by `mlprojects reproduce{' --quick' if quick else ''} --workers {workers}` on "
             f"{time.strftime('%Y-%m-%d')}; do not edit by hand. Each project runs with its published configuration "
             "(seeds 42, 43, ...); *ours* is the mean ± std over seeds.", "",
             f"Machine: {platform.machine()}, {available} cores, Python {platform.python_version()}, torch "
             f"{torch.__version__}; {workers} runs at a time with {cores.threads_each(cores.per_process(workers))} "
             "(float sums round differently with another thread count, and a network's training drifts from there, "
             "so a figure can differ slightly from a run made with other threads).", ""]
    if quick:
        lines += ["**Quick mode**: each project ran its smoke settings (fewer epochs, smaller data), so these "
                  "figures only show that everything runs; they are not the reproduction.", ""]
    lines += ["| project | source | published | ours | difference | notes |", "|---|---|---|---|---|---|"]
    for figure, plan, problem in results:
        entry = figure.published
        name = f"`{figure.key}`"
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
            goal = rundir.goal(entry.metric, figure.entry)
            better = (delta < 0) == (goal == "min") if delta and goal else None
            difference = ("0 (the same)" if delta == 0 else
                          _difference(delta) + ("" if better is None else " (better)" if better else " (worse)"))
        links = " ".join(f"[{path.stem.split('__')[-1]}]({path.relative_to(out).as_posix()})"
                         for path in copy_plots(plan, out))
        note = "; ".join(part for part in (entry.note, links) if part)
        lines.append(f"| {name} | {entry.source} | {entry.published} | {ours} | {difference} | {note} |")
    if unreproduced:
        lines += ["", "## Projects with no published figure", "",
                  "Every other registered project, and why `reproduce` has nothing to set beside it:", ""]
        lines += [f"- `{entry.name}`: {entry.why_unreproduced}" for entry in unreproduced]
    return "\n".join(lines) + "\n"
