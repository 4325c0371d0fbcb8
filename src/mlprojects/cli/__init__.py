"""The ``mlprojects`` command line: wiring only; every command calls the library.

Importing this module, ``--help`` and ``list`` do not import torch (they answer in a fraction of a
second); commands that train import it when they run.
"""

from __future__ import annotations

import os
import sys
import warnings

import click

from mlprojects import __version__
from mlprojects.errors import EXIT_FILE, UserError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="mlprojects")
def cli() -> None:
    """The classic machine-learning projects, runnable, reproducible and fast, on PyTorch.

    \b
    mlprojects list                      the projects and the figures they reproduce
    mlprojects run mnist-mlp             train and evaluate one (runs/mnist-mlp/<time>/)
    mlprojects show runs/mnist-mlp/...   its settings and metrics
    mlprojects predict RUN_DIR digit.png  apply a finished run to new data (CSV, images, texts)
    mlprojects serve digits              the sketchpad web app
    mlprojects generate bach-charrnn --run RUN_DIR   sample tunes (ABC and MIDI)
    mlprojects sweep mnist-mlp --grid lr=0.1,0.01 --seeds 3   a grid of runs, a results table
    mlprojects run mnist-mlp --track     the run in MLflow as well (mlflow ui)
    mlprojects compare RUN_DIR RUN_DIR   runs side by side (and compare.html)
    mlprojects reproduce --quick         every published figure against ours (REPRODUCTION.md)
    mlprojects data list                 the dataset catalog
    """


def _register() -> None:
    """Each command module lists its commands; the group is assembled here, so no module imports this one."""
    from mlprojects.cli import data, experiments, generate, info, nlp, run, serve, track, use

    for module in (data, experiments, generate, info, nlp, run, serve, track, use):
        for command in module.COMMANDS:
            cli.add_command(command)


def _warn(message, category, filename, lineno, file=None, line=None) -> None:
    """The library warns with ``warnings.warn`` (a program can filter or catch them); the CLI shows each
    warning as one line on stderr."""
    click.echo(f"warning: {message}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors are one line on stderr and exit code 2 (MLPROJECTS_DEBUG=1: traceback);
    warnings are one line each on stderr."""
    _register()
    if argv is None:  # the process's program: a sweep may fork its trials from it (experiments/backends.py)
        from mlprojects.experiments import backends

        backends.allow_forking()
    argv = sys.argv[1:] if argv is None else argv
    try:
        with warnings.catch_warnings():
            if not os.environ.get("MLPROJECTS_DEBUG"):
                warnings.showwarning = _warn
            cli.main(args=argv or ["--help"], prog_name="mlprojects", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:  # usage errors: click's message, exit 2
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except UserError as error:
        if os.environ.get("MLPROJECTS_DEBUG"):
            raise
        if int(os.environ.get("RANK", "0")) == 0:  # one line, from one process of a multi-process run
            click.echo(f"error: {error}", err=True)
        exit_file = os.environ.get(EXIT_FILE)
        if exit_file and "RANK" in os.environ:  # a rank under `mlprojects run --nproc`: the launcher exits with
            with open(exit_file, "w") as handle:  # this code, and torchrun adds no failure report of its own
                handle.write(str(error.exit_code))
            sys.stdout.flush()
            sys.stderr.flush()
            import multiprocessing

            if multiprocessing.parent_process() is not None:  # a worker torchrun's agent forked (cli/run.py): it
                return  # returns to the agent, as after a run, and its process ends without a shutdown too
            # no interpreter shutdown: with a peer gone, tearing down the process group's threads can abort the
            # process, and torchrun would then report a failure the user need not see
            os._exit(0)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
