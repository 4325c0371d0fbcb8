"""The README is a front door and the documentation site's generated parts are what the generator writes (the
site itself is built with ``sphinx-build -W`` by ``.ci/run``)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def generator():
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_project_tables_are_what_the_generator_writes():
    docs = generator()
    table = docs.project_table()
    for page in docs.PAGES:
        text = page.read_text()
        assert docs.rewritten(text, table) == text, f"{page.name}: run python docs/generate.py"
    # one row per registered project, its figure from the report where the report has it
    from mlprojects import registry

    names = re.findall(r"^\| `([^`]+)` \|", table, flags=re.M)
    assert names == [entry.name for entry in registry.entries()]
    assert "| test_accuracy **0.9583 ± 0.0039 (2 seeds)** |" in table.splitlines()[names.index("mnist-mlp") + 2]
    assert docs.MODULES_PAGE.read_text() == docs.modules_page(), "run python docs/generate.py"
    assert docs.main(check=True) == 0
    stale = f"{docs.BEGIN}\n| project |\n| `gone` |\n{docs.END}"
    assert docs.rewritten(f"intro\n{stale}\nafter\n", table) == f"intro\n{docs.BEGIN}\n{table}\n{docs.END}\nafter\n"


def test_the_readme_is_a_front_door():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    first_block = readme[readme.index("```bash\n") + 8:readme.index("```\n", readme.index("```bash\n"))]
    assert first_block.splitlines() == [
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/mlprojects run mnist-mlp",
        'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest']
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):  # every page it points to exists
        assert (ROOT / link).is_file(), link


def test_every_page_of_the_site_is_in_its_table_of_contents():
    index = (ROOT / "docs" / "index.md").read_text()
    listed = set(re.findall(r"^([a-z][a-z-]*)$", index, flags=re.M))
    pages = {path.stem for path in (ROOT / "docs").glob("*.md")} - {"index"}
    assert pages == listed
