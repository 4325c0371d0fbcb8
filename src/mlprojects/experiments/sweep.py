"""``mlprojects sweep``: every combination of a grid of settings, times seeds, as ordinary runs.

Each trial is a plain ``mlprojects run`` in its own process and its own run directory
(``OUT/trials/<settings>/``), so it has everything a run has: settings.yaml, history, checkpoints,
metrics.json, plots. Up to ``workers`` trials run at once, each with ``cores // workers`` threads so
they do not fight over cores. The sweep's state is those directories and nothing else:

- a trial whose metrics.json says ``completed`` is done and is skipped when the command is run again;
- a trial that was killed continues from its last checkpoint (``mlprojects run --resume``), or starts
  again when it had none;
- results.csv and summary.md are rewritten from the trial directories after every trial.

``backend="ray"`` sends the same trials to a Ray cluster (``ray.init(address)``; a local instance when
no address is given). A trial runs in a scratch folder on whichever node Ray picks and comes back as
an archive, so the nodes need the same Python environment but no shared filesystem.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mlprojects.errors import UserError

LOWER_IS_BETTER = ("loss", "mse", "rmse", "mae", "error", "bits", "inertia", "perplexity", "duration")
HIGHER_IS_BETTER = ("accuracy", "f1", "r2", "rand_index", "precision", "recall", "valid")
PREFERRED = ("test_accuracy", "test_f1", "entity_f1", "test_mse", "test_loss", "val_bits_per_char", "val_loss")
SEEDS_FROM = 42  # --seeds 3: 42, 43, 44 (the first is every project's default seed)


@dataclass(frozen=True)
class Trial:
    settings: tuple[tuple[str, str], ...]  # the grid's values, as given
    seed: int

    def overrides(self) -> dict[str, str]:
        """The settings of this trial, linked keys (optimizer/lr=adam/0.001) expanded."""
        result = {}
        for key, value in self.settings:
            result.update(zip(key.split("/"), value.split("/")))
        return result

    @property
    def label(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.settings) or "defaults"

    def folder(self, context: str = "") -> str:
        """A readable, filesystem-safe folder name, unique for these settings in this CONTEXT (the project
        and the settings every trial shares)."""
        text = "__".join(f"{key}={value}" for key, value in self.settings) or "defaults"
        safe = re.sub(r"[^\w.=+-]+", "_", text)[:80]
        digest = hashlib.sha1(f"{context}{self.settings}{self.seed}".encode()).hexdigest()[:6]
        return f"{safe}__seed={self.seed}__{digest}"


@dataclass
class Sweep:
    project: str
    grid: dict[str, list[str]]
    seeds: list[int]
    out: Path
    fixed: dict[str, str] = field(default_factory=dict)  # --set: the same for every trial
    metric: str = ""
    workers: int = 1
    device: str = "cpu"
    threads: int = 0  # per trial; 0: cores // workers

    @property
    def trials(self) -> list[Trial]:
        combos = itertools.product(*([(key, value) for value in values] for key, values in self.grid.items()))
        return [Trial(tuple(combo), seed) for combo in combos for seed in self.seeds]

    def run_dir(self, trial: Trial) -> Path:
        """Trials of another project or other --set settings get other folders: a rerun with a changed
        --set runs again instead of taking old results for new ones."""
        return self.out / "trials" / trial.folder(f"{self.project}{sorted(self.fixed.items())}")


def parse_grid(pairs: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """["widths=64x4,128x4", "lr=0.1,0.01"] -> {"widths": ["64x4", "128x4"], "lr": ["0.1", "0.01"]}.
    Settings that go together are linked with "/": optimizer/lr=sgd/0.087,adam/0.001."""
    grid: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, values = pair.partition("=")
        key = key.strip().replace("-", "_")
        items = [value.strip() for value in values.split(",") if value.strip()]
        if not sep or not key or not items:
            raise UserError(f"--grid {pair!r}: write KEY=V1,V2,... (e.g. --grid lr=0.1,0.01)")
        if key in grid:
            raise UserError(f"--grid {key} is given twice; put all its values in one --grid")
        if len(set(items)) != len(items):
            raise UserError(f"--grid {pair!r}: a value is repeated (commas separate values: write one value "
                            "with commas another way, e.g. widths=128x2 or 128-128)")
        for item in items:
            if item.count("/") != key.count("/"):
                raise UserError(f"--grid {pair!r}: {item!r} needs one value per linked setting "
                                f"({key.count('/') + 1}, separated by '/')")
        grid[key] = items
    return grid


def validate(sweep: Sweep) -> None:
    """Every trial's settings resolve (names, types, ranges) before anything runs."""
    from mlprojects.runner import resolve_settings

    if "seed" in [name for key in sweep.grid for name in key.split("/")] or "seed" in sweep.fixed:
        raise UserError("the seed is not a grid setting: use --seeds N (seeds 42, 43, ...)")
    if not sweep.seeds:
        raise UserError("--seeds must be at least 1")
    for trial in sweep.trials[:: len(sweep.seeds)]:
        resolve_settings(sweep.project, {**sweep.fixed, **trial.overrides()}, None, trial.seed)


