"""``mlprojects data inspect`` and ``data convert``: what a file or folder holds, and the same data in
another form (TFRecord, CSV, Parquet, an image folder).

Kinds are told by name: a folder is an image folder (one sub-folder per class); ``.tfrecord``,
``.tfrecords`` or ``.tfrecord.gz`` is TFRecord; ``.csv`` and ``.parquet`` are tables. Image folders
become TFRecord with the feature names TensorFlow's image-classification tools use
(``image/encoded``, ``image/format``, ``image/class/label``, ``image/class/text``, ``image/filename``)
and come back from it. Nothing is half-written: a table or a record file is written to a temporary
file and moved into place, a folder is filled beside its destination and renamed.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlprojects.data import tfrecord, user_table
from mlprojects.data.tfrecord import FILENAME, FORMAT, IMAGE, LABEL, TEXT
from mlprojects.errors import UserError, counted


def kind_of(path: Path, must_exist: bool = True) -> str:
    """folder, tfrecord, csv or parquet: what PATH is (MUST_EXIST), or is to be written as."""
    name = path.name.lower()
    if path.is_dir() or (not must_exist and not path.suffix):
        return "folder"
    if name.endswith((".tfrecord", ".tfrecords", ".tfrecord.gz", ".tfrecords.gz")):
        return "tfrecord"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".parquet"):
        return "parquet"
    raise UserError(f"{path}: not a kind this {'reads' if must_exist else 'writes'}: a folder of class folders, "
                    ".tfrecord(.gz), .csv or .parquet")


def read_table(path: Path) -> pd.DataFrame:
    kind = kind_of(path)
    if kind == "tfrecord":
        return tfrecord.read_table(path)
    if kind == "folder":
        raise UserError(f"{path} is a folder: convert it to TFRecord, or inspect it")
    return user_table.read(path)


def _typed(frame: pd.DataFrame) -> dict[str, str]:
    types = {}
    for column in frame.columns:
        cells = frame[column][frame[column] != ""]
        types[column] = "text" if not user_table.is_numeric(frame[column]) else "integer" \
            if cells.str.fullmatch(r"[-+]?\d+").all() else "numeric"
    return types


def table_to_examples(frame: pd.DataFrame):
    types = _typed(frame)
    for _, row in frame.iterrows():
        features: dict[str, Any] = {}
        for column, cell in row.items():
            if cell == "":
                continue  # a missing value: the feature is absent, as TensorFlow writes it
            features[column] = int(cell) if types[column] == "integer" else float(cell) \
                if types[column] == "numeric" else str(cell)
        yield tfrecord.example(features)


def _folder_files(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    from mlprojects.data.image_folder import _classes, _files

    classes = _classes(root)
    return classes, _files(root, classes)


def folder_to_examples(root: Path, bad: list[Path]):
    from PIL import Image

    classes, files = _folder_files(root)
    for path, label in files:
        try:
            with Image.open(path) as picture:
                picture.verify()
                image_format = (picture.format or path.suffix.lstrip(".")).lower()
        except (OSError, ValueError, SyntaxError):
            bad.append(path)
            continue
        yield tfrecord.example({IMAGE: path.read_bytes(), FORMAT: image_format, LABEL: label,
                                TEXT: classes[label], FILENAME: path.name})


def plain_name(name: str, what: str, where: str) -> str:
    """NAME, if it is a plain file or folder name: a record can never write outside the target folder."""
    if name in ("", ".", "..") or any(mark in name for mark in ("/", "\\", "\0")):
        raise UserError(f"{where}: its {what} {name!r} is not a plain name (no path separators, no . or ..); "
                        "nothing was written")
    return name


def examples_to_folder(source: Path, target: Path, image_feature: str, label_feature: str) -> int:
    """Image records as TARGET/CLASS/FILE: each file keeps its stored image/filename (else it is numbered)."""
    written: set[tuple[str, str]] = set()
    for index, features in enumerate(tfrecord.read_examples(source)):
        where = f"{source}: record {index + 1}"
        encoded, label = tfrecord.image_record(features, where, image_feature, label_feature,
                                               "name others with --image-feature and --label-feature")
        label = plain_name(label.strip(), "class", where)
        image_format = (features.get(FORMAT) or [b"png"])[0]
        suffix = (image_format.decode() if isinstance(image_format, bytes) else str(image_format)).lower()
        stored = features.get(FILENAME)
        name = plain_name(stored[0].decode("utf-8", "replace"), FILENAME, where) if stored else \
            f"{index:06d}.{suffix.replace('jpeg', 'jpg')}"
        if (label, name) in written:
            raise UserError(f"{where}: a second {label}/{name}; give every image of a class its own file name")
        written.add((label, name))
        (target / label).mkdir(parents=True, exist_ok=True)
        (target / label / name).write_bytes(encoded)
    return len(written)


def convert(source: Path, target: Path, image_feature: str = IMAGE, label_feature: str = TEXT) -> str:
    """SOURCE in TARGET's form; returns one line saying what was written."""
    from mlprojects.engine.io import atomic_write, usual_mode

    source_kind, target_kind = kind_of(source), kind_of(target, must_exist=False)
    if target.exists() and (target_kind != "folder" or any(target.iterdir())):
        raise UserError(f"{target} exists; give a new name (nothing is overwritten)")
    if source_kind == "folder" and target_kind == "tfrecord":
        bad: list[Path] = []
        count = tfrecord.write(target, folder_to_examples(source, bad))
        if bad:
            warnings.warn(f"{counted(len(bad), 'file')} that cannot be read as images left out: "
                          f"{', '.join(map(str, bad[:3]))}", stacklevel=2)
        return f"{counted(count, 'image')} from {source} into {target}"
    if source_kind == "tfrecord" and target_kind == "folder":
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent if target.parent.exists()
                                        else None))
        try:
            count = examples_to_folder(source, staging, image_feature, label_feature)
            usual_mode(staging)
            if target.exists():
                target.rmdir()
            shutil.move(str(staging), str(target))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return f"{counted(count, 'image')} from {source} into {target} (one folder per class)"
    if "folder" in (source_kind, target_kind):
        raise UserError(f"{source} -> {target}: an image folder converts to and from TFRecord only")
    frame = read_table(source)
    if target_kind == "tfrecord":
        count = tfrecord.write(target, table_to_examples(frame))
    elif target_kind == "csv":
        atomic_write(target, lambda tmp: frame.to_csv(tmp, index=False))
        count = len(frame)
    else:
        typed = frame.copy()
        for column, kind in _typed(frame).items():
            if kind != "text":
                typed[column] = pd.to_numeric(frame[column].replace("", np.nan))
        try:
            atomic_write(target, lambda tmp: typed.to_parquet(tmp, index=False))
        except ImportError:
            raise UserError("writing Parquet needs pyarrow: pip install 'mlprojects[parquet]'") from None
        count = len(frame)
    return f"{counted(count, 'row')} from {source} into {target}"


