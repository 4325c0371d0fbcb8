"""``mlprojects track import RUN_DIR...``: finished (or stopped) runs copied to MLflow after the fact."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def track() -> None:
    """Runs in MLflow (MLFLOW_TRACKING_URI, else ./mlflow.db with the artifacts beside it; `mlflow ui` opens it)."""


@track.command("import")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
def import_runs(run_dirs) -> None:
    """Copy what of each RUN_DIR the store lacks: the run with its settings and tags, every epoch's figures, the
    test figures and the files. A run copied before is continued, never doubled."""
    from mlprojects.tracking import mlflow, store_uri
    from mlprojects.tracking import track as copy

    mlflow()
    for run_dir in run_dirs:
        tracked = copy(run_dir)
        click.echo(f"{run_dir}  MLflow run {tracked.run_id} in {store_uri()}")


COMMANDS = (track,)  # added to the mlprojects group by mlprojects.cli
