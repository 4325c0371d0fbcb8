"""Where a sweep's trials run: local processes, or a Ray cluster.

A local trial is ``mlprojects run`` in a child process with its share of the cores, forked from a server process
that imported what a run needs once (torch, its compiler's front end that every optimizer imports, pandas,
scikit-learn, matplotlib: about five seconds, and a 30-epoch ``wine`` trial trains in one), so a trial starts in a
tenth of a second; it still runs in a process of its own, with the sweep's current environment and folder, and a
crash in it stays in it. When the sweep is the ``mlprojects`` command on Linux, that server is forked from the
command's own process before anything in it has computed (:class:`TrialServer`): what the command imported is the
server's at once, with no new interpreter. Elsewhere it is multiprocessing's forkserver, a new interpreter, and on
Windows each trial is a new interpreter. As for any child of multiprocessing's forkserver, the forkserver imports the
parent's main script again (as ``__mp_main__``): the ``mlprojects`` command's script and ``python -m`` are safe; a
script of one's own that calls :func:`mlprojects.experiments.sweep.execute` needs the usual
``if __name__ == "__main__":``. On Ray
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
from typing import Callable, Sequence

from mlprojects import cores
from mlprojects.errors import UserError, require

Runner = Callable[[list[str], Path, Path], int]  # (command, run directory, log file) -> exit code


def thread_env(threads: int) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "OPENBLAS_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}


def local_runner(threads: int, preload: Sequence[str] = ()) -> Runner:
    """Trials as local processes, forked from a server that imported :data:`PRELOAD` and the modules named in
    PRELOAD (the argument: what this kind of trial needs beside a run, e.g. a search's storage)."""
    start_trial_server(preload)  # before the sweep's threads exist
    return lambda args, run_dir, log: run_local(args, log, threads, preload)


#: what the trials' server imports before it forks them (by name: the command line is a layer above this one).
#: What each trial would otherwise import itself: TensorBoard's writer (events), 0.1 s a trial
PRELOAD = ["mlprojects.cli", "mlprojects.runner", "mlprojects.plots", "torch._dynamo", "torch.optim", "pandas",
           "sklearn.model_selection", "matplotlib.pyplot", "mlprojects.engine.events"]


def run_local(args: list[str], log: Path, threads: int, preload: Sequence[str] = ()) -> int:
    """ARGS (``python -m mlprojects run ...``) in a child process, its output in LOG; its exit code. PRELOAD: what
    multiprocessing's forkserver imports beside :data:`PRELOAD`, where it is the one that forks the trials."""
    import multiprocessing

    log.parent.mkdir(parents=True, exist_ok=True)
    command, environment = args[1:3] == ["-m", "mlprojects"], thread_env(threads)
    if command and _server is not None:
        return _server.run(args[3:], str(log), environment, os.getcwd(), threads)
    if not command or "forkserver" not in multiprocessing.get_all_start_methods():
        with open(log, "w") as handle:
            return subprocess.run(args, stdout=handle, stderr=subprocess.STDOUT, env=environment,
                                  check=False).returncode
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([*PRELOAD, *preload])
    process = context.Process(target=_trial, args=(args[3:], str(log), environment, os.getcwd(), threads),
                              name="mlprojects trial")
    process.start()
    process.join()
    return process.exitcode


def _trial(argv: list[str], log: str, environment: dict[str, str], folder: str, threads: int) -> None:
    """In a child of multiprocessing's forkserver: the command, its exit code the process's."""
    sys.exit(run_cli(argv, environment, folder, threads, log))


def run_cli(argv: list[str], environment: dict[str, str], folder: str, threads: int, stdout: str,
            stderr: str | None = None, module: str = "mlprojects") -> int:
    """In a forked child: ``mlprojects ARGV`` (``python -m MODULE ARGV``) with ENVIRONMENT, FOLDER and THREADS as a
    new process would have them (the process it was forked from keeps its own), its output in the file STDOUT (and
    STDERR, else the same file), its input empty; returns its exit code, as the interpreter would make it."""
    import atexit
    import traceback

    import torch

    os.environ.clear()
    os.environ.update(environment)
    tempfile.tempdir = None  # the temporary folder its TMPDIR names, found again as a new process would
    os.chdir(folder)
    # the module search path of `python -m mlprojects` started there: the folder, then PYTHONPATH
    sys.path[0] = os.getcwd()
    for entry in reversed(environment.get("PYTHONPATH", "").split(os.pathsep)):
        if entry and entry not in sys.path:
            sys.path.insert(1, entry)
    torch.set_num_threads(threads)
    for fd, path in ((1, stdout), (2, stderr)):
        if path is None:
            os.dup2(1, 2)
            continue
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(handle, fd)
        os.close(handle)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    sys.argv = [module, *argv]
    code = 0
    try:  # as `python -m mlprojects` does (by name: the command line is a layer above this one)
        import runpy

        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as done:  # as the interpreter turns it into an exit code
        if done.code is None or isinstance(done.code, int):
            code = done.code or 0
        else:
            print(done.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    return code


# --- trials forked from the sweep's own process --------------------------------------------------------------------

_forking_allowed = False  # set by allow_forking: this process is the `mlprojects` command and has computed nothing
_server: TrialServer | None = None


def allow_forking() -> None:
    """Called by the `mlprojects` command when it is the process's program: trials may be forked from a server
    forked from this process (see :class:`TrialServer`). Not for a process that may have computed: after a
    parallel region of PyTorch's OpenMP, a forked child hangs in its first one (seen here)."""
    global _forking_allowed
    _forking_allowed = True


def start_trial_server(preload: Sequence[str] = ()) -> None:
    """The process's trials' server, forked now if this process may (allowed, Linux, one Python thread, CUDA not
    initialised) and has none, importing PRELOAD's modules too; otherwise trials start from multiprocessing's
    forkserver, a new interpreter."""
    global _server
    import threading

    if _server is not None or not _forking_allowed or sys.platform != "linux" or threading.active_count() > 1:
        return
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return
    _server = TrialServer(preload)


class TrialServer:
    """A process forked from this one that forks each trial, as multiprocessing's forkserver does, without the new
    interpreter the forkserver is: what this process imported (PyTorch, pandas, the command line) is the server's
    at once, and it imports the rest of :data:`PRELOAD` itself, once. ``run(...)`` sends it a trial through a
    socket pair of the trial's own (passed over the server's control socket, so no other process can reach it)
    and returns the trial's exit code; the server forks a waiter for each, which forks the trial and answers when
    it ends, so trials run side by side. The server ends when this process closes its end or ends."""

    def __init__(self, preload: Sequence[str] = ()) -> None:
        import socket

        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.pid = os.fork()
        if self.pid == 0:  # the server
            code = 0
            try:
                self.control.close()
                _serve_trials(theirs, [*PRELOAD, *preload])
            except BaseException:
                code = 1
            os._exit(code)
        theirs.close()

    def run(self, argv: list[str], log: str, environment: dict[str, str], folder: str, threads: int) -> int:
        import json
        import socket

        mine, theirs = socket.socketpair()
        with mine:
            with theirs:
                socket.send_fds(self.control, [b"t"], [theirs.fileno()])
            mine.sendall(json.dumps({"argv": argv, "log": log, "env": environment, "cwd": folder,
                                     "threads": threads}).encode())
            mine.shutdown(socket.SHUT_WR)
            with mine.makefile("rb") as answers:
                answer = answers.read()
        if not answer:
            raise RuntimeError(f"the trials' server (process {self.pid}) did not answer: it or the trial's waiter "
                               "was killed")
        return int(answer)


def _serve_trials(control, preload: Sequence[str]) -> None:
    import importlib
    import json
    import signal
    import socket

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the trials (the same process group), not this
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the server never waits: its waiters reap themselves
    for name in preload:
        try:
            importlib.import_module(name)
        except ImportError:  # as the forkserver's preload: a trial that needs it says so itself
            pass
    while True:
        message, fds, _, _ = socket.recv_fds(control, 1, 1)
        if not message:  # the sweep's process closed its end, or ended
            return
        connection = socket.socket(fileno=fds[0])
        if os.fork() == 0:  # the waiter
            code = 1
            try:
                control.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                with connection.makefile("rb") as requests:
                    request = json.loads(requests.read())
                pid = os.fork()
                if pid == 0:  # the trial
                    connection.close()
                    signal.signal(signal.SIGINT, signal.default_int_handler)
                    os._exit(run_cli(request["argv"], request["env"], request["cwd"], request["threads"],
                                     request["log"]))
                _, status = os.waitpid(pid, 0)
                connection.sendall(str(os.waitstatus_to_exitcode(status)).encode())
                code = 0
            finally:
                os._exit(code)
        connection.close()


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
    # without --address: the cluster RAY_ADDRESS names, as Ray's own tools do, else a new local instance. Not
    # ray.init's own default, which joins the last cluster started on this machine: a `ray start --head` running
    # here was joined with this process's num_cpus, which Ray refuses, and the sweep failed
    named = address or os.environ.get("RAY_ADDRESS") or None
    where = (f"--address {address}" if address else f"RAY_ADDRESS={named}" if named else "a local Ray instance")
    try:
        ray.init(address=named or "local", num_cpus=None if named else cores.available(),
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
