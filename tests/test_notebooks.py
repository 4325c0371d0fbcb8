"""The notebooks: committed without outputs, and each runs top to bottom in a fresh kernel, offline, in
a folder of its own, failing on any error cell. The kernel is a process of its own started through its kernelspec,
forked from the test worker's warm server (tests/forked_hook): its modules imported, nothing computed."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from conftest import forked_bridge

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

HOOK = Path(__file__).parent / "forked_hook"
NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 240


def test_every_source_has_its_notebook():
    names = {path.name for path in NOTEBOOKS}
    chapters = {name.split("-")[0] for name in names if name[:2].isdigit()}
    assert chapters == {f"{n:02d}" for n in range(1, 10)}
    assert {"keras-mnist-mlp.ipynb", "huggingface-bert.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: strip the outputs"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_runs_top_to_bottom(path, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    # the kernel inherits these: this environment's scripts first, and the kernel itself and its `!mlprojects ...`
    # commands forked from this worker's warm server, as the suite's other commands are (tests/forked_hook: 4-8 s
    # less each)
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HOOK), os.environ.get("PYTHONPATH")])))
    bridge = forked_bridge(CELL_TIMEOUT_S)
    monkeypatch.setenv("MLPROJECTS_TEST_FORKED", bridge.path)
    bridged, kernels = bridge.answered, bridge.kernels
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError on an error cell
    print(f"{path.name}: {time.perf_counter() - started:.1f} s")
    errors = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
              if output.output_type == "error"]
    assert not errors
    # a shell command (!mlprojects ...) that fails prints its one-line error rather than raising
    printed = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for output in cell.outputs if output.output_type == "stream")
    failed = [line for line in printed.splitlines() if line.startswith(("error:", "Usage:", "Traceback"))]
    assert not failed, f"{path.name}: {failed}"
    commands = sum(line.lstrip().startswith("!mlprojects ") for cell in notebook.cells if cell.cell_type == "code"
                   for line in cell.source.splitlines())
    assert bridge.answered - bridged == commands  # each went through the warm server
    assert bridge.kernels - kernels == 1  # and so did the kernel
    nbformat.write(notebook, tmp_path / path.name)  # the executed notebook, to look at after a failure
