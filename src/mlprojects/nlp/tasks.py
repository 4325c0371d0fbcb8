"""The NLP tasks of ``mlprojects nlp run`` and the web app's Text tab: one record per task.

A :class:`Task` says everything about a task, as transformers' ``SUPPORTED_TASKS`` does: its name and
aliases, the Auto class its models load with, the model used when none is given (transformers 4's
pipeline default), the options it takes, how to run it and how to show one result to a person. The
implementations live by concern: :mod:`.classify` (classification, NLI, zero-shot, features),
:mod:`.qa` (extractive question answering), :mod:`.seq2seq` (summarization, translation),
:mod:`.pipelines` (NER, fill-mask, generation through transformers' pipelines), all batched by
:mod:`.batching`. benchmarks/bench_nlp.py measures them against plain transformers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

from mlprojects.errors import UserError
from mlprojects.nlp import classify, pipelines, qa, seq2seq
from mlprojects.nlp.batching import Progress, autocast, device_name

GENERATION = ("max_new_tokens", "num_beams", "temperature", "seed")


@dataclass
class Request:
    """What a task is asked to do besides its inputs: the shared settings and its own options."""

    context: str = ""
    labels: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 32
    precision: str = "fp32"
    device: str = "cpu"
    progress: Progress | None = None

    @property
    def common(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "precision": self.precision, "device": self.device,
                "progress": self.progress}

    def generation(self) -> dict[str, Any]:
        """The generation options given (max_new_tokens, num_beams, temperature; sampling when a temperature
        is given), without the seed, which run_task has already applied."""
        chosen = {key: self.options[key] for key in GENERATION[:3] if self.options.get(key) is not None}
        if chosen.get("temperature"):
            chosen["do_sample"] = True
        return chosen


@dataclass(frozen=True)
class Task:
    name: str
    model_class: str  # the transformers Auto class its models load with
    default_model: str  # used without --model: transformers 4's pipeline default (revision-free hub id)
    run: Callable[[str, list[str], Request], list[Any]]
    describe: Callable[[Any], str]  # one short line for a result, for people
    aliases: tuple[str, ...] = ()
    options: tuple[str, ...] = ()  # its own options, by keyword
    context: bool = False  # takes --context
    labels: bool = False  # takes --labels
    hint: str = ""  # how to write its inputs (the web app shows it)


def _nli(model: str, inputs: list[str], request: Request) -> list[Any]:
    return classify.classify(model, classify.pairs(inputs, request.context), **request.common)


def _answers(model: str, inputs: list[str], request: Request) -> list[Any]:
    if not request.context:
        raise UserError("question-answering needs --context (the text holding the answers)")
    return qa.answer_questions(model, inputs, request.context, **request.common, **request.options)


def _seq2seq(task: str):
    def run(model: str, inputs: list[str], request: Request) -> list[Any]:
        languages = {key: request.options[key] for key in ("source_lang", "target_lang") if key in request.options}
        return seq2seq.generate(task, model, inputs, **request.common, **languages, **request.generation())
    return run


def _pipeline(task: str):
    def run(model: str, inputs: list[str], request: Request) -> list[Any]:
        return pipelines.through_pipeline(task, model, inputs, request.batch_size, request.device, request.progress,
                                          **request.generation())
    return run


def _label(result: dict) -> str:
    return f"{result['label']} ({result['score']:.1%})"


SENTIMENT_MODEL = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
NLI_MODEL = "facebook/bart-large-mnli"

TASKS: tuple[Task, ...] = (
    Task("text-classification", classify.CLASSIFIER, SENTIMENT_MODEL, aliases=("sentiment",),
         run=lambda model, inputs, request: classify.classify(model, inputs, **request.common), describe=_label),
    Task("ner", pipelines.PIPELINES["ner"][1], "dbmdz/bert-large-cased-finetuned-conll03-english",
         aliases=("token-classification",), run=_pipeline("ner"),
         describe=lambda groups: ", ".join(f"{g['word']} ({g['entity_group']})" for g in groups) or "(no entities)"),
    Task("fill-mask", pipelines.PIPELINES["fill-mask"][1], "distilbert/distilroberta-base", run=_pipeline("fill-mask"),
         describe=lambda candidates: " / ".join(candidate["token_str"] for candidate in candidates[:3]),
         hint="Each input holds the model's mask token, e.g. [MASK]."),
    Task("text-generation", pipelines.PIPELINES["text-generation"][1], "openai-community/gpt2",
         run=_pipeline("text-generation"), options=GENERATION, describe=lambda result: result[0]["generated_text"]),
    Task("nli", classify.CLASSIFIER, NLI_MODEL, run=_nli, describe=_label, context=True,
         hint="Inputs are 'premise ||| hypothesis', or hypotheses with the premise in Context."),
    Task("zero-shot-classification", classify.CLASSIFIER, NLI_MODEL, labels=True, options=("template", "multi_label"),
         run=lambda model, inputs, request: classify.zero_shot(model, inputs, request.labels, **request.common,
                                                                **request.options),
         describe=lambda result: f"{result['labels'][0]} ({result['scores'][0]:.1%})",
         hint="Labels: the candidate labels, comma-separated."),
    Task("feature-extraction", classify.ENCODER, "sentence-transformers/all-MiniLM-L6-v2",
         run=lambda model, inputs, request: classify.mean_pooled(model, inputs, **request.common),
         describe=lambda vector: f"a vector of {len(vector)} numbers"),
    Task("question-answering", qa.QUESTION_ANSWERING, "distilbert/distilbert-base-cased-distilled-squad",
         run=_answers, context=True, options=("max_answer_len", "doc_stride"),
         describe=lambda answer: "(no answer in the context)" if answer is None
         else f"{answer.answer} ({answer.score:.1%})",
         hint="Inputs are questions; Context holds the text with the answers."),
    Task("summarization", seq2seq.SEQ2SEQ, "sshleifer/distilbart-cnn-12-6", run=_seq2seq("summarization"),
         options=GENERATION, describe=lambda result: result["summary_text"]),
    Task("translation", seq2seq.SEQ2SEQ, "google-t5/t5-base", run=_seq2seq("translation"),
         options=GENERATION + ("source_lang", "target_lang"), describe=lambda result: result["translation_text"]),
)
BY_NAME: dict[str, Task] = {name: task for task in TASKS for name in (task.name, *task.aliases)}
NAMES = tuple(BY_NAME)  # every name a task answers to, aliases beside their task


def find(name: str) -> Task:
    if name not in BY_NAME:
        raise UserError(f"unknown task {name!r}: one of {', '.join(NAMES)}")
    return BY_NAME[name]


def describe(name: str, result: Any) -> str:
    """One short line for a result of task NAME, for people (the JSON beside it is for programs)."""
    return find(name).describe(result)


def to_json(value: Any) -> Any:
    """A task's result as plain JSON values (answers, tensors and NumPy scalars included)."""
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    return value.item() if hasattr(value, "item") else value


