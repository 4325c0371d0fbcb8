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
from mlprojects.serve import CACHE_LIFETIME, rest  # noqa: E402

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
    with gr.Blocks(title=f"mlprojects: {run.name}", delete_cache=CACHE_LIFETIME) as app:
        gr.Markdown(f"## {run.name}\n{describe(run)}")
        run.project.inputs.page(run, lambda inputs, **options: _apply(run, inputs, **options))
    return app


def app(models: dict[str, Run], auth: tuple[str, str] | None = None, max_body: int = rest.MAX_BODY,
        timeout: float = rest.TIMEOUT, max_batch: int = rest.MAX_BATCH, max_wait: float = 0.0,
        page_at: str | None = None):
    """The ASGI app of ``mlprojects serve``: the REST routes of ``mlprojects.serve.rest`` for MODELS and, at /, the
    page of the first model, behind the same credentials. PAGE_AT: the Unix socket of the worker process that serves
    the page, to which this one forwards the page's requests instead of serving a page of its own ("": no page)."""
    credentials = rest.Credentials(*auth) if auth else None
    if page_at is not None:
        return rest.build(models, credentials, max_body, timeout, max_batch, max_wait,
                          (lambda routes: routes.mount("/", forward(page_at))) if page_at else None)
    page = build(next(iter(models.values())))
    page.queue(default_concurrency_limit=4)
    quieter(page)
    return rest.build(models, credentials, max_body, timeout, max_batch, max_wait,
                      lambda routes: gr.mount_gradio_app(routes, page, path="/", auth=auth, max_file_size=MAX_UPLOAD,
                                                         show_error=True))


STARTING = 60.0  # seconds a request to the page waits for the worker that serves it to start
HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade",
              b"proxy-authorization", b"proxy-authenticate"}


