"""``mlprojects data list | info NAME | fetch NAME [--from DIR]``: the dataset catalog."""

from __future__ import annotations

from pathlib import Path

import click

from mlprojects.cli.info import _table


@click.group()
def data() -> None:
    """The dataset catalog: what each dataset is, where it is, and how to get it."""


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


@data.command("list")
def list_datasets() -> None:
    """Every dataset with its size, licence and whether it is available here."""
    from mlprojects.data.catalog import CATALOG
    from mlprojects.data.store import status

    rows = []
    for spec in CATALOG.values():
        states = status(spec).values()
        fetched = all(state.startswith("ok") for state in states)
        where = "embedded" if spec.embedded else ("available" if fetched else "not fetched")
        rows.append([spec.name, spec.description, _size(spec.size), spec.licence, where])
    _table("datasets", ["name", "description", "size", "licence", "status"], rows)


@data.command()
@click.argument("name")
def info(name: str) -> None:
    """Files, checksums, licence, citation and local status of one dataset."""
    from mlprojects.data.catalog import get_spec
    from mlprojects.data.store import cache_dir, status

    spec = get_spec(name)
    click.echo(f"{spec.name}: {spec.description}")
    click.echo(f"licence:  {spec.licence}\ncitation: {spec.citation}")
    if spec.homepage:
        click.echo(f"homepage: {spec.homepage}")
    if spec.notes:
        click.echo(f"notes:    {spec.notes}")
    click.echo(f"cache:    {cache_dir(spec)}")
    for file, state in zip(spec.files, status(spec).values()):
        click.echo(f"\n{file.name}  {_size(file.size or 0)}  {state}")
        click.echo(f"  sha256  {file.sha256}")
        for url in file.urls:
            click.echo(f"  url     {url}")


@data.command()
@click.argument("name")
@click.option("--from", "from_dir", type=click.Path(path_type=Path), help="import the files from this local folder")
def fetch(name: str, from_dir: Path | None) -> None:
    """Download a dataset into the cache (or import it from a folder), checking every sha256."""
    from mlprojects.data.store import fetch as fetch_dataset

    for file, path in fetch_dataset(name, from_dir).items():
        click.echo(f"ok  {file}  {path}")


@data.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--target", default="", show_default=False,
              help="a column whose class balance to show")
@click.option("--rows", type=click.IntRange(min=0), default=5, show_default=True, help="rows to show")
@click.option("--thumbnails", type=click.Path(dir_okay=False, path_type=Path),
              help="for an image folder: write a contact sheet of each class's first images here (PNG)")
def inspect(path: Path, target: str, rows: int, thumbnails: Path | None) -> None:
    """What PATH holds: a CSV, Parquet or TFRecord file (columns, types, missing values, a few rows) or an image
    folder (classes, their balance, sizes, unreadable files)."""
    from mlprojects.data import convert

    click.echo(convert.inspect(path, target, rows).rstrip())
    if thumbnails is not None:
        click.echo(f"thumbnails: {convert.thumbnails(path, thumbnails)}")


@data.command("convert")
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--image-feature", default="image/encoded", show_default=True,
              help="TFRecord to folder: the feature holding the encoded image")
@click.option("--label-feature", default="image/class/text", show_default=True,
              help="TFRecord to folder: the feature naming the class (image/class/label numbers them)")
def convert_data(source: Path, target: Path, image_feature: str, label_feature: str) -> None:
    """SOURCE into TARGET's form, by their names: TFRecord (.tfrecord, .tfrecord.gz), CSV, Parquet, or an image
    folder (one sub-folder per class; to and from TFRecord)."""
    from mlprojects.data import convert

    click.echo(convert.convert(source, target, image_feature, label_feature))


COMMANDS = (data,)  # added to the mlprojects group by mlprojects.cli