def run_task(task: str, model_name: str, inputs: list[str], *, context: str = "", labels: list[str] | None = None,
             batch_size: int = 32, precision: str = "fp32", device: str = "auto",
             progress: Progress | None = None, **options: Any) -> list[Any]:
    """Run TASK over INPUTS (texts; questions for question-answering; pairs or hypotheses for nli);
    one result per input, in order. OPTIONS go to the task (max_answer_len, max_new_tokens, num_beams,
    temperature, seed, source_lang, target_lang, template, multi_label)."""
    record = find(task)
    if not inputs:
        raise UserError("no inputs: give --text or --file with one input per line")
    if batch_size < 1:
        raise UserError(f"--batch-size {batch_size}: must be at least 1")
    for name in options:
        if name not in record.options:
            users = [other.name for other in TASKS if name in other.options]
            raise UserError(f"--{name.replace('_', '-')} is for {' and '.join(users) or 'no task'}, not {task}")
    if labels and not record.labels:
        raise UserError(f"--labels is for {' and '.join(t.name for t in TASKS if t.labels)}, not {task}")
    if context and not record.context:
        raise UserError(f"--context is for {' and '.join(t.name for t in TASKS if t.context)}, not {task}")
    device = device_name(device)
    autocast(precision, device, say=True)  # checks the name before any model is loaded, says auto's choice
    if options.get("seed") is not None:  # sampling (text generation, --temperature) repeats with a seed
        from mlprojects.nlp import hub

        hub._transformers().set_seed(options["seed"])
    options.pop("seed", None)
    request = Request(context, list(labels or []), options, batch_size, precision, device, progress)
    return record.run(model_name, inputs, request)
