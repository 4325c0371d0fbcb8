"""Task pipelines on current transformers (5.x), fast for batches of inputs.

Our own implementations, on the Auto* model classes:

- text-classification (sentiment), NLI and zero-shot classification on
  ``AutoModelForSequenceClassification``; feature extraction as the attention-masked mean of
  ``last_hidden_state`` (sentence-transformers' pooling);
- summarization and translation on ``AutoModelForSeq2SeqLM`` (transformers 5 removed both pipelines),
  with the prefixes and generation settings of a model's ``task_specific_params`` (T5);
- extractive question answering on ``AutoModelForQuestionAnswering`` (also removed): the best
  (start, end) span with start <= end < start + max_answer_len inside the context, mapped back to
  characters by the tokenizer's offsets, or no answer when the [CLS] score beats every span.

They tokenize every input once, then run batches of inputs of similar length (longest first), so a
batch is padded to its own longest input rather than to the longest of a random mix; results come
back in the input order. The default is float32, with the same outputs as plain transformers;
``precision="bf16"`` runs under bfloat16 autocast (much faster where the hardware multiplies
bfloat16 natively, at a cosine of ~0.99996 to float32 embeddings and a rare flipped label), and
``"auto"`` picks it where it is native (CPUs with AVX512-BF16 or AMX, CUDA GPUs with bf16).
benchmarks/bench_nlp.py measures each against plain transformers.

Token classification with entity grouping, fill-mask and text generation run through transformers'
pipelines, which still ship them.
"""

from __future__ import annotations

import functools
import inspect
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from mlprojects.errors import UserError
from mlprojects.nlp import hub

PIPELINE_TASKS = {"ner": "token-classification", "token-classification": "token-classification",
                  "fill-mask": "fill-mask", "text-generation": "text-generation"}
OWN_TASKS = ("text-classification", "sentiment", "nli", "zero-shot-classification", "feature-extraction",
             "question-answering", "summarization", "translation")
TASKS = OWN_TASKS[:2] + tuple(PIPELINE_TASKS) + OWN_TASKS[2:]
MODEL_CLASS = {"text-classification": "AutoModelForSequenceClassification",
               "sentiment": "AutoModelForSequenceClassification", "nli": "AutoModelForSequenceClassification",
               "zero-shot-classification": "AutoModelForSequenceClassification", "feature-extraction": "AutoModel",
               "question-answering": "AutoModelForQuestionAnswering", "summarization": "AutoModelForSeq2SeqLM",
               "translation": "AutoModelForSeq2SeqLM", "token-classification": "AutoModelForTokenClassification",
               "ner": "AutoModelForTokenClassification", "fill-mask": "AutoModelForMaskedLM",
               "text-generation": "AutoModelForCausalLM"}
GENERATION = ("max_new_tokens", "num_beams", "temperature", "seed")
OPTIONS = {"zero-shot-classification": ("template", "multi_label"),
           "question-answering": ("max_answer_len", "doc_stride"),
           "summarization": GENERATION, "translation": GENERATION + ("source_lang", "target_lang"),
           "text-generation": GENERATION}
# used when no model is given: transformers 4's pipeline defaults (revision-free hub ids)
DEFAULT_MODELS = {"text-classification": "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
                  "sentiment": "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
                  "nli": "facebook/bart-large-mnli", "zero-shot-classification": "facebook/bart-large-mnli",
                  "ner": "dbmdz/bert-large-cased-finetuned-conll03-english",
                  "token-classification": "dbmdz/bert-large-cased-finetuned-conll03-english",
                  "fill-mask": "distilbert/distilroberta-base", "text-generation": "openai-community/gpt2",
                  "feature-extraction": "sentence-transformers/all-MiniLM-L6-v2",
                  "question-answering": "distilbert/distilbert-base-cased-distilled-squad",
                  "summarization": "sshleifer/distilbart-cnn-12-6", "translation": "google-t5/t5-base"}
PRECISIONS = ("auto", "fp32", "bf16")
PAIR_SEPARATORS = ("\t", "|||")
ZERO_SHOT_TEMPLATE = "This example is {}."


@dataclass
class Answer:
    answer: str
    score: float
    start: int  # character offsets in the context
    end: int


def load(name: str, auto_class: str, device: str = "cpu"):
    """(model in eval mode on DEVICE, tokenizer), kept for the next call (the web app asks again and
    again); a folder saved again since is read again."""
    folder = Path(name).expanduser()
    stamp = tuple(path.stat().st_mtime_ns for path in sorted(folder.glob("*"))) if folder.is_dir() else ()
    return _load(name, auto_class, device, stamp)


