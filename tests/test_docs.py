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
        assert docs.rewritten(text, docs.block(page)) == text, f"{page.name}: run python docs/generate.py"
    # one row per registered project, its figure from the report where the report has it
    from mlprojects import registry

    names = re.findall(r"^\| `([^`]+)` \|", table, flags=re.M)
    assert names == [entry.name for entry in registry.entries()]
    rows = {line.split(" | ")[0]: line.split(" | ") for line in docs.REPORT.read_text().splitlines()}
    assert f"| {rows['| `mnist-mlp`'][3]} |" in table.splitlines()[names.index("mnist-mlp") + 2]
    # a project whose only figure has settings of its own shows it with them
    assert table.splitlines()[names.index("energy-lstm") + 2].endswith(
        f"| {rows['| `energy-lstm preset=book`'][3]} (`preset=book`) |")
    # a project's name links to its page, one page per project, each what the generator writes
    linked = re.findall(r"^\| \[`([^`]+)`\]\(docs/projects/\1\.md\) \|", docs.block(docs.README), flags=re.M)
    assert linked == names
    assert sorted(path.stem for path in docs.PROJECT_PAGES.glob("*.md")) == sorted(names)
    boston = docs.notes(registry.entry("linreg-boston"))  # a module of four projects: its intro and its own part
    assert boston.startswith("Linear, logistic and softmax regression") and "linreg-boston: the book's" in boston
    assert "linreg-synthetic:" not in boston and "logreg-chd:" not in boston and "softmax-iris:" not in boston
    for path, text in docs.project_pages().items():
        assert path.read_text() == text, f"{path.name}: run python docs/generate.py"
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
    projects = (ROOT / "docs" / "projects.md").read_text()
    assert {f"projects/{path.stem}" for path in (ROOT / "docs" / "projects").glob("*.md")} \
        == set(re.findall(r"^(projects/[a-z0-9-]+)$", projects, flags=re.M))


def test_every_registered_project_is_in_the_reproduction_report():
    """The committed report names each project: a row per published figure, or a line saying why it has none."""
    from mlprojects import registry

    report = (ROOT / "reproduction" / "REPRODUCTION.md").read_text()
    rows = set(re.findall(r"^\| `([a-z0-9-]+)[` ]", report, flags=re.M))
    without = dict(re.findall(r"^- `([a-z0-9-]+)`: (.+)$", report, flags=re.M))
    for entry in registry.entries():
        if entry.reproduce:
            assert entry.name in rows, f"{entry.name} has published figures but no row: run mlprojects reproduce"
        else:
            assert without.get(entry.name) == entry.unreproduced, f"{entry.name}: run mlprojects reproduce"
    assert not rows & set(without)


def test_every_error_on_the_reliability_page_is_what_the_cli_says(tmp_path, monkeypatch, cli, wine_run, digits_run):
    """docs/reliability.md: each `$ mlprojects ...` line of its console blocks runs here (any other `$` line runs in
    bash) in an empty folder holding runs/wine and runs/digits; the lines shown under it are the end of what it
    wrote on stderr (the folder shown as …/), and it exits 2."""
    import shlex
    import shutil
    import socket
    import subprocess

    import torch

    shutil.copytree(wine_run, tmp_path / "runs" / "wine")
    shutil.copytree(digits_run, tmp_path / "runs" / "digits")
    monkeypatch.chdir(tmp_path)
    page = (ROOT / "docs" / "reliability.md").read_text()
    blocks = re.findall(r"^```console\n(.*?)^```$", page, flags=re.M | re.S)
    commands = [(block_lines[0], block_lines[1:]) for block in blocks
                for block_lines in (part.splitlines() for part in re.split(r"^(?=\$ )", block, flags=re.M) if part)]
    assert len(commands) >= 25
    with socket.socket() as taken:  # the port the serving example finds in use
        taken.bind(("127.0.0.1", 8765))
        taken.listen()
        checked = 0
        for command, shown in commands:
            assert command.startswith("$ "), command
            command = command[2:]
            if not command.startswith("mlprojects "):
                subprocess.run(["bash", "-c", command], check=True)
                continue
            if "--device cuda" in command and torch.cuda.is_available():
                continue  # what a machine without a GPU answers
            result = cli(*shlex.split(command)[1:])
            written = result.err.replace(f"{tmp_path}/", "…/").rstrip("\n").splitlines()
            assert result.code == 2 and written[-len(shown):] == shown, (command, result.code, result.err)
            checked += 1
    assert checked >= 18
