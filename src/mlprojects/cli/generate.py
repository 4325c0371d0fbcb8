"""``mlprojects generate bach-charrnn --run RUN_DIR``: sample tunes from a trained character model."""

from __future__ import annotations

from pathlib import Path

import click

from mlprojects.errors import UserError


@click.command(context_settings={"show_default": True})
@click.argument("project")
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="a finished run of the project")
@click.option("--prime", default="X:1\\n", help="text the sample starts from (\\n for a new line)")
@click.option("--length", type=int, default=1000, help="characters to sample")
@click.option("--temperature", type=float, default=0.8, help="below 1: safer; above 1: more adventurous")
@click.option("--seed", type=int, default=0, help="the same seed gives the same sample")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="the ABC file to write (MIDI files and a piano roll go beside it)  [default: RUN/generated/]")
def generate(project: str, run_dir: Path, prime: str, length: int, temperature: float, seed: int,
             out: Path | None) -> None:
    """Sample tunes from a trained PROJECT (bach-charrnn); report how many are valid ABC."""
    from mlprojects import registry, rundir

    if not registry.entry(project).generates:
        able = [entry.name for entry in registry.entries() if entry.generates]
        raise UserError(f"generate works for {', '.join(able)}, not {project!r}")
    run = rundir.load(run_dir, expect=project)
    result = run.project.generate(run, prime.replace("\\n", "\n"), length, temperature, seed, out)
    click.echo(f"{result['abc']}: {result['valid_tunes']} of {result['tunes']} tunes are valid ABC "
               f"({result['valid_fraction']:.0%}), {result['bars_in_meter_fraction']:.0%} of their bars fill the "
               f"meter; MIDI: {', '.join(result['midi_files']) or 'none'}")


COMMANDS = (generate,)  # added to the mlprojects group by mlprojects.cli
