"""``mlprojects predict``: a finished run applied to the test split, written the way a user has it (a CSV,
image files, a series, texts), reproduces the run's own test figures exactly; bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlprojects import registry, rundir
from mlprojects.runner import run

PROJECTS = [entry.name for entry in registry.entries()]
TABLES = [name for name in PROJECTS if registry.get(name).inputs.kind == "table"]
IMAGES = [name for name in PROJECTS if registry.get(name).inputs.kind == "image"]


def smoke_run(name: str, tmp_path, request, **settings) -> rundir.Run:
    for need in registry.entry(name).needs:
        settings = {**(request.getfixturevalue(need.replace("-", "_")) or {}), **settings}
    run_dir = run(name, {**registry.get(name).smoke_settings, **settings}, out=tmp_path / "run", progress=False)
    return rundir.load(run_dir)


def test_every_project_that_predicts_says_what_it_takes():
    kinds = {name: registry.get(name).inputs.kind for name in PROJECTS}
    assert set(TABLES) >= {"auto-mpg", "wine", "linreg-boston", "logreg-chd", "softmax-iris", "knn-circles",
                           "kmeans-blobs", "kmeans-circles", "linreg-synthetic", "nonlinear-regression"}
    assert set(IMAGES) == {"mnist-mlp", "mnist-cnn", "cifar10-cnn"}
    assert kinds["energy-lstm"] == "series" and kinds["text-classify"] == kinds["token-classify"] == "text"
    assert kinds["conv-demo"] == kinds["bach-charrnn"] == ""


@pytest.mark.parametrize("name", TABLES)
def test_predict_on_the_test_split_as_a_csv_reproduces_the_test_figures(name, tmp_path, request, cli):
    finished = smoke_run(name, tmp_path, request)
    prep = finished.preparation
    raw = finished.project.prepare(finished.cfg).raw_test
    assert list(raw.columns)[-1] == prep.target
    shuffled = raw[list(reversed(raw.columns))].assign(note="carried through")  # any order, extra columns kept
    shuffled.to_csv(tmp_path / "test.csv", index=False)
    result = cli("predict", str(finished.path), str(tmp_path / "test.csv"), "--out", str(tmp_path / "out.csv"))
    assert result.code == 0, result.err
    out = pd.read_csv(tmp_path / "out.csv")
    assert (out["note"] == "carried through").all() and len(out) == len(raw)
    metrics = finished.metrics
    if prep.task == "clustering":
        from sklearn.metrics import adjusted_rand_score

        assert adjusted_rand_score(out[prep.target], out["cluster"]) == metrics["test_adjusted_rand_index"]
    elif prep.task == "classification":
        predicted = out[f"predicted_{prep.target}"].astype(str)
        truth = raw[prep.target].astype(str).str.removesuffix(".0")
        assert np.mean(predicted == truth) == metrics["test_accuracy"]
        classes = [column for column in out.columns if column.startswith("probability_")]
        np.testing.assert_allclose(out[classes].sum(axis=1), 1.0, rtol=1e-12)
    else:
        truth = out[prep.target].to_numpy()
        if finished.project.kind == "trained":  # the engine holds targets in float32
            truth = truth.astype(np.float32).astype(np.float64)
        assert np.mean((out[f"predicted_{prep.target}"].to_numpy() - truth) ** 2) == metrics["test_mse"]


@pytest.mark.parametrize("name", IMAGES)
def test_predict_on_the_test_images_as_files_reproduces_the_test_accuracy(name, tmp_path, request, cli):
    from PIL import Image

    finished = smoke_run(name, tmp_path, request)
    pixels, labels = finished.project.prepare(finished.cfg).raw_test
    folder = tmp_path / "images"
    folder.mkdir()
    for index, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"{index:05d}.png")
    result = cli("predict", str(finished.path), str(folder), "--top-k", "2", "--out", str(tmp_path / "out.csv"))
    assert result.code == 0, result.err
    out = pd.read_csv(tmp_path / "out.csv", dtype={"label_1": str, "label_2": str})
    assert list(out.columns) == ["image", "label_1", "probability_1", "label_2", "probability_2"]
    assert np.mean(out["label_1"].to_numpy() == np.asarray(labels)) == finished.metrics["test_accuracy"]
    assert (out["probability_1"] >= out["probability_2"]).all()


def test_an_image_of_any_size_and_mode_goes_through_the_apps_preprocessing(tmp_path):
    from PIL import Image, ImageDraw

    from mlprojects.predict import predict

    finished = smoke_run("mnist-mlp", tmp_path, None)
    canvas = Image.new("RGBA", (400, 300), (255, 255, 255, 255))
    ImageDraw.Draw(canvas).line([(200, 40), (200, 260)], fill=(0, 0, 0, 255), width=24)  # a "1", off-centre
    canvas.save(tmp_path / "one.png")
    canvas.convert("L").save(tmp_path / "one.jpg")
    table = predict(finished, [tmp_path / "one.png", tmp_path / "one.jpg", canvas], top_k=1)
    assert table["label_1"].nunique() == 1 and len(table) == 3  # the same digit whichever form it came in


def test_a_read_only_run_predicts_through_onnxruntime_and_leaves_no_model_behind(digits_run, tmp_path, monkeypatch):
    """A run directory that cannot be written (a shared copy) still predicts through onnxruntime, as a writable one
    does: its network is exported to a temporary folder, which goes once the session has read it (each process had
    left a copy of the model there)."""
    import os
    import shutil
    import tempfile

    from PIL import Image

    from mlprojects.predict import predict

    copy, temporary = tmp_path / "shared", tmp_path / "tmp"
    shutil.copytree(digits_run, copy)
    (copy / "model.onnx").unlink(missing_ok=True)
    temporary.mkdir()
    finished = rundir.load(copy)
    pixels, _ = finished.project.prepare(finished.cfg).raw_test
    files = []
    for index in range(8):
        Image.fromarray(pixels[index]).save(tmp_path / f"{index}.png")
        files.append(tmp_path / f"{index}.png")
    expected = predict(finished, files, engine="torch")
    access = os.access  # root may write anywhere: the folder is made read-only for the exporter's question
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: (False if Path(path) == copy and mode & os.W_OK
                                                                else access(path, mode, **kw)))
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    answered = predict(finished, files, engine="onnxruntime")
    assert list(answered["label_1"]) == list(expected["label_1"])
    np.testing.assert_allclose(answered["probability_1"], expected["probability_1"], atol=1e-5)
    assert not (copy / "model.onnx").exists() and not list(temporary.iterdir())


def test_forecasts_reproduce_the_test_figure_and_carry_their_times(tmp_path, request, cli):
    finished = smoke_run("energy-lstm", tmp_path, request)
    prep = finished.preparation
    raw = finished.project.prepare(finished.cfg).raw_test
    raw.to_csv(tmp_path / "series.csv", index=False)
    result = cli("predict", str(finished.path), str(tmp_path / "series.csv"), "--backtest", "--out",
                 str(tmp_path / "backtest.csv"))
    assert result.code == 0, result.err
    out = pd.read_csv(tmp_path / "backtest.csv")
    scaled_mse = float(np.mean(((out[f"forecast_{prep.column}"] - out[prep.column]) / prep.factor) ** 2))
    assert scaled_mse == finished.metrics["LSTM_test_mse_scaled"]
    assert len(out) == finished.metrics["test_readings"]

    recent = pd.DataFrame({"time": pd.date_range("2014-12-31 00:00", periods=3 * prep.window, freq="15min"),
                           "Load": raw["Load"].to_numpy()[: 3 * prep.window]})
    recent.to_csv(tmp_path / "recent.csv", index=False)
    result = cli("predict", str(finished.path), str(tmp_path / "recent.csv"))
    assert result.code == 0, result.err
    lines = result.out.strip().splitlines()
    assert lines[0] == "reading,time,forecast_Load" and len(lines) == 1 + prep.horizon
    assert lines[1].split(",")[1] == str(recent["time"].iloc[-1] + pd.Timedelta("15min"))
    # times that repeat or go back: the forecasts' times, stepped on from the last two, would be wrong
    shuffled = recent.copy()
    shuffled.loc[5, "time"] = shuffled.loc[4, "time"]
    shuffled.to_csv(tmp_path / "repeated.csv", index=False)
    result = cli("predict", str(finished.path), str(tmp_path / "repeated.csv"))
    assert result.code == 2 and result.err.strip() == (
        f"error: {tmp_path / 'repeated.csv'}: column time row 6: {shuffled.loc[5, 'time']} is not after the row "
        f"before ({shuffled.loc[4, 'time']}); give the readings in time order, one time each"), result.err


def test_fine_tuned_texts_are_labelled_as_nlp_run_labels_them(tmp_path, request, cli):
    finished = smoke_run("text-classify", tmp_path, request)
    texts = pd.read_csv(finished.cfg.eval)
    (tmp_path / "texts.txt").write_text("\n".join(texts["text"]) + "\n")
    result = cli("predict", str(finished.path), str(tmp_path / "texts.txt"), "a good film", "--out",
                 str(tmp_path / "out.csv"))
    assert result.code == 0, result.err
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == len(texts) + 1 and out["text"].iloc[-1] == "a good film"
    assert np.mean(out["label"].to_numpy()[:-1] == texts["label"].to_numpy()) == finished.metrics["test_accuracy"]


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, cli):
    table = smoke_run("auto-mpg", tmp_path / "a", None)
    digits = smoke_run("mnist-mlp", tmp_path / "b", None)
    demo = run("conv-demo", {"image": "leopard"}, out=tmp_path / "demo", progress=False)
    good = table.project.prepare(table.cfg).raw_test
    good.rename(columns={"horsepower": "horse_power"}).to_csv(tmp_path / "renamed.csv", index=False)
    good.assign(weight=["heavy"] + list(good["weight"][1:])).to_csv(tmp_path / "text.csv", index=False)
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    (tmp_path / "unfinished").mkdir()
    (tmp_path / "unfinished" / "config.yaml").write_text((table.path / "config.yaml").read_text())
    out = tmp_path / "never.csv"
    for args, message in [
        ([str(table.path), str(tmp_path / "renamed.csv")], "no column 'horsepower' (the closest is 'horse_power')"),
        ([str(table.path), str(tmp_path / "text.csv")], "column weight row 1: 'heavy' is not a number"),
        ([str(table.path), str(tmp_path / "missing.csv")], "no such file"),
        ([str(digits.path), str(tmp_path / "broken.png")], "broken.png: not an image"),
        ([str(tmp_path / "unfinished"), str(tmp_path / "renamed.csv")], "the run did not complete"),
        ([str(demo), "x"], "a demonstration: it has no model to use"),
        ([str(tmp_path), "x"], "is not a run directory"),
    ]:
        result = cli("predict", *args, "--out", str(out))
        assert result.code == 2 and message in result.err, (args, result.err)
        assert len(result.err.strip().splitlines()) == 1 and not out.exists(), result.err
    # a run whose files are damaged (a model cut short, a history line cut short) and a config that is not text:
    # one line each, where safetensors', json's and the decoder's tracebacks came out
    import shutil

    damaged = shutil.copytree(table.path, tmp_path / "damaged")
    (damaged / "model.safetensors").write_bytes((table.path / "model.safetensors").read_bytes()[:1000])
    (damaged / "history.jsonl").write_text('{"epoch": 1\n')
    (tmp_path / "binary.yaml").write_bytes(bytes(range(128, 256)))
    for args, message in [
        (["predict", str(damaged), str(tmp_path / "renamed.csv")],
         f"error: {damaged / 'model.safetensors'}: not a readable safetensors file ("),
        (["export", str(damaged)], f"error: {damaged / 'model.safetensors'}: not a readable safetensors file ("),
        (["compare", str(damaged), "--out", str(tmp_path / "c.html")],
         f"error: {damaged / 'history.jsonl'}: line 1 is not a JSON object (the file is damaged)"),
        (["run", "auto-mpg", "--config", str(tmp_path / "binary.yaml")],
         f"error: config file {tmp_path / 'binary.yaml'} is not UTF-8 text"),
    ]:
        result = cli(*args)
        assert result.code == 2 and result.err.startswith(message), (args, result.err)
        assert len(result.err.strip().splitlines()) == 1, result.err

    # from Python: no rows, and an integer past float64's range (pandas raised OverflowError, and NumPy's AxisError
    # came out of an empty frame)
    from mlprojects.errors import UserError
    from mlprojects.predict import predict

    with pytest.raises(UserError, match="^no rows to predict$"):
        predict(table, good.iloc[:0])
    huge = good.astype(object)
    huge.iloc[2, huge.columns.get_loc("weight")] = 10**400
    with pytest.raises(UserError, match="^column weight row 3: an integer of 401 digits, beyond the range of float64$"):
        predict(table, huge)


def test_a_value_whose_square_overflows_is_refused_by_an_estimator(tmp_path, request):
    """k-NN's and k-means' distances square the features: 1e200 made them inf, and any class or cluster came out."""
    from mlprojects.errors import UserError
    from mlprojects.predict import predict

    for name in ("knn-circles", "kmeans-blobs"):
        fitted = smoke_run(name, tmp_path / name, request)
        rows = pd.DataFrame({"x1": [0.5, 1e200], "x2": [0.5, 0.5]})
        with pytest.raises(UserError, match=r"^column x1 row 2: 1e\+200 is too far beyond the training values for the "
                                            r"model's float64 arithmetic \(its square overflows\)$"):
            predict(fitted, rows)
        assert len(predict(fitted, rows.iloc[:1])) == 1


def test_a_generator_has_nothing_to_predict(tmp_path, cli):
    pytest.importorskip("music21")
    settings = registry.get("bach-charrnn").smoke_settings
    run_dir = run("bach-charrnn", {**settings, "max_tunes": 20, "epochs": 1}, out=tmp_path / "music", progress=False)
    result = cli("predict", str(run_dir), "X:1")
    assert result.code == 2
    assert "bach-charrnn has nothing to predict: it samples with `mlprojects generate`" in result.err


def test_the_preparation_travels_in_the_model_file(tmp_path):
    from safetensors import safe_open

    finished = smoke_run("auto-mpg", tmp_path, None)
    with safe_open(str(finished.path / "model.safetensors"), framework="pt") as handle:
        saved = json.loads(handle.metadata()["preparation"])
    assert saved["kind"] == "table" and saved["one_hot"] == {"origin": [1.0, 2.0, 3.0]}
    assert saved["fill"]["horsepower"] == finished.metrics["horsepower_fill"]
    assert saved["mean"] == finished.metrics["feature_mean"]
