"""``mlprojects serve digits|text``: the web app (Gradio)."""

from __future__ import annotations

from pathlib import Path

import click

from mlprojects.errors import UserError


@click.group()
def serve() -> None:
    """Web apps over trained models (Gradio)."""


@serve.command(context_settings={"show_default": True})
@click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=Path),
              help="run directory of an mnist-mlp or mnist-cnn run  [default: the newest completed one under runs/]")
@click.option("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
@click.option("--port", type=click.IntRange(1, 65535), default=7860)
@click.option("--text-model", default="", help="the model the Text tab starts with (hub id or folder)")
def digits(model_dir: Path | None, host: str, port: int, text_model: str) -> None:
    """Draw a digit and see the top-3 predictions (trains mnist-mlp first if no model exists); the Text
    tab runs the NLP tasks."""
    app = _app()
    from mlprojects.serve.predictor import load_or_train

    predictor = load_or_train(model_dir)
    click.echo(f"serving {predictor.describe()} on http://{host}:{port}")
    app.serve(predictor, host, port, text_model=text_model)


@serve.command(context_settings={"show_default": True})
@click.option("--model", "text_model", default="", help="the model it starts with (hub id or folder)")
@click.option("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
@click.option("--port", type=click.IntRange(1, 65535), default=7860)
def text(text_model: str, host: str, port: int) -> None:
    """The Text tab alone: sentiment, NLI, NER, summarization, question answering, generation,
    zero-shot classification... on a chosen model (needs 'mlprojects[web,nlp]')."""
    app = _app()
    click.echo(f"serving the NLP tasks on http://{host}:{port}")
    app.serve(None, host, port, text_model=text_model)


def _app():
    try:
        from mlprojects.serve import (
            app,
            text,  # noqa: F401
        )
    except ImportError as error:
        raise UserError(f"the web app needs Gradio ({error.name} is missing): pip install 'mlprojects[web]'") from None
    return app


COMMANDS = (serve,)  # added to the mlprojects group by mlprojects.cli
