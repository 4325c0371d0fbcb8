"""Task pipelines on current transformers (5.x).

Tasks transformers still ships as pipelines run through them (text-classification, token
classification with entity grouping, fill-mask, text-generation, zero-shot classification).
Feature extraction is mean pooling here. Extractive question answering, removed from transformers
5, is implemented on ``AutoModelForQuestionAnswering``: the best (start, end) span with
start <= end < start + max_answer_len inside the context, mapped back to characters by the
tokenizer's offsets, or no answer when the [CLS] score beats every span.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from mlprojects.errors import UserError
from mlprojects.nlp import hub

PIPELINE_TASKS = {"text-classification": "text-classification", "sentiment": "text-classification",
                  "ner": "token-classification", "token-classification": "token-classification",
                  "fill-mask": "fill-mask", "text-generation": "text-generation",
                  "zero-shot-classification": "zero-shot-classification"}
TASKS = tuple(PIPELINE_TASKS) + ("feature-extraction", "question-answering")


@dataclass
class Answer:
    answer: str
    score: float
    start: int  # character offsets in the context
    end: int


def best_span(start_logits, end_logits, context_mask, max_answer_len: int = 30) -> tuple[int, int, float] | None:
    """The (start, end, score) of the best span inside the context (score = start + end logits), or
    None when index 0's score ([CLS], "no answer") is higher. Tensors are 1-D over the tokens."""
    import torch

    n = len(start_logits)
    scores = start_logits[:, None] + end_logits[None, :]
    allowed = torch.ones(n, n, dtype=torch.bool).triu() & ~torch.ones(n, n, dtype=torch.bool).triu(max_answer_len)
    allowed &= context_mask[:, None] & context_mask[None, :]
    scores = scores.masked_fill(~allowed, float("-inf"))
    flat = int(scores.argmax())
    start, end = divmod(flat, n)
    best = float(scores[start, end])
    if best == float("-inf") or float(start_logits[0] + end_logits[0]) > best:
        return None
    return start, end, best


def answer_questions(model_name: str, questions: list[str], context: str, max_answer_len: int = 30,
                     max_length: int = 384) -> list[Answer | None]:
    import torch

    model, tokenizer = hub.load(model_name, "AutoModelForQuestionAnswering")
    model.eval()
    answers: list[Answer | None] = []
    for question in questions:
        encoded = tokenizer(question, context, truncation="only_second", max_length=max_length,
                            return_offsets_mapping=True, return_tensors="pt")
        offsets = encoded.pop("offset_mapping")[0]
        context_mask = torch.tensor([sequence == 1 for sequence in encoded.sequence_ids(0)])
        with torch.inference_mode():
            output = model(**encoded)
        span = best_span(output.start_logits[0], output.end_logits[0], context_mask, max_answer_len)
        if span is None:
            answers.append(None)
            continue
        start, end, score = span
        first, last = int(offsets[start][0]), int(offsets[end][1])
        probabilities = torch.softmax(output.start_logits[0], 0)[start] * torch.softmax(output.end_logits[0], 0)[end]
        answers.append(Answer(context[first:last], float(probabilities), first, last))
    return answers


def mean_pooled(model_name: str, texts: list[str], batch_size: int = 32) -> list[list[float]]:
    """One vector per text: the attention-masked mean of last_hidden_state (sentence-transformers' pooling)."""
    import torch

    model, tokenizer = hub.load(model_name)
    model.eval()
    vectors = []
    for i in range(0, len(texts), batch_size):
        encoded = tokenizer(texts[i:i + batch_size], padding=True, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**encoded).last_hidden_state
        mask = encoded["attention_mask"][..., None].to(hidden.dtype)
        vectors += ((hidden * mask).sum(1) / mask.sum(1)).tolist()
    return vectors


def run_task(task: str, model_name: str, inputs: list[str], *, context: str = "", labels: list[str] | None = None,
             batch_size: int = 32, progress: Callable[[int], None] | None = None, **options: Any) -> list[Any]:
    """Run TASK over inputs (texts, or questions for question-answering); returns one result per input."""
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}: one of {', '.join(TASKS)}")
    if not inputs:
        raise UserError("no inputs: give --text or --file with one input per line")
    if task == "question-answering":
        if not context:
            raise UserError("question-answering needs --context (the text holding the answers)")
        return answer_questions(model_name, inputs, context, **options)
    if task == "feature-extraction":
        return mean_pooled(model_name, inputs, batch_size)
    transformers = hub._transformers()
    model_class = {"text-classification": "AutoModelForSequenceClassification",
                   "token-classification": "AutoModelForTokenClassification", "fill-mask": "AutoModelForMaskedLM",
                   "text-generation": "AutoModelForCausalLM",
                   "zero-shot-classification": "AutoModelForSequenceClassification"}[PIPELINE_TASKS[task]]
    model, tokenizer = hub.load(model_name, model_class)
    kind = PIPELINE_TASKS[task]
    extra: dict[str, Any] = {"aggregation_strategy": "simple"} if kind == "token-classification" else {}
    pipe = transformers.pipeline(kind, model=model, tokenizer=tokenizer, **extra)
    if kind == "zero-shot-classification":
        if not labels:
            raise UserError("zero-shot-classification needs --labels, e.g. --labels sports,politics,music")
        options["candidate_labels"] = labels
    results = []
    for i in range(0, len(inputs), batch_size):
        batch = inputs[i:i + batch_size]
        # a pipeline un-nests the result of a one-element list (fill-mask returns its 5 candidates
        # instead of [candidates]); a second copy keeps one result per input whatever the task
        out = pipe(batch + batch[:1] if len(batch) == 1 else batch, batch_size=batch_size, **options)
        results += out[:len(batch)]
        if progress:
            progress(min(i + batch_size, len(inputs)))
    return results
