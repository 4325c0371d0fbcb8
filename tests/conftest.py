"""Shared fixtures: an isolated dataset cache, the CLI in-process, tiny fast settings."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from mlprojects.cli import main

# settings that keep a real mnist-mlp run to a second or two on 2 cores
FAST = ["--set", "epochs=1", "--set", "widths=64,64", "--quiet"]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets an empty dataset cache, so nothing leaks from the user's ~/.cache."""
    home = tmp_path_factory.mktemp("mlprojects_home")
    monkeypatch.setenv("MLPROJECTS_HOME", str(home))
    monkeypatch.delenv("MLPROJECTS_DEBUG", raising=False)
    return home


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """Run the real CLI entry point in this process; return exit code, stdout, stderr."""

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


def run_subprocess(*args: str, env: dict | None = None, cwd=None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlprojects", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=timeout)
