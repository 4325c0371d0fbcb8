"""``mlprojects serve RUN``: a page, and the same function as an API, for any finished run.

The inputs fit the project (``project.inputs``): a form of the training columns, or a CSV upload, for
tabular projects; an image upload for image projects; a text box for fine-tuned transformers; a CSV of
readings for a forecaster. Every request goes through :func:`mlprojects.predict.predict`, the function
behind ``mlprojects predict``, so the page, the API and the command line give the same answers.

Endpoints (``gradio_client`` and curl): ``/predict`` (the form's values, an image file, texts, or a CSV
of readings) and, for tabular projects, ``/predict_csv`` (a CSV file). It listens on 127.0.0.1 unless
told otherwise; ``auth`` (user, password) protects page and API. Uploads over ``MAX_UPLOAD`` are
refused by the server with a message, and a malformed one is a message too: the server keeps serving.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
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


def summary(run: Run, row: pd.Series) -> tuple[dict[str, float] | None, str]:
    """(class probabilities for a Label, one line for people) of one predicted row."""
    probabilities = {name.removeprefix("probability_"): float(value) for name, value in row.items()
                     if name.startswith("probability_")}
    predicted = next((name for name in row.index if name.startswith("predicted_") or name == "cluster"), None)
    if probabilities:
        best = max(probabilities, key=probabilities.get)
        return probabilities, f"**{best}** with probability {probabilities[best]:.1%}"
    value = row[predicted]
    shown = f"{value:.4g}" if isinstance(value, float) else str(value)
    return None, f"{predicted.replace('_', ' ')}: **{shown}**"


def _table_tab(run: Run) -> None:
    prep = run.preparation
    defaults = prep.mean or [0.0] * len(prep.columns)
    fields = []
    with gr.Row():
        with gr.Column():
            gr.Markdown(f"One {prep.target or 'row'}: its {len(prep.inputs)} columns (defaults: the training means).")
            for column, default in zip(prep.columns, defaults):
                fields.append(gr.Number(value=round(float(default), 4), label=column, elem_id=f"field-{column}"))
            for column, categories in prep.one_hot.items():
                fields.append(gr.Dropdown([f"{c:g}" for c in categories], value=f"{categories[0]:g}", label=column,
                                          elem_id=f"field-{column}"))
            button = gr.Button("Predict", variant="primary", elem_id="predict")
        with gr.Column():
            label = gr.Label(label="prediction", elem_id="prediction", visible=prep.task == "classification")
            message = gr.Markdown("Fill the form and press Predict.", elem_id="message")
            full = gr.JSON(label="the whole row", elem_id="row")

    def one(*values):
        frame = pd.DataFrame([dict(zip(prep.inputs, values))])
        row = _apply(run, frame).iloc[0]
        probabilities, line = summary(run, row)
        return probabilities, line, {key: (value.item() if hasattr(value, "item") else value) for key, value in
                                     row.items()}

    button.click(one, fields, [label, message, full], api_name="predict")
    with gr.Accordion("A CSV file of rows", open=False):
        upload = gr.File(label="CSV with the training columns", file_types=[".csv"], elem_id="csv")
        table = gr.Dataframe(label="predictions", elem_id="csv-predictions")
        download = gr.File(label="the predictions as CSV", elem_id="csv-download")

    def many(path):
        if path is None:
            return None, None
        result = _apply(run, path)
        out = Path(tempfile.mkdtemp(prefix="mlprojects-")) / "predictions.csv"
        result.to_csv(out, index=False)
        return result, str(out)

    upload.change(many, upload, [table, download], api_name="predict_csv")


def _image_tab(run: Run) -> None:
    names = run.class_names()
    with gr.Row():
        with gr.Column():
            # a file, not an image component: a file that is no image reaches our reader, which says so in one line
            image = gr.File(label="an image file (any size and mode)", file_types=["image"], elem_id="image")
            shown = gr.Image(label="the image", interactive=False, elem_id="shown")
        with gr.Column():
            label = gr.Label(num_top_classes=min(3, len(names)), label="prediction", elem_id="prediction")
            message = gr.Markdown("Upload an image.", elem_id="message")

    def one(path):
        if path is None:
            return None, "Upload an image.", None
        row = _apply(run, [path], top_k=len(names)).iloc[0]
        probabilities = {row[f"label_{k}"]: float(row[f"probability_{k}"]) for k in range(1, len(names) + 1)}
        return probabilities, f"**{row['label_1']}** with probability {row['probability_1']:.1%}", path

    image.change(one, image, [label, message, shown], api_name="predict")


def _text_tab(run: Run) -> None:
    with gr.Row():
        with gr.Column():
            text = gr.Textbox(label="texts, one per line", lines=6, elem_id="texts")
            button = gr.Button("Predict", variant="primary", elem_id="predict")
        table = gr.Dataframe(label="predictions", elem_id="text-predictions")

    def many(lines: str):
        texts = [line for line in (lines or "").splitlines() if line.strip()]
        return _apply(run, texts) if texts else None

    button.click(many, text, table, api_name="predict")


def _series_tab(run: Run) -> None:
    prep = run.preparation
    with gr.Row():
        with gr.Column():
            upload = gr.File(label=f"CSV of recent readings: a {prep.column!r} column (and 'time' if you have one), "
                                   f"at least {prep.window} rows", file_types=[".csv"], elem_id="csv")
        with gr.Column():
            table = gr.Dataframe(label=f"the next {prep.horizon} forecasts", elem_id="forecasts")
            plot = gr.Plot(label="readings and forecasts", elem_id="plot")

    def forecast(path):
        if path is None:
            return None, None
        result = _apply(run, path)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        readings = pd.read_csv(path, skipinitialspace=True)[prep.column].to_numpy()
        shown = readings[-4 * prep.window:]
        figure, axes = plt.subplots(figsize=(7, 3))
        axes.plot(range(len(readings) - len(shown), len(readings)), shown, label="readings")
        axes.plot(result["reading"], result[f"forecast_{prep.column}"], "o-", label="forecast")
        axes.set_xlabel("reading")
        axes.legend()
        figure.tight_layout()
        return result, figure

    upload.change(forecast, upload, [table, plot], api_name="predict")


TABS = {"table": _table_tab, "image": _image_tab, "text": _text_tab, "series": _series_tab}


def build(run: Run) -> gr.Blocks:
    if not run.project.inputs:
        raise UserError(f"{run.name} has nothing to predict, so nothing to serve")
    with gr.Blocks(title=f"mlprojects: {run.name}") as app:
        gr.Markdown(f"## {run.name}\n{describe(run)}")
        TABS[run.project.inputs](run)
    return app


def serve(run: Run, host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None,
          block: bool = True):
    app = build(run)
    app.queue(default_concurrency_limit=4)
    app.launch(server_name=host, server_port=port, prevent_thread_lock=not block, show_error=True, quiet=not block,
               auth=auth, max_file_size=MAX_UPLOAD)
    return app


def parse_auth(text: str | None, source: str = "--auth") -> tuple[str, str] | None:
    """USER:PASSWORD -> (user, password); the file or variable it came from names it in an error."""
    if not text:
        return None
    user, sep, password = text.strip().partition(":")
    if not sep or not user or not password:
        raise UserError(f"{source}: write USER:PASSWORD (both non-empty)")
    return user, password
