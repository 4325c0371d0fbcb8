"""``mlprojects nlp inspect --model M``: pretrained transformers from the command line."""

from __future__ import annotations

import click


@click.group()
def nlp() -> None:
    """Pretrained transformers (Hugging Face): look inside a model, fine-tune it."""


@nlp.command(context_settings={"show_default": True})
@click.option("--model", "model_name", required=True, help="hub id (e.g. google-bert/bert-base-uncased) or a folder")
@click.option("--text", default="Hello, how are you?", help="text to tokenize and encode")
@click.option("--token", default="1", help="the token whose embedding is shown: its index or the token itself")
@click.option("--values", type=int, default=8, help="how many of the embedding's values to print")
def inspect(model_name: str, text: str, token: str, values: int) -> None:
    """Tokens and ids, the shape of last_hidden_state, one token's embedding, parameters per module."""
    from rich.console import Console
    from rich.table import Table

    from mlprojects.nlp.inspect import inspect as run_inspect

    found = run_inspect(model_name, text, token)
    console = Console()
    console.print(f"[bold]{found.model}[/bold]  text: {text!r}")
    console.print("tokens: " + " ".join(f"{t}({i})" for t, i in zip(found.tokens, found.ids)))
    console.print(f"last_hidden_state: {tuple(found.hidden_shape)} (batch, tokens, hidden)")
    shown = ", ".join(f"{v:.4f}" for v in found.embedding[:values])
    console.print(f"embedding of token {found.token_index} {found.tokens[found.token_index]!r}: [{shown}, ...] "
                  f"({len(found.embedding)} values)")
    table = Table("module", "parameters")
    for name, count in found.modules:
        table.add_row(name, f"{count:,}")
    table.add_row("[bold]total[/bold]", f"[bold]{found.total:,}[/bold]")
    table.add_row("trainable", f"{found.trainable:,}")
    console.print(table)


def _fine_tuning(formats: str):
    """The options both fine-tuning commands share (they run a project through `mlprojects run`)."""
    options = [
        click.option("--model", "model_name", required=True, help="pretrained model: hub id or folder"),
        click.option("--train", "train_file", required=True, type=click.Path(dir_okay=False), help=formats),
        click.option("--eval", "eval_file", required=True, type=click.Path(dir_okay=False), help=formats),
        click.option("--out", type=click.Path(file_okay=False), help="run directory  [default: runs/PROJECT/<time>]"),
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                     help="any other setting (epochs, lr, max_length...)"),
        click.option("--device", default="auto"),
        click.option("--seed", type=int),
        click.option("--nproc", type=click.IntRange(min=1), default=1, help="processes on this machine (torchrun)"),
        click.option("--quiet", is_flag=True),
        click.pass_context,
    ]

    def decorate(function):
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def _run_project(ctx, project: str, given: list[str], out, sets, device, seed, nproc, quiet) -> None:
    from mlprojects.cli.run import run

    ctx.invoke(run, project=project, sets=tuple(given) + tuple(sets), config_file=None, out=out, device=device,
               seed=seed, nproc=nproc, nnodes=1, master=None, max_restarts=0, resume=None, show_settings=False,
               quiet=quiet)


@nlp.command("finetune-classify", context_settings={"show_default": True})
@_fine_tuning(".csv with a header, or .jsonl")
@click.option("--text-column", default="text")
@click.option("--label-column", default="label")
def finetune_classify(ctx, model_name, train_file, eval_file, out, sets, device, seed, nproc, quiet, text_column,
                      label_column) -> None:
    """Fine-tune MODEL for sequence classification; accuracy and macro-F1 on the eval file; the
    result saved with save_pretrained under RUN/model. Resume with `mlprojects run --resume RUN`."""
    given = [f"model={model_name}", f"train={train_file}", f"eval={eval_file}", f"text_column={text_column}",
             f"label_column={label_column}"]
    _run_project(ctx, "text-classify", given, out, sets, device, seed, nproc, quiet)


@nlp.command("finetune-tokens", context_settings={"show_default": True})
@_fine_tuning("CoNLL or .jsonl")
def finetune_tokens(ctx, model_name, train_file, eval_file, out, sets, device, seed, nproc, quiet) -> None:
    """Fine-tune MODEL to tag tokens (NER); entity precision/recall/F1 on the eval file; the result
    saved with save_pretrained under RUN/model. Resume with `mlprojects run --resume RUN`."""
    given = [f"model={model_name}", f"train={train_file}", f"eval={eval_file}"]
    _run_project(ctx, "token-classify", given, out, sets, device, seed, nproc, quiet)


