"""``mlprojects serve style``: the style-transfer page (the book's chapter 8), and the same as an API.

Two pictures (the book's pair by default), the steps and the size; the result appears when the steps are
done, with Gradio's progress bar meanwhile and the three losses after. The endpoint ``/transfer`` takes
(content file or None, style file or None, steps, size) and returns the output picture's PNG file and the
losses as JSON. A file that is no picture, or a setting out of range, is a message; the server keeps serving.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from PIL import Image  # noqa: E402

from mlprojects.builtin.style_transfer import StyleConfig, read_picture, stylize  # noqa: E402
from mlprojects.config import resolve  # noqa: E402
from mlprojects.errors import UserError  # noqa: E402
from mlprojects.serve import CACHE_LIFETIME, launch  # noqa: E402

MAX_UPLOAD = "10mb"
MAX_STEPS, MAX_SIZE = 500, 1024


def transfer(content: str | None, style: str | None, steps: int, size: int, settings: dict[str, Any] | None = None,
             progress=None) -> tuple[Image.Image, dict[str, Any]]:
    """(the output picture, the first and last losses and the seconds). The page hands the picture back as a PNG
    file in Gradio's cache, which keeps it for ``CACHE_LIFETIME``."""
    try:
        if not 1 <= int(steps) <= MAX_STEPS or not 16 <= int(size) <= MAX_SIZE:
            raise UserError(f"steps from 1 to {MAX_STEPS} and a size from 16 to {MAX_SIZE} pixels, please")
        cfg = resolve(StyleConfig, {**(settings or {}), "content": content or "book", "style": style or "book",
                                    "steps": int(steps), "image_size": int(size)})
        pictures = read_picture(cfg.content, "content")[0], read_picture(cfg.style, "style")[0]
        shown = (lambda step, _: progress((step, cfg.steps), unit="steps")) if progress is not None else None
        output, result, _, backbone = stylize(*pictures, cfg, on_step=shown)
    except UserError as error:
        raise gr.Error(str(error)) from None
    first, last = result.history[0], result.history[-1]
    return output, {"backbone": backbone, "steps": len(result.history), "seconds": round(result.seconds, 2),
                       "first": first, "last": last}


def build(settings: dict[str, Any] | None = None) -> gr.Blocks:
    with gr.Blocks(title="mlprojects: style transfer", delete_cache=CACHE_LIFETIME) as app:
        gr.Markdown("## Style transfer\nOne picture's content in another's style (Gatys, Ecker and Bethge). "
                    "Leave a picture out for the book's.")
        with gr.Row():
            with gr.Column():
                content = gr.File(label="content picture", file_types=["image"], elem_id="content")
                style = gr.File(label="style picture", file_types=["image"], elem_id="style")
                steps = gr.Slider(1, MAX_STEPS, value=100, step=1, label="steps", elem_id="steps")
                size = gr.Slider(16, MAX_SIZE, value=256, step=16, label="longer side (pixels)", elem_id="size")
                button = gr.Button("Transfer", variant="primary", elem_id="transfer")
            with gr.Column():
                output = gr.Image(label="ours", format="png", interactive=False, elem_id="output")
                losses = gr.JSON(label="losses", elem_id="losses")

        def run(content, style, steps, size, progress=gr.Progress()):  # noqa: B008 (how Gradio injects it)
            return transfer(content, style, steps, size, settings, progress)

        button.click(run, [content, style, steps, size], [output, losses], api_name="transfer")
    return app


def serve(settings: dict[str, Any] | None = None, host: str = "127.0.0.1", port: int = 7860,
          block: bool = True) -> gr.Blocks:
    app = build(settings)
    app.queue(default_concurrency_limit=1)  # one transfer at a time: each takes the CPU's every core
    launch(app, host, port, block, max_file_size=MAX_UPLOAD)
    return app
