"""A diverging run stops at its first non-finite training loss, says where and what to change, and is kept
marked as diverged, never completed; non-finite settings are refused; every JSON written is strict JSON."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import fields

import pytest
from conftest import run_subprocess

from mlprojects import registry
from mlprojects.config import resolve
from mlprojects.errors import UserError

# nonlinear-regression at lr 1e30: the first step (the loss of the initial weights) is finite and moves the
# output layer by ~1e30; the second step's squared error, ~1e60, overflows float32. So: epoch 1, step 2 of 10
DIVERGE = ["--set", "lr=1e30", "--set", "epochs=3"]
MESSAGE = "training diverged: the loss became inf at epoch 1, step 2 of 10"


def strict(text: str):
    """json.loads refusing NaN and Infinity, as most JSON readers do."""
    def refuse(token):
        raise ValueError(f"not JSON: {token}")
    return json.loads(text, parse_constant=refuse)


def float_settings():
    for entry in registry.entries():
        config = registry.get(entry.name).config_class
        for field in fields(config):
            if field.type in ("float", "float | None"):
                yield entry.name, field.name


@pytest.mark.parametrize("name,setting", list(float_settings()))
def test_non_finite_values_of_every_float_setting_are_refused(name, setting):
    config = registry.get(name).config_class
    for value in ("nan", "inf", "-inf", float("nan")):
        with pytest.raises(UserError, match=f"setting {setting}=.* is not valid: expected a finite number"):
            resolve(config, {setting: value})


def test_a_non_finite_setting_on_the_command_line_is_one_line(cli, tmp_path):
    for setting in ("lr=nan", "lr=inf"):
        result = cli("run", "mnist-mlp", "--set", setting, "--out", str(tmp_path / "never"))
        assert result.code == 2 and "expected a finite number" in result.err
        assert len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "never").exists()


def check_diverged_run(run_dir) -> None:
    metrics = strict((run_dir / "metrics.json").read_text())
    assert metrics["completed"] is False
    assert metrics["diverged"] == {"epoch": 1, "step": 2, "steps": 10, "loss": "inf"}
    assert metrics["epochs_completed"] == 0 and not (run_dir / "model.safetensors").exists()
    assert (run_dir / "config.yaml").is_file()  # its settings are kept for inspection


def test_a_diverging_run_stops_at_the_right_step_and_is_kept_marked(cli, tmp_path):
    run_dir = tmp_path / "run"
    result = cli("run", "nonlinear-regression", *DIVERGE, "--out", str(run_dir), "--quiet")
    assert result.code == 2
    line = result.err.strip().splitlines()
    assert len(line) == 1 and line[0].startswith(f"error: {MESSAGE}; try a lower lr (it is 1e+30)")
    assert "grad_clip" in line[0] and "marked as diverged" in line[0]
    check_diverged_run(run_dir)

    shown = cli("show", str(run_dir))
    assert shown.code == 0 and "diverged (the loss became inf at epoch 1, step 2 of 10)" in shown.out
    for args in (["predict", str(run_dir), "x.csv"], ["export", str(run_dir)], ["run", "--resume", str(run_dir)],
                 ["serve", str(run_dir)]):
        refused = cli(*args)
        assert refused.code == 2 and "diverged (the loss became inf at epoch 1, step 2)" in refused.err, args
        assert len(refused.err.strip().splitlines()) == 1


def test_two_processes_stop_at_the_same_step(tmp_path):
    run_dir, temporary = tmp_path / "ddp", tmp_path / "tmp"
    temporary.mkdir()
    result = run_subprocess("run", "nonlinear-regression", *DIVERGE, "--nproc", "2", "--out", str(run_dir),
                            "--quiet", env={"TMPDIR": str(temporary)})
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {MESSAGE}")  # rank 0 only, no torchrun report
    assert result.stderr.splitlines() == errors  # nothing else: no failure report, no OMP_NUM_THREADS banner
    check_diverged_run(run_dir)
    assert not list(temporary.iterdir())  # and nothing left behind


@pytest.mark.slow
def test_a_sweep_reports_a_diverged_trial_and_leaves_it_out_of_the_means(tmp_path):
    out = tmp_path / "sweep"
    result = run_subprocess("sweep", "nonlinear-regression", "--grid", "lr=0.02,1e30", "--set", "epochs=3",
                            "--workers", "2", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "1 of 2 trials diverged" in result.stdout
    with open(out / "results.csv") as handle:
        rows = {row["lr"]: row for row in csv.DictReader(handle)}
    assert rows["1e30"]["status"] == "diverged at epoch 1, step 2" and rows["1e30"]["test_mse"] == ""
    assert rows["0.02"]["status"] == "completed" and float(rows["0.02"]["test_mse"]) > 0
    summary = (out / "summary.md").read_text()
    assert "1 of 2 trials finished" in summary and "1 diverged, left out of the means: lr=1e30 seed=42" in summary
    table = [line for line in summary.splitlines() if line.startswith("| `")]
    assert [line.split("|")[1].strip() for line in table] == ["`0.02`"]
    again = run_subprocess("sweep", "nonlinear-regression", "--grid", "lr=0.02,1e30", "--set", "epochs=3",
                           "--out", str(out))
    assert again.returncode == 0 and "2 trials: 2 done, 0 to run" in again.stdout  # not rerun


def test_every_json_a_run_writes_is_strict_json(tmp_path):
    from mlprojects.runner import run

    for name, settings in (("nonlinear-regression", {"epochs": 2}), ("kmeans-blobs", {}), ("conv-demo", {})):
        run_dir = run(name, settings, out=tmp_path / name, progress=False)
        for path in run_dir.rglob("*.json"):
            strict(path.read_text())
        for path in run_dir.rglob("*.jsonl"):
            for line in path.read_text().splitlines():
                strict(line)


def test_non_finite_figures_are_written_as_null():
    from mlprojects.engine.io import dumps

    assert dumps({"loss": float("nan"), "rows": [1.0, float("inf")], "ok": 2.5}) == \
        '{"loss": null, "rows": [1.0, null], "ok": 2.5}'
    assert sys.float_info.max == strict(dumps(sys.float_info.max))
