"""Running a model over many inputs fast: the model cache, precision, and length-grouped batches.

Every task tokenizes all its inputs once, then runs batches of inputs of similar length (longest
first), so a batch is padded to its own longest input rather than to the longest of a random mix;
results come back in the input order. The default is float32, with the same outputs as plain
transformers; ``precision="bf16"`` runs under bfloat16 autocast (much faster where the hardware
multiplies bfloat16 natively, at a cosine of ~0.99996 to float32 embeddings and a rare flipped
label), and ``"auto"`` picks it where it is native (``mlprojects.engine.device.bf16_is_fast``).
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from mlprojects.errors import UserError
from mlprojects.nlp import hub

Progress = Callable[[int], None]  # called with how many inputs are done


def load(name: str, auto_class: str, device: str = "cpu"):
    """(model in eval mode on DEVICE, tokenizer), kept for the next call (the web app asks again and
    again); a folder saved again since is read again."""
    folder = Path(name).expanduser()
    stamp = tuple(path.stat().st_mtime_ns for path in sorted(folder.glob("*"))) if folder.is_dir() else ()
    return _load(name, auto_class, device, stamp)


@functools.lru_cache(maxsize=4)
def _load(name: str, auto_class: str, device: str, stamp: tuple):
    model, tokenizer = hub.load(name, auto_class, trained=True)
    return model.eval().to(device), tokenizer


def device_name(device: str) -> str:
    """auto, cpu, cuda, cuda:N or mps, checked and resolved as the engine resolves it."""
    from mlprojects.engine.device import resolve

    return str(resolve(device))


def autocast(precision: str, device: str, say: bool = False):
    """The autocast context for PRECISION on DEVICE, as a run chooses it (``mlprojects.engine.device.
    choose_precision``, for a transformer): bfloat16 for "bf16", and for "auto" where the hardware multiplies
    bfloat16 natively; otherwise none (float32). SAY: the choice of "auto", or the warning of an emulated bf16, on
    stderr (once, when a command starts)."""
    import sys

    import torch

    from mlprojects.engine import device as devices

    if precision not in devices.PRECISIONS:
        raise UserError(f"--precision {precision}: one of {', '.join(devices.PRECISIONS)}")
    target = torch.device(device)
    chosen, why = devices.choose_precision(precision, target)
    if say and why:
        print(why if precision == "auto" else f"warning: {why}", file=sys.stderr, flush=True)
    return devices.autocast(chosen, target.type)


@contextlib.contextmanager
def computing(model, precision: str) -> Iterator[None]:
    """How a task runs its model: inference mode, the chosen precision, and large float32 dense layers through
    oneDNN on the CPUs where that is faster (``mlprojects.engine.linear``: MiniLM's fine-tuning measured x1.48)."""
    import torch

    from mlprojects.engine import linear

    with torch.inference_mode(), autocast(precision, str(model.device)), linear.through_onednn(model):
        yield


def input_limit(model, tokenizer) -> int:
    """The most tokens the model takes: the tokenizer's limit, and the position table's if smaller."""
    limits = [tokenizer.model_max_length if tokenizer.model_max_length < 1_000_000 else 100_000,
              getattr(model.config, "max_position_embeddings", None) or 100_000]
    return min(limits)


def chunks(items: Sequence[Any], size: int, progress: Progress | None = None,
           done_after: Callable[[list[Any]], int] | None = None) -> Iterator[list[Any]]:
    """Consecutive slices of SIZE items; after each, PROGRESS gets how many inputs are done (the items so
    far, or DONE_AFTER(slice) when items are not inputs, such as the windows of long contexts)."""
    for start in range(0, len(items), size):
        chunk = list(items[start:start + size])
        yield chunk
        if progress:
            progress(done_after(chunk) if done_after else min(start + size, len(items)))


def length_batches(tokenizer, inputs: Sequence[str | tuple[str, str]], batch_size: int, device: str = "cpu",
                   max_length: int | None = None, prefix: str = "") -> Iterator[tuple[list[int], dict]]:
    """(indices, encoded batch) over INPUTS (texts or (text, text) pairs), longest first, each batch
    padded to its own longest input. Inputs longer than the model takes are truncated, with one warning."""
    firsts = [prefix + (item[0] if isinstance(item, tuple) else item) for item in inputs]
    seconds = [item[1] for item in inputs] if inputs and isinstance(inputs[0], tuple) else None
    limit = max_length or min(tokenizer.model_max_length, 100_000)
    lengths = [len(ids) for ids in tokenizer(firsts, seconds, truncation=False, verbose=False)["input_ids"]]
    if (cut := sum(length > limit for length in lengths)):
        warnings.warn(f"{cut} of {len(inputs)} inputs are longer than the model's {limit} tokens and were "
                      "truncated", stacklevel=2)
    order = sorted(range(len(inputs)), key=lambda i: -lengths[i])
    for indices in chunks(order, batch_size):
        encoded = tokenizer([firsts[i] for i in indices], [seconds[i] for i in indices] if seconds else None,
                            padding=True, truncation=True, max_length=limit, return_tensors="pt")
        yield indices, encoded.to(device)


def apply(model, tokenizer, inputs, batch_size: int, precision: str, compute: Callable, *,
          progress: Progress | None = None, **encoding) -> list[Any]:
    """compute(encoded batch) -> one result per row, over INPUTS in length batches, under inference mode
    and the chosen precision; results in input order."""
    results: list[Any] = [None] * len(inputs)
    done = 0
    encoding.setdefault("max_length", input_limit(model, tokenizer))
    with computing(model, precision):
        for indices, encoded in length_batches(tokenizer, inputs, batch_size, model.device, **encoding):
            for index, result in zip(indices, compute(encoded)):
                results[index] = result
            done += len(indices)
            if progress:
                progress(done)
    return results
