"""Token classification with entity grouping (NER), fill-mask and text generation, through transformers'
pipelines, which still ship them; batched, one result per input."""

from __future__ import annotations

from typing import Any

from mlprojects.nlp import hub
from mlprojects.nlp.batching import Progress, chunks, load

PIPELINES = {"ner": ("token-classification", "AutoModelForTokenClassification"),
             "fill-mask": ("fill-mask", "AutoModelForMaskedLM"),
             "text-generation": ("text-generation", "AutoModelForCausalLM")}


def through_pipeline(task: str, model_name: str, inputs: list[str], batch_size: int, device: str,
                     progress: Progress | None, **options: Any) -> list[Any]:
    """TASK (a key of PIPELINES) over INPUTS with transformers' pipeline; greedy text generation unless a
    temperature asks for sampling."""
    transformers = hub._transformers()
    kind, auto_class = PIPELINES[task]
    model, tokenizer = load(model_name, auto_class, device)
    extra: dict[str, Any] = {"aggregation_strategy": "simple"} if kind == "token-classification" else {}
    if kind == "text-generation":  # batches of prompts: padded on the left, with EOS where there is no pad (GPT-2)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
    pipe = transformers.pipeline(kind, model=model, tokenizer=tokenizer, device=model.device, **extra)
    options = {key: value for key, value in options.items() if value is not None}
    if kind == "text-generation":  # greedy unless a temperature asks for sampling (the pipeline samples by default)
        options["do_sample"] = bool(options.get("temperature"))
    results = []
    for batch in chunks(inputs, batch_size, progress):
        # a pipeline un-nests the result of a one-element list (fill-mask returns its 5 candidates
        # instead of [candidates]); a second copy keeps one result per input whatever the task
        out = pipe(batch + batch[:1] if len(batch) == 1 else batch, batch_size=batch_size, **options)
        results += out[:len(batch)]
    return results
