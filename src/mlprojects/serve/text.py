"""The web app's Text tab: any task of ``mlprojects nlp run`` on a chosen model, one input per line.

``run_text`` is the endpoint (also for gradio_client); it runs :func:`mlprojects.nlp.tasks.run_task`,
which keeps the last models it loaded, so a second request on the same model does not load it again.
"""

from __future__ import annotations

import gradio as gr

from mlprojects.errors import UserError
from mlprojects.nlp import tasks

EMPTY_MESSAGE = "Write one input per line, choose a task and a model, and press Run."


def hint(task: str) -> str:
    return tasks.BY_NAME[task].hint if task in tasks.BY_NAME else ""


def run_text(task: str, model: str, text: str, context: str = "", labels: str = "") -> tuple[list, str]:
    """(results as JSON, a Markdown table of input | result) for the non-empty lines of TEXT."""
    inputs = [line for line in (text or "").splitlines() if line.strip()]
    if not inputs:
        return [], EMPTY_MESSAGE
    if not (model or "").strip():
        raise gr.Error("Choose a model: a hub id or the folder of a saved model.")
    try:
        results = tasks.run_task(task, model.strip(), inputs, context=context or "",
                                 labels=[label.strip() for label in (labels or "").split(",") if label.strip()])
    except UserError as error:
        raise gr.Error(str(error)) from None
    rows = "\n".join(f"| {cell(line)} | {cell(tasks.describe(task, result))} |"
                     for line, result in zip(inputs, results))
    return [{"input": line, "result": tasks.to_json(result)} for line, result in zip(inputs, results)], \
        f"| input | {task} |\n|---|---|\n{rows}"


def cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def build_text_tab(model: str = "", task: str = "sentiment") -> None:
    """The Text tab's components and events, inside the caller's Blocks."""
    with gr.Row():
        with gr.Column():
            chosen = gr.Dropdown(list(tasks.NAMES), value=task, label="task", elem_id="text-task")
            name = gr.Textbox(model, label="model (hub id or folder)", elem_id="text-model")
            text = gr.Textbox(label="inputs, one per line", lines=5, elem_id="text-inputs")
            context = gr.Textbox(label="context (question answering: the text; NLI: the premise)", lines=3,
                                 elem_id="text-context")
            labels = gr.Textbox(label="labels (zero-shot, comma-separated)", elem_id="text-labels")
            shown = gr.Markdown(hint(task))
            button = gr.Button("Run", variant="primary", elem_id="text-run")
        with gr.Column():
            table = gr.Markdown(EMPTY_MESSAGE, elem_id="text-table")
            output = gr.JSON(label="results", elem_id="text-json")
    chosen.change(hint, chosen, shown, api_name=False)
    button.click(run_text, [chosen, name, text, context, labels], [output, table], api_name="run_text")
