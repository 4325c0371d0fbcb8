"""Reading a CSV file, the one way every part of the package does: a user's table for training (whole or in
chunks), rows to predict, readings of a series, the embedded tables.

The rules, stated once:

- **Delimiter**: of ``,`` ``;`` tab and ``|``, the most frequent in the header line (outside quotes) that splits
  the header and the first lines into the same number of fields (else simply the most frequent; a comma when
  there is none: one column). Semicolons are the usual export where the comma is the decimal mark.
- **Decimal comma**: with a delimiter other than the comma, numbers written ``3,5`` in the first rows (and none
  written ``3.5``) make the comma the decimal mark: such cells are read as ``3.5`` everywhere.
- **Rows**: every row has the header's number of fields, or the file is refused naming the line; pandas
  would otherwise take surplus leading fields as an index (shifting every column) and read missing trailing
  fields as empty cells. Blank lines are skipped. A byte-order mark is dropped.
- **Cells** are text, stripped of surrounding spaces; an empty cell is missing. What a column's cells mean (a
  number, a category) is decided by its reader (``mlprojects.data.user_table``).
- **Header**: every column named once.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from mlprojects.errors import UserError

DELIMITERS = (",", ";", "\t", "|")
SNIFFED_LINES = 1000  # lines looked at for a decimal comma
_COMMA_NUMBER = re.compile(r"^\s*[+-]?\d+,\d+\s*$")
_POINT_NUMBER = re.compile(r"^\s*[+-]?\d*\.\d+\s*$")


@dataclass(frozen=True)
class Dialect:
    delimiter: str = ","
    decimal: str = "."

    def __str__(self) -> str:
        named = {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"}[self.delimiter]
        return f"{named}-separated" + (", decimal comma" if self.decimal == "," else "")

    def options(self) -> dict[str, Any]:
        """pandas.read_csv's options for this dialect."""
        return {"sep": self.delimiter, "decimal": self.decimal, "skipinitialspace": True, "index_col": False,
                "encoding": "utf-8-sig"}


@functools.lru_cache(maxsize=16)
def _dialect(path: Path, _version) -> Dialect:
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        lines = [line for _, line in zip(range(SNIFFED_LINES), handle)]
    header = next((line for line in lines if line.strip()), "")
    outside = re.sub(r'"[^"]*"', "", header)
    counts = {delimiter: outside.count(delimiter) for delimiter in DELIMITERS}
    ranked = sorted((d for d in DELIMITERS if counts[d]), key=lambda d: (-counts[d], DELIMITERS.index(d)))
    if not ranked:
        return Dialect()

    def widths(delimiter: str) -> set[int]:
        return {len(row) for row in csv.reader(lines, delimiter=delimiter, skipinitialspace=True) if row}

    delimiter = next((d for d in ranked if len(widths(d)) == 1), ranked[0])  # one that splits every line alike
    if delimiter == ",":
        return Dialect(",")
    cells = [cell for row in csv.reader(lines[1:], delimiter=delimiter) for cell in row]
    comma = any(_COMMA_NUMBER.match(cell) for cell in cells)
    point = any(_POINT_NUMBER.match(cell) for cell in cells)
    return Dialect(delimiter, "," if comma and not point else ".")


def dialect(path: Path) -> Dialect:
    """PATH's delimiter and decimal mark (see the module's docstring), read from its first lines."""
    stat = path.stat()
    return _dialect(path, (stat.st_mtime_ns, stat.st_size))


def check_rows(path: Path, found: Dialect) -> None:
    """Refuse a file with a row whose fields are more or fewer than the header's."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle, delimiter=found.delimiter, skipinitialspace=True)
        width = len(next((row for row in reader if row), []))
        for row in reader:
            if row and len(row) != width:
                raise UserError(f"{path}: malformed CSV ({found}): line {reader.line_num} has {len(row)} fields "
                                f"where the header has {width}; give every row one field per column (quote a "
                                "field that holds the delimiter)")


def _cells(frame: pd.DataFrame, found: Dialect) -> pd.DataFrame:
    """The text columns stripped, and numbers written with a decimal comma rewritten with a point."""
    for name in [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]:
        column = frame[name].str.strip()
        if found.decimal == ",":
            column = column.where(~column.str.match(_COMMA_NUMBER, na=False), column.str.replace(",", ".", regex=False))
        frame[name] = column
    return frame


def read(path: str | Path, header: bool = True, names: list[str] | None = None) -> pd.DataFrame:
    """The whole file as text cells (see the module's docstring); without a HEADER line, its columns are NAMES."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; give the path of a CSV file with a header line")
    found = dialect(path)
    check_rows(path, found)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, header=0 if header else None, names=names,
                            **found.options())
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: malformed CSV: the file is empty; a CSV needs a header line and rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise UserError(f"{path}: malformed CSV ({found}): {str(error).strip().splitlines()[0]}") from None
    if header:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:  # pandas renames a, a to a.1
            named = [name.strip() for name in next((row for row in csv.reader(handle, delimiter=found.delimiter)
                                                    if row), [])]
        twice = [name for name in named if named.count(name) > 1 or not name]
        if twice:
            raise UserError(f"{path}: the header names a column twice or leaves one unnamed ({twice[0]!r}); give "
                            "every column one name")
        frame.columns = named
    if frame.empty:
        raise UserError(f"{path}: a header and no rows")
    return _cells(frame, found)


def read_text(text: str, source: str = "the CSV") -> pd.DataFrame:
    """A CSV given as text (a request's body), read by the same rules as a file, as SOURCE in messages."""
    import os
    import tempfile

    handle, name = tempfile.mkstemp(suffix=".csv")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        try:
            return read(name)
        except UserError as error:
            raise UserError(str(error).replace(name, source)) from None
    finally:
        os.unlink(name)


def chunks(path: Path, rows: int, dtypes: dict[str, Any] | None = None) -> Iterator[pd.DataFrame]:
    """The file in chunks of ROWS rows: text cells, or typed by DTYPES (an empty number is NaN). The caller
    checks the rows first (``check_rows``)."""
    found = dialect(path)
    try:
        reader = pd.read_csv(path, chunksize=rows, dtype=dtypes or str, keep_default_na=dtypes is not None,
                             **found.options())
        for chunk in reader:
            chunk.columns = [str(c).strip() for c in chunk.columns]
            yield _cells(chunk, found)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: malformed CSV ({found}): {str(error).strip().splitlines()[0]}") from None
    except ValueError as error:  # a text cell in a numeric column of a later chunk
        raise UserError(f"{path}: {str(error).splitlines()[0]} (a column typed numeric by the first "
                        f"{rows:,} rows); fix the cell, or set categorical=COLUMN") from None
