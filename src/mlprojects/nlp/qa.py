"""Extractive question answering on ``AutoModelForQuestionAnswering``, our own code (transformers 5
removed the pipeline): the best (start, end) span with start <= end < start + max_answer_len inside the
context, mapped back to characters by the tokenizer's offsets, or no answer when the [CLS] score beats
every span, as BERT's SQuAD code decides."""

from __future__ import annotations

from dataclasses import dataclass

from mlprojects.errors import UserError
from mlprojects.nlp.batching import Progress, chunks, computing, input_limit, load

QUESTION_ANSWERING = "AutoModelForQuestionAnswering"


@dataclass
class Answer:
    answer: str
    score: float
    start: int  # character offsets in the context
    end: int


def span_in_window(start_logits, end_logits, context_mask, max_answer_len: int = 30) -> tuple[int, int, float] | None:
    """The (start, end, score) of the best span inside the context, score = start + end logits, with
    start <= end < start + max_answer_len; None when the window holds no context. 1-D tensors."""
    import torch

    n = len(start_logits)
    scores = start_logits[:, None] + end_logits[None, :]
    allowed = torch.ones(n, n, dtype=torch.bool).triu() & ~torch.ones(n, n, dtype=torch.bool).triu(max_answer_len)
    allowed &= context_mask[:, None] & context_mask[None, :]
    scores = scores.masked_fill(~allowed, float("-inf"))
    start, end = divmod(int(scores.argmax()), n)
    best = float(scores[start, end])
    return None if best == float("-inf") else (start, end, best)


def _pad(rows: list[dict[str, list[int]]], pad_id: int):
    """Right-padded tensors of encoded windows (attention 0 and token type 0 on the padding)."""
    import torch

    width = max(len(row["input_ids"]) for row in rows)
    return {key: torch.tensor([row[key] + [pad_id if key == "input_ids" else 0] * (width - len(row[key]))
                               for row in rows]) for key in rows[0]}


def answer_questions(model_name: str, questions: list[str], context: str, max_answer_len: int = 30,
                     max_length: int = 384, doc_stride: int = 128, batch_size: int = 32, precision: str = "fp32",
                     device: str = "cpu", progress: Progress | None = None) -> list[Answer | None]:
    """Extractive answers from CONTEXT, as BERT's SQuAD code finds them: a context longer than the
    model takes is read in overlapping windows (DOC_STRIDE tokens shared); the answer is the best
    span of any window, and "no answer" (None) wins when the lowest [CLS] score of the question's
    windows beats it. Windows of all questions run in batches."""
    import torch

    model, tokenizer = load(model_name, QUESTION_ANSWERING, device)
    max_length = min(max_length, input_limit(model, tokenizer))
    windows = []  # (question index, model inputs, character offsets, context mask)
    for index, question in enumerate(questions):
        room = max_length - len(tokenizer(question, add_special_tokens=False)["input_ids"]) - 3
        if room < 8:
            raise UserError(f"question {index + 1} ({question[:40]!r}) is too long: it leaves {room} of the "
                            f"model's {max_length} tokens for the context")
        encoded = tokenizer(question, context, truncation="only_second", max_length=max_length,
                            stride=min(doc_stride, room // 2), return_overflowing_tokens=True,
                            return_offsets_mapping=True)
        for window in range(len(encoded["input_ids"])):
            inputs = {key: encoded[key][window] for key in encoded.keys()
                      if key not in ("offset_mapping", "overflow_to_sample_mapping")}
            mask = torch.tensor([sequence == 1 for sequence in encoded.sequence_ids(window)])
            windows.append((index, inputs, encoded["offset_mapping"][window], mask))
    logits = []
    with computing(model, precision):
        # windows are in question order: after a slice, the questions up to its last window's are done
        for chunk in chunks(windows, batch_size, progress, done_after=lambda chunk: chunk[-1][0] + 1):
            output = model(**{k: v.to(model.device) for k, v in _pad([w[1] for w in chunk],
                                                                        tokenizer.pad_token_id or 0).items()})
            for row, window in enumerate(chunk):
                n = len(window[1]["input_ids"])
                logits.append((output.start_logits[row, :n].float().cpu(), output.end_logits[row, :n].float().cpu()))
    answers: list[Answer | None] = []
    for index in range(len(questions)):
        best, no_answer = None, float("inf")
        for (owner, _, offsets, mask), (start_logits, end_logits) in zip(windows, logits):
            if owner != index:
                continue
            no_answer = min(no_answer, float(start_logits[0] + end_logits[0]))
            span = span_in_window(start_logits, end_logits, mask, max_answer_len)
            if span is not None and (best is None or span[2] > best[0][2]):
                best = (span, offsets, start_logits, end_logits)
        if best is None or no_answer > best[0][2]:
            answers.append(None)
            continue
        (start, end, _), offsets, start_logits, end_logits = best
        first, last = int(offsets[start][0]), int(offsets[end][1])
        probability = torch.softmax(start_logits, 0)[start] * torch.softmax(end_logits, 0)[end]
        answers.append(Answer(context[first:last], float(probability), first, last))
    return answers