def state(run_dir: Path) -> str:
    """'done', 'partial' (it has a checkpoint to continue from), 'broken' (started, nothing to keep) or 'new'."""
    from mlprojects.runner import CHECKPOINT

    metrics = run_dir / "metrics.json"
    if metrics.is_file():
        try:
            if json.loads(metrics.read_text()).get("completed"):
                return "done"
        except (OSError, ValueError):
            pass
    if (run_dir / CHECKPOINT).is_file():
        return "partial"
    return "broken" if run_dir.exists() else "new"


def command(sweep: Sweep, trial: Trial, run_dir: Path, resume: bool) -> list[str]:
    base = [sys.executable, "-m", "mlprojects", "run"]
    if resume:
        return [*base, "--resume", str(run_dir), "--device", sweep.device, "--quiet"]
    sets = [arg for key, value in {**sweep.fixed, **trial.overrides()}.items() for arg in ("--set", f"{key}={value}")]
    return [*base, sweep.project, *sets, "--seed", str(trial.seed), "--out", str(run_dir), "--device", sweep.device,
            "--quiet"]


def thread_env(threads: int) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "OPENBLAS_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}


def run_local(args: list[str], log: Path, threads: int) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as handle:
        return subprocess.run(args, stdout=handle, stderr=subprocess.STDOUT, env=thread_env(threads),
                              check=False).returncode


