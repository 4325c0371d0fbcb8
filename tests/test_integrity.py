"""A user's data is never read silently wrong: shifted rows, continuous targets taken as classes, other delimiters
and decimal marks, missing values filled at predict time without a word; and no input can exhaust the machine."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import run_subprocess

from mlprojects import plots, rundir
from mlprojects.data import csvfile
from mlprojects.errors import UserError
from mlprojects.predict import predict
from mlprojects.runner import run

PEAK_BYTES = 2 * 1024 ** 3


def cancer_like(path, header: str, rows: int = 120, seed: int = 0):
    """scikit-learn's layout of its CSV tables (breast_cancer.csv): a first line of counts and class names, then
    rows of 4 measurements and a 0/1 class; with HEADER instead of that line, a proper table."""
    rng = np.random.default_rng(seed)
    radius = rng.normal(14, 3.5, rows).round(3)
    lines = [header] + [f"{r},{(r * 1.3 + rng.normal(0, 1)):.3f},{rng.normal(90, 20):.2f},{rng.normal(650, 300):.1f},"
                        f"{int(r > 14)}" for r in radius]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_every_bad_table_is_one_line_exit_2_no_folder_and_bounded_memory(tmp_path):
    """Each bad input of the data-integrity issue, through the real command in its own process."""
    counts = cancer_like(tmp_path / "counts.csv", "120,4,malignant,benign")
    proper = cancer_like(tmp_path / "proper.csv", "mean radius,mean texture,mean perimeter,mean area,target")
    many = tmp_path / "many.csv"  # whole numbers, but 400 distinct values in 400 rows
    many.write_text("a,b,price\n" + "".join(f"{i % 7},{i % 5},{1000 + i}\n" for i in range(400)))
    ids = tmp_path / "ids.csv"  # a text column of 1,500 distinct values: 1,500 one-hot inputs
    ids.write_text("id,a,y\n" + "".join(f"u{i},{i % 9},{'xy'[i % 2]}\n" for i in range(1500)))
    (tmp_path / "pictures" / "a").mkdir(parents=True)
    semicolons = tmp_path / "semicolons.csv"  # read as semicolon-separated: its short row is refused, named
    semicolons.write_text("a;b;y\n1,5;2;x\n2,5;3;y\n4;y\n")
    from mlprojects.data import tfrecord
    from mlprojects.data.tfrecord import FILENAME, IMAGE, TEXT

    tfrecord.write(tmp_path / "escape.tfrecord", [tfrecord.example({IMAGE: b"\x89PNG", TEXT: "a",
                                                                    FILENAME: "../../evil.png"})])
    band = tmp_path / "band.png"
    from PIL import Image

    Image.new("RGB", (40, 40), (60, 60, 60)).save(band)

    def run_args(project, *settings):
        return ["run", project, *[part for setting in settings for part in ("--set", setting)], "--set", "epochs=1"]

    cases = [
        (run_args("wine", f"data={counts}", "target=benign"), "line 2 has 5 fields where the header has 4"),
        (run_args("wine", f"data={counts}", "target=benign", "stream=true"),
         "line 2 has 5 fields where the header has 4"),
        (run_args("wine", f"data={proper}", "target=mean radius"), "column mean radius looks continuous"),
        (run_args("softmax-iris", f"data={proper}", "target=mean radius"), "column mean radius looks continuous"),
        (run_args("wine", f"data={proper}", "target=mean radius", "stream=true"),
         "column mean radius looks continuous"),
        (run_args("wine", f"data={many}", "target=price"), "400 distinct values, more than max_classes=100"),
        (run_args("wine", f"data={ids}", "target=y"), "column id has more than 1000 categories"),
        (run_args("wine", f"data={semicolons}", "target=y"), "(semicolon-separated, decimal comma): line 4 has 2"),
        (run_args("wine", f"data=folder:{tmp_path / 'pictures'}", "target=y"), "a folder; this project takes a table"),
        (["run", "style-transfer", "--set", f"content={band}", "--set", "image_size=32", "--set", "steps=3",
          "--set", "backbone=efficientnet-lite0", "--set", "style_weight=1e39", "--set", "optimizer=adam"],
         "style transfer diverged"),
        (["data", "convert", str(semicolons), str(tmp_path / "out.xlsx")], "not a kind this writes"),
        (["data", "convert", str(tmp_path / "escape.tfrecord"), str(tmp_path / "out")], "is not a plain name"),
    ]

    def attempt(index: int):
        args, _ = cases[index]
        return run_subprocess(*args, *(["--out", str(tmp_path / f"run{index}"), "--quiet"] if args[0] == "run"
                                       else []), timeout=300)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:  # two processes at a time: 2 cores
        results = list(pool.map(attempt, range(len(cases))))
    for index, ((args, message), done) in enumerate(zip(cases, results)):
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and message in lines[0], (args, done.stderr)
        assert not (tmp_path / f"run{index}").exists(), args
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(("run", "out"))]
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("evil.png"))
    peak = max(done.maxrss for done in results)  # the largest of their processes' peak resident memory
    assert peak < PEAK_BYTES, f"{peak / 1e9:.2f} GB"

    # a user with that many classes says so, and goes on
    done = run_subprocess("run", "wine", "--set", f"data={many}", "--set", "target=price", "--set", "max_classes=400",
                          "--set", "epochs=1", "--out", str(tmp_path / "many-classes"), "--quiet", timeout=300)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "many-classes" / "metrics.json").read_text())
    assert len(metrics["confusion_matrix"]) == 400


def test_a_confusion_matrix_of_many_classes_keeps_its_size(tmp_path):
    from PIL import Image

    small = plots.confusion_matrix(np.eye(30, dtype=int), [f"c{i}" for i in range(30)], tmp_path / "30.png")
    large = plots.confusion_matrix(np.eye(400, dtype=int), [f"c{i}" for i in range(400)], tmp_path / "400.png")
    assert Image.open(large).size == Image.open(small).size == (round(17 * 110), round(17 * 110))


def table(rng, rows: int = 200) -> pd.DataFrame:
    a, b = rng.normal(0, 1, rows).round(3), rng.normal(5, 2, rows).round(3)
    return pd.DataFrame({"a": a, "b": b, "city": rng.choice(["paris", "lyon"], rows),
                         "y": (2 * a - b + rng.normal(0, 0.1, rows)).round(3)})


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters_and_a_decimal_comma_read_as_the_same_table(tmp_path, delimiter):
    frame = table(np.random.default_rng(1))
    plain = tmp_path / "plain.csv"
    frame.to_csv(plain, index=False)
    other = tmp_path / "other.csv"
    frame.to_csv(other, index=False, sep=delimiter, decimal="," if delimiter == ";" else ".")
    if delimiter == ";":
        assert "," in other.read_text().splitlines()[1]  # numbers written 0,126
    found = csvfile.dialect(other)
    assert (found.delimiter, found.decimal) == (delimiter, "," if delimiter == ";" else ".")
    pd.testing.assert_frame_equal(csvfile.read(other), csvfile.read(plain))
    runs = {name: run("auto-mpg", {"data": str(path), "target": "y", "epochs": 3}, out=tmp_path / name,
                      progress=False) for name, path in (("plain", plain), ("other", other))}
    figures = [json.loads((path / "metrics.json").read_text()) for path in runs.values()]
    assert figures[0]["test_mse"] == figures[1]["test_mse"]


def test_a_decimal_comma_is_not_guessed_where_points_are_written(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a;b;c\n1,5;2.5;x\n3;4;y\n")  # one cell 1,5 but another 2.5: not a decimal comma
    assert csvfile.dialect(path) == csvfile.Dialect(";", ".")
    assert csvfile.read(path)["a"].tolist() == ["1,5", "3"]


def test_predict_says_what_it_filled_and_strict_refuses(tmp_path, cli):
    frame = table(np.random.default_rng(2))
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    finished = run("auto-mpg", {"data": str(path), "target": "y", "epochs": 2}, out=tmp_path / "run", progress=False)
    new = tmp_path / "new.csv"
    new.write_text("a,b,city\n0.5,,paris\n,,\n1,2,lyon\n")
    result = cli("predict", str(finished), str(new))
    warning = [line for line in result.err.splitlines() if line.startswith("warning")]
    assert result.code == 0 and len(warning) == 1, result.err
    prep = rundir.load(finished).preparation
    assert f"4 missing values filled as in training: 1 in a with {prep.fill['a']!r}; 2 in b with " \
           f"{prep.fill['b']!r}; 1 in city with {prep.fill['city']!r}" in warning[0]
    refused = cli("predict", str(finished), str(new), "--strict")
    assert refused.code == 2 and "4 missing values (1 in a, 2 in b, 1 in city): strict refuses them" in refused.err
    with pytest.raises(UserError, match="strict refuses"):
        predict(rundir.load(finished), new, strict=True)
    complete = predict(rundir.load(finished), frame.drop(columns="y").head(3), strict=True)  # nothing to fill
    assert len(complete) == 3


def test_a_run_on_a_relative_path_resumes_from_another_folder_and_refuses_changed_data(tmp_path, monkeypatch, cli):
    work = tmp_path / "work"
    work.mkdir()
    table(np.random.default_rng(3)).to_csv(work / "t.csv", index=False)
    monkeypatch.chdir(work)
    out = tmp_path / "run"
    result = cli("run", "auto-mpg", "--set", "data=t.csv", "--set", "target=y", "--set", "epochs=1", "--out", str(out),
                 "--quiet")
    assert result.code == 0, result.err
    assert rundir.read_settings(out)["data"] == str(work / "t.csv")
    assert json.loads((out / "data.json").read_text())["data"] == str(work / "t.csv")
    monkeypatch.chdir(tmp_path)  # elsewhere: the saved setting still names the file
    result = cli("run", "--resume", str(out), "--set", "epochs=2", "--quiet")
    assert result.code == 0, result.err
    assert json.loads((out / "metrics.json").read_text())["epochs_completed"] == 2
    with open(work / "t.csv", "a") as handle:
        handle.write("0.5,4.5,paris,-3.5\n")
    result = cli("run", "--resume", str(out), "--set", "epochs=3", "--quiet")
    assert result.code == 2 and "which has changed since" in result.err, result.err
    assert json.loads((out / "metrics.json").read_text())["epochs_completed"] == 2  # the finished run is untouched


def test_small_things_say_what_they_are(tmp_path, cli):
    (tmp_path / "pictures" / "a").mkdir(parents=True)
    result = cli("run", "wine", "--set", f"data=folder:{tmp_path / 'pictures'}", "--set", "target=y")
    assert result.code == 2 and "a folder; this project takes a table" in result.err and "mnist-mlp" in result.err
    (tmp_path / "t.csv").write_text("a,y\n1,2\n")
    result = cli("data", "convert", str(tmp_path / "t.csv"), str(tmp_path / "out.xlsx"))
    assert result.code == 2 and "not a kind this writes" in result.err, result.err


def test_an_exported_model_has_the_usual_file_mode(tmp_path, cli):
    import os
    import stat

    pytest.importorskip("onnxruntime")
    finished = run("wine", {"epochs": 1}, out=tmp_path / "run", progress=False)
    umask = os.umask(0o022)
    os.umask(umask)
    for fmt in ("onnx", "pt2"):
        result = cli("export", str(finished), "--format", fmt)
        assert result.code == 0, result.err
        assert stat.S_IMODE((finished / f"model.{fmt}").stat().st_mode) == 0o666 & ~umask


def test_what_inspect_shows_is_capped_whatever_the_file_holds(tmp_path, cli):
    from PIL import Image

    wide = tmp_path / "wide.csv"  # 200 columns, a target of 1,000 distinct values
    wide.write_text(",".join(f"c{i}" for i in range(200)) + ",y\n"
                    + "".join(",".join(str(j + i) for j in range(200)) + f",{i}\n" for i in range(1000)))
    result = cli("data", "inspect", str(wide), "--target", "y", "--rows", "1000")
    assert result.code == 0, result.err
    assert "1,000 rows, 201 columns" in result.out and "(the first 50 of 201 columns are shown)" in result.out
    assert "and 980 other values" in result.out and len(result.out.splitlines()) < 200
    for i in range(60):  # 60 classes of one picture each
        (tmp_path / "many" / f"class{i:02d}").mkdir(parents=True)
        Image.new("RGB", (8, 8), (i * 4, 0, 0)).save(tmp_path / "many" / f"class{i:02d}" / "a.png")
    sheet = tmp_path / "sheet.png"
    result = cli("data", "inspect", str(tmp_path / "many"), "--thumbnails", str(sheet))
    assert result.code == 0, result.err
    assert Image.open(sheet).size[1] <= 20 * 1.5 * 110 + 1
