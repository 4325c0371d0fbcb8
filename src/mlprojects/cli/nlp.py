"""``mlprojects nlp inspect --model M``: pretrained transformers from the command line."""

from __future__ import annotations

import click

from mlprojects.cli import cli


@cli.group()
def nlp() -> None:
    """Pretrained transformers (Hugging Face): look inside a model."""


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
