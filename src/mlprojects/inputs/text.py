"""Texts, for a fine-tuned transformer: strings, and text files with one input per line.

The run's saved model (``RUN/model``, in Hugging Face's layout) is applied by the task of ``mlprojects nlp
run`` it was fine-tuned for (``task``); out come the label and its score, or the entities. Served as a text
box, one input per line.
"""

from __future__ import annotations

import json
import numbers
from pathlib import Path
from typing import Any

from mlprojects.errors import UserError
from mlprojects.inputs.base import Apply, Forward, Inputs, body_frame, v2_column


class Texts(list):
    """Texts as they are, never names of files: what a request or the page sends. A served text that named a file
    was read from the server's disk, and its lines were answered back, each with its text."""


def text_items(inputs: Any) -> list[str]:
    """Texts from strings, and from text files (one input per line, blank lines left out) among them; :class:`Texts`
    as they are. An empty text is one UserError naming it: left out, it shifted every answer after it."""
    if isinstance(inputs, Texts):
        return _texts(list(inputs), "text")
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    texts: list[str] = []
    for index, item in enumerate(items, 1):
        path = Path(item)
        if isinstance(item, Path) or (len(str(item)) < 4096 and "\n" not in str(item) and path.is_file()):
            try:
                texts += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            except (OSError, UnicodeDecodeError):
                raise UserError(f"{path}: not a UTF-8 text file; give one input per line") from None
        elif not str(item).strip():
            raise UserError(f"text {index} is empty: give each text at least one word")
        else:
            texts.append(str(item))
    if not texts:
        raise UserError("no texts given: write them as arguments, or name a file with one text per line")
    return texts


def _texts(values: list, what: str) -> list[str]:
    """VALUES, each a text: a number, null, a list or an object is one UserError naming the first (WHAT: instance or
    row)."""
    for index, value in enumerate(values, 1):
        if not isinstance(value, str):
            if value is None or value != value:  # null, or NaN where a table's column had one
                shown = "null"
            elif isinstance(value, numbers.Number) and not isinstance(value, bool):
                shown = f"{value:g}"  # 3, as sent, where a table's column made it 3.0
            else:
                shown = repr(value)[:40]
            raise UserError(f"{what} {index}: {shown} is not a text; send each text as a JSON string")
        if not value.strip():
            raise UserError(f"{what} {index} is empty: send each text with at least one word")
    if not values:
        raise UserError("no texts given")
    return Texts(values)


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
        """``{"instances": [TEXT, ...]}`` or ``{"inputs": ...}``, or a table with a ``text`` column (records such as
        ``{"text": ...}`` too); a value that is not a string is refused, never written out as its Python form."""
        given = body.get("instances", body.get("inputs")) if isinstance(body, dict) else None
        if isinstance(given, list) and not (given and all(isinstance(item, dict) for item in given)):
            return _texts(given, "instance")
        frame = body_frame(body, ["text"])
        if "text" not in frame.columns:
            raise UserError(f'a table of texts has a "text" column; its columns: {", ".join(map(str, frame.columns))}')
        return _texts(list(frame["text"]), "row")

    def v2_inputs(self, run) -> list[dict[str, Any]]:
        return [{"name": "text", "datatype": "BYTES", "shape": [-1]}]

    def join(self, run, items: list) -> list[str]:
        return Texts(text for texts in items for text in texts)

    def from_v2(self, run, tensors: dict[str, Any]) -> list[str]:
        if len(tensors) != 1:
            raise UserError(f"one input of texts (BYTES), not {len(tensors)}")
        ((name, values),) = tensors.items()
        if values.dtype != object:
            raise UserError(f"input {name}: texts are a BYTES tensor, not {values.dtype}")
        return _texts(list(v2_column(name, values)), "text")

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
            texts = Texts(line for line in (lines or "").splitlines() if line.strip())
            return apply(texts) if texts else None

        button.click(many, text, table, api_name="predict")
