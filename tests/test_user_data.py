"""A user's own CSV in the tabular projects: --set data=PATH.csv --set target=COLUMN."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlprojects import rundir
from mlprojects.data import user_table
from mlprojects.errors import UserError
from mlprojects.predict import predict
from mlprojects.runner import run


@pytest.fixture(scope="module")
def houses(tmp_path_factory):
    """300 houses: size (3 cells empty), rooms, city (text, 1 empty), price = 2 size + 15 rooms (+80 in paris)
    + noise, and kind (dear or cheap); one row has no price."""
    rng = np.random.default_rng(0)
    n = 300
    size, rooms = rng.normal(100, 30, n).round(1), rng.integers(1, 6, n)
    city = rng.choice(["paris", "lyon", "nice"], n)
    price = (2 * size + 15 * rooms + np.where(city == "paris", 80, 0) + rng.normal(0, 10, n)).round(1)
    frame = pd.DataFrame({"size": size, "rooms": rooms, "city": city, "price": price,
                          "kind": np.where(price > 320, "dear", "cheap")})
    frame.loc[[3, 10, 50], "size"] = np.nan
    frame.loc[7, "city"] = ""
    frame.loc[20, "price"] = np.nan
    path = tmp_path_factory.mktemp("houses") / "houses.csv"
    frame.to_csv(path, index=False)
    return path


def test_types_are_inferred_and_missing_values_filled_from_the_training_split(houses):
    with pytest.warns(UserWarning, match="3 missing in size, 1 missing in city"):
        table = user_table.load(houses, "price", "regression", features="size,rooms,city", seed=7)
    report = table.report
    assert report["column_types"] == {"size": "numeric", "rooms": "numeric", "city": "categorical"}
    assert report["missing_values"] == {"size": 3, "city": 1}
    assert report["rows_without_target"] == 1 and report["rows"] == 299
    assert report["train_rows"] + report["test_rows"] == 299
    # by hand: the same split, the median of the training rows' sizes, the most frequent training city
    from sklearn.model_selection import train_test_split

    frame = pd.read_csv(houses).dropna(subset=["price"]).reset_index(drop=True)
    train_rows, _ = train_test_split(np.arange(len(frame)), test_size=0.2, random_state=7)
    train = frame.iloc[train_rows]
    assert table.prep.fill["size"] == pytest.approx(train["size"].median())
    assert table.prep.fill["city"] == train["city"].mode().iloc[0]
    assert table.prep.one_hot == {"city": ["lyon", "nice", "paris"]}
    assert table.prep.width == 2 + 3
    # standardised with training statistics (after filling): mean 0 on the training rows
    assert np.allclose(table.X_train[:, :2].mean(0), 0, atol=1e-12)
    assert set(np.unique(table.X_train[:, 2:])) == {0.0, 1.0}


def test_least_squares_on_a_users_noise_free_table_is_exact(tmp_path):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=80), rng.normal(size=80)
    path = tmp_path / "exact.csv"
    pd.DataFrame({"a": a, "b": b, "y": 3 * a - 2 * b + 5}).to_csv(path, index=False)
    folder = run("linreg-boston", {"data": str(path), "target": "y", "solver": "lstsq"}, out=tmp_path / "run",
                 progress=False)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["test_rmse"] < 1e-9
    # back in the file's units: coefficient / scale
    scale = metrics["feature_scale"]
    coefficients = metrics["coefficients"]
    assert coefficients["a"] / scale[0] == pytest.approx(3, abs=1e-3)
    assert coefficients["b"] / scale[1] == pytest.approx(-2, abs=1e-3)


@pytest.mark.parametrize("project,target", [("wine", "kind"), ("auto-mpg", "price"), ("softmax-iris", "kind"),
                                            ("logreg-chd", "kind")])
def test_a_run_on_a_users_csv_predicts_its_test_rows_as_it_scored_them(houses, tmp_path, project, target):
    settings = {"data": str(houses), "target": target, "features": "size,rooms,city"}
    if project in ("wine", "auto-mpg"):
        settings["epochs"] = 40
    with pytest.warns(UserWarning, match="filled from the training split"):
        folder = run(project, settings, out=tmp_path / "run", progress=False)
    finished = rundir.load(folder)
    metrics = finished.metrics
    rows = finished.project.inputs.training_data(finished.project, finished.cfg).raw_test
    assert len(rows) == metrics["data"]["test_rows"]
    result = predict(finished, rows.drop(columns=[target]))
    if target == "kind":
        assert metrics["test_accuracy"] > 0.85
        assert np.mean(result["predicted_kind"].to_numpy() == rows["kind"].to_numpy()) == \
            pytest.approx(metrics["test_accuracy"])
    else:
        assert metrics["test_r2"] > 0.8
        error = result["predicted_price"].to_numpy() - rows["price"].to_numpy(dtype=float)
        assert np.mean(error ** 2) == pytest.approx(metrics["test_mse"], rel=1e-4)
    # new rows: an empty size, a city never seen in training
    new = pd.DataFrame({"size": ["", "90"], "rooms": ["2", "3"], "city": ["lyon", "marseille"]})
    assert len(predict(finished, new)) == 2


def test_bad_files_and_settings_are_one_line(cli, houses, tmp_path):
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b,y\n1,2,3\n4,5,6,7\n")
    typo = tmp_path / "typo.csv"
    typo.write_text("a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(20)) + "1O,1\n")
    one_class = tmp_path / "one.csv"
    one_class.write_text("a,y\n1,x\n2,x\n3,x\n4,x\n")
    twice = tmp_path / "twice.csv"
    twice.write_text("a,a,y\n1,2,3\n")
    no_target = tmp_path / "no_target.csv"
    no_target.write_text("a,y\n" + "".join(f"{i},\n" for i in range(9)))
    surplus = tmp_path / "surplus.csv"  # pandas would read a=3, b=4: the two surplus fields as an index
    surplus.write_text("a,b,y\n1,2,3,4,x\n5,6,y\n")
    short = tmp_path / "short.csv"  # pandas would read the missing field as an empty cell, filled
    short.write_text("a,b,y\n" + "".join(f"{i},{i},{'xy'[i % 2]}\n" for i in range(9)) + "5,y\n")
    cases = [
        (("wine", f"data={tmp_path / 'absent.csv'}", "target=y"), "no such file"),
        (("wine", f"data={houses}"), "needs target=COLUMN"),
        (("wine", f"data={houses}", "target=prise"), "no column 'prise' for target (the closest is 'price')"),
        (("auto-mpg", f"data={ragged}", "target=y"), "malformed CSV"),
        (("wine", f"data={surplus}", "target=y"), "line 2 has 5 fields where the header has 3"),
        (("wine", f"data={surplus}", "target=y", "stream=true"), "line 2 has 5 fields where the header has 3"),
        (("wine", f"data={short}", "target=y"), "line 11 has 2 fields where the header has 3"),
        (("logreg-chd", f"data={short}", "target=y"), "line 11 has 2 fields where the header has 3"),
        (("auto-mpg", f"data={typo}", "target=y"), "row 21, column a: '1O' is not a number"),
        (("wine", f"data={one_class}", "target=y"), "one class ('x')"),
        (("wine", f"data={no_target}", "target=y"), "column y is empty on every row"),  # was: one class ('')
        (("wine", f"data={twice}", "target=y"), "names a column twice"),
        (("auto-mpg", f"data={houses}", "target=city"), "row 1, column city: 'lyon' is not a number"),
        (("wine", f"data={houses}", "target=kind", "features=size,kind"), "other than the target"),
    ]
    for (project, *settings), message in cases:
        args = [part for setting in settings for part in ("--set", setting)]
        result = cli("run", project, *args, "--out", str(tmp_path / "run"))
        assert result.code == 2 and message in result.err, (settings, result.err)
        assert len([line for line in result.err.splitlines() if line.startswith("error")]) == 1, result.err
        assert not (tmp_path / "run").exists()
    # predict reads new rows by the same rule
    from mlprojects.inputs.table import read_csv

    for path, line in ((surplus, "line 2 has 5"), (short, "line 11 has 2")):
        with pytest.raises(UserError, match=line):
            read_csv(path)
