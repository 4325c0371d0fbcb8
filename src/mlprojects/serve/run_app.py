"""``mlprojects serve RUN``: a page, and the same function as an API, for any finished run (``serve_all``: with the
REST routes of ``mlprojects.serve.rest`` beside it, on one server).

The project's kind of input (``project.inputs``) lays out the controls: a form of the training columns, or a
CSV upload, for tables; an image upload for images; a text box for fine-tuned transformers; a CSV of
readings for a forecaster. Every request goes through :func:`mlprojects.predict.predict`, the function
behind ``mlprojects predict``, so the page, the API and the command line give the same answers.

Endpoints (``gradio_client`` and curl): ``/predict`` (the form's values, an image file, texts, or a CSV
of readings) and, for tabular projects, ``/predict_csv`` (a CSV file). It listens on 127.0.0.1 unless
told otherwise; ``auth`` (user, password) protects page and API. Uploads over ``MAX_UPLOAD`` are
refused by the server with a message, and a malformed one is a message too: the server keeps serving.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from mlprojects.errors import UserError  # noqa: E402
from mlprojects.predict import predict  # noqa: E402
from mlprojects.rundir import Run  # noqa: E402

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


def serve(run: Run, host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None,
          block: bool = True):
    app = build(run)
    app.queue(default_concurrency_limit=4)
    app.launch(server_name=host, server_port=port, prevent_thread_lock=not block, show_error=True, quiet=not block,
               auth=auth, max_file_size=MAX_UPLOAD)
    return app


def serve_all(models: dict[str, Run], host: str = "127.0.0.1", port: int = 7860,
              auth: tuple[str, str] | None = None, max_body: int = 10 * 1024 * 1024, timeout: float = 30.0) -> None:
    """One server (uvicorn) for MODELS: the REST routes of ``mlprojects.serve.rest`` and, at /, the page of the
    first model, behind the same credentials."""
    import uvicorn

    from mlprojects.serve import rest

    app = rest.build(models, rest.Credentials(*auth) if auth else None, max_body, timeout)
    page = build(next(iter(models.values())))
    page.queue(default_concurrency_limit=4)
    app = gr.mount_gradio_app(app, page, path="/", auth=auth, max_file_size=MAX_UPLOAD, show_error=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def parse_auth(text: str | None, source: str = "--auth") -> tuple[str, str] | None:
    """USER:PASSWORD -> (user, password); the file or variable it came from names it in an error."""
    if not text:
        return None
    user, sep, password = text.strip().partition(":")
    if not sep or not user or not password:
        raise UserError(f"{source}: write USER:PASSWORD (both non-empty)")
    return user, password
