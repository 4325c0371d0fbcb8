"""The Python API (``import mlprojects as mlp``): the CLI's runner and checks, from Python."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import mlprojects as mlp
from mlprojects import UserError


def test_importing_the_package_is_cheap():
    probe = "import sys, mlprojects; print(sorted(m for m in ('torch', 'pandas', 'numpy') if m in sys.modules))"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert found.strip() == "[]"


def test_run_load_and_predict_from_python(tmp_path):
    result = mlp.run("mnist-mlp", epochs=2, widths="64,64", seed=1, out=tmp_path / "run", progress=False)
    assert result.dir == tmp_path / "run" and result.completed and result.project == "mnist-mlp"
    assert result.settings["epochs"] == 2 and result.settings["widths"] == [64, 64]
    history = result.history
    assert isinstance(history, pd.DataFrame) and list(history["epoch"]) == [1, 2]
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    assert 0.8 < result.metrics["test_accuracy"] <= 1

    model = mlp.load(result.dir)
    from mlprojects.data import images

    test = images.load("mnist-10k")
    table = model.predict(list(test.test_images[:50]), top_k=1)  # arrays; paths and PIL images work alike
    accuracy = np.mean(table["label_1"].astype(int).to_numpy() == test.test_labels[:50])
    assert accuracy > 0.8 and list(table.columns) == ["image", "label_1", "probability_1"]


def test_a_tabular_model_takes_a_dataframe_or_an_array_in_the_training_columns(tmp_path):
    run = mlp.run("wine", epochs=5, out=tmp_path / "wine", progress=False)
    model = run.load()
    raw = model.run.project.prepare(model.run.cfg).raw_test
    from_frame = model.predict(raw)
    columns = model.run.preparation.inputs
    from_array = model.predict(raw[columns].to_numpy())
    assert list(from_frame["predicted_Wine"]) == list(from_array["predicted_Wine"])
    assert np.mean(from_frame["predicted_Wine"] == raw["Wine"]) == run.metrics["test_accuracy"]
    with pytest.raises(UserError, match=r"expected \(rows, 13\)"):
        model.predict(np.zeros((2, 3)))


def test_settings_are_checked_as_the_command_line_checks_them(tmp_path, cli):
    for settings, message in [({"widht": "64"}, "widths"), ({"epochs": "many"}, "epochs"), ({"lr": -1}, "lr")]:
        with pytest.raises(UserError, match=message) as raised:
            mlp.run("mnist-mlp", out=tmp_path / "never", progress=False, **settings)
        key, value = next(iter(settings.items()))
        line = cli("run", "mnist-mlp", "--set", f"{key}={value}", "--out", str(tmp_path / "never")).err.strip()
        assert line == f"error: {raised.value}"  # the same words as the CLI
    assert not (tmp_path / "never").exists()
    with pytest.raises(UserError, match="unknown project 'mnist-mpl': did you mean mnist-mlp"):
        mlp.run("mnist-mpl")


def test_projects_is_what_list_shows_and_user_errors_show_as_one_line_in_a_notebook():
    table = mlp.projects()
    assert {"mnist-mlp", "auto-mpg", "text-classify"} <= set(table["name"])
    assert list(table.columns) == ["name", "source", "dataset", "published", "summary"]
    assert UserError("unknown project 'x'")._render_traceback_() == ["UserError: unknown project 'x'"]
    assert not hasattr(mlp, "no_such_function")


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## The Python API"):]
    code = section[section.index("```python\n") + len("```python\n"):section.index("```\n", section.index("```python"))]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "label_1" in printed and "predicted_Wine" in printed and "mnist-mlp" in printed
    assert (tmp_path / "runs" / "api-example" / "metrics.json").is_file()


def test_a_run_sets_its_figures_beside_the_published_ones(tmp_path):
    import mlprojects as mlp

    finished = mlp.run("kmeans-blobs", out=tmp_path / "run", progress=False)
    table = finished.published()
    row = table.iloc[0]
    assert (row["metric"], row["published value"], row["ours"]) == ("iterations", 8, finished.metrics["iterations"])
    assert row["published with"] == "these defaults"
    # a project without a numeric published figure: its headline metric
    demo = mlp.run("conv-demo", out=tmp_path / "demo", progress=False).published()
    assert len(demo) == 1 and demo.iloc[0]["published value"] is None
