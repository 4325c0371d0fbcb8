"""A new project is one module plus one entry: a project from outside the package joins every command."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_subprocess

PLUGINS = Path(__file__).parent / "plugins"


def mlprojects(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The real CLI in its own process, with the project's module named as a user names theirs."""
    env = {"MLPROJECTS_PROJECTS": "line_fit",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))}
    return run_subprocess(*args, env=env, cwd=cwd)


@pytest.mark.slow
def test_a_project_from_outside_the_package_lists_runs_sweeps_and_reproduces(tmp_path):
    listed = mlprojects("list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    entry = next(item for item in json.loads(listed.stdout) if item["name"] == "line-fit")
    assert entry["published"] == "slope 3 (the true one)" and entry["goals"] == {"test_mae": "min"}

    ran = mlprojects("run", "line-fit", "--out", "run", "--quiet", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["completed"] is True and abs(metrics["slope"] - 3) < 0.2 and abs(metrics["intercept"] + 1) < 0.2

    swept = mlprojects("sweep", "line-fit", "--grid", "lr=0.001,0.2", "--out", "sweep", cwd=tmp_path)
    assert swept.returncode == 0, swept.stderr
    summary = (tmp_path / "sweep" / "summary.md").read_text()
    assert "Sorted by test_mae (lower is better)" in summary  # the headline and its direction, from the entry
    table = [line for line in summary.splitlines() if line.startswith("| `")]
    assert [line.split("|")[1].strip() for line in table] == ["`0.2`", "`0.001`"]  # the better fit first
    with open(tmp_path / "sweep" / "results.csv") as handle:
        assert sorted(row["lr"] for row in csv.DictReader(handle)) == ["0.001", "0.2"]

    reproduced = mlprojects("reproduce", "line-fit", "--out", "report", cwd=tmp_path)
    assert reproduced.returncode == 0, reproduced.stderr
    row = next(line for line in (tmp_path / "report" / "REPRODUCTION.md").read_text().splitlines()
               if line.startswith("| `line-fit`"))
    assert "slope 3" in row and "slope **" in row and "(2 seeds)" in row and "test_mae" in row
    assert "better" not in row and "worse" not in row  # a slope has no direction: neither is claimed

    unknown = mlprojects("run", "line-fix", cwd=tmp_path)
    assert unknown.returncode == 2 and "did you mean line-fit" in unknown.stderr


def test_a_missing_plugin_module_is_one_line(tmp_path):
    env = {**os.environ, "MLPROJECTS_PROJECTS": "no_such_module_here"}
    result = subprocess.run([sys.executable, "-m", "mlprojects", "list"], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: MLPROJECTS_PROJECTS=no_such_module_here: cannot import it (No module "
                                     "named 'no_such_module_here'); put its folder on PYTHONPATH")