def pack(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(folder, arcname=".")
    return buffer.getvalue()


def unpack(data: bytes, folder: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        archive.extractall(folder, filter="data")  # our own archives; "data" refuses links and absolute paths


def remote_trial(args: list[str], run_dir: str, partial: bytes | None, threads: int) -> tuple[int, str, bytes]:
    """On a Ray worker: the trial in a scratch folder; (exit code, log, the run directory as .tar.gz)."""
    with tempfile.TemporaryDirectory() as scratch:
        local = Path(scratch) / "run"
        if partial is not None:
            local.mkdir()
            unpack(partial, local)
        args = [str(local) if arg == run_dir else arg for arg in args]
        args[0] = sys.executable
        result = subprocess.run(args, capture_output=True, text=True, env=thread_env(threads), check=False)
        return result.returncode, result.stdout + result.stderr, pack(local) if local.exists() else b""


def execute(sweep: Sweep, backend: str = "local", address: str | None = None,
            echo: Callable[[str], None] = print) -> list[tuple[Trial, str]]:
    """Run the trials not done yet; returns [(trial, outcome)] with outcome 'done', 'ran', 'resumed' or
    'failed: ...'. results.csv and summary.md are rewritten after each trial."""
    validate(sweep)
    threads = sweep.threads or max(1, (os.cpu_count() or 1) // sweep.workers)
    todo = []
    outcomes: dict[Trial, str] = {}
    for trial in sweep.trials:
        found = state(sweep.run_dir(trial))
        if found == "done":
            outcomes[trial] = "done"
        else:
            todo.append((trial, found))
    # join the cluster before anything is written, so a refused join leaves no sweep folder behind
    runner = _ray_runner(address, threads) if backend == "ray" and todo else None
    sweep.out.mkdir(parents=True, exist_ok=True)
    for trial, found in todo:
        if found == "broken":
            shutil.rmtree(sweep.run_dir(trial))
    todo = [(trial, found == "partial") for trial, found in todo]
    echo(f"{len(sweep.trials)} trials: {len(sweep.trials) - len(todo)} done, {len(todo)} to run "
         f"({sweep.workers} at a time, {threads} threads each{', on Ray' if backend == 'ray' else ''})")
    if not todo:
        write_reports(sweep)
        return [(trial, outcomes[trial]) for trial in sweep.trials]

    def one(item: tuple[Trial, bool]) -> tuple[Trial, str]:
        trial, resume = item
        run_dir = sweep.run_dir(trial)
        args = command(sweep, trial, run_dir, resume)
        log = sweep.out / "logs" / f"{sweep.run_dir(trial).name}.log"
        started = time.perf_counter()
        if runner is None:
            code = run_local(args, log, threads)
        else:
            code = runner(args, run_dir, log)
        if code == 0 and state(run_dir) == "done":
            outcome = "resumed" if resume else "ran"
        else:
            lines = log.read_text(errors="replace").strip().splitlines() if log.is_file() else []
            outcome = f"failed: {lines[-1] if lines else f'exit code {code}'} (log: {log})"
        echo(f"  {trial.label} seed={trial.seed}: {outcome.split(' (log')[0]} in {time.perf_counter() - started:.0f}s")
        return trial, outcome

    try:
        with ThreadPoolExecutor(sweep.workers) as pool:
            for trial, outcome in pool.map(one, todo):
                outcomes[trial] = outcome
                write_reports(sweep)
    finally:
        if runner is not None:
            import ray

            ray.shutdown()
    return [(trial, outcomes[trial]) for trial in sweep.trials]


RAY_TOKEN = "RAY_AUTH_TOKEN=<token>, or RAY_AUTH_TOKEN_PATH=<a file holding it> (default ~/.ray/auth_token)"


def _ray_runner(address: str | None, threads: int):
    try:
        import ray
        import ray.exceptions
    except ImportError:
        raise UserError("--backend ray needs Ray: pip install 'mlprojects[ray]'") from None
    no_token = getattr(ray.exceptions, "AuthenticationError", ())  # Ray >= 2.52
    where = f"--address {address}" if address else "a local Ray instance"
    try:
        ray.init(address=address or None, num_cpus=None if address else os.cpu_count(),
                 include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    except no_token as error:  # RAY_AUTH_MODE=token, but no readable token on this machine
        raise UserError(f"{where}: RAY_AUTH_MODE=token but no usable token here ({str(error).split('. ')[0]}); "
                        f"set the token the head was started with: {RAY_TOKEN}") from None
    except (ConnectionError, RuntimeError, ValueError) as error:
        question = ("is `ray start --head` running there, and is the token here "
                    f"({RAY_TOKEN}) the one the head was started with?" if os.environ.get("RAY_AUTH_MODE") == "token"
                    else "is `ray start --head` running there? A head started with RAY_AUTH_MODE=token needs "
                    f"RAY_AUTH_MODE=token here too, and its token: {RAY_TOKEN}")
        raise UserError(f"{where}: cannot join the Ray cluster ({str(error).splitlines()[0]}); {question}") from None
    remote = ray.remote(num_cpus=threads)(remote_trial)

    def run(args: list[str], run_dir: Path, log: Path) -> int:
        partial = pack(run_dir) if run_dir.exists() else None
        code, text, archive = ray.get(remote.remote(args, str(run_dir), partial, threads))
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(text)
        if archive:
            target = run_dir.with_name(run_dir.name + ".incoming")
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            unpack(archive, target)
            shutil.rmtree(run_dir, ignore_errors=True)
            target.rename(run_dir)
        return code

    return run


# --- results ---------------------------------------------------------------------------------------

def rows(sweep: Sweep) -> list[dict[str, Any]]:
    """One row per finished trial: its grid values, seed, scalar metrics and time, in grid order."""
    result = []
    for trial in sweep.trials:
        run_dir = sweep.run_dir(trial)
        if state(run_dir) != "done":
            continue
        metrics = json.loads((run_dir / "metrics.json").read_text())
        row: dict[str, Any] = {**dict(trial.settings), "seed": trial.seed}
        row.update({key: value for key, value in metrics.items()
                    if isinstance(value, (int, float)) and not isinstance(value, bool)
                    and key not in ("world_size", "epochs_completed", "duration_s")})
        row["duration_s"] = metrics.get("duration_s")
        row["run_dir"] = str(run_dir.relative_to(sweep.out))
        result.append(row)
    return result


def choose_metric(sweep: Sweep, found: list[dict[str, Any]]) -> str:
    names = [key for row in found for key in row if key not in sweep.grid and key not in ("seed", "run_dir")]
    if sweep.metric:
        if found and sweep.metric not in names:
            raise UserError(f"--metric {sweep.metric}: the runs report {', '.join(sorted(set(names)))}")
        return sweep.metric
    for name in PREFERRED:
        if name in names:
            return name
    tests = [name for name in names if name.startswith("test_")]
    return tests[0] if tests else (names[0] if names else "")


def lower_is_better(metric: str) -> bool:
    return any(word in metric for word in LOWER_IS_BETTER)


def has_direction(metric: str) -> bool:
    """Whether a larger or smaller value is better at all (an iteration count or a slope is neither)."""
    return lower_is_better(metric) or any(word in metric for word in HIGHER_IS_BETTER)


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def write_reports(sweep: Sweep) -> None:
    from mlprojects.engine.io import atomic_write, write_text

    found = rows(sweep)
    columns = list(sweep.grid) + ["seed"]
    columns += sorted({key for row in found for key in row} - set(columns) - {"duration_s", "run_dir"})
    columns += ["duration_s", "run_dir"]

    def write_csv(path: str) -> None:
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, columns)
            writer.writeheader()
            writer.writerows(found)

    atomic_write(sweep.out / "results.csv", write_csv)
    metric = choose_metric(sweep, found)
    write_text(sweep.out / "summary.md", summary(sweep, found, metric, plot(sweep, found, metric)))


def groups(sweep: Sweep, found: list[dict[str, Any]]) -> list[tuple[tuple[str, ...], list[dict[str, Any]]]]:
    combos: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in found:
        combos.setdefault(tuple(row[key] for key in sweep.grid), []).append(row)
    return list(combos.items())


def summary(sweep: Sweep, found: list[dict[str, Any]], metric: str, plots: list[Path]) -> str:
    fixed = " ".join(f"--set {key}={value}" for key, value in sweep.fixed.items())
    grid = " ".join(f"--grid {key}={','.join(values)}" for key, values in sweep.grid.items())
    lines = [f"# Sweep: {sweep.project}", "",
             f"`mlprojects sweep {sweep.project} {grid} {fixed} --seeds {len(sweep.seeds)}`".replace("  ", " "), "",
             f"{len(found)} of {len(sweep.trials)} trials finished; seeds {', '.join(map(str, sweep.seeds))}. "
             f"Sorted by {metric} ({'lower' if lower_is_better(metric) else 'higher'} is better), mean ± std over "
             "seeds.", ""]
    if not found or not metric:
        return "\n".join(lines + ["No trial has finished yet."]) + "\n"
    table = []
    for combo, members in groups(sweep, found):
        values = [row[metric] for row in members if isinstance(row.get(metric), (int, float))]
        if values:
            table.append((combo, len(values), *mean_std(values),
                          statistics.fmean(row["duration_s"] or 0 for row in members)))
    table.sort(key=lambda item: item[2] if lower_is_better(metric) else -item[2])
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mlprojects.plots import save_figure

    written = []
    for key, values in sweep.grid.items():
        fig, ax = plt.subplots(figsize=(max(4.5, 0.9 * len(values) + 2), 3.6))
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
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
        ax.set_title(f"{sweep.project}: {metric} against {key}")
        ax.grid(alpha=0.3)
        path = sweep.out / "plots" / f"{metric}_vs_{key.replace('/', '+')}.png"
        written.append(save_figure(plt, fig, path))
    return written
