"""``mlprojects serve digits|text|style|RUN``: a REST server and page for any run, and the web apps (Gradio)."""

from __future__ import annotations

from pathlib import Path

import click

from mlprojects.errors import UserError


class _RunOrApp(click.Group):
    """``serve digits``, ``serve text``, or ``serve RUN_DIR``: a first word that is no app names a run."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "run", self.commands["run"], args
        return super().resolve_command(ctx, args)


@click.group(cls=_RunOrApp)
def serve() -> None:
    """Servers over trained models: `serve RUN_DIR` for any finished run (REST on MLflow's scoring protocol and
    the Open Inference Protocol, and its page), `serve digits` (the sketchpad), `serve text` (the NLP tasks),
    `serve style` (style transfer)."""


@serve.command("run", context_settings={"show_default": True})
@click.argument("runs", nargs=-1, required=True)
@click.option("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface: use --auth)")
@click.option("--port", type=click.IntRange(1, 65535), default=7860)
@click.option("--auth", default=None, help="USER:PASSWORD for the page and the API  [default: $MLPROJECTS_AUTH]")
@click.option("--auth-file", type=click.Path(dir_okay=False, path_type=Path), help="a file holding USER:PASSWORD")
@click.option("--max-body", type=click.IntRange(min=1), default=10 * 1024 * 1024, help="the largest request, in bytes")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0,
              help="seconds a prediction may take before the request answers 504")
@click.option("--max-batch", type=click.IntRange(min=1), default=64,
              help="inputs that concurrent requests to one model are predicted together in, at most")
@click.option("--max-wait-ms", type=click.FloatRange(min=0), default=0.0,
              help="how long a batch waits for more requests (0: it takes those waiting when the model is free)")
@click.option("--workers", type=click.IntRange(min=1), default=1, help="server processes sharing the port and cores")
def serve_run(runs: tuple[str, ...], host: str, port: int, auth: str | None, auth_file: Path | None, max_body: int,
              timeout: float, max_batch: int, max_wait_ms: float, workers: int) -> None:
    """One server for the finished runs RUNS (RUN_DIR, or NAME=RUN_DIR): REST on MLflow's scoring protocol
    (/invocations) and the Open Inference Protocol (/v2/models/NAME/infer), /metrics, and at / the page of the
    first run (a form, an image, texts, a CSV)."""
    import os
    import re
    import socket

    from mlprojects import rundir

    named = []
    for given in runs:
        name, path = "", given
        if "=" in given and not Path(given).exists():
            name, path = given.split("=", 1)
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
                raise UserError(f"{given}: a name is letters, digits, '.', '_' and '-', from a letter or digit (it "
                                "is part of the address /v2/models/NAME/infer); e.g. wine=runs/wine")
        named.append((name, path))
    for _, path in named:  # a folder that is not a run is one line before Gradio's and torch's imports
        rundir.read_settings(path)
    app = _app("run_app")
    if auth_file is not None:
        if not auth_file.is_file():
            raise UserError(f"--auth-file {auth_file}: no such file")
        credentials = app.parse_auth(auth_file.read_text(), f"--auth-file {auth_file}")
    else:
        credentials = app.parse_auth(auth or os.environ.get("MLPROJECTS_AUTH"),
                                     "--auth" if auth else "MLPROJECTS_AUTH")
    models = {}
    for name, path in named:
        run = rundir.load(path)
        name = name or run.name
        if name in models:
            raise UserError(f"two runs under the name {name!r}: name them, NAME=RUN_DIR")
        models[name] = run
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise UserError(f"--port {port}: {host}:{port} cannot be used ({error.strerror}); choose another "
                            "--port") from None
    if host not in app.LOOPBACK and credentials is None:
        click.echo(f"warning: listening on {host} without --auth: anyone who reaches this machine can use the "
                   "model", err=True)
    for name, run in models.items():
        click.echo(f"serving {run.name} from {run.path} on http://{host}:{port} (uploads up to {app.MAX_UPLOAD}; "
                   f"REST: /invocations{'?model=' + name if len(models) > 1 else ''}, /v2/models/{name}/infer)")
    app.serve_all(models, host, port, workers, auth=credentials, max_body=max_body, timeout=timeout,
                  max_batch=max_batch, max_wait=max_wait_ms / 1000)


@serve.command(context_settings={"show_default": True})
@click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=Path),
              help="run directory of an mnist-mlp or mnist-cnn run  [default: the newest completed one under runs/]")
@click.option("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
@click.option("--port", type=click.IntRange(1, 65535), default=7860)
@click.option("--text-model", default="", show_default=False,
              help="the model the Text tab starts with (hub id or folder)")
def digits(model_dir: Path | None, host: str, port: int, text_model: str) -> None:
    """Draw a digit and see the top-3 predictions (trains mnist-mlp first if no model exists); the Text
    tab runs the NLP tasks."""
    app = _app()
    from mlprojects.serve.predictor import load_or_train

    predictor = load_or_train(model_dir)
    click.echo(f"serving {predictor.describe()} on http://{host}:{port}")
    app.serve(predictor, host, port, text_model=text_model)


@serve.command(context_settings={"show_default": True})
@click.option("--model", "text_model", default="", show_default=False,
              help="the model it starts with (hub id or folder)")
@click.option("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
@click.option("--port", type=click.IntRange(1, 65535), default=7860)
def text(text_model: str, host: str, port: int) -> None:
    """The Text tab alone: sentiment, NLI, NER, summarization, question answering, generation,
    zero-shot classification... on a chosen model (needs 'mlprojects[web,nlp]')."""
    app = _app()
    click.echo(f"serving the NLP tasks on http://{host}:{port}")
    app.serve(None, host, port, text_model=text_model)


@serve.command(context_settings={"show_default": True})
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="a style-transfer setting for every request (backbone, preset, style_weight, ...)")
@click.option("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
@click.option("--port", type=click.IntRange(1, 65535), default=7860)
def style(assignments: tuple[str, ...], host: str, port: int) -> None:
    """Style transfer (the book's chapter 8): two pictures in, one out; the API endpoint /transfer."""
    from mlprojects.builtin.style_transfer import StyleConfig
    from mlprojects.config import parse_overrides, resolve

    settings = parse_overrides(assignments)
    resolve(StyleConfig, settings)  # a wrong setting stops here, in one line
    app = _app("style_app")
    click.echo(f"serving style transfer on http://{host}:{port}")
    app.serve(settings, host, port)


def _app(module: str = "app"):
    """The web app's module (Gradio is an extra: without it, one line saying how to install it)."""
    import importlib

    try:
        importlib.import_module("mlprojects.serve.text")
        return importlib.import_module(f"mlprojects.serve.{module}")
    except ImportError as error:
        raise UserError(f"the web app needs Gradio ({error.name} is missing): pip install 'mlprojects[web]'") from None


COMMANDS = (serve,)  # added to the mlprojects group by mlprojects.cli
