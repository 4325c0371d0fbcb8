"""Where a sweep's trials run: local processes, or a Ray cluster.

A local trial is ``mlprojects run`` in a child process with its share of the cores. Where the platform has
it, that child is forked from a server process that imported what a run needs once (torch, its compiler's
front end that every optimizer imports, pandas, scikit-learn, matplotlib: about five seconds, and a 30-epoch
``wine`` trial trains in one), so a trial starts in a tenth of a second; it still runs in a process of its own,
with the sweep's current environment and folder, and a crash in it stays in it. Elsewhere (Windows) it is a new
interpreter. As for any child of multiprocessing's forkserver, the server imports the parent's main script
again (as ``__mp_main__``): the ``mlprojects`` command's script and ``python -m`` are safe; a script of one's own
that calls :func:`mlprojects.experiments.sweep.execute` needs the usual ``if __name__ == "__main__":``. On Ray
(``ray.init(address)``; a local instance when no address is given) a trial runs in a scratch folder
on whichever node Ray picks and comes back as an archive, so the nodes need the same Python
environment but no shared filesystem. A cluster started with token authentication needs its token
where the sweep runs; a join that fails says which variables to set.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Callable

from mlprojects import cores
from mlprojects.errors import UserError, require

Runner = Callable[[list[str], Path, Path], int]  # (command, run directory, log file) -> exit code


def thread_env(threads: int) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "OPENBLAS_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}


def local_runner(threads: int) -> Runner:
    return lambda args, run_dir, log: run_local(args, log, threads)


#: what the trials' server imports before it forks them (by name: the command line is a layer above this one)
PRELOAD = ["mlprojects.cli", "mlprojects.runner", "mlprojects.plots", "torch._dynamo", "torch.optim", "pandas",
           "sklearn.model_selection", "matplotlib.pyplot"]


def run_local(args: list[str], log: Path, threads: int) -> int:
    """ARGS (``python -m mlprojects run ...``) in a child process, its output in LOG; its exit code."""
    import multiprocessing

    log.parent.mkdir(parents=True, exist_ok=True)
    if args[1:3] != ["-m", "mlprojects"] or "forkserver" not in multiprocessing.get_all_start_methods():
        with open(log, "w") as handle:
            return subprocess.run(args, stdout=handle, stderr=subprocess.STDOUT, env=thread_env(threads),
                                  check=False).returncode
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    process = context.Process(target=_trial, args=(args[3:], str(log), thread_env(threads), os.getcwd(), threads),
                              name="mlprojects trial")
    process.start()
    process.join()
    return process.exitcode


def _trial(argv: list[str], log: str, environment: dict[str, str], folder: str, threads: int) -> None:
    """In the forked child: the sweep's environment, folder and thread count as a new process would have them
    (the server keeps those it started with), output to LOG, then the CLI."""
    import torch

    os.environ.clear()
    os.environ.update(environment)
    os.chdir(folder)
    for entry in reversed(environment.get("PYTHONPATH", "").split(os.pathsep)):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    torch.set_num_threads(threads)
    handle = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(handle, 1)
    os.dup2(handle, 2)
    os.close(handle)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    import runpy

    # as `python -m mlprojects` does; multiprocessing turns its exit (or a bug's traceback, exit 1) into the
    # process's exit code and flushes the output
    sys.argv = ["mlprojects", *argv]
    runpy.run_module("mlprojects", run_name="__main__", alter_sys=True)


def pack(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(folder, arcname=".")
    return buffer.getvalue()


def unpack(data: bytes, folder: Path) -> None:
    """A run directory packed by ``pack``: regular files and folders only, inside FOLDER."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later: "data" keeps everything inside FOLDER
            archive.extractall(folder, filter="data")
            return
        members = archive.getmembers()  # earlier 3.11 (Debian 12's 3.11.2): anything not plain and inside refused
        for member in members:
            parts = Path(member.name).parts
            if not (member.isfile() or member.isdir()) or Path(member.name).is_absolute() or ".." in parts:
                raise ValueError(f"a trial's archive holds {member.name!r}, which is not a file inside its folder")
        archive.extractall(folder, members=members)


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

RAY_TOKEN = "RAY_AUTH_TOKEN=<token>, or RAY_AUTH_TOKEN_PATH=<a file holding it> (default ~/.ray/auth_token)"


def ray_runner(address: str | None, threads: int):
    ray = require("ray", "ray", "--backend ray needs Ray")
    no_token = getattr(ray.exceptions, "AuthenticationError", ())  # Ray >= 2.52
    where = f"--address {address}" if address else "a local Ray instance"
    try:
        ray.init(address=address or None, num_cpus=None if address else cores.available(),
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
