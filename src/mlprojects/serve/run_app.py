"""``mlprojects serve RUN``: a page, and the same function as an API, for any finished run (``serve_all``: with the
REST routes of ``mlprojects.serve.rest`` beside it, on one server).

The project's kind of input (``project.inputs``) lays out the controls: a form of the training columns, or a
CSV upload, for tables; an image upload for images; a text box for fine-tuned transformers; a CSV of
readings for a forecaster. Every request goes through :func:`mlprojects.predict.predict`, the function
behind ``mlprojects predict``, so the page, the API and the command line give the same answers.

The page's endpoints (``gradio_client``): ``/predict`` (the form's values, an image file, texts, or a CSV of
readings) and, for tabular projects, ``/predict_csv`` (a CSV file). ``auth`` (user, password) protects page and
REST routes alike. Uploads over ``MAX_UPLOAD`` are refused by the server with a message, and a malformed one is a
message too: the server keeps serving.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from mlprojects import cores  # noqa: E402
from mlprojects.errors import UserError  # noqa: E402
from mlprojects.predict import predict  # noqa: E402
from mlprojects.rundir import Run  # noqa: E402
from mlprojects.serve import rest  # noqa: E402

MAX_UPLOAD = "10mb"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _apply(run: Run, inputs: Any, **options) -> pd.DataFrame:
    try:
        return predict(run, inputs, **options)
    except UserError as error:
        raise gr.Error(str(error)) from None


def describe(run: Run) -> str:
    entry_goals = [key for key in run.metrics if key.startswith("test_") and isinstance(run.metrics[key], float)]
    figures = ", ".join(f"{key} {run.metrics[key]:.4g}" for key in entry_goals[:3])
    return f"**{run.name}** from `{run.path}`" + (f" ({figures})" if figures else "")


def build(run: Run) -> gr.Blocks:
    """The page of RUN: its kind of input lays out the controls; every request goes through predict."""
    with gr.Blocks(title=f"mlprojects: {run.name}") as app:
        gr.Markdown(f"## {run.name}\n{describe(run)}")
        run.project.inputs.page(run, lambda inputs, **options: _apply(run, inputs, **options))
    return app


def app(models: dict[str, Run], auth: tuple[str, str] | None = None, max_body: int = rest.MAX_BODY,
        timeout: float = rest.TIMEOUT, max_batch: int = rest.MAX_BATCH, max_wait: float = 0.0):
    """The ASGI app of ``mlprojects serve``: the REST routes of ``mlprojects.serve.rest`` for MODELS and, at /, the
    page of the first model, behind the same credentials."""
    page = build(next(iter(models.values())))
    page.queue(default_concurrency_limit=4)
    quieter(page)
    return rest.build(models, rest.Credentials(*auth) if auth else None, max_body, timeout, max_batch, max_wait,
                      lambda routes: gr.mount_gradio_app(routes, page, path="/", auth=auth, max_file_size=MAX_UPLOAD,
                                                         show_error=True))


def quieter(page: gr.Blocks) -> None:
    """Gradio's queue looks for work every millisecond, and for progress to send every 10, while it has none: 1,100
    turns a second of the event loop that the REST routes share (5% of a core on an idle server). Every 20 ms and
    every 100 ms (Gradio's own figures on Windows) is soon enough for a person at the page; where a Gradio
    version names these differently, its own stay."""
    queue = getattr(page, "_queue", None)
    for name, seconds in (("sleep_when_free", 0.02), ("progress_update_sleep_when_free", 0.1)):
        if isinstance(getattr(queue, name, None), float):
            setattr(queue, name, seconds)


def serve_all(models: dict[str, Run], host: str = "127.0.0.1", port: int = 7860, workers: int = 1,
              **settings: Any) -> None:
    """:func:`app` (SETTINGS: its options) on uvicorn; WORKERS processes share the port (each loads the runs;
    /metrics sums them all). On SIGTERM it stops taking connections, answers the requests in flight, then exits."""
    import uvicorn

    options = {"host": host, "port": port, "log_level": "warning",
               "timeout_graceful_shutdown": settings.get("timeout", rest.TIMEOUT) + 5}
    if workers == 1:
        uvicorn.run(app(models, **settings), **options)
        return
    import json
    import shutil
    import socket
    import sys
    import tempfile

    from uvicorn.supervisors import Multiprocess

    metrics = tempfile.mkdtemp(prefix="mlprojects-metrics-")  # prometheus-client's files, one per worker
    # the cores shared out between the workers (PyTorch's and onnxruntime's threads), unless OMP_NUM_THREADS says
    # otherwise: 2 workers on 2 cores answered 32 mnist-cnn clients 3,118 times a second with a thread each, 2,828
    # with a thread per core each
    os.environ.setdefault("OMP_NUM_THREADS", str(cores.share(workers)))
    os.environ.update({SETTINGS: json.dumps({"models": {name: str(run.path) for name, run in models.items()},
                                             **settings}),
                       "PROMETHEUS_MULTIPROC_DIR": metrics})
    config = uvicorn.Config(f"{__name__}:worker_app", factory=True, workers=workers, **options)
    try:
        if sys.platform.startswith("linux"):
            _supervise(config, workers)
            return
        listening = config.bind_socket()
        listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as _worker explains
        Multiprocess(config, sockets=[listening]).run()
    finally:
        shutil.rmtree(metrics, ignore_errors=True)


def _supervise(config, workers: int) -> None:
    """WORKERS processes, each listening on a socket of its own in one SO_REUSEPORT group, so that Linux spreads new
    connections over them. On one shared socket, whichever worker woke first accepted a burst of connections: a
    client's 32 kept connections split 32/0, 24/8 or 6/26 between 2 workers (the idle one's core wasted), against
    11/21 to 16/16 here. A worker that dies is started again; on SIGTERM or SIGINT each is told to stop, and
    answers what it holds first."""
    import multiprocessing
    import signal
    import threading

    from uvicorn.config import STARTUP_FAILURE

    spawn, stopping = multiprocessing.get_context("spawn"), threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())

    def started():
        child = spawn.Process(target=_worker, args=(config,))
        child.start()
        return child

    children = [started() for _ in range(workers)]
    try:
        while not stopping.wait(0.5):
            for index, child in enumerate(children):
                if child.is_alive():
                    continue
                if child.exitcode == STARTUP_FAILURE:  # it would fail the same way again: its error is above
                    raise UserError("a worker could not start, so the server stops")
                children[index] = started()
    finally:
        for child in children:
            if child.is_alive():
                os.kill(child.pid, signal.SIGTERM)
        for child in children:
            child.join()


def _worker(config) -> None:
    """One worker of :func:`_supervise`: its own socket on the port, then uvicorn on it."""
    import socket
    import sys

    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    config.configure_logging()
    listening = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # the connections it accepts inherit TCP_NODELAY, which uvicorn leaves off on sockets it is handed (asyncio
    # sets it only on sockets whose protocol says TCP): without it each answer waits 40 ms for the client's
    # delayed ACK
    listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        listening.bind((config.host, config.port))
    except OSError as error:  # taken since the command looked: the supervisor stops rather than start it again
        print(f"error: --port {config.port}: {error.strerror}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
    uvicorn.Server(config).run(sockets=[listening])


SETTINGS = "MLPROJECTS_SERVE_SETTINGS"  # serve_all's settings, for the worker processes


def worker_app():
    """The app of one worker process of ``serve_all``, from the settings its parent left in the environment."""
    import json

    from mlprojects import rundir

    settings = json.loads(os.environ[SETTINGS])
    models = {name: rundir.load(path) for name, path in settings.pop("models").items()}
    if settings.get("auth"):
        settings["auth"] = tuple(settings["auth"])
    return app(models, **settings)


def parse_auth(text: str | None, source: str = "--auth") -> tuple[str, str] | None:
    """USER:PASSWORD -> (user, password); the file or variable it came from names it in an error."""
    if not text:
        return None
    user, sep, password = text.strip().partition(":")
    if not sep or not user or not password:
        raise UserError(f"{source}: write USER:PASSWORD (both non-empty)")
    return user, password