SHOWN_COLUMNS, SHOWN_CLASSES, SHOWN_ROWS = 50, 20, 100  # what inspect shows at most, whatever the file holds


def inspect(path: Path, target: str = "", rows: int = 5) -> str:
    """A Markdown description of PATH: sizes, columns and their types, missing values, class balance, rows (each
    capped: SHOWN_COLUMNS, SHOWN_CLASSES, SHOWN_ROWS)."""
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    if kind_of(path) == "folder":
        return _inspect_folder(path)
    frame = read_table(path)
    shown_columns = list(frame.columns[:SHOWN_COLUMNS])
    types = {column: "numeric" if user_table.is_numeric(frame[column]) else "categorical" for column in shown_columns}
    lines = [f"# {path}", "", f"{len(frame):,} rows, {len(frame.columns)} columns, {path.stat().st_size:,} bytes", "",
             "| column | type | missing | distinct | values |", "|---|---|---|---|---|"]
    for column in shown_columns:
        values = frame[column][frame[column] != ""]
        if types[column] == "numeric":
            numbers = pd.to_numeric(values, errors="coerce").dropna()
            shown = f"{numbers.min():g} … {numbers.max():g}, mean {numbers.mean():.4g}" if len(numbers) else ""
        else:
            shown = ", ".join(f"{value} ({count})" for value, count in Counter(values).most_common(4))
        lines.append(f"| {column} | {types[column]} | {int((frame[column] == '').sum())} | {values.nunique()} | "
                     f"{shown} |")
    if target:
        if target not in frame.columns:
            raise UserError(f"--target {target}: no such column; its columns: {', '.join(frame.columns)}")
        counts = Counter(frame[target])
        more = f", and {counted(len(counts) - SHOWN_CLASSES, 'other value')}" if len(counts) > SHOWN_CLASSES else ""
        lines += ["", f"Class balance of {target}: " + ", ".join(f"{value or '(empty)'} {count} "
                                                                  f"({count / len(frame):.1%})"
                                                                  for value, count in counts.most_common(SHOWN_CLASSES))
                  + more]
    if len(frame.columns) > SHOWN_COLUMNS:
        lines += ["", f"(the first {SHOWN_COLUMNS} of {len(frame.columns)} columns are shown)"]
    head = frame[shown_columns].head(min(rows, SHOWN_ROWS))
    lines += ["", f"First {len(head)} rows:", "", head.to_markdown(index=False) if _has_tabulate()
              else head.to_string(index=False)]
    return "\n".join(lines) + "\n"


