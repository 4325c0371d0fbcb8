"""Property-based tests of the table readers (Hypothesis): any table written as a CSV (any column names and
cells, quotes, separators inside quotes, CRLF, a byte-order mark, another delimiter) or as Parquet reads back
cell for cell; a row with surplus or missing fields is refused in one line; the whole-file and the streamed
reader of a user's table agree on its columns, their types and their missing values."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlprojects.data import csvfile, streaming, user_table
from mlprojects.errors import UserError

SETTINGS = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# text a user may write in a cell or a header: letters of any script, digits, spaces, quotes, separators
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"), max_size=12)
NUMBER = st.one_of(st.integers(-10**6, 10**6).map(str),
                   st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.6g}"))
CELL = st.one_of(TEXT, NUMBER, st.just(""), st.sampled_from(["true", "False", "2024-02-29", "1e-3", "NA"]))


@st.composite
def tables(draw, min_columns: int = 2):
    """(header, rows) of text: unique names that stay unique and non-empty once stripped."""
    names = draw(st.lists(TEXT.map(str.strip).filter(bool), min_size=min_columns, max_size=5, unique=True))
    rows = draw(st.lists(st.lists(CELL, min_size=len(names), max_size=len(names)), min_size=1, max_size=25))
    rows = [row for row in rows if any(cell.strip() for cell in row)] or [["x"] * len(names)]
    return names, rows


def write(path, names, rows, delimiter=",", newline="\n", bom=False):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerow(names)
    writer.writerows(rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8"))


def expected(names, rows) -> pd.DataFrame:
    return pd.DataFrame([[cell.strip() for cell in row] for row in rows], columns=names, dtype=str)


@settings(SETTINGS, max_examples=300)
@given(table=tables(), newline=st.sampled_from(["\n", "\r\n"]), bom=st.booleans())
def test_any_comma_separated_table_reads_back_cell_for_cell(tmp_path_factory, table, newline, bom):
    names, rows = table
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    write(path, names, rows, newline=newline, bom=bom)
    read = csvfile.read(path)
    assert csvfile.dialect(path).delimiter == ","
    pd.testing.assert_frame_equal(read, expected(names, rows), check_dtype=False)


@SETTINGS
@given(table=tables(), delimiter=st.sampled_from([";", "\t", "|"]))
def test_another_delimiter_is_found_from_the_header(tmp_path_factory, table, delimiter):
    names, rows = table
    if any("," in name for name in names) or any(d in "".join(names) for d in csvfile.DELIMITERS if d != delimiter):
        return  # a header holding other delimiters is ambiguous: the rule takes the most frequent
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    write(path, names, rows, delimiter=delimiter)
    found = csvfile.dialect(path)
    assert found.delimiter == delimiter
    read = csvfile.read(path)
    want = expected(names, rows)
    if found.decimal == ",":  # the documented rule: numbers written 3,5 are read 3.5
        want = want.apply(lambda column: column.where(~column.str.match(r"^\s*[+-]?\d+,\d+\s*$"),
                                                      column.str.replace(",", ".", regex=False)))
    pd.testing.assert_frame_equal(read, want, check_dtype=False)


@SETTINGS
@given(table=tables(), which=st.integers(0, 24), extra=st.sampled_from([-1, 1, 2]))
def test_a_row_with_surplus_or_missing_fields_is_refused_naming_its_line(tmp_path_factory, table, which, extra):
    names, rows = table
    row = which % len(rows)
    rows = [list(r) for r in rows]
    rows[row] = rows[row] + ["x"] * extra if extra > 0 else rows[row][:extra]
    if not any(cell.strip() for cell in rows[row]) and extra < 0:
        rows[row][0] = "x"
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    write(path, names, rows)
    exact = f"line {row + 2} has {len(rows[row])} fields where the header has {len(names)}"
    ambiguous = any(d in "".join(names) for d in csvfile.DELIMITERS if d != ",")  # the rule may read it otherwise
    with pytest.raises(UserError, match=r"malformed CSV .*line \d+ has \d+ fields" if ambiguous else exact) as error:
        csvfile.read(path)
    assert "\n" not in str(error.value)


@SETTINGS
@given(table=tables())
def test_parquet_reads_back_cell_for_cell(tmp_path_factory, table):
    pytest.importorskip("pyarrow")
    names, rows = table
    path = tmp_path_factory.mktemp("parquet") / "t.parquet"
    pd.DataFrame(rows, columns=names, dtype=str).to_parquet(path)
    pd.testing.assert_frame_equal(user_table.read(path), expected(names, rows), check_dtype=False)


@st.composite
def user_tables(draw):
    """A user's table for a regression: numeric and categorical feature columns with empty cells, a numeric
    target."""
    count = draw(st.integers(8, 60))
    columns = {}
    for index in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            cells = draw(st.lists(st.one_of(NUMBER, st.just("")), min_size=count, max_size=count))
        else:
            cells = draw(st.lists(st.sampled_from(["paris", "lyon", "nice", "", "Zürich", "a,b"]), min_size=count,
                                  max_size=count))
        columns[f"f {index}"] = cells
    columns["y"] = draw(st.lists(NUMBER, min_size=count, max_size=count))
    return pd.DataFrame(columns)


@SETTINGS
@given(frame=user_tables())
def test_the_whole_file_and_the_streamed_reader_agree(tmp_path_factory, frame):
    path = tmp_path_factory.mktemp("user") / "t.csv"
    frame.to_csv(path, index=False)
    pd.testing.assert_frame_equal(pd.concat(list(csvfile.chunks(path, 7)), ignore_index=True), csvfile.read(path))
    outcomes = []
    for reader in (lambda: user_table.load(path, "y", "regression", warn=False),
                   lambda: streaming.load(path, "y", "regression")):
        try:
            table = reader()
            outcomes.append((table.report["column_types"], table.report["missing_values"], table.prep.columns,
                             sorted(table.prep.one_hot)))
        except UserError as error:
            assert "\n" not in str(error)
            outcomes.append("refused")
    if "refused" not in outcomes:  # (a table too small to split is refused by one and may not be by the other)
        assert outcomes[0] == outcomes[1]


@SETTINGS
@given(table=tables())
def test_tfrecord_reads_back_cell_for_cell_in_the_written_order(tmp_path_factory, table):
    """Text features, written in column order (an empty cell: the feature left out, as TensorFlow writes it). A
    TFRecord file has no header: the columns' order is the order of the features in the first records."""
    from mlprojects.data import tfrecord

    names, rows = table
    rows = [[cell or "x" for cell in rows[0]], *rows[1:]]  # the first record has every feature: it sets the order
    path = tmp_path_factory.mktemp("tfrecord") / "t.tfrecord"
    tfrecord.write(path, (tfrecord.example({n: c for n, c in zip(names, row) if c}) for row in rows))
    read = user_table.read(f"tfrecord:{path}")
    present = [name for index, name in enumerate(names) if any(row[index] for row in rows)]
    want = pd.DataFrame([[row[names.index(n)] for n in present] for row in rows], columns=present, dtype=str)
    pd.testing.assert_frame_equal(read.apply(lambda c: c.str.strip()), want.apply(lambda c: c.str.strip()),
                                  check_dtype=False)


