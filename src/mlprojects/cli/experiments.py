"""``mlprojects sweep`` and ``mlprojects reproduce``: experiments made of ordinary runs."""

from __future__ import annotations

from pathlib import Path

import click

from mlprojects.experiments.trials import PRUNERS, SAMPLERS


@click.command(context_settings={"show_default": True})
@click.argument("project")
@click.option("--grid", "grid", multiple=True, metavar="KEY=V1,V2,...",
              help="a setting and the values to try (repeatable; every combination runs); link settings "
                   "that go together with '/': optimizer/lr=sgd/0.087,adam/0.001")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="a setting for every trial (repeatable)")
@click.option("--seeds", type=click.IntRange(min=1), default=1, help="seeds per combination: 42, 43, ...")
@click.option("--workers", type=click.IntRange(min=1), default=1,
              help="trials at once; each gets cores/workers threads (OMP_NUM_THREADS where set)")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="sweep directory  [default: sweeps/PROJECT/<time>]")
@click.option("--metric", default="", show_default=False,
              help="the metric to sort and plot  [default: the project's test metric]")
@click.option("--device", default="auto", help="device of every trial: auto, cpu, cuda, cuda:N or mps")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local",
              help="local processes, or a Ray cluster (pip install 'mlprojects[ray]')")
@click.option("--address", default=None,
              help="Ray cluster address (ray://HOST:10001 or auto)  [default: RAY_ADDRESS, else a new local Ray]")
@click.option("--track", is_flag=True, help="copy the sweep to MLflow: an experiment, a parent run, a run per trial")
@click.option("--search", type=click.Choice(SAMPLERS), help="Optuna chooses the trials' settings from --space "
              "(TPE, or random as the baseline) instead of a grid")
@click.option("--trials", type=int, default=None, help="with --search: trials in the study  [default: 20, or as many "
              "as --budget holds]")
@click.option("--budget", type=int, default=0, metavar="EPOCHS",
              help="with --search: the epochs all trials may spend; a trial starts only if it fits, all its epochs "
                   "counted until it ends")
@click.option("--space", "space", multiple=True, metavar="KEY=SPEC",
              help="with --search: lr=log:1e-4..0.3, batch_size=int:16..256, dropout=0..0.5, widths=64x2,256x4")
@click.option("--pruner", type=click.Choice(PRUNERS), default="median",
              help="with --search: stop unpromising trials early from their per-epoch validation figure")
@click.option("--storage", default=None, metavar="URL",
              help="with --search: the Optuna storage of the study, a database URL or journal:PATH  "
                   "[default: sqlite:///OUT/study.db]")
def sweep(project, grid, sets, seeds, workers, out, metric, device, backend, address, track, search, trials, budget,
          space, pruner, storage) -> None:
    """Run PROJECT for every combination of --grid values (x --seeds); writes results.csv, summary.md
    (mean ± std per combination) and a plot per setting. Run the same command again to resume: finished
    trials are skipped and a killed one continues from its checkpoint.

    \b
    mlprojects sweep mnist-mlp --grid widths=64x4,128-64-32-16,256x4 --seeds 3 --workers 2
    """
    import time

    from mlprojects import registry
    from mlprojects.config import parse_overrides
    from mlprojects.errors import UserError
    from mlprojects.experiments.sweep import SEEDS_FROM, Sweep, execute, parse_grid

    registry.get(project)  # an unknown project is one line before anything else
    if out is None:
        out = Path("sweeps") / project / time.strftime("%Y%m%d-%H%M%S")
    if search:
        return _search(project, grid, sets, seeds, workers, out, metric, device, backend, address, track, search,
                       trials, budget, space, pruner, storage)
    if space or storage or trials is not None or budget:
        raise UserError("--space, --trials, --budget and --storage are for --search")
    if not grid:
        raise UserError("give --grid KEY=V1,V2,... (every combination runs), or --search tpe with --space")
    plan = Sweep(project, parse_grid(grid), [SEEDS_FROM + i for i in range(seeds)], out,
                 fixed=parse_overrides(sets), metric=metric, workers=workers, device=device, track=track)
    if backend == "local" and address:
        raise UserError("--address is for --backend ray")
    outcomes = execute(plan, backend, address, echo=click.echo)
    failed = [outcome for _, outcome in outcomes if outcome.startswith("failed")]
    diverged = sum(outcome == "diverged" for _, outcome in outcomes)
    click.echo(f"results: {out / 'results.csv'}\nsummary: {out / 'summary.md'}")
    if diverged:
        click.echo(f"{diverged} of {len(outcomes)} trials diverged: kept, and left out of the means")
    if failed:
        click.echo(f"{len(failed)} of {len(outcomes)} trials failed; the first: {failed[0]}", err=True)
        raise SystemExit(1)


def _search(project, grid, sets, seeds, workers, out, metric, device, backend, address, track, sampler, trials,
            budget, space, pruner, storage) -> None:
    from mlprojects.config import parse_overrides
    from mlprojects.errors import UserError
    from mlprojects.experiments.search import Search, execute, parse_space, require_optuna

    require_optuna()
    if grid:
        raise UserError("--grid and --search are two ways to choose the trials: give one")
    if seeds > 1:
        raise UserError("--seeds is for --grid: a search runs each setting it tries once, with seed 42")
    if backend == "local" and address:
        raise UserError("--address is for --backend ray")
    if trials is None:  # a budget alone: as many trials as it holds (each spends an epoch at least)
        trials = max(budget, 1) if budget else 20
    plan = Search(project, parse_space(space), trials, out, sampler, pruner, storage, parse_overrides(sets), metric,
                  workers, device, track=track, budget=budget)
    best = execute(plan, backend, address, echo=click.echo)
    click.echo(f"results: {out / 'results.csv'}\nsummary: {out / 'summary.md'}")
    if best:
        click.echo(f"best: trial {best['number']} ({best['run_dir']})")


@click.command(context_settings={"show_default": True})
@click.argument("projects", nargs=-1)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("reproduction"),
              help="where the runs and REPRODUCTION.md go")
@click.option("--quick", is_flag=True, help="smoke settings (fewer epochs, less data): checks that all runs")
@click.option("--workers", type=click.IntRange(min=1), default=1, help="runs at once")
def reproduce(projects, out, quick, workers) -> None:
    """Run PROJECTS (default: every project with a published figure) with their published configuration
    and write REPRODUCTION.md: published figure, ours (mean ± std over seeds), difference, notes.
    Finished runs are kept: running it again only runs what is missing."""
    from mlprojects.experiments.reproduce import reproduce as run

    click.echo(f"report: {run(projects, out, quick, workers, echo=click.echo)}")


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("compare.html"),
              show_default=True, help="the HTML report: the table and the learning curves")
def compare(runs, out) -> None:
    """Runs side by side: the settings that differ, the figures (and the published ones) and the learning curves
    overlaid. A sweep's folder stands for its trials.

    \b
    mlprojects compare runs/mnist-mlp/20261130-1001 runs/mnist-mlp/20261130-1010
    mlprojects compare sweeps/mnist-mlp/20261130-0950 --out lr.html
    """
    from mlprojects.cli.info import _table
    from mlprojects.experiments.compare import compare as side_by_side
    from mlprojects.experiments.compare import report

    found = side_by_side(list(runs))
    _table(f"{len(found.runs)} runs", found.columns, [[row.get(column, "") for column in found.columns]
                                                      for row in found.rows])
    written = report(found, out)
    for note in found.notes:
        click.echo(note)
    click.echo(f"report: {written}")


COMMANDS = (sweep, reproduce, compare)  # added to the mlprojects group by mlprojects.cli