def forward(socket_path: str):
    """An ASGI app that hands every HTTP request to the server on SOCKET_PATH and streams its answer back (Gradio's
    event streams included), until either side is done. With several workers, Gradio keeps a visitor's queue in the
    one process that took the visitor's request to join it, and its answers stream from there: a browser's join and
    its event stream come on different connections, which the kernel may hand to different workers (a page behind
    two workers of its own failed 5 of 12 predictions). So one worker serves the page and the others forward to it."""
    import asyncio
    import time

    import httpx

    client = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=socket_path), timeout=None)

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        first = await receive()
        if first.get("more_body"):
            async def content():
                yield first.get("body", b"")
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        return
                    yield message.get("body", b"")
                    if not message.get("more_body"):
                        return
            body = content()
        else:
            body = first.get("body", b"")
        target = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        request = client.build_request(scope["method"], f"http://page{target}{'?' + query if query else ''}",
                                       headers=[(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP],
                                       content=body)
        deadline = time.monotonic() + STARTING
        while True:
            try:
                response = await client.send(request, stream=True)
                break
            except httpx.ConnectError:  # nothing was sent: the page's worker is starting (again)
                if time.monotonic() >= deadline:
                    await rest.JSONResponse({"error": "the page's worker has not started; try again later"},
                                            status_code=503)(scope, receive, send)
                    return
                await asyncio.sleep(0.1)

        async def relay():
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": [(k, v) for k, v in response.headers.raw
                                    if k.lower() not in HOP_BY_HOP and k.lower() not in (b"date", b"server")]})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

        async def left():  # the client went away: an event stream would otherwise be relayed to nobody forever
            while (await receive())["type"] != "http.disconnect":
                pass

        tasks = [asyncio.ensure_future(relay()), asyncio.ensure_future(left())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a failure while relaying is raised here
        finally:
            for task in tasks:
                task.cancel()
            await response.aclose()

    return app


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

    scratch = tempfile.mkdtemp(prefix="mlprojects-serve-")
    metrics = os.path.join(scratch, "metrics")  # prometheus-client's files, one per worker
    os.mkdir(metrics)
    # the cores shared out between the workers (PyTorch's and onnxruntime's threads), unless OMP_NUM_THREADS says
    # otherwise: 2 workers on 2 cores answered 32 mnist-cnn clients 3,118 times a second with a thread each, 2,828
    # with a thread per core each
    os.environ["OMP_NUM_THREADS"] = str(cores.per_process(workers))
    linux = sys.platform.startswith("linux")
    os.environ.update({SETTINGS: json.dumps({"models": {name: str(run.path) for name, run in models.items()},
                                             **settings, "page": os.path.join(scratch, "page.sock") if linux else ""}),
                       "PROMETHEUS_MULTIPROC_DIR": metrics})
    config = uvicorn.Config(f"{__name__}:worker_app", factory=True, workers=workers, **options)
    try:
        if linux:
            _supervise(config, workers)
            return
        print("the page is served with --workers 1 only here (Gradio keeps a visitor's queue in one process; on "
              "Linux one worker serves it for all): the REST routes are served", file=sys.stderr)
        listening = config.bind_socket()
        listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as _worker explains
        Multiprocess(config, sockets=[listening]).run()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _supervise(config, workers: int) -> None:
    """WORKERS processes, each listening on a socket of its own in one SO_REUSEPORT group, so that Linux spreads new
    connections over them. On one shared socket, whichever worker woke first accepted a burst of connections: a
    client's 32 kept connections split 32/0, 24/8 or 6/26 between 2 workers (the idle one's core wasted), against
    11/21 to 16/16 here. The first worker also serves the page, on a Unix socket too, and the others forward the
    page's requests to it (:func:`forward`). A worker that dies is started again; on SIGTERM or SIGINT each is
    told to stop, and answers what it holds first."""
    import multiprocessing
    import signal
    import sys
    import threading

    from uvicorn.config import STARTUP_FAILURE

    # the workers are forked from multiprocessing's forkserver, which imports once what this process imported to
    # check the runs (Gradio, torch, the runs' projects): spawned, each worker was a new interpreter that imported
    # them itself. Serving a run on 2 workers until both listened, then stopping, took 18.3 s of CPU spawned and
    # 14.1 s forked (medians of 5 alternated rounds, every process counted by the kernel's accounting; EPYC-25), as
    # long to start either way on 2 cores; each worker more saves the same again, and the workers share those pages
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(sorted(name for name in sys.modules if name.startswith("mlprojects.")))
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())

    def started(index: int):
        child = context.Process(target=_worker, args=(config, index == 0))
        child.start()
        return child

    children = [started(index) for index in range(workers)]
    try:
        while not stopping.wait(0.5):
            for index, child in enumerate(children):
                if child.is_alive():
                    continue
                if child.exitcode == STARTUP_FAILURE:  # it would fail the same way again: its error is above
                    raise UserError("a worker could not start, so the server stops")
                children[index] = started(index)
    finally:
        for child in children:
            if child.is_alive():
                os.kill(child.pid, signal.SIGTERM)
        for child in children:
            child.join()


def _worker(config, serves_page: bool) -> None:
    """One worker of :func:`_supervise`: its own socket on the port, then uvicorn on it; SERVES_PAGE: the page too,
    and a Unix socket for the other workers to forward the page's requests to."""
    import contextlib
    import json
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
    sockets = [listening]
    if serves_page:
        os.environ[PAGE] = "1"
        path = json.loads(os.environ[SETTINGS])["page"]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a worker before this one, which died
        sockets.append(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        sockets[-1].bind(path)
    uvicorn.Server(config).run(sockets=sockets)


SETTINGS = "MLPROJECTS_SERVE_SETTINGS"  # serve_all's settings, for the worker processes
PAGE = "MLPROJECTS_SERVE_PAGE"  # set in the worker that serves the page


def worker_app():
    """The app of one worker process of ``serve_all``, from the settings its parent left in the environment."""
    import json

    from mlprojects import rundir

    settings = json.loads(os.environ[SETTINGS])
    models = {name: rundir.load(path) for name, path in settings.pop("models").items()}
    if settings.get("auth"):
        settings["auth"] = tuple(settings["auth"])
    page = settings.pop("page")
    return app(models, **settings, page_at=None if os.environ.get(PAGE) else page)


def parse_auth(text: str | None, source: str = "--auth") -> tuple[str, str] | None:
    """USER:PASSWORD -> (user, password); the file or variable it came from names it in an error."""
    if not text:
        return None
    user, sep, password = text.strip().partition(":")
    if not sep or not user or not password:
        raise UserError(f"{source}: write USER:PASSWORD (both non-empty)")
    return user, password