@functools.lru_cache(maxsize=4)
def _load(name: str, auto_class: str, device: str, stamp: tuple):
    model, tokenizer = hub.load(name, auto_class)
    return model.eval().to(device), tokenizer


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA GPU is visible to PyTorch; use --device cpu")
    return device


def autocast(precision: str, device: str):
    """The autocast context for PRECISION on DEVICE: bfloat16 for "bf16", and for "auto" where the
    hardware multiplies bfloat16 natively; otherwise none (float32)."""
    import torch

    if precision not in PRECISIONS:
        raise UserError(f"--precision {precision}: one of {', '.join(PRECISIONS)}")
    kind = "cuda" if device.startswith("cuda") else "cpu"
    if precision == "auto":
        native = (torch.cuda.is_bf16_supported() if kind == "cuda"
                  else torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        precision = "bf16" if native else "fp32"
    return torch.autocast(kind, dtype=torch.bfloat16) if precision == "bf16" else nullcontext()


def input_limit(model, tokenizer) -> int:
    """The most tokens the model takes: the tokenizer's limit, and the position table's if smaller."""
    limits = [tokenizer.model_max_length if tokenizer.model_max_length < 1_000_000 else 100_000,
              getattr(model.config, "max_position_embeddings", None) or 100_000]
    return min(limits)


def length_batches(tokenizer, inputs: Sequence[str | tuple[str, str]], batch_size: int, device: str = "cpu",
                   max_length: int | None = None, prefix: str = "") -> Iterator[tuple[list[int], dict]]:
    """(indices, encoded batch) over INPUTS (texts or (text, text) pairs), longest first, each batch
    padded to its own longest input. Inputs longer than the model takes are truncated, with one warning."""
    firsts = [prefix + (item[0] if isinstance(item, tuple) else item) for item in inputs]
    seconds = [item[1] for item in inputs] if inputs and isinstance(inputs[0], tuple) else None
    limit = max_length or min(tokenizer.model_max_length, 100_000)
    lengths = [len(ids) for ids in tokenizer(firsts, seconds, truncation=False, verbose=False)["input_ids"]]
    if (cut := sum(length > limit for length in lengths)):
        print(f"warning: {cut} of {len(inputs)} inputs are longer than the model's {limit} tokens and were "
              "truncated", file=sys.stderr)
    order = sorted(range(len(inputs)), key=lambda i: -lengths[i])
    for start in range(0, len(order), batch_size):
        indices = order[start:start + batch_size]
        encoded = tokenizer([firsts[i] for i in indices], [seconds[i] for i in indices] if seconds else None,
                            padding=True, truncation=True, max_length=limit, return_tensors="pt")
        yield indices, encoded.to(device)


def _apply(model, tokenizer, inputs, batch_size: int, precision: str, compute: Callable, *,
           progress: Callable[[int], None] | None = None, **encoding) -> list[Any]:
    """compute(model output, encoded batch) -> one result per row, for INPUTS in length batches; results
    in input order."""
    import torch

    results: list[Any] = [None] * len(inputs)
    done = 0
    encoding.setdefault("max_length", input_limit(model, tokenizer))
    with torch.inference_mode(), autocast(precision, str(model.device)):
        for indices, encoded in length_batches(tokenizer, inputs, batch_size, model.device, **encoding):
            for index, result in zip(indices, compute(model(**encoded), encoded)):
                results[index] = result
            done += len(indices)
            if progress:
                progress(done)
    return results


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
    model, tokenizer = load(model_name, MODEL_CLASS["text-classification"], device)
    return _apply(model, tokenizer, inputs, batch_size, precision,
                  lambda output, _: _class_scores(model, output.logits), **kw)


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
    contradiction = next((i for label, i in ids.items() if label.startswith("contra")), 1 - entailment if len(ids) == 2 else 0)
    return entailment, contradiction


def zero_shot(model_name: str, texts: list[str], labels: list[str], *, template: str = ZERO_SHOT_TEMPLATE,
              multi_label: bool = False, batch_size: int = 32, precision: str = "fp32", device: str = "cpu",
              progress: Callable[[int], None] | None = None) -> list[dict]:
    """NLI-based zero-shot classification (Yin et al. 2019), scored as transformers' pipeline scores
    it: each label becomes the hypothesis TEMPLATE; one label: softmax of the entailment logits over
    the labels; multi-label: entailment against contradiction per label. Labels sorted by score."""
    import torch

    if not labels:
        raise UserError("zero-shot-classification needs --labels, e.g. --labels sports,politics,music")
    if "{}" not in template:
        raise UserError(f"--template {template!r} must contain {{}} where the label goes")
    model, tokenizer = load(model_name, MODEL_CLASS["nli"], device)
    entailment, contradiction = _entailment_index(model)
    hypotheses = [(text, template.format(label)) for text in texts for label in labels]
    logits = _apply(model, tokenizer, hypotheses, batch_size, precision, lambda output, _: output.logits.float(),
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
    model, tokenizer = load(model_name, MODEL_CLASS["feature-extraction"], device)

    def pool(output, encoded):
        hidden = output.last_hidden_state.float()
        mask = encoded["attention_mask"][..., None].to(hidden.dtype)
        return ((hidden * mask).sum(1) / mask.sum(1)).tolist()

    return _apply(model, tokenizer, texts, batch_size, precision, pool, **kw)


def _generation_settings(model, tokenizer, task: str, source_lang: str, target_lang: str) -> tuple[str, dict]:
    """The prefix and generation settings a seq2seq model declares for TASK (T5's task_specific_params),
    and the target-language start token of many-to-many models (mBART, NLLB, M2M100)."""
    specific = getattr(model.config, "task_specific_params", None) or {}
    settings: dict[str, Any] = {}
    if task == "translation":
        key = f"translation_{source_lang}_to_{target_lang}"
        keys = [name for name in specific if name.startswith("translation")]
        if source_lang and target_lang and key in specific:
            settings = dict(specific[key])
        elif not (source_lang or target_lang) and len(keys) == 1:
            settings = dict(specific[keys[0]])
        elif keys and not (target_lang and target_lang in tokenizer.get_vocab()):
            raise UserError(f"this model translates {', '.join(k.removeprefix('translation_') for k in keys)}: "
                            "choose with --source-lang and --target-lang")
        if source_lang and hasattr(tokenizer, "src_lang"):
            tokenizer.src_lang = source_lang
        if target_lang and target_lang in tokenizer.get_vocab():
            settings["forced_bos_token_id"] = tokenizer.convert_tokens_to_ids(target_lang)
    else:
        settings = dict(specific.get(task, {}))
    prefix = settings.pop("prefix", "") or ""
    return prefix, {key: value for key, value in settings.items() if key not in ("task",)}


def generate(task: str, model_name: str, texts: list[str], *, source_lang: str = "", target_lang: str = "",
             batch_size: int = 8, precision: str = "fp32", device: str = "cpu",
             progress: Callable[[int], None] | None = None, **generation: Any) -> list[dict]:
    """Summaries or translations from an encoder-decoder model: {"summary_text"} or {"translation_text"}
    per input, as transformers 4's pipelines returned them. GENERATION (max_new_tokens, num_beams, ...)
    overrides the model's own settings."""
    import torch

    model, tokenizer = load(model_name, MODEL_CLASS[task], device)
    prefix, settings = _generation_settings(model, tokenizer, task, source_lang, target_lang)
    settings.update({key: value for key, value in generation.items() if value is not None})
    if settings.get("max_new_tokens"):
        settings.pop("max_length", None)
    key = "summary_text" if task == "summarization" else "translation_text"
    accepted = inspect.signature(model.forward).parameters  # a word-piece tokenizer adds token_type_ids
    results: list[Any] = [None] * len(texts)
    done = 0
    with torch.inference_mode(), autocast(precision, str(model.device)):
        for indices, encoded in length_batches(tokenizer, texts, batch_size, model.device, prefix=prefix,
                                                max_length=input_limit(model, tokenizer)):
            output = model.generate(**{k: v for k, v in encoded.items() if k in accepted}, **settings)
            for index, text in zip(indices, tokenizer.batch_decode(output, skip_special_tokens=True)):
                results[index] = {key: text.strip()}
            done += len(indices)
            if progress:
                progress(done)
    return results


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


def best_span(start_logits, end_logits, context_mask, max_answer_len: int = 30) -> tuple[int, int, float] | None:
    """:func:`span_in_window`, or None when index 0's score ([CLS], "no answer") is higher."""
    span = span_in_window(start_logits, end_logits, context_mask, max_answer_len)
    if span is None or float(start_logits[0] + end_logits[0]) > span[2]:
        return None
    return span


def _pad(rows: list[dict[str, list[int]]], pad_id: int):
    """Right-padded tensors of encoded windows (attention 0 and token type 0 on the padding)."""
    import torch

    width = max(len(row["input_ids"]) for row in rows)
    return {key: torch.tensor([row[key] + [pad_id if key == "input_ids" else 0] * (width - len(row[key]))
                               for row in rows]) for key in rows[0]}


def answer_questions(model_name: str, questions: list[str], context: str, max_answer_len: int = 30,
                     max_length: int = 384, doc_stride: int = 128, batch_size: int = 32, precision: str = "fp32",
                     device: str = "cpu", progress: Callable[[int], None] | None = None) -> list[Answer | None]:
    """Extractive answers from CONTEXT, as BERT's SQuAD code finds them: a context longer than the
    model takes is read in overlapping windows (DOC_STRIDE tokens shared); the answer is the best
    span of any window, and "no answer" (None) wins when the lowest [CLS] score of the question's
    windows beats it. Windows of all questions run in batches."""
    import torch

    model, tokenizer = load(model_name, MODEL_CLASS["question-answering"], device)
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
    with torch.inference_mode(), autocast(precision, str(model.device)):
        for first in range(0, len(windows), batch_size):
            chunk = windows[first:first + batch_size]
            output = model(**{k: v.to(model.device) for k, v in _pad([w[1] for w in chunk],
                                                                        tokenizer.pad_token_id or 0).items()})
            for row, window in enumerate(chunk):
                n = len(window[1]["input_ids"])
                logits.append((output.start_logits[row, :n].float().cpu(), output.end_logits[row, :n].float().cpu()))
            if progress:
                progress(chunk[-1][0] + 1)
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


def _through_pipeline(task: str, model_name: str, inputs: list[str], batch_size: int, device: str,
                      progress: Callable[[int], None] | None, **options: Any) -> list[Any]:
    transformers = hub._transformers()
    model, tokenizer = load(model_name, MODEL_CLASS[task], device)
    kind = PIPELINE_TASKS[task]
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
    for i in range(0, len(inputs), batch_size):
        batch = inputs[i:i + batch_size]
        # a pipeline un-nests the result of a one-element list (fill-mask returns its 5 candidates
        # instead of [candidates]); a second copy keeps one result per input whatever the task
        out = pipe(batch + batch[:1] if len(batch) == 1 else batch, batch_size=batch_size, **options)
        results += out[:len(batch)]
        if progress:
            progress(min(i + batch_size, len(inputs)))
    return results


def to_json(value: Any) -> Any:
    """A task's result as plain JSON values (answers, tensors and NumPy scalars included)."""
    import dataclasses

    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    return value.item() if hasattr(value, "item") else value


def run_task(task: str, model_name: str, inputs: list[str], *, context: str = "", labels: list[str] | None = None,
             batch_size: int = 32, precision: str = "fp32", device: str = "cpu",
             progress: Callable[[int], None] | None = None, **options: Any) -> list[Any]:
    """Run TASK over INPUTS (texts; questions for question-answering; pairs or hypotheses for nli);
    one result per input, in order. OPTIONS go to the task (max_answer_len, max_new_tokens, num_beams,
    temperature, seed, source_lang, target_lang, template, multi_label)."""
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}: one of {', '.join(TASKS)}")
    if not inputs:
        raise UserError("no inputs: give --text or --file with one input per line")
    if batch_size < 1:
        raise UserError(f"--batch-size {batch_size}: must be at least 1")
    for name in options:
        if name not in OPTIONS.get(task, ()):
            users = [other for other, names in OPTIONS.items() if name in names]
            raise UserError(f"--{name.replace('_', '-')} is for {' and '.join(users) or 'no task'}, not {task}")
    if labels and task != "zero-shot-classification":
        raise UserError(f"--labels is for zero-shot-classification, not {task}")
    if context and task not in ("question-answering", "nli"):
        raise UserError(f"--context is for question-answering and nli, not {task}")
    device = resolve_device(device)
    autocast(precision, device)  # checks the name before any model is loaded
    common = {"batch_size": batch_size, "precision": precision, "device": device, "progress": progress}
    generation = {key: options.pop(key) for key in ("max_new_tokens", "num_beams", "temperature")
                  if key in options}
    if options.get("seed") is not None:  # sampling (text generation, --temperature) repeats with a seed
        hub._transformers().set_seed(options["seed"])
    options.pop("seed", None)
    if task == "question-answering":
        if not context:
            raise UserError("question-answering needs --context (the text holding the answers)")
        return answer_questions(model_name, inputs, context, **common, **options)
    if task == "feature-extraction":
        return mean_pooled(model_name, inputs, **common)
    if task in ("text-classification", "sentiment"):
        return classify(model_name, inputs, **common)
    if task == "nli":
        return classify(model_name, pairs(inputs, context), **common)
    if task == "zero-shot-classification":
        return zero_shot(model_name, inputs, labels or [], **common, **options)
    if task in ("summarization", "translation"):
        if generation.get("temperature"):
            generation["do_sample"] = True
        return generate(task, model_name, inputs, **common, **options, **generation)
    return _through_pipeline(task, model_name, inputs, batch_size, device, progress, **generation)