@SETTINGS
@given(table=tables(), twice=st.integers(0, 4))
def test_a_header_that_names_a_column_twice_is_refused(tmp_path_factory, table, twice):
    names, rows = table
    names = names + [names[twice % len(names)]]
    rows = [row + ["1"] for row in rows]
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    write(path, names, rows)
    with pytest.raises(UserError, match="names a column twice"):
        csvfile.read(path)


@st.composite
def numeric_tables(draw):
    count = draw(st.integers(8, 40))
    columns = {f"x {i}": draw(st.lists(NUMBER, min_size=count, max_size=count)) for i in range(draw(st.integers(1, 4)))}
    columns["y"] = draw(st.lists(NUMBER, min_size=count, max_size=count))
    return pd.DataFrame(columns)


@SETTINGS
@given(frame=numeric_tables())
def test_the_models_inputs_are_the_declared_columns_parsed_and_standardised(tmp_path_factory, frame):
    """The documented rule for numbers: a float parsed from the cell, standardised with the training split's
    mean and population standard deviation (a constant column keeps scale 1)."""
    import numpy as np

    path = tmp_path_factory.mktemp("user") / "t.csv"
    frame.to_csv(path, index=False)
    table = user_table.load(path, "y", "regression", warn=False)
    assert table.prep.columns == [c for c in frame.columns if c != "y"]
    raw = table.raw_test[table.prep.columns].astype(float).to_numpy()
    np.testing.assert_allclose(table.X_test * np.asarray(table.prep.scale) + np.asarray(table.prep.mean), raw,
                               rtol=1e-9, atol=1e-6)
    np.testing.assert_array_equal(table.y_test, table.raw_test["y"].astype(float).to_numpy())
