"""The parts of the README and of the documentation that are generated, never typed: the project table, from the
registry (source, data, published figure) and the committed reproduction report (our figure).

    python docs/generate.py            # rewrite them
    python docs/generate.py --check    # exit 1 when a committed page differs from what this writes

``tests/test_docs.py`` runs the check.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = (ROOT / "README.md", ROOT / "docs" / "projects.md")
MODULES_PAGE = ROOT / "docs" / "project-modules.md"
BEGIN = "<!-- the project table: written by docs/generate.py from the registry and the reproduction report -->"
END = "<!-- end of the project table -->"
BOOK = "Bonnin, Building ML Projects with TensorFlow, "


def report_figures(path: Path = ROOT / "reproduction" / "REPRODUCTION.md") -> dict[str, str]:
    """project -> our figure, from the report's rows for the project's default configuration."""
    figures = {}
    for line in path.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0].startswith("`") and cells[0].endswith("`") and " " not in cells[0]:
            figures.setdefault(cells[0].strip("`"), cells[3])
    return figures


def project_table() -> str:
    from mlprojects import registry

    figures = report_figures()
    rows = ["| project | source | data | published | ours |", "|---|---|---|---|---|"]
    for entry in registry.entries():
        if entry.name in figures:
            ours = figures[entry.name]
        elif entry.reproduce:
            ours = f"not in the report yet: `mlprojects reproduce {entry.name}`"
        else:
            ours = "— (nothing published to compare)"
        cells = [f"`{entry.name}`", entry.source.replace(BOOK, "Bonnin "), entry.dataset, entry.published, ours]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows)


def modules_page() -> str:
    """A page of the projects' modules, each one's docstring (what it reproduces and how it differs)."""
    from mlprojects import registry

    modules: dict[str, list[str]] = {}
    for entry in registry.entries():
        modules.setdefault(entry.project.split(":")[0], []).append(entry.name)
    parts = ["# The projects' modules", "",
             "What each module's docstring says of its projects: the source, what is reproduced, what differs and "
             "why. Written by `docs/generate.py` from the registry.", ""]
    for module, names in modules.items():
        parts += [f"## {', '.join(names)}", "", "```{eval-rst}", f".. automodule:: {module}", "   :no-members:", "```",
                  ""]
    return "\n".join(parts)


def rewritten(text: str, table: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return f"{text[:start]}\n{table}\n{text[end:]}"


def main(check: bool = False) -> int:
    table, stale = project_table(), []
    for page in PAGES:
        text = page.read_text()
        new = rewritten(text, table)
        if new != text:
            stale.append(page)
            if not check:
                page.write_text(new)
    page, text = MODULES_PAGE, modules_page()
    if not page.is_file() or page.read_text() != text:
        stale.append(page)
        if not check:
            page.write_text(text)
    if check and stale:
        print(f"not what docs/generate.py writes: {', '.join(str(p.relative_to(ROOT)) for p in stale)}; run "
              "python docs/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
