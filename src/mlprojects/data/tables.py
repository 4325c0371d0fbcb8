"""The book's CSV tables, read with pandas and checked before anything trusts them.

Each table has a schema: its columns (in order), which are numeric, and how many rows to expect.
A file that is not that table (a missing column, text where a number belongs, an empty cell, a
wrong row count) fails with one line naming the file, the problem, and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlprojects.data import csvfile, store
from mlprojects.errors import UserError


@dataclass(frozen=True)
class Schema:
    columns: tuple[str, ...]
    numeric: tuple[str, ...]
    rows: int | None = None
    header: bool = True  # False: the file has no header line; ``columns`` names them


IRIS_FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
AUTO_MPG_COLUMNS = ("mpg", "cylinders", "displacement", "horsepower", "weight", "acceleration", "model_year", "origin")
WINE_FEATURES = ("Alcohol", "Malic.acid", "Ash", "Acl", "Mg", "Phenols", "Flavanoids", "Nonflavanoid.phenols",
                 "Proanth", "Color.int", "Hue", "OD", "Proline")

SCHEMAS: dict[str, Schema] = {
    "iris": Schema(IRIS_FEATURES + ("species",), IRIS_FEATURES, 150, header=False),
    "boston": Schema(("CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX", "PTRATIO", "LSTAT",
                      "MEDV"), ("CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX", "PTRATIO",
                                "LSTAT", "MEDV"), 506),
    "chd": Schema(("age", "chd"), ("age", "chd"), 100),
    "auto-mpg": Schema(AUTO_MPG_COLUMNS + ("name",), AUTO_MPG_COLUMNS, 398),
    "wine": Schema(("Wine",) + WINE_FEATURES, ("Wine",) + WINE_FEATURES, 178),
    "elec-load": Schema(("Load",), ("Load",), 140256),
}


def read_csv(path: str | Path, schema: Schema, fix: str = "") -> pd.DataFrame:
    """Parse ``path`` against ``schema``; ``fix`` tells the user how to get a good copy."""
    path = Path(path)
    advice = f"; {fix}" if fix else ""

    def bad(problem: str) -> UserError:
        return UserError(f"{path}: malformed CSV: {problem}{advice}")

    try:
        frame = csvfile.read(path, header=schema.header, names=None if schema.header else list(schema.columns))
    except UserError as error:
        raise UserError(f"{error}{advice}") from None
    if schema.header:
        missing = [c for c in schema.columns if c not in frame.columns]
        if missing:
            raise bad(f"missing column(s) {', '.join(missing)}; found {', '.join(frame.columns)}")
        frame = frame[list(schema.columns)]
    if schema.rows is not None and len(frame) != schema.rows:
        raise bad(f"{len(frame)} data rows, expected {schema.rows}")
    for column in schema.numeric:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            cell = frame[column].iloc[row]
            raise bad(f"column {column} row {row + 1}: {cell!r} is not a number" if cell else
                      f"column {column} row {row + 1} is empty")
        frame[column] = values.astype(float)
    return frame


def load(name: str) -> pd.DataFrame:
    """A catalog table by name (embedded ones need no network), checked against its schema."""
    if name not in SCHEMAS:
        raise UserError(f"no table schema for dataset {name!r}; tables: {', '.join(sorted(SCHEMAS))}")
    (path,) = store.locate(name).values()
    return read_csv(path, SCHEMAS[name], fix="reinstall mlprojects to restore the embedded file")
