"""One object per kind of input: no module outside ``mlprojects.inputs`` (and the projects that declare their
kind) branches on it, every attribute other modules read from a project is declared, and a new kind is one
class in a plug-in that runs, predicts, serves and exports through the same commands."""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Forked, free_port, run_subprocess

import mlprojects
from mlprojects import registry
from mlprojects.inputs import Inputs, NoInputs
from mlprojects.project import BaseProject, DemoProject, EstimatorProject, Project

PACKAGE = Path(mlprojects.__file__).parent
PLUGINS = Path(__file__).parent / "plugins"
DECLARED = set().union(*(dir(kind) for kind in (BaseProject, Project, EstimatorProject, DemoProject)))


def modules_outside_the_kinds() -> dict[str, ast.Module]:
    """Every module but the kinds themselves and the project declarations (builtin/)."""
    return {str(path.relative_to(PACKAGE)): ast.parse(path.read_text()) for path in PACKAGE.rglob("*.py")
            if path.relative_to(PACKAGE).parts[0] not in ("inputs", "builtin")}


def is_a_project(node: ast.AST) -> bool:
    """An expression naming a project: project, run.project, self.project, spec, registry.get(...)."""
    text = ast.unparse(node)
    return text.endswith("project") or text == "spec" or text.startswith("registry.get(")


def with_parents(tree: ast.Module):
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            yield child, parent


def is_the_kind(node: ast.AST, aliases: set[str]) -> bool:
    """project.inputs (of any expression naming a project), or a name it was assigned to."""
    if isinstance(node, ast.Attribute) and node.attr == "inputs" and is_a_project(node.value):
        return True
    return isinstance(node, ast.Name) and node.id in aliases


def aliases_of_the_kind(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                pairs = zip(target.elts, node.value.elts) if isinstance(target, ast.Tuple) and \
                    isinstance(node.value, ast.Tuple) else [(target, node.value)]
                names |= {name.id for name, value in pairs if isinstance(name, ast.Name) and is_the_kind(value, set())}
    return names


def branches_on(node: ast.AST, parent: ast.AST) -> bool:
    """Whether PARENT decides something by NODE itself rather than asking it: a comparison or `in` test, a lookup
    keyed by it (``TABLE[kind]``, ``.get(kind)``), a truth test, or reading its name (``kind.kind``)."""
    if isinstance(parent, (ast.Compare, ast.BoolOp)) or (isinstance(parent, ast.UnaryOp) and
                                                          isinstance(parent.op, ast.Not)):
        return True
    if isinstance(parent, (ast.If, ast.IfExp, ast.While, ast.Assert)) and node is parent.test:
        return True
    if isinstance(parent, ast.Subscript) and node is parent.slice:
        return True
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute) and parent.func.attr == "get":
        return node in parent.args
    return isinstance(parent, ast.Attribute) and parent.attr == "kind"


def test_no_module_branches_on_the_kind_of_input():
    found = []
    for name, tree in modules_outside_the_kinds().items():
        aliases = aliases_of_the_kind(tree)
        for node, parent in with_parents(tree):
            if is_the_kind(node, aliases) and branches_on(node, parent):
                found.append(f"{name}:{node.lineno}: {ast.unparse(parent)}")
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "isinstance" and len(node.args) == 2:
                if "Inputs" in ast.unparse(node.args[1]):
                    found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "\n".join(found)
    assert {"serve/rest.py", "export.py"} <= {name for name, tree in modules_outside_the_kinds().items()
                                             if aliases_of_the_kind(tree)}  # the test sees through a local name


def test_every_attribute_read_from_a_project_by_name_is_declared():
    probed = []
    for name, tree in modules_outside_the_kinds().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("getattr", "hasattr") and \
                    len(node.args) >= 2 and is_a_project(node.args[0]) and isinstance(node.args[1], ast.Constant):
                probed.append((name, node.lineno, node.args[1].value))
    undeclared = [f"{name}:{line}: {attribute}" for name, line, attribute in probed if attribute not in DECLARED]
    assert not undeclared, "\n".join(undeclared)


def test_every_registered_project_declares_an_input_object():
    for entry in registry.entries():
        project = registry.get(entry.name)
        assert isinstance(project.inputs, Inputs), entry.name
        assert project.inputs.kind or isinstance(project.inputs, NoInputs), entry.name


# --- a new kind of input, from a plug-in --------------------------------------------------------------

def mlprojects_with_plugin(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return run_subprocess(*args, env=plugin_environment(), cwd=cwd, timeout=timeout)


def plugin_environment() -> dict[str, str]:
    return {**os.environ, "MLPROJECTS_PROJECTS": "pair_sum",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))}



@pytest.mark.slow
def test_a_new_kind_of_input_runs_predicts_exports_and_serves_through_the_same_commands(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("gradio_client")
    ran = mlprojects_with_plugin("run", "pair-sum", "--out", "pairs", "--quiet", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert json.loads((tmp_path / "pairs" / "metrics.json").read_text())["test_loss"] < 1e-3

    predicted = mlprojects_with_plugin("predict", "pairs", "[1, 2]", "[0.5, -0.25]", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    rows = list(csv.DictReader(io.StringIO(predicted.stdout)))
    assert [row["pair"] for row in rows] == ["[1.0, 2.0]", "[0.5, -0.25]"]
    sums = [float(row["predicted_sum"]) for row in rows]
    assert abs(sums[0] - 3) < 0.05 and abs(sums[1] - 0.25) < 0.05

    bad = mlprojects_with_plugin("predict", "pairs", "[1, true]", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: '[1, true]': give a pair of numbers in JSON, such as [1.5, -2]"

    exported = mlprojects_with_plugin("export", "pairs", "--format", "onnx", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    import onnx
    import onnxruntime

    model = onnx.load(tmp_path / "pairs" / "model.onnx")
    assert json.loads({entry.key: entry.value for entry in model.metadata_props}["input"])["name"] == "pair"
    session = onnxruntime.InferenceSession(str(tmp_path / "pairs" / "model.onnx"), providers=["CPUExecutionProvider"])
    import numpy as np

    onnx_sum = session.run(None, {"pair": np.array([[1, 2]], dtype=np.float32)})[0][0, 0]
    assert abs(onnx_sum - sums[0]) < 1e-5

    port = free_port()
    server = Forked(["serve", "pairs", "--port", str(port)], env=plugin_environment(), cwd=tmp_path)
    try:
        from gradio_client import Client

        deadline = time.monotonic() + 120
        while True:
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()[-2000:]
                time.sleep(0.5)
        served = client.predict(1, 2, api_name="/predict")
        assert abs(served - sums[0]) < 1e-6  # the same function as predict: the same number
    finally:
        server.terminate()
        server.wait(timeout=30)
