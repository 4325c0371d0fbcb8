"""A sweep's results, from its trials' run directories: results.csv (one row per finished trial),
summary.md (mean ± std per combination, sorted by the metric, best first) and one plot per swept
setting. Which way a metric is better comes from the project's entry (``mlprojects.registry``) and
the runner's own figures (``mlprojects.rundir.RUN_GOALS``); ``reproduce`` uses the same helpers."""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path
from typing import Any

from mlprojects import registry, rundir
from mlprojects.errors import UserError
from mlprojects.experiments.trials import Sweep

# metrics.json values that describe a run rather than measure it
NOT_FIGURES = ("world_size", "epochs_completed", "duration_s")


def rows(sweep: Sweep) -> list[dict[str, Any]]:
    """One row per finished trial (its grid values, seed, scalar metrics and time) and per diverged trial
    (its grid values, seed and where it diverged, no figures), in grid order; ``status`` tells them apart."""
    result = []
    for trial in sweep.trials:
        run_dir = sweep.run_dir(trial)
        metrics = rundir.read_metrics(run_dir)
        where = rundir.diverged(run_dir)
        if metrics.get("completed") is not True and not where:
            continue
        row: dict[str, Any] = {**dict(trial.settings), "seed": trial.seed}
        if where:
            row["status"] = f"diverged at epoch {where['epoch']}, step {where['step']}"
        else:
            row["status"] = "completed"
            row.update({key: value for key, value in metrics.items()
                        if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in NOT_FIGURES})
            row["duration_s"] = metrics.get("duration_s")
        row["run_dir"] = str(run_dir.relative_to(sweep.out))
        result.append(row)
    return result


def completed(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for row in found if row["status"] == "completed"]


def choose_metric(sweep: Sweep, found: list[dict[str, Any]]) -> str:
    """--metric, or the project's headline figure, or its first declared figure the runs report."""
    names = [key for row in completed(found) for key in row
             if key not in sweep.grid and key not in ("seed", "run_dir", "status")]
    if sweep.metric:
        if found and sweep.metric not in names:
            raise UserError(f"--metric {sweep.metric}: the runs report {', '.join(sorted(set(names)))}")
        return sweep.metric
    declared = [*registry.entry(sweep.project).goals, *rundir.RUN_GOALS]
    return next((name for name in declared if name in names), names[0] if names else "")


def best_first(metric: str, project: str):
    """A sort key that puts the best value of METRIC first: by its declared goal, largest first when it has none."""
    sign = 1 if rundir.goal(metric, registry.entry(project)) == "min" else -1
    return lambda value: sign * value


def direction(metric: str, project: str) -> str:
    goal = rundir.goal(metric, registry.entry(project))
    return {"min": "lower is better", "max": "higher is better"}.get(goal, "largest first; neither way is better")


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def write_reports(sweep: Sweep) -> None:
    from mlprojects.engine.io import write_text

    found = rows(sweep)
    columns = list(sweep.grid) + ["seed", "status"]
    columns += sorted({key for row in found for key in row} - set(columns) - {"duration_s", "run_dir"})
    columns += ["duration_s", "run_dir"]

    write_table(sweep.out / "results.csv", columns, found)
    metric = choose_metric(sweep, found)
    finished = completed(found)
    write_text(sweep.out / "summary.md", summary(sweep, found, metric, plot(sweep, finished, metric)))


def write_table(path: Path, columns: list[str], found: list[dict[str, Any]]) -> None:
    """FOUND as a CSV file of COLUMNS, written atomically."""
    from mlprojects.engine.io import atomic_write

    def write_csv(temporary: str) -> None:
        with open(temporary, "w", newline="") as handle:
            writer = csv.DictWriter(handle, columns)
            writer.writeheader()
            writer.writerows(found)

    atomic_write(path, write_csv)


def groups(sweep: Sweep, found: list[dict[str, Any]]) -> list[tuple[tuple[str, ...], list[dict[str, Any]]]]:
    combos: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in found:
        combos.setdefault(tuple(row[key] for key in sweep.grid), []).append(row)
    return list(combos.items())


def summary(sweep: Sweep, everything: list[dict[str, Any]], metric: str, plots: list[Path]) -> str:
    fixed = " ".join(f"--set {key}={value}" for key, value in sweep.fixed.items())
    grid = " ".join(f"--grid {key}={','.join(values)}" for key, values in sweep.grid.items())
    found = completed(everything)
    lost = [row for row in everything if row["status"] != "completed"]
    lines = [f"# Sweep: {sweep.project}", "",
             f"`mlprojects sweep {sweep.project} {grid} {fixed} --seeds {len(sweep.seeds)}`".replace("  ", " "), "",
             f"{len(found)} of {len(sweep.trials)} trials finished; seeds {', '.join(map(str, sweep.seeds))}. "
             f"Sorted by {metric} ({direction(metric, sweep.project)}), mean ± std over seeds.", ""]
    if lost:
        lines += [f"{len(lost)} diverged, left out of the means: " + "; ".join(
            f"{' '.join(f'{key}={row[key]}' for key in sweep.grid)} seed={row['seed']} ({row['status']})"
            for row in lost) + ".", ""]
    if not found or not metric:
        return "\n".join(lines + ["No trial has finished yet."]) + "\n"
    table = []
    for combo, members in groups(sweep, found):
        values = [row[metric] for row in members if isinstance(row.get(metric), (int, float))]
        if values:
            table.append((combo, len(values), *mean_std(values),
                          statistics.fmean(row["duration_s"] or 0 for row in members)))
    key = best_first(metric, sweep.project)
    table.sort(key=lambda item: key(item[2]))
    digits = 4 if all(abs(item[2]) < 100 for item in table) else 2
    lines += ["| " + " | ".join(sweep.grid) + f" | seeds | {metric} | time per run (s) |",
              "|" + "---|" * (len(sweep.grid) + 3)]
    for combo, count, mean, std, seconds in table:
        lines.append("| " + " | ".join(f"`{value}`" for value in combo)
                     + f" | {count} | {mean:.{digits}f} ± {std:.{digits}f} | {seconds:.1f} |")
    lines += [""] + [f"![{metric} against {path.stem.split('_vs_')[-1]}](plots/{path.name})" for path in plots]
    return "\n".join(lines) + "\n"


def plot(sweep: Sweep, found: list[dict[str, Any]], metric: str) -> list[Path]:
    """One figure per swept setting: every trial as a dot, the mean ± std over the others as a bar."""
    if not found or not metric:
        return []
    from mlprojects.plots import finish, panel

    written = []
    for key, values in sweep.grid.items():
        plt, fig, ax = panel(max(4.5, 0.9 * len(values) + 2), 3.6)
        for index, value in enumerate(values):
            points = [row[metric] for row in found if row[key] == value and isinstance(row.get(metric), (int, float))]
            if not points:
                continue
            offsets = [index + 0.12 * (i - (len(points) - 1) / 2) / max(1, math.sqrt(len(points)))
                       for i in range(len(points))]
            ax.scatter(offsets, points, s=14, color="0.55", zorder=2)
            mean, std = mean_std(points)
            ax.errorbar([index], [mean], yerr=[std], fmt="o", color="C0", capsize=5, zorder=3)
        ax.set_xticks(range(len(values)), values, rotation=30 if max(map(len, values)) > 8 else 0)
        path = sweep.out / "plots" / f"{metric}_vs_{key.replace('/', '+')}.png"
        written.append(finish(plt, fig, ax, path, f"{sweep.project}: {metric} against {key}", legend=None, xlabel=key,
                              ylabel=metric))
    return written
