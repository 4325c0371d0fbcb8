"""``mlprojects sweep``: every combination of a grid of settings, times seeds, as ordinary runs.

Each trial is a plain ``mlprojects run`` in its own process and its own run directory
(``OUT/trials/<settings>/``), so it has everything a run has: settings, history, checkpoints,
metrics.json, plots. Up to ``workers`` trials run at once, each with ``cores // workers`` threads so
they do not fight over cores (``OMP_NUM_THREADS`` threads where it is set: :func:`mlprojects.cores.per_process`).
The sweep's state is those directories and nothing else:

- a trial whose run completed is done and is skipped when the command is run again;
- a trial that was killed continues from its last checkpoint (``mlprojects run --resume``), or starts
  again when it had none;
- results.csv and summary.md are rewritten from the trial directories after every trial.

The plan is :mod:`.trials`, where trials run is :mod:`.backends` (local processes or Ray), the tables
and plots are :mod:`.results`.
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from mlprojects import cores, rundir
from mlprojects.experiments import backends
from mlprojects.experiments.results import write_reports
from mlprojects.experiments.trials import SEEDS_FROM, Sweep, Trial, command, parse_grid, validate

__all__ = ["SEEDS_FROM", "Sweep", "Trial", "execute", "parse_grid"]


def execute(sweep: Sweep, backend: str = "local", address: str | None = None,
            echo: Callable[[str], None] = print) -> list[tuple[Trial, str]]:
    """Run the trials not done yet; returns [(trial, outcome)] with outcome 'done', 'ran', 'resumed', 'diverged'
    (kept, reported and left out of the means) or 'failed: ...'. results.csv and summary.md are rewritten
    after each trial."""
    validate(sweep)
    if sweep.track:
        from mlprojects import tracking

        tracking.mlflow()  # a missing extra is one line before anything runs
    threads = sweep.threads or cores.per_process(sweep.workers)
    todo = []
    outcomes: dict[Trial, str] = {}
    for trial in sweep.trials:
        found = rundir.state(sweep.run_dir(trial))
        if found in ("done", "diverged"):  # a diverged trial would diverge again: it is reported, not rerun
            outcomes[trial] = found
        else:
            todo.append((trial, found))
    # join the cluster before anything is written, so a refused join leaves no sweep folder behind
    runner = backends.ray_runner(address, threads) if backend == "ray" and todo else backends.local_runner(threads)
    sweep.out.mkdir(parents=True, exist_ok=True)
    for trial, found in todo:
        if found == "broken":
            shutil.rmtree(sweep.run_dir(trial))
    todo = [(trial, found == "partial") for trial, found in todo]
    echo(f"{len(sweep.trials)} trials: {len(sweep.trials) - len(todo)} done, {len(todo)} to run "
         f"({max(1, min(sweep.workers, len(todo)))} at a time, {cores.threads_each(threads)}"
         f"{', on Ray' if backend == 'ray' else ''})")
    tracker = _group(sweep) if sweep.track else None
    if not todo:
        write_reports(sweep)
        if tracker is not None:
            tracker.close(_finished(outcomes.values()))
        return [(trial, outcomes[trial]) for trial in sweep.trials]

    def one(item: tuple[Trial, bool]) -> tuple[Trial, str]:
        trial, resume = item
        run_dir = sweep.run_dir(trial)
        args = command(sweep, trial, run_dir, resume)
        log = sweep.out / "logs" / f"{sweep.run_dir(trial).name}.log"
        started = time.perf_counter()
        code = runner(args, run_dir, log)
        if code == 0 and rundir.state(run_dir) == "done":
            outcome = "resumed" if resume else "ran"
        elif rundir.state(run_dir) == "diverged":
            outcome = "diverged"
        else:
            lines = log.read_text(errors="replace").strip().splitlines() if log.is_file() else []
            outcome = f"failed: {lines[-1] if lines else f'exit code {code}'} (log: {log})"
        echo(f"  {trial.label} seed={trial.seed}: {outcome.split(' (log')[0]} in {time.perf_counter() - started:.0f}s")
        if tracker is not None:
            tracker.trial(run_dir)
        return trial, outcome

    try:
        with ThreadPoolExecutor(sweep.workers) as pool:
            for trial, outcome in pool.map(one, todo):
                outcomes[trial] = outcome
                write_reports(sweep)
        if tracker is not None:
            tracker.close(_finished(outcomes.values()))
    finally:
        if backend == "ray":
            import ray

            ray.shutdown()
    return [(trial, outcomes[trial]) for trial in sweep.trials]


def _group(sweep: Sweep):
    """The sweep in MLflow, its grid, --set values and seeds as the parent run's params."""
    from mlprojects import tracking

    params = {key: ",".join(values) for key, values in sweep.grid.items()}
    params.update({f"set.{key}": str(value) for key, value in sweep.fixed.items()})
    params["seeds"] = ",".join(map(str, sweep.seeds))
    return tracking.Group(sweep.out, sweep.project, params)


def _finished(outcomes) -> bool:
    return not any(outcome.startswith("failed") for outcome in outcomes)
