"""The book's classic-model projects end to end: its published figures, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlprojects.data import tables
from mlprojects.errors import UserError


def metrics_of(cli, tmp_path, *args):
    result = cli("run", *args, "--out", str(tmp_path / "run"), "--quiet")
    assert result.code == 0, result.err
    return json.loads((tmp_path / "run" / "metrics.json").read_text())


def test_kmeans_blobs_reproduces_the_books_centroids(cli, tmp_path):
    metrics = metrics_of(cli, tmp_path, "kmeans-blobs")
    book = np.array([(1.65, -2.05), (-2.08, 1.61), (-2.09, -2.07), (2.10, 1.56)])
    np.testing.assert_allclose(metrics["centroids"], book, atol=0.01)
    assert metrics["iterations"] == 8  # the book: 8 iterations
    assert (tmp_path / "run" / "plots" / "clusters.png").stat().st_size > 10_000


def test_kmeans_fails_on_rings_and_the_radius_fixes_it(cli, tmp_path):
    xy = metrics_of(cli, tmp_path / "xy", "kmeans-circles")
    radius = metrics_of(cli, tmp_path / "radius", "kmeans-circles", "--set", "features=radius")
    assert abs(xy["test_adjusted_rand_index"]) < 0.1  # no better than chance
    assert radius["test_adjusted_rand_index"] == pytest.approx(1.0)
    np.testing.assert_allclose(xy["ring_means"], 0.0, atol=0.02)  # why: both rings are centred on the origin


def test_knn_circles_is_scored_on_its_held_out_points(cli, tmp_path):
    metrics = metrics_of(cli, tmp_path, "knn-circles")
    assert metrics["test_samples"] == 63 and metrics["train_samples"] == 147  # the book's 70/30 cut of 210
    assert metrics["test_accuracy"] > 0.9


def test_linreg_synthetic_against_the_closed_form(cli, tmp_path):
    metrics = metrics_of(cli, tmp_path, "linreg-synthetic")
    assert metrics["least_squares_slope"] == pytest.approx(2.0, abs=0.2)
    assert metrics["slope"] == pytest.approx(metrics["least_squares_slope"], abs=0.2)
    assert metrics["test_mse"] < 0.4 ** 2 * 1.3  # close to the noise variance
    exact = metrics_of(cli, tmp_path / "lstsq", "linreg-synthetic", "--set", "solver=lstsq")
    assert exact["slope"] == pytest.approx(metrics["least_squares_slope"], abs=1e-9)


def test_linreg_boston_uses_every_feature_and_reaches_the_closed_form(cli, tmp_path):
    metrics = metrics_of(cli, tmp_path, "linreg-boston")
    assert len(metrics["coefficients"]) == 12
    assert metrics["test_rmse"] == pytest.approx(metrics["least_squares_test_rmse"], rel=0.01)


def test_logreg_chd_and_softmax_iris(cli, tmp_path):
    chd = metrics_of(cli, tmp_path / "chd", "logreg-chd")
    assert chd["test_samples"] == 30 and 0.6 <= chd["test_accuracy"] <= 0.9
    assert chd["log_odds_per_year"] > 0  # risk rises with age
    iris = metrics_of(cli, tmp_path / "iris", "softmax-iris", "--set", "grid_search=true")
    assert iris["test_accuracy"] >= 0.85 and iris["best_C"] in (0.01, 0.1, 1.0, 10.0, 100.0)
    assert np.sum(iris["confusion_matrix"]) == 45


def test_estimator_projects_refuse_resume_and_nproc(cli, tmp_path):
    metrics_of(cli, tmp_path, "knn-circles")
    resumed = cli("run", "--resume", str(tmp_path / "run"))
    assert resumed.code == 2 and "nothing to resume" in resumed.err
    spread = cli("run", "knn-circles", "--nproc", "2")
    assert spread.code == 2 and "--nproc is for trained networks" in spread.err


@pytest.mark.parametrize("settings, message", [
    (["--set", "k=0"], "k=0: must be greater than 0"),
    (["--set", "init=random"], "init='random' is not valid"),
    (["--set", "n_sample=10"], "did you mean n_samples"),
    (["--set", "std=abc"], "expected a number"),
])
def test_bad_settings_are_one_line(cli, settings, message):
    result = cli("run", "kmeans-blobs", *settings)
    assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1


def test_a_solver_the_project_does_not_know(cli):
    result = cli("run", "linreg-boston", "--set", "solver=newton")
    assert result.code == 2 and "solver=newton: expected one of lstsq, sgd" in result.err


# --- CSV tables --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("age,chd\n20,0\n", "1 data rows, expected 100"),
    ("years,chd\n" + "20,0\n" * 100, "missing column(s) age"),
    ("age,chd\n" + "20,0\n" * 99 + "twenty,1\n", "column age row 100: 'twenty' is not a number"),
    ("age,chd\n" + "20,0\n" * 99 + ",1\n", "column age row 100 is empty"),
    ("age,chd\n" + '20,"0\n' * 100, "malformed CSV"),
    ("", "malformed CSV"),
])
def test_malformed_csv_is_one_clear_line(tmp_path, text, message):
    path = tmp_path / "chd.csv"
    path.write_text(text)
    with pytest.raises(UserError) as error:
        tables.read_csv(path, tables.SCHEMAS["chd"])
    assert message in str(error.value) and str(path) in str(error.value)


def test_the_embedded_tables_parse():
    assert tables.load("chd").shape == (100, 2)
    assert tables.load("boston").columns[1] == "ZN"  # header padding stripped
    assert sorted(tables.load("iris")["species"].unique()) == ["setosa", "versicolor", "virginica"]
