"""``mlprojects run PROJECT [--set KEY=VALUE]... [--nproc N]`` and ``run --resume RUN_DIR``."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import click

from mlprojects import cores
from mlprojects.errors import UserError


@click.command(context_settings={"show_default": True})
@click.argument("project", required=False)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="override a setting (repeatable)")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="YAML file of settings")
@click.option("--out", type=click.Path(file_okay=False), help="run directory  [default: runs/PROJECT/<time>]")
@click.option("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
@click.option("--seed", type=int, help="seed for splits, initialisation and shuffling (same as --set seed=N)")
@click.option("--nproc", type=click.IntRange(min=1), default=1, help="processes on this machine (torchrun)")
@click.option("--nnodes", type=click.IntRange(min=1), default=1,
              help="machines in the job; start the same command on each (with --master)")
@click.option("--master", metavar="HOST:PORT", help="the rendezvous: an address of the first machine and a free port")
@click.option("--max-restarts", type=click.IntRange(min=0), default=0,
              help="restart the processes this often when one dies; they resume from the last checkpoint")
@click.option("--resume", type=click.Path(file_okay=False, path_type=Path),
              help="continue this run from its checkpoint")
@click.option("--settings", "show_settings", is_flag=True, help="list the project's settings and defaults, then exit")
@click.option("--quiet", is_flag=True, help="no progress output")
@click.option("--track", is_flag=True, help="copy the run to MLflow as it goes (MLFLOW_TRACKING_URI, else ./mlflow.db)")
@click.option("--search-trial", hidden=True, help="JSON: the Optuna trial this run is (set by sweep --search)")
def run(project, sets, config_file, out, device, seed, nproc, nnodes, master, max_restarts, resume, show_settings,
        quiet, track, search_trial) -> None:
    """Train and evaluate PROJECT; print the run directory and its test metrics."""
    from mlprojects.config import parse_overrides

    if show_settings:
        return _print_settings(project)
    if resume is None and not project:
        raise UserError("name a project (see `mlprojects list`) or --resume RUN_DIR")
    if resume is not None and project:
        raise UserError("--resume continues an existing run: give RUN_DIR alone, without PROJECT")
    overrides = parse_overrides(sets)
    if nnodes > 1 and not master:
        raise UserError("--nnodes needs --master HOST:PORT (the same on every machine)")
    if nnodes > 1 and max_restarts and not out and resume is None:
        raise UserError("--max-restarts across machines needs --out: the same folder on a shared filesystem, "
                        "where restarted processes find the checkpoint")
    if (nproc > 1 or nnodes > 1 or max_restarts) and "WORLD_SIZE" not in os.environ:
        launch = Launch(nproc, nnodes, master, max_restarts)
        sys.exit(_launch(project, sets, overrides, config_file, out, device, seed, launch, resume, quiet, track))

    from mlprojects.rundir import read_metrics
    from mlprojects.runner import run as run_project

    run_dir = run_project(project, overrides, config_file=config_file, out=out, device=device, seed=seed,
                          resume=resume, progress=not quiet, track=track,
                          trial=json.loads(search_trial) if search_trial else None)
    if int(os.environ.get("RANK", 0)) == 0:
        metrics = read_metrics(run_dir)
        floats = {k: v for k, v in metrics.items() if isinstance(v, float) and k != "duration_s"}
        shown = {k: v for k, v in floats.items() if k.startswith("test_")} or dict(list(floats.items())[:4])
        figures = "  ".join(f"{k} {v:.4g}" if abs(v) >= 1e4 or (v and abs(v) < 1e-3) else f"{k} {v:.4f}"
                            for k, v in shown.items())
        click.echo(f"{run_dir}  {figures}")


LEFT = "mlprojects/launchers-done"  # the key the launchers of several machines count themselves out on


@dataclass(frozen=True)
class Launch:
    nproc: int = 1
    nnodes: int = 1
    master: str | None = None
    max_restarts: int = 0

    def torchrun(self, project: str) -> list[str]:
        """torchrun's options: one machine (standalone), or several meeting at --master through c10d's
        rendezvous (node ranks follow the order of joining); restarts resume from the checkpoint."""
        command = [f"--nproc-per-node={self.nproc}"]
        if self.nnodes == 1:  # --standalone spelled out: torchrun's run() turns it into these, and _launch calls
            # config_from_args, which reads them, not run()
            command += ["--rdzv-backend=c10d", "--rdzv-endpoint=localhost:0", f"--rdzv-id={uuid.uuid4()}"]
        else:
            command += [f"--nnodes={self.nnodes}", "--rdzv-backend=c10d", f"--rdzv-endpoint={self.master}",
                        f"--rdzv-id=mlprojects-{project}"]
        if self.max_restarts:
            command.append(f"--max-restarts={self.max_restarts}")
        return command

    def _endpoint(self) -> tuple[str, int] | None:
        """--master as torchrun's c10d rendezvous reads it (brackets around IPv6, its default port when none is
        given), on several machines; None on one, or when torchrun will refuse it itself."""
        if self.nnodes == 1:
            return None
        from torch.distributed.elastic.rendezvous.c10d_rendezvous_backend import DEFAULT_PORT
        from torch.distributed.elastic.rendezvous.utils import parse_rendezvous_endpoint

        try:
            return parse_rendezvous_endpoint(self.master, default_port=DEFAULT_PORT)
        except ValueError:
            return None

    def meeting(self):
        """On several machines, the launcher that can host the rendezvous's store at --master does, before torchrun
        (whose own store in this process then shares it: multi_tenant); None elsewhere. Torchrun's host would
        otherwise close the store as soon as its agent is done, while the others still close the rendezvous
        through it: their runs succeeded, but ended with a C++ connection trace and a warning on stderr."""
        from torch.distributed import TCPStore
        from torch.distributed.elastic.rendezvous.utils import _matches_machine_hostname

        endpoint = self._endpoint()
        # torchrun's own test of whether this machine is --master's host (a server binds every address)
        if endpoint is None or not _matches_machine_hostname(endpoint[0]):
            return None
        try:
            return TCPStore(*endpoint, is_master=True, multi_tenant=True, timeout=timedelta(seconds=30))
        except (RuntimeError, ValueError):  # another launcher on this machine hosts it
            return None

    def leave(self, store) -> None:
        """Each launcher says it is done once its agent has closed the rendezvous; the host waits for the others
        (30 s at most) before its store, and with it the rendezvous, goes."""
        import time

        from torch.distributed import TCPStore

        endpoint = self._endpoint()
        if endpoint is None:
            return
        if store is None:
            try:
                TCPStore(*endpoint, is_master=False, timeout=timedelta(seconds=5)).add(LEFT, 1)
            except (RuntimeError, ValueError):  # the host is gone already: nothing to wait for
                pass
            return
        deadline = time.monotonic() + 30
        while store.add(LEFT, 0) < self.nnodes - 1 and time.monotonic() < deadline:
            time.sleep(0.05)

    def environment(self) -> dict[str, str]:
        # the cores shared out between the processes (torchrun would set 1, with a 4-line banner saying so)
        threads = {"OMP_NUM_THREADS": str(cores.per_process(self.nproc))}
        # restarted workers otherwise hang on, or reconnect to, the dead peer's store (pytorch issue 135712)
        return {**threads, "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"} if self.max_restarts else threads


def _launch(project, sets, overrides, config_file, out, device, seed, launch: Launch, resume, quiet, track) -> int:
    """Re-run this command as processes under torchrun, all writing to one run directory."""
    from mlprojects import rundir
    from mlprojects.runner import one_process, resolve_settings

    if resume is None:
        # bad settings fail here, before any process starts
        spec, _ = resolve_settings(project, overrides, config_file, seed)
        out = out or str(rundir.default_out(project))
    else:
        spec, _ = rundir.project_of(resume)
    if spec.kind != "trained" and not spec.distributed:
        raise UserError(one_process(spec))
    command = [*launch.torchrun(spec.name), "-m", "mlprojects", "run"]
    command += ["--resume", str(resume)] if resume is not None else [project, "--out", str(out)]
    for item in sets:
        command += ["--set", item]
    for flag, value in (("--config", config_file), ("--device", device), ("--seed", seed)):
        if value is not None:
            command += [flag, str(value)]
    if track:
        from mlprojects.tracking import mlflow

        mlflow()  # a missing extra is one line here, before any process starts
    command += ["--quiet"] * quiet + ["--track"] * track
    import tempfile

    import torch
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch
    from torch.distributed.run import config_from_args, parse_args

    from mlprojects.errors import EXIT_FILE

    # torchrun's agent runs in this process, which has imported torch already: a separate `python -m
    # torch.distributed.run` took 3-4 s more to start every launch. Its workers are forked from it where that is
    # safe, each then run as `python -u -m mlprojects ARGS` would: a new interpreter took 3-5 s more to import torch
    # and the rest again, in every worker and every restart. Safe: on Linux, without a CUDA device (a process that
    # has asked the CUDA driver anything cannot use CUDA in a fork; the workers then start as new interpreters)
    forked = sys.platform == "linux" and not torch.cuda.is_available()
    with tempfile.TemporaryDirectory() as scratch:  # a rank's user error (one line, printed by rank 0) comes
        exit_file = os.path.join(scratch, "exit-code")  # back as its exit code, without torchrun's report
        with _for_the_launch({**launch.environment(), EXIT_FILE: exit_file}, scratch):
            # torchrun's folder of each attempt's logs and error files, by default a new /tmp/torchelastic_* that it
            # never removes (one a launch, empty unless a worker failed): it goes with the scratch folder
            log_dir = os.path.join(scratch, "torchelastic")
            config, executable, arguments = config_from_args(parse_args([f"--log-dir={log_dir}", *command]))
            _cheap_step_names()
            # (config_from_args reads OMP_NUM_THREADS)
            if forked:
                config.start_method = "fork"
                launched = elastic_launch(config, entrypoint=_worker)
                arguments = [arguments[arguments.index("mlprojects") + 1:]]  # after -u -m mlprojects
            else:
                launched = elastic_launch(config, entrypoint=executable)
            store = launch.meeting()
            try:
                launched(*arguments)
                launch.leave(store)
                code = 0
            except ChildFailedError as failure:
                if not os.path.exists(exit_file):
                    print(f"{type(failure).__name__}: {failure}", file=sys.stderr)  # torchrun's report of it
                code = 1
            except SignalException as stopped:  # Ctrl-C or a SIGTERM: the agent has stopped the workers
                print("interrupted", file=sys.stderr)
                code = 128 + stopped.sigval
        if os.path.exists(exit_file):
            return int(open(exit_file).read() or 2)
    return code


def _cheap_step_names() -> None:
    """torchrun's rendezvous names the method behind each step it records (9 in a 2-process run) with
    ``inspect.stack()``, which reads the source of every frame on the stack and looks up the module of each, a
    search over every module imported: 0.12 s of CPU a launch from the command, 0.51 s where the process had
    imported Gradio too (a notebook's; the suite's commands, sampled: 1.3-2.7 s a launch). The same name, read
    from the frame itself."""
    from torch.distributed.elastic.rendezvous import dynamic_rendezvous

    def get_method_name(depth: int = 2) -> str:  # inspect.stack()[depth].function, as torch's own
        try:
            return sys._getframe(depth).f_code.co_name
        except ValueError:  # fewer frames than that
            return "no_method_name"

    if hasattr(dynamic_rendezvous, "get_method_name"):
        dynamic_rendezvous.get_method_name = get_method_name


@contextlib.contextmanager
def _for_the_launch(environment: dict[str, str], scratch: str):
    """This process's environment with ENVIRONMENT added (what torchrun's workers inherit) and its temporary folder
    SCRATCH (where the agent leaves each failed worker's traceback file), both as they were afterwards, however
    the launch ends."""
    import tempfile

    saved, saved_tempdir = dict(os.environ), tempfile.tempdir
    os.environ.update(environment)
    tempfile.tempdir = scratch
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        tempfile.tempdir = saved_tempdir


def _worker(argv: list[str]) -> None:
    """A worker forked by torchrun's agent, given the environment of a worker: its share of the threads and
    unbuffered output, as `python -u -m mlprojects ARGV` would run. A user's error writes the exit file and returns
    (:func:`mlprojects.cli.main`); a bug's exception is torchrun's to report, as a new interpreter's would be."""
    import runpy

    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or 1))
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    sys.argv = ["mlprojects", *argv]
    runpy.run_module("mlprojects", run_name="__main__", alter_sys=True)


def _print_settings(project: str | None) -> None:
    from mlprojects import registry
    from mlprojects.cli.info import _table
    from mlprojects.config import describe

    if not project:
        raise UserError("--settings needs a project name")
    spec = registry.get(project)
    _table(f"{project} settings (--set KEY=VALUE)", ["setting", "type", "default", "help"],
           [[name, kind, ",".join(map(str, d)) if isinstance(d, tuple) else str(d), text]
            for name, kind, d, text in describe(spec.config_class)])


COMMANDS = (run,)  # added to the mlprojects group by mlprojects.cli