@nlp.command("run", context_settings={"show_default": True})
@click.argument("task")
@click.option("--model", "model_name", default="", show_default=False,
              help="hub id or folder of a model trained for TASK  [default: transformers 4's model for TASK]")
@click.option("--text", "texts", multiple=True,
              help="an input (repeatable); a question for question-answering; 'premise ||| hypothesis' for nli")
@click.option("--file", "input_file", type=click.Path(dir_okay=False),
              help="one input per line (nli: premise<TAB>hypothesis)")
@click.option("--context", default="", show_default=False,
              help="question-answering: the text holding the answers; nli: the premise")
@click.option("--labels", default="", show_default=False,
              help="zero-shot-classification: candidate labels, comma-separated")
@click.option("--template", default="This example is {}.", help="zero-shot-classification: the hypothesis")
@click.option("--multi-label", is_flag=True, help="zero-shot-classification: score each label on its own")
@click.option("--max-answer-len", type=click.IntRange(min=1), default=30, help="question-answering, in tokens")
@click.option("--doc-stride", type=click.IntRange(min=0), default=128,
              help="question-answering: tokens shared by the windows a long context is read in")
@click.option("--max-new-tokens", type=click.IntRange(min=1), help="generation tasks  [default: the model's]")
@click.option("--num-beams", type=click.IntRange(min=1), help="generation tasks  [default: the model's]")
@click.option("--temperature", type=click.FloatRange(min=0), help="sample at this temperature (generation tasks)")
@click.option("--seed", type=int, help="makes sampling repeatable")
@click.option("--source-lang", default="", show_default=False,
              help="translation: source language (en, or a code like eng_Latn)")
@click.option("--target-lang", default="", show_default=False,
              help="translation: target language (de, or a code like deu_Latn)")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16", "auto"]), default="fp32",
              help="bf16: bfloat16 autocast (faster on CPUs with AVX512-BF16/AMX, outputs differ slightly); fp16: "
                   "float16 on a GPU; auto: bf16 where the hardware has it (one line says which)")
@click.option("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
@click.option("--batch-size", type=click.IntRange(min=1), default=32)
@click.option("--out", type=click.Path(dir_okay=False), help="write the results as JSON lines here")
@click.pass_context
def run_task(ctx, task, model_name, texts, input_file, context, labels, batch_size, out, **options) -> None:
    """Run TASK over --text inputs or a --file; one JSON line per input. Tasks: text-classification
    (sentiment), nli, ner (token-classification), fill-mask, text-generation, zero-shot-classification,
    feature-extraction, question-answering, summarization, translation."""
    import json
    from pathlib import Path

    from rich.progress import Progress

    from mlprojects.errors import UserError
    from mlprojects.nlp.tasks import find, to_json
    from mlprojects.nlp.tasks import run_task as run

    if not model_name:
        model_name = find(task).default_model
        click.echo(f"--model not given: using {model_name}, the usual model for {task}", err=True)

    from click.core import ParameterSource

    # options left at their defaults are not passed: a task refuses an option that is not its own
    options = {name: value for name, value in options.items() if name in ("precision", "device")
               or ctx.get_parameter_source(name) is not ParameterSource.DEFAULT}
    inputs = list(texts)
    empty = next((index for index, text in enumerate(inputs, 1) if not text.strip()), None)
    if empty:
        raise UserError(f"--text number {empty} is empty: give each --text at least one word")
    if input_file:
        if not Path(input_file).is_file():
            raise UserError(f"--file {input_file}: no such file")
        try:
            lines = Path(input_file).read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise UserError(f"--file {input_file}: not UTF-8 text; give one input per line") from None
        inputs += [line for line in lines if line.strip()]
    with Progress(transient=True, disable=len(inputs) <= batch_size) as bar:
        job = bar.add_task(task, total=len(inputs))
        results = run(task, model_name, inputs, context=context,
                      labels=[label.strip() for label in labels.split(",") if label.strip()] or None,
                      batch_size=batch_size, progress=lambda done: bar.update(job, completed=done), **options)
    lines = [json.dumps({"input": text, "result": to_json(result)}) for text, result in zip(inputs, results)]
    if out:
        from mlprojects.engine.io import write_text

        write_text(out, "\n".join(lines) + "\n")
        click.echo(f"{len(lines)} results written to {out}")
    else:
        click.echo("\n".join(lines))


COMMANDS = (nlp,)  # added to the mlprojects group by mlprojects.cli
