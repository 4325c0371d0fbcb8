"""``mlprojects serve digits [--model RUN_DIR] [--host] [--port]``: the web app."""

from __future__ import annotations

from pathlib import Path

import click

from mlprojects.cli import cli
from mlprojects.errors import UserError


@cli.group()
def serve() -> None:
    """Web apps over trained models (Gradio)."""


@serve.command(context_settings={"show_default": True})
@click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=Path),
              help="run directory of an mnist-mlp or mnist-cnn run  [default: the newest completed one under runs/]")
@click.option("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
@click.option("--port", type=click.IntRange(1, 65535), default=7860)
def digits(model_dir: Path | None, host: str, port: int) -> None:
    """Draw a digit and see the top-3 predictions (trains mnist-mlp first if no model exists)."""
    try:
        from mlprojects.serve import app
    except ImportError as error:
        raise UserError(f"the web app needs Gradio ({error.name} is missing): pip install 'mlprojects[web]'") from None
    from mlprojects.serve.predictor import load_or_train

    predictor = load_or_train(model_dir)
    click.echo(f"serving {predictor.describe()} on http://{host}:{port}")
    app.serve(predictor, host, port)
