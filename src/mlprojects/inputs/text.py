"""Texts, for a fine-tuned transformer: strings, and text files with one input per line.

The run's saved model (``RUN/model``, in Hugging Face's layout) is applied by the task of ``mlprojects nlp
run`` it was fine-tuned for (``task``); out come the label and its score, or the entities. Served as a text
box, one input per line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlprojects.errors import UserError
from mlprojects.inputs.base import Apply, Forward, Inputs, body_frame, bytes_as_text


def text_items(inputs: Any) -> list[str]:
    """Texts from strings, and from text files (one input per line) among them."""
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    texts: list[str] = []
    for item in items:
        path = Path(item)
        if isinstance(item, Path) or (len(str(item)) < 4096 and "\n" not in str(item) and path.is_file()):
            try:
                texts += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            except (OSError, UnicodeDecodeError):
                raise UserError(f"{path}: not a UTF-8 text file; give one input per line") from None
        elif str(item).strip():
            texts.append(str(item))
    if not texts:
        raise UserError("no texts given: write them as arguments, or name a file with one text per line")
    return texts


class TextInputs(Inputs):
    """Texts, applied by TASK: "text-classification" (a label and its score per text) or "ner" (entities)."""

    kind = "text"
    tensor_name = "tokens"

    def __init__(self, task: str):
        self.task = task

    def answers(self, run, inputs: Any, *, forward: Forward, top_k: int = 3, backtest: bool = False,
                strict: bool = False) -> tuple[dict, dict[str, list]]:
        from mlprojects.nlp.tasks import run_task, to_json

        texts = text_items(inputs)
        results = run_task(self.task, str(run.path / "model"), texts, device="cpu")
        if self.task == "text-classification":
            return {}, {"text": texts, "label": [r["label"] for r in results], "score": [r["score"] for r in results]}
        return {}, {"text": texts, "entities": [json.dumps(to_json(result)) for result in results]}

    def from_request(self, run, body: Any) -> list[str]:
        """``{"instances": [TEXT, ...]}`` or ``{"inputs": ...}``, or a table with a ``text`` column."""
        if isinstance(body, dict) and isinstance(body.get("instances", body.get("inputs")), list):
            return bytes_as_text(body.get("instances", body.get("inputs")))
        frame = body_frame(body, ["text"])
        if "text" not in frame.columns:
            raise UserError(f'a table of texts has a "text" column; its columns: {", ".join(map(str, frame.columns))}')
        return bytes_as_text(frame["text"].to_numpy())

    def v2_inputs(self, run) -> list[dict[str, Any]]:
        return [{"name": "text", "datatype": "BYTES", "shape": [-1]}]

    def join(self, run, items: list) -> list[str]:
        return [text for texts in items for text in texts]

    def from_v2(self, run, tensors: dict[str, Any]) -> list[str]:
        if len(tensors) != 1:
            raise UserError(f"one input of texts (BYTES), not {len(tensors)}")
        return bytes_as_text(next(iter(tensors.values())))

    def classifies(self, run) -> bool:
        return True

    def page(self, run, apply: Apply) -> None:
        import gradio as gr

        with gr.Row():
            with gr.Column():
                text = gr.Textbox(label="texts, one per line", lines=6, elem_id="texts")
                button = gr.Button("Predict", variant="primary", elem_id="predict")
            table = gr.Dataframe(label="predictions", elem_id="text-predictions")

        def many(lines: str):
            texts = [line for line in (lines or "").splitlines() if line.strip()]
            return apply(texts) if texts else None

        button.click(many, text, table, api_name="predict")
