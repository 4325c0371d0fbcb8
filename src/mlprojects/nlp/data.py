"""Labelled text from CSV (read as every CSV here, ``mlprojects.data.csvfile``) or JSON Lines files, checked
before anything trains on it."""

from __future__ import annotations

import json
from pathlib import Path

from mlprojects.errors import UserError


def read_labelled(path: str | Path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    """(texts, labels as strings) from a .csv (header line) or a .jsonl file (one object per line)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    rows: list[dict]
    if path.suffix.lower() in (".jsonl", ".json"):
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise UserError(f"{path}: line {number} is not JSON ({error.msg}); give one object per line") from None
            if not isinstance(row, dict):
                raise UserError(f"{path}: line {number} is not a JSON object")
            rows.append(row)
    else:  # by the rules of every CSV here: its delimiter, quotes, rows of the header's width
        from mlprojects.data import csvfile

        rows = csvfile.read(path).to_dict("records")
    if not rows:
        raise UserError(f"{path}: the file is empty")
    for column in (text_column, label_column):
        if column not in rows[0]:
            raise UserError(f"{path}: no column {column!r}; found {', '.join(map(str, rows[0]))} "
                            f"(choose with --text-column / --label-column)")
    texts, labels = [], []
    for number, row in enumerate(rows, 1):
        text, label = row.get(text_column), row.get(label_column)
        if text is None or label is None or str(label) == "":
            raise UserError(f"{path}: row {number} has no {text_column if text is None else label_column}")
        texts.append(str(text))
        labels.append(str(label))
    return texts, labels
