"""The package's import graph: layered (no module imports a higher layer) and without cycles.

Every import counts, those inside functions too (they are how the CLI stays fast to start, not a way
around the layers). A layer may import its own layer and those below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mlprojects

PACKAGE = Path(mlprojects.__file__).parent
# lowest first; a module belongs to the first prefix that matches it
LAYERS = [
    ("mlprojects.errors", "mlprojects.cores"),
    ("mlprojects.config", "mlprojects.engine.io"),
    ("mlprojects.engine", "mlprojects.data", "mlprojects.nn", "mlprojects.plots"),
    ("mlprojects.estimators", "mlprojects.nlp", "mlprojects.vision"),
    ("mlprojects.inputs",),  # one object per kind of input: projects declare one; predict, serve, export ask it
    ("mlprojects.project", "mlprojects.registry"),
    ("mlprojects.rundir", "mlprojects.builtin"),
    ("mlprojects.runner", "mlprojects.predict", "mlprojects.export", "mlprojects.tracking"),
    ("mlprojects.experiments", "mlprojects.serve", "mlprojects.api", "mlprojects.doctor"),
    ("mlprojects.cli", "mlprojects.__main__", "mlprojects"),  # the package itself is the public facade
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    matches = [(len(prefix), index) for index, prefixes in enumerate(LAYERS) for prefix in prefixes
               if module == prefix or (prefix != "mlprojects" and module.startswith(prefix + "."))]
    assert matches, f"{module} is in no layer: add it to LAYERS"
    return max(matches)[1]


def imports() -> dict[str, set[str]]:
    """module -> the package's modules it imports (``from package import submodule`` counts as the submodule)."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        found = set()
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "mlprojects"}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                if base.split(".")[0] != "mlprojects":
                    continue
                for alias in node.names:
                    found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        graph[module] = found - {module}
    return graph


def test_no_module_imports_a_higher_layer():
    wrong = [f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
             for module, targets in imports().items() for target in targets if layer(target) > layer(module)]
    assert not wrong, "\n".join(sorted(wrong))


def test_the_import_graph_has_no_cycles():
    graph = imports()
    seen: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        seen[module] = 1
        for target in sorted(graph.get(module, ())):
            if seen.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in seen:
                visit(target, path + [target])
        seen[module] = 2

    for module in sorted(graph):
        if module not in seen:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_the_layer_test_sees_what_it_should():
    graph = imports()
    assert "mlprojects.rundir" in graph["mlprojects.runner"]  # a top-level import
    assert "mlprojects.engine.checkpoint" in graph["mlprojects.rundir"]  # one inside a function
    assert layer("mlprojects.engine.trainer") == 2 and layer("mlprojects.engine.io") == 1
    assert layer("mlprojects") == len(LAYERS) - 1 and layer("mlprojects.export") == layer("mlprojects.runner")


def test_no_project_module_imports_another():
    """Code two projects share lives in a shared module (builtin/image_classifier.py, fine_tune.py, tabular.py,
    rings.py) or lower (engine/, nn/, data/), so a project module is read on its own."""
    from mlprojects import registry

    projects = {entry.project.partition(":")[0] for entry in registry.entries()}
    assert {"mlprojects.builtin.mnist_mlp", "mlprojects.builtin.convnets", "mlprojects.builtin.text_classify",
            "mlprojects.builtin.token_classify", "mlprojects.builtin.sequences"} <= projects
    graph = imports()
    wrong = [f"{module} imports {target}" for module in sorted(projects) for target in sorted(graph.get(module, ()))
             if target in projects]
    assert not wrong, "\n".join(wrong)