def _has_tabulate() -> bool:
    import importlib.util

    return importlib.util.find_spec("tabulate") is not None


def _inspect_folder(root: Path, sample: int = 50) -> str:
    from PIL import Image

    classes, files = _folder_files(root)
    counts = Counter(label for _, label in files)
    sizes, modes, formats, bad = [], Counter(), Counter(), []
    for path, _ in files[:: max(1, len(files) // (sample * len(classes)))]:
        try:
            with Image.open(path) as picture:
                sizes.append(picture.size)
                modes[picture.mode] += 1
                formats[picture.format] += 1
        except (OSError, ValueError, SyntaxError):
            bad.append(path)
    lines = [f"# {root}", "", f"{len(files):,} images in {len(classes)} classes (torchvision's ImageFolder layout)",
             "", "| class | images | share |", "|---|---|---|"]
    lines += [f"| {name} | {counts[i]} | {counts[i] / max(1, len(files)):.1%} |"
              for i, name in enumerate(classes[:SHOWN_ROWS])]
    if len(classes) > SHOWN_ROWS:
        lines += [f"| ({counted(len(classes) - SHOWN_ROWS, 'other class')}) | | |"]
    if sizes:
        widths, heights = [s[0] for s in sizes], [s[1] for s in sizes]
        lines += ["", f"Of {len(sizes) + len(bad)} images looked at: widths {min(widths)}…{max(widths)}, heights "
                      f"{min(heights)}…{max(heights)}; modes " + ", ".join(f"{m} {n}" for m, n in modes.items())
                  + "; formats " + ", ".join(f"{f} {n}" for f, n in formats.items())]
    if bad:
        lines += ["", f"Unreadable: {len(bad)} of those looked at, for example {bad[0]}"]
    return "\n".join(lines) + "\n"


def thumbnails(root: Path, out: Path, per_class: int = 6) -> Path:
    """A contact sheet of the first PER_CLASS images of each class (of the first SHOWN_CLASSES classes)."""
    from PIL import Image

    from mlprojects.plots import _figure, save_figure

    classes, files = _folder_files(root)
    classes = classes[:SHOWN_CLASSES]
    plt, fig = _figure(figsize=(1.4 * per_class, 1.5 * len(classes)))
    for row, name in enumerate(classes):
        shown = [path for path, label in files if label == row][:per_class]
        for column, path in enumerate(shown):
            ax = fig.add_subplot(len(classes), per_class, row * per_class + column + 1)
            try:
                with Image.open(path) as picture:
                    ax.imshow(picture.convert("RGB"))
            except (OSError, ValueError):
                ax.text(0.5, 0.5, "unreadable", ha="center", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            if column == 0:
                ax.set_ylabel(name, fontsize=8)
    return save_figure(plt, fig, out)
