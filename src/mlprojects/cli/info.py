"""``list``, ``show``, ``devices`` and ``doctor``: what there is, what a run did, what hardware is here, whether
the install is whole."""

from __future__ import annotations

import json
from pathlib import Path

import click


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console(width=max(100, Console().width)).print(table)


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def list_projects(as_json: bool) -> None:
    """Every registered project: name, source, dataset, published figure."""
    from dataclasses import asdict

    from mlprojects.registry import entries

    projects = sorted(entries(), key=lambda entry: entry.name)
    if as_json:
        click.echo(json.dumps([asdict(p) for p in projects], indent=2))
        return
    _table("mlprojects", ["project", "source", "dataset", "published figure"],
           [[p.name, p.source, p.dataset, p.published] for p in projects])


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def show(run_dir: Path, as_json: bool) -> None:
    """Settings and metrics of a run directory."""
    from mlprojects.rundir import read_metrics, read_settings

    settings = read_settings(run_dir)
    metrics = read_metrics(run_dir) or {"completed": False}
    if isinstance(metrics.get("diverged"), dict) and not as_json:
        where = metrics["diverged"]
        click.echo(f"{run_dir}: diverged (the loss became {where['loss']} at epoch {where['epoch']}, step "
                   f"{where['step']} of {where['steps']}); not a usable model")
    if as_json:
        click.echo(json.dumps({"config": settings, "metrics": metrics}, indent=2))
        return
    _table(f"{run_dir}: settings", ["setting", "value"], [[k, str(v)] for k, v in settings.items()])
    _table(f"{run_dir}: metrics", ["metric", "value"],
           [[k, f"{v:.6g}" if isinstance(v, float) else str(v)] for k, v in metrics.items()])


@click.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def devices(as_json: bool) -> None:
    """CPU and GPU devices with name, memory and compute capability."""
    from mlprojects import registry
    from mlprojects.engine import linear, memory
    from mlprojects.engine.device import describe

    found = describe()
    found[0]["dense_onednn"] = linear.available()  # large float32 dense layers through oneDNN (engine/linear.py)
    # whether training keeps its freed memory for the next step (engine/memory.py), and if not, why
    reason = memory.why_not()
    found[0]["freed_memory"] = "kept while training" if reason is None else f"left to the allocator: {reason}"
    accepted = {entry.name: registry.get(entry.name).devices for entry in registry.entries()}
    if as_json:
        click.echo(json.dumps({"devices": found, "projects": {k: list(v) for k, v in accepted.items()}}, indent=2))
        return
    _table("devices", ["device", "name", "memory (GiB)", "capability", "details"],
           [[d["device"], d["name"], str(d["memory_gib"]), d["capability"],
             ", ".join(f"{k} {v}" for k, v in d.items() if k not in ("device", "name", "memory_gib", "capability"))]
            for d in found])
    choices = {"cpu": "cpu", "cuda": "cuda, cuda:N", "mps": "mps"}
    _table("--device each project accepts (auto picks cuda, then mps, then cpu)", ["project", "--device"],
           [[name, ", ".join(choices[kind] for kind in kinds)] for name, kinds in accepted.items()])


@click.command(context_settings={"show_default": True})
@click.argument("runs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1")
@click.option("--port", type=click.IntRange(1, 65535), default=6006)
def tensorboard(runs: tuple[Path, ...], host: str, port: int) -> None:
    """Start TensorBoard on RUNS (run directories or folders of them)  [default: runs/]: scalars, the model's
    graph, histograms (--set histograms=true) and, for image projects, the embedding projector."""
    import os
    import sys

    from mlprojects.errors import UserError

    folders = list(runs) or [Path("runs")]
    missing = [str(folder) for folder in folders if not folder.is_dir()]
    if missing:
        raise UserError(f"{', '.join(missing)}: no such folder; name run directories or folders that hold them")
    if len(folders) == 1:
        where = ["--logdir", str(folders[0])]
    else:
        where = ["--logdir_spec", ",".join(f"{folder.name or folder}:{folder}" for folder in folders)]
    click.echo(f"TensorBoard on http://{host}:{port}/ (the same as: tensorboard {' '.join(where)} --port {port})")
    sys.stdout.flush()
    # this process becomes TensorBoard (stopping it stops TensorBoard; no child is left behind)
    os.execv(sys.executable, [sys.executable, "-m", "tensorboard.main", *where, "--host", host, "--port", str(port)])


@click.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def zoo(names: tuple[str, ...], as_json: bool) -> None:
    """The chapter 8 architectures and their successors: parameters, multiply-adds and FLOPs measured on the
    built models, ImageNet accuracy and file size of their published weights (a few seconds per model)."""
    from mlprojects.builtin.architectures import markdown
    from mlprojects.vision import zoo as architectures

    rows = architectures.table(list(names) or None)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(markdown(rows).rstrip())


@click.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--no-check", is_flag=True, help="skip the end-to-end training and prediction (a few seconds)")
def doctor(as_json: bool, no_check: bool) -> None:
    """Check this install: Python and package versions, extras, devices, where runs and data go, and a short
    training and prediction end to end. Exit 0 when all is well, else 1 with one line per problem."""
    from mlprojects.doctor import examine

    report = examine(check=not no_check)
    if as_json:
        click.echo(json.dumps({**report.facts, "problems": report.problems}, indent=2))
    else:
        _print_report(report.facts)
        for problem in report.problems:
            click.echo(f"problem: {problem}")
        click.echo("all is well" if not report.problems else f"{len(report.problems)} problem"
                   f"{'s' if len(report.problems) > 1 else ''} (above)")
    if report.problems:
        raise SystemExit(1)


def _print_report(facts: dict) -> None:
    packages = ", ".join(f"{name} {version or 'missing'}" for name, version in facts["packages"].items())
    click.echo(f"mlprojects {facts['mlprojects']} on Python {facts['python']}, {facts['platform']}")
    click.echo(f"packages: {packages}")
    click.echo("extras (pip install 'mlprojects[NAME]'):")
    for name, extra in facts["extras"].items():
        state = "installed" if extra["installed"] else "not installed"
        if extra["wrong_versions"]:
            state = "wrong versions"
        click.echo(f"  {name:<10} {state:<14} {extra['enables']}")
    click.echo("devices:")
    for device in facts["devices"]:
        details = ", ".join(f"{key} {value}" for key, value in device.items() if key not in ("device", "name"))
        click.echo(f"  {device['device']:<7} {device['name']}: {details}")
    for what, place in facts["places"].items():
        state = "writable" if place["writable"] else "NOT writable"
        click.echo(f"{what}: {place['path']} ({state}, {place['detail']})")
    check = facts.get("check")
    if check and check["ok"]:
        click.echo(f"check: trained {check['project']} ({', '.join(f'{k}={v}' for k, v in check['settings'].items())}) "
                   f"on the embedded digits in {check['train_s']:.1f} s, test accuracy {check['test_accuracy']:.4f}; "
                   f"predicting the test digits from the saved run gave {check['predicted_accuracy']:.4f} "
                   f"({check['total_s']:.1f} s in all)")


COMMANDS = (list_projects, show, devices, tensorboard, zoo, doctor)  # added to the mlprojects group by mlprojects.cli
