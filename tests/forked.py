"""`mlprojects` commands in processes of their own, forked from a warm one: each a real process (its own exit
code, output, memory and crash), without the 3-4 s a new interpreter spends importing PyTorch, its compiler's
front end, pandas and matplotlib. The same idea as a sweep's trials (``experiments/backends.py``).

``python tests/forked.py`` is the server: it imports what a run needs, then reads one request a line on stdin
(JSON: id, args, env, cwd, and the files for the output) and answers each on stdout with its exit code and the
peak resident memory of its process. A request is handled by a fork of the server that forks the command and
waits for it, so commands run side by side and the server is never the one that waits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future
from pathlib import Path


def _command(request: dict) -> int:
    """In the forked child: the request's command, as a new process would run it (a session of its own with
    ``session``: its process group is killed whole), its pid written to ``pidfile`` when asked. With ``module``,
    ``python -m MODULE ARGS`` instead (a notebook's kernel), whose process group (with ``session``, as
    :meth:`Server.start` gives it) ends when the process ``watch`` names has ended (the one that stands for it in the
    kernel's manager)."""
    from mlprojects.experiments.backends import run_cli

    if request.get("session"):
        os.setsid()
    if request.get("pidfile"):
        Path(request["pidfile"] + ".new").write_text(str(os.getpid()))
        os.replace(request["pidfile"] + ".new", request["pidfile"])
    if request.get("watch"):
        threading.Thread(target=_end_with, args=(request["watch"],), daemon=True).start()
    threads = int(request["env"].get("OMP_NUM_THREADS") or os.cpu_count() or 1)
    return run_cli(request["args"], request["env"], request["cwd"], threads, request["stdout"], request["stderr"],
                   module=request.get("module", "mlprojects"))


def _end_with(pid: int) -> None:
    """Kill this process's group once process PID is gone (checked every 0.2 s)."""
    import time

    while True:
        time.sleep(0.2)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os.killpg(0, signal.SIGKILL)


#: what the suite's commands import beside a run's (PRELOAD): `serve`'s web app (Gradio: 5 s of the start of each of
#: the ten or so `serve` commands a suite forks). Each worker's server imports it once, which makes the first command
#: it forks wait 3 s more, and adds 80 MB to every forked command's peak resident memory (``maxrss``: the pages it
#: shares with the server count). MLflow (1 s) is left to the two forked commands that track
SUITE_PRELOAD = ["mlprojects.serve.app", "mlprojects.serve.text"]


def serve() -> None:
    import importlib

    from mlprojects.experiments.backends import PRELOAD

    for name in [*PRELOAD, *SUITE_PRELOAD]:
        importlib.import_module(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the server never waits: its children reap themselves
    answers = sys.stdout.fileno()
    for line in sys.stdin:
        request = json.loads(line)
        if os.fork():
            continue
        # the waiter: forks the command, waits for it, answers in one write (under PIPE_BUF: never interleaved)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        pid = os.fork()
        if pid == 0:
            os._exit(_command(request))
        _, status, usage = os.wait4(pid, 0)
        os.write(answers, (json.dumps({"id": request["id"], "returncode": os.waitstatus_to_exitcode(status),
                                       "maxrss": usage.ru_maxrss * 1024}) + "\n").encode())
        os._exit(0)


class Server:
    """The client side: ``run(args, env, cwd, timeout)`` -> CompletedProcess (with ``maxrss``, bytes)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, cwd=Path(__file__).parent)
        self.waiting: dict[int, Future] = {}
        self.lock = threading.Lock()
        self.next_id = 0
        self.scratch = tempfile.TemporaryDirectory(prefix="mlp-forked-")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            answer = json.loads(line)
            with self.lock:
                self.waiting.pop(answer["id"]).set_result(answer)
        with self.lock:  # the server ended: nothing more will be answered
            for future in self.waiting.values():
                future.set_exception(RuntimeError("the forking server ended"))

    def run(self, args: list[str], env: dict, cwd, timeout: float) -> subprocess.CompletedProcess:
        return self.result(self.submit(args, env, cwd), timeout)

    def submit(self, args: list[str], env: dict, cwd, **options) -> tuple:
        """Start ARGS; OPTIONS: ``session`` (a session of its own), ``pidfile`` (where its pid is written)."""
        future: Future = Future()
        with self.lock:
            self.next_id += 1
            number = self.next_id
            self.waiting[number] = future
            out, err = (os.path.join(self.scratch.name, f"{number}.{stream}") for stream in ("out", "err"))
            self.process.stdin.write(json.dumps({"id": number, "args": list(args), "env": env, "cwd": str(cwd),
                                                 "stdout": out, "stderr": err, **options}) + "\n")
            self.process.stdin.flush()
        return future, out, err, list(args)

    def start(self, args: list[str], env: dict, cwd, **options) -> tuple[tuple, int]:
        """ARGS started in a session of its own (:meth:`submit`'s OPTIONS too): (what :meth:`submit` returns, the
        pid of its process, once it runs)."""
        import time

        pidfile = os.path.join(self.scratch.name, f"started-{time.monotonic_ns()}.pid")
        submitted = self.submit(args, env, cwd, session=True, pidfile=pidfile, **options)
        while not os.path.exists(pidfile):
            if submitted[0].done():
                raise RuntimeError(f"{args} ended before it started")
            time.sleep(0.01)
        pid = int(Path(pidfile).read_text())
        os.remove(pidfile)
        return submitted, pid

    def result(self, submitted: tuple, timeout: float | None) -> subprocess.CompletedProcess:
        """What :meth:`submit` started, once it ended (``maxrss``: its peak memory, bytes)."""
        future, out, err, args = submitted
        answer = future.result(timeout=timeout)
        stdout, stderr = (Path(path).read_text() for path in (out, err))
        for path in (out, err):
            os.remove(path)
        done = subprocess.CompletedProcess(["mlprojects", *args], answer["returncode"], stdout, stderr)
        done.maxrss = answer["maxrss"]
        return done

    def close(self) -> None:
        if hasattr(self, "bridge"):
            self.bridge.close()
        self.process.stdin.close()
        self.process.wait(timeout=60)
        self.scratch.cleanup()


class Bridge:
    """SERVER's commands for other processes: a Unix socket in SERVER's scratch folder that takes one request a
    connection (JSON: args, env, cwd) and answers it with the command's returncode, stdout and stderr. The
    notebook tests' kernels reach it through ``tests/forked_hook/sitecustomize.py``, and so do the kernels
    themselves: a request with ``module`` and ``watch`` (see :func:`_command`) is first answered with a line
    holding the pid of the process that runs it, then as a command is, when it ends."""

    def __init__(self, server: Server, timeout: float) -> None:
        import socket

        self.path = os.path.join(server.scratch.name, "bridge.sock")
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(self.path)
        self.listener.listen()
        self.server, self.timeout = server, timeout
        self.answered = 0  # commands run for other processes
        self.kernels = 0  # notebooks' kernels run for other processes (not counted in answered)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection) -> None:
        with connection:
            request = json.loads(connection.makefile("rb").readline())
            kernel = "module" in request
            try:
                if kernel:  # it lives as long as its notebook
                    submitted, pid = self.server.start(request["args"], request["env"], request["cwd"],
                                                       module=request["module"], watch=request["watch"])
                    connection.sendall((json.dumps({"pid": pid}) + "\n").encode())
                    self.kernels += 1
                    done = self.server.result(submitted, None)
                else:
                    done = self.server.run(request["args"], request["env"], request["cwd"], self.timeout)
                answer = {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
            except Exception as error:  # the caller prints it and fails, rather than waiting forever
                answer = {"returncode": 1, "stdout": "", "stderr": f"tests/forked.py: {error!r}\n"}
            try:
                connection.sendall(json.dumps(answer).encode())
            except BrokenPipeError:  # the asker is gone (a kernel's stand-in, killed by its manager)
                return
            if not kernel:
                self.answered += 1

    def close(self) -> None:
        self.listener.close()


if __name__ == "__main__":
    serve()
