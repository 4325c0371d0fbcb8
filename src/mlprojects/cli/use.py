"""``mlprojects predict`` and ``mlprojects export``: use what a run trained."""

from __future__ import annotations

from pathlib import Path

import click

from mlprojects.errors import counted


@click.command(context_settings={"show_default": True})
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="write the predictions to this CSV file  [default: print them]")
@click.option("--top-k", type=click.IntRange(min=1), default=3, help="image projects: labels per image")
@click.option("--backtest", is_flag=True,
              help="forecasting projects: a forecast for every reading of the file, beside the reading")
@click.option("--engine", type=click.Choice(["auto", "torch", "onnxruntime"]), default="auto",
              help="the network's runtime: auto is onnxruntime for image networks (where installed), else PyTorch "
                   "as in training")
@click.option("--strict", is_flag=True, help="tables: refuse missing values instead of filling them from the "
                                             "training split (a warning counts what was filled)")
def predict(run_dir: Path, inputs: tuple[str, ...], out: Path | None, top_k: int, backtest: bool,
            engine: str, strict: bool) -> None:
    """Apply the finished run RUN_DIR to INPUTS: a CSV of the training columns (tabular projects), image files
    or folders (image projects), a CSV of recent readings (forecasting), or texts and text files (fine-tuned
    transformers). Writes CSV: the inputs, then the predictions."""
    from mlprojects import rundir
    from mlprojects.predict import predict as apply
    from mlprojects.predict import write

    run = rundir.load(run_dir)
    if run.project.inputs.one_input and len(inputs) > 1:
        raise click.UsageError(f"{run.name} reads one input (a CSV of readings), not {len(inputs)}")
    table = apply(run, inputs[0] if run.project.inputs.one_input else list(inputs), top_k=top_k,
                  backtest=backtest, engine=engine, strict=strict)
    write(table, out, click.echo)
    if out is not None:
        click.echo(f"{counted(len(table), 'prediction')} written to {out}")


@click.command(context_settings={"show_default": True})
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["onnx", "pt2"]), default="onnx",
              help="onnx (onnxruntime and other runtimes) or pt2 (torch.export, loadable with torch alone)")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="the file  [default: RUN_DIR/model.FORMAT]")
def export(run_dir: Path, fmt: str, out: Path | None) -> None:
    """Export the model of the finished run RUN_DIR, checked on the run's test split before it is kept."""
    from mlprojects import rundir

    run = rundir.load(run_dir)  # a folder that is not a run is one line before onnx's import
    from mlprojects.export import export as write

    result = write(run, fmt, out)
    click.echo(f"{result['path']}: checked on {result['checked_rows']} test rows against PyTorch, largest "
               f"difference {result['largest_difference']:.1e}, same class for {result['same_class']:.0%}")


@click.command(context_settings={"show_default": True})
@click.argument("images", nargs=-1, required=True)
@click.option("--model", "model_name", default="efficientnet-lite0",
              help="a torchvision ImageNet model (resnet50, vgg19, ...; see `mlprojects zoo`) or efficientnet-lite0")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path),
              help="the weights file  [default: PyTorch's cache, or the package's for efficientnet-lite0]")
@click.option("--top-k", type=click.IntRange(min=1), default=5)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="write CSV here  [default: print]")
def classify(images: tuple[str, ...], model_name: str, weights: Path | None, top_k: int, out: Path | None) -> None:
    """Classify IMAGES (files or folders, any format and size) into ImageNet's 1,000 classes with a pretrained
    network and its own preprocessing."""
    from mlprojects.inputs.image import image_items
    from mlprojects.predict import write
    from mlprojects.vision.classify import classify as run
    from mlprojects.vision.classify import load

    items = image_items(list(images))
    table = run(load(model_name, weights), items, top_k)
    write(table, out, click.echo)
    if out is not None:
        click.echo(f"{counted(len(table), 'image')} classified into {out}")


COMMANDS = (predict, export, classify)  # added to the mlprojects group by mlprojects.cli
