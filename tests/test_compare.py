"""`mlprojects compare`: runs side by side, in the terminal and as a self-contained HTML report."""

from __future__ import annotations

import base64
import json
import re
import shutil

from conftest import assert_picture

from mlprojects.experiments import compare


def figures(run_dir) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_two_runs_side_by_side_with_the_published_figure(cli, tmp_path, digits_run):
    other = tmp_path / "other"
    assert cli("run", "mnist-mlp", "--set", "epochs=3", "--set", "widths=64,64", "--set", "lr=0.2", "--quiet",
               "--out", str(other)).code == 0
    found = compare.compare([digits_run, other])
    assert found.settings == ["epochs", "lr"]  # what differs, nothing else
    assert found.figures[:2] == ["test_accuracy", "test_loss"] and found.figures[-2:] == ["epochs_completed",
                                                                                          "duration_s"]
    rows = {row["run"]: row for row in found.rows}
    assert rows[digits_run.name]["lr"] == "0.0870" and rows["other"]["lr"] == "0.2000"
    assert rows["other"]["test_accuracy"] == f"{figures(other)['test_accuracy']:.4f}"
    assert rows["published [1]"]["test_accuracy"] == "0.9830"  # the notebook's figure, on any MNIST data
    assert found.notes == ["[1] mnist-mlp: Keras notebook (same network)"]

    out = tmp_path / "report" / "compare.html"
    shown = cli("compare", str(digits_run), str(other), "--out", str(out))
    assert shown.code == 0, shown.err
    assert "0.9830" in shown.out and f"report: {out}" in shown.out
    page = out.read_text()
    assert page.count("<tr>") == 1 + 3 and "<th>lr</th>" in page
    png = tmp_path / "curves.png"
    png.write_bytes(base64.b64decode(re.search(r"base64,([^\"]+)", page).group(1)))
    assert_picture(png, panels=2)  # loss and accuracy, a line per run


def test_a_sweep_folder_stands_for_its_trials_and_many_runs_are_capped_in_the_curves(tmp_path, digits_run):
    sweep = tmp_path / "sweep"
    for lr in range(25):  # a sweep's folder as the sweep leaves it: trials/<settings>/
        trial = sweep / "trials" / f"lr={lr}"
        shutil.copytree(digits_run, trial)
        config = (trial / "config.yaml").read_text()
        (trial / "config.yaml").write_text(config.replace("lr: 0.087", f"lr: {lr}"))
    found = compare.compare([sweep])
    assert len(found.runs) == 25 and found.settings == ["lr"]
    compare.report(found, tmp_path / "all.html")
    assert found.notes[-1] == "the curves show the first 20 of 25 runs; the table has all"
    assert (tmp_path / "all.html").read_text().count("<tr>") == 1 + 25 + 1


def test_what_is_not_a_run_is_one_line_and_writes_nothing(cli, tmp_path, digits_run):
    out = tmp_path / "report.html"
    done = cli("compare", str(digits_run), str(tmp_path), "--out", str(out))
    assert done.code == 2 and done.err.strip() == (f"error: {tmp_path} is neither a run directory (no config.yaml) "
                                                   "nor a sweep folder (no trials/)")
    assert not out.exists()
