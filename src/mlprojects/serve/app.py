"""The web app. Digits: draw a digit (or upload a picture of one) and see the top-3 predictions.
Text: the NLP tasks of ``mlprojects nlp run`` on a chosen model (serve/text.py).

Endpoints: ``predict`` takes an image file and is the one for programs (gradio_client, curl);
the sketchpad calls ``predict_drawing`` with the editor's layers. Both run the same
``DigitPredictor``, whose preprocessing is the one shared with training.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from mlprojects.data.digits import EmptyDrawing  # noqa: E402
from mlprojects.errors import UserError  # noqa: E402
from mlprojects.serve import CACHE_LIFETIME, launch  # noqa: E402
from mlprojects.serve.predictor import DigitPredictor  # noqa: E402

BRUSH_PX = 48  # on the 800x800 canvas: a digit drawn ~500 px tall gets MNIST's stroke-to-height ratio
VIEW_PX = 224  # the 28x28 model view, shown enlarged with hard pixel edges
EMPTY_MESSAGE = "Draw a digit on the canvas (or upload a picture of one)."
# Gradio's sketchpad opens with no tool selected; pick the brush so a visitor can draw at once
SELECT_BRUSH = """() => {
  const pick = (tries) => {
    const brush = document.querySelector('#sketchpad button[aria-label="Brush"]');
    if (brush) brush.click(); else if (tries > 0) setTimeout(() => pick(tries - 1), 200);
  };
  pick(50);
}"""


def make_predict(predictor: DigitPredictor):
    def predict(image: Any) -> tuple[dict[str, float] | None, np.ndarray | None, str]:
        """Top-3 labels with probabilities, the 28x28 image the model saw, and a status line."""
        if image is None:
            return None, None, EMPTY_MESSAGE
        try:
            result = predictor(image, k=3)
        except EmptyDrawing:
            return None, None, EMPTY_MESSAGE
        except UserError as error:
            raise gr.Error(str(error)) from None
        label, probability = result.top[0]
        enlarged = np.kron(result.model_view, np.ones((VIEW_PX // 28, VIEW_PX // 28), np.uint8))
        return dict(result.top), enlarged, f"**{label}** with probability {probability:.1%}"

    return predict


def build_app(predictor: DigitPredictor | None, text_model: str = "") -> gr.Blocks:
    """Two tabs, Digits (when there is a digit model) and Text."""
    from mlprojects.serve.text import build_text_tab

    with gr.Blocks(title="mlprojects", delete_cache=CACHE_LIFETIME) as app:
        if predictor is None:
            build_text_tab(text_model)
            return app
        with gr.Tab("Digits", elem_id="digits-tab"):
            build_digits_tab(predictor)
        with gr.Tab("Text", elem_id="text-tab"):
            build_text_tab(text_model)
        app.load(None, None, None, js=SELECT_BRUSH)
    return app


def build_digits_tab(predictor: DigitPredictor) -> None:
    predict = make_predict(predictor)
    gr.Markdown(f"## Draw a digit\nModel: {predictor.describe()}")
    with gr.Row():
        with gr.Column():
            with gr.Tab("Draw"):
                pad = gr.Sketchpad(
                    label="canvas", type="numpy", image_mode="RGBA", canvas_size=(800, 800), height=560,
                    brush=gr.Brush(default_size=BRUSH_PX, colors=["#000000"], color_mode="fixed"),
                    elem_id="sketchpad",
                )
            with gr.Tab("Upload"):
                # the file as uploaded (image_mode=None): the predictor reads any mode itself, the alpha of a
                # transparent picture included, and checks the size before decoding a pixel; Gradio's default
                # (RGB) decoded every upload first and left the converted copy in its cache, where nothing
                # deletes it
                upload = gr.Image(label="a picture of a digit", type="filepath", image_mode=None,
                                  sources=["upload", "clipboard"], elem_id="upload")
        with gr.Column():
            label = gr.Label(num_top_classes=3, label="prediction", elem_id="prediction")
            message = gr.Markdown(EMPTY_MESSAGE, elem_id="message")
            seen = gr.Image(label="what the model sees (28x28)", type="numpy", interactive=False,
                            height=VIEW_PX, width=VIEW_PX, elem_id="model-view")
    pad.change(predict, pad, [label, seen, message], api_name="predict_drawing",
               trigger_mode="always_last", show_progress="hidden")
    upload.change(predict, upload, [label, seen, message], api_name="predict")


def serve(predictor: DigitPredictor | None, host: str = "127.0.0.1", port: int = 7860, block: bool = True,
          text_model: str = ""):
    app = build_app(predictor, text_model)
    app.queue(default_concurrency_limit=4)
    launch(app, host, port, block)
    return app
