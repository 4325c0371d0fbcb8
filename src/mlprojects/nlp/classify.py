"""Tasks on an encoder's outputs, our own code on the Auto* classes (the same scores as transformers'
pipelines, tested): text classification (sentiment), NLI and zero-shot classification on
``AutoModelForSequenceClassification``; feature extraction as the attention-masked mean of
``last_hidden_state`` (sentence-transformers' pooling) on ``AutoModel``."""

from __future__ import annotations

from typing import Sequence

from mlprojects.errors import UserError
from mlprojects.nlp.batching import Progress, apply, load

CLASSIFIER, ENCODER = "AutoModelForSequenceClassification", "AutoModel"
PAIR_SEPARATORS = ("\t", "|||")
ZERO_SHOT_TEMPLATE = "This example is {}."


def _class_scores(model, logits):
    import torch

    multi = model.config.problem_type == "multi_label_classification" or logits.shape[-1] == 1
    probabilities = torch.sigmoid(logits.float()) if multi else torch.softmax(logits.float(), -1)
    names = model.config.id2label
    results = []
    for row in probabilities.tolist():
        best = max(range(len(row)), key=row.__getitem__)
        results.append({"label": names[best], "score": row[best],
                        "scores": {names[i]: score for i, score in enumerate(row)}})
    return results


def classify(model_name: str, inputs: Sequence[str | tuple[str, str]], *, batch_size: int = 32,
             precision: str = "fp32", device: str = "cpu", **kw) -> list[dict]:
    """{"label", "score", "scores"} per input (a text, or a (premise, hypothesis) pair for NLI): the
    softmax over the model's labels (sigmoid for multi-label or one-logit models), as transformers'
    text-classification pipeline scores them."""
    model, tokenizer = load(model_name, CLASSIFIER, device)
    return apply(model, tokenizer, inputs, batch_size, precision,
                 lambda encoded: _class_scores(model, model(**encoded).logits), **kw)


def pairs(inputs: list[str], premise: str = "") -> list[tuple[str, str]]:
    """NLI inputs: "premise<TAB>hypothesis" or "premise ||| hypothesis" per input, or hypotheses
    against one PREMISE (--context)."""
    result = []
    for text in inputs:
        for separator in PAIR_SEPARATORS:
            if separator in text:
                first, second = text.split(separator, 1)
                result.append((first.strip(), second.strip()))
                break
        else:
            if not premise:
                raise UserError(f"nli input {text[:40]!r} is not a pair: write 'premise ||| hypothesis' (or a tab "
                                "between them in --file), or give the premise once with --context")
            result.append((premise, text))
    return result


def _entailment_index(model) -> tuple[int, int]:
    """(entailment, contradiction) label ids of an NLI model, found by name as transformers does."""
    ids = {label.lower(): int(i) for i, label in model.config.id2label.items()}
    entailment = next((i for label, i in ids.items() if label.startswith("entail")), None)
    if entailment is None:
        raise UserError(f"zero-shot classification needs an NLI model whose labels include 'entailment'; this "
                        f"model's labels are {sorted(ids)}")
    contradiction = next((i for label, i in ids.items() if label.startswith("contra")),
                         1 - entailment if len(ids) == 2 else 0)
    return entailment, contradiction


def zero_shot(model_name: str, texts: list[str], labels: list[str], *, template: str = ZERO_SHOT_TEMPLATE,
              multi_label: bool = False, batch_size: int = 32, precision: str = "fp32", device: str = "cpu",
              progress: Progress | None = None) -> list[dict]:
    """NLI-based zero-shot classification (Yin et al. 2019), scored as transformers' pipeline scores
    it: each label becomes the hypothesis TEMPLATE; one label: softmax of the entailment logits over
    the labels; multi-label: entailment against contradiction per label. Labels sorted by score."""
    import torch

    if not labels:
        raise UserError("zero-shot-classification needs --labels, e.g. --labels sports,politics,music")
    if "{}" not in template:
        raise UserError(f"--template {template!r} must contain {{}} where the label goes")
    model, tokenizer = load(model_name, CLASSIFIER, device)
    entailment, contradiction = _entailment_index(model)
    hypotheses = [(text, template.format(label)) for text in texts for label in labels]
    logits = apply(model, tokenizer, hypotheses, batch_size, precision, lambda encoded: model(**encoded).logits.float(),
                   progress=progress and (lambda done: progress(done // len(labels))))
    results = []
    for n, text in enumerate(texts):
        rows = torch.stack(logits[n * len(labels):(n + 1) * len(labels)])
        if multi_label:
            scores = torch.softmax(rows[:, [contradiction, entailment]], -1)[:, 1]
        else:
            scores = torch.softmax(rows[:, entailment], 0)
        ranked = sorted(zip(labels, scores.tolist()), key=lambda pair: -pair[1])
        results.append({"sequence": text, "labels": [label for label, _ in ranked],
                        "scores": [score for _, score in ranked]})
    return results


def mean_pooled(model_name: str, texts: list[str], *, batch_size: int = 32, precision: str = "fp32",
                device: str = "cpu", **kw) -> list[list[float]]:
    """One vector per text: the attention-masked mean of last_hidden_state (sentence-transformers' pooling)."""
    model, tokenizer = load(model_name, ENCODER, device)

    def pool(encoded):
        hidden = model(**encoded).last_hidden_state.float()
        mask = encoded["attention_mask"][..., None].to(hidden.dtype)
        return ((hidden * mask).sum(1) / mask.sum(1)).tolist()

    return apply(model, tokenizer, texts, batch_size, precision, pool, **kw)
