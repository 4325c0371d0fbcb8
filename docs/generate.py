"""The parts of the README and of the documentation that are generated, never typed: the project table, from the
registry (source, data, published figure) and the committed reproduction report (our figure), and a page per
project (docs/projects/NAME.md): its registry entry, its rows of the report with their plots, and what its module's
docstring says of it.

    python docs/generate.py            # rewrite them
    python docs/generate.py --check    # exit 1 when a committed page differs from what this writes

``tests/test_docs.py`` runs the check.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README, PROJECTS = ROOT / "README.md", ROOT / "docs" / "projects.md"
PAGES = (README, PROJECTS)
PROJECT_PAGES = ROOT / "docs" / "projects"  # one page per project
REPORT = ROOT / "reproduction" / "REPRODUCTION.md"
BEGIN = "<!-- the project table: written by docs/generate.py from the registry and the reproduction report -->"
END = "<!-- end of the project table -->"
BOOK = "Bonnin, Building ML Projects with TensorFlow, "


def report_rows(path: Path = REPORT) -> dict[str, list[list[str]]]:
    """project -> the cells of its rows in the report (the configuration, source, published, ours, difference,
    notes), in the report's order."""
    rows: dict[str, list[list[str]]] = {}
    for line in path.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if len(cells) == 6 and cells[0].startswith("`") and cells[0].endswith("`"):
            rows.setdefault(cells[0].strip("`").split(" ")[0], []).append(cells)
    return rows


def our_figure(rows: list[list[str]]) -> str:
    """The table's "ours": the row of the default configuration, else the first run row with its settings named."""
    default = [cells for cells in rows if " " not in cells[0].strip("`")]
    measured = [cells for cells in rows if not cells[3].startswith("not run")]
    if not default + measured:
        return rows[0][3]  # "not run: ..."
    configuration, _, _, ours, _, _ = (default + measured)[0]
    settings = configuration.strip("`").partition(" ")[2]
    return ours + (f" (`{settings}`)" if settings else "")


def project_table(pages: str = "") -> str:
    """The table of every registered project; with PAGES (a folder, relative to the page the table is on) each
    project's name links to its page there."""
    from mlprojects import registry

    figures = report_rows()
    rows = ["| project | source | data | published | ours |", "|---|---|---|---|---|"]
    for entry in registry.entries():
        if entry.name in figures:
            ours = our_figure(figures[entry.name])
        elif entry.reproduce:
            ours = f"not in the report yet: `mlprojects reproduce {entry.name}`"
        else:
            ours = "— (nothing published to compare)"
        name = f"[`{entry.name}`]({pages}/{entry.name}.md)" if pages else f"`{entry.name}`"
        cells = [name, entry.source.replace(BOOK, "Bonnin "), entry.dataset, entry.published, ours]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows)


def block(page: Path) -> str:
    """What goes between the markers of PAGE: the table, its names linked to the project pages; on the site's
    projects page also the (hidden) table of contents of those pages, in the registry's order."""
    from mlprojects import registry

    if page == README:
        return project_table("docs/projects")
    names = "\n".join(f"projects/{entry.name}" for entry in registry.entries())
    return f"{project_table('projects')}\n\n```{{toctree}}\n:hidden:\n\n{names}\n```"


def notes(entry) -> str:
    """What the docstring of ENTRY's module says of it: the whole docstring when the module holds one project; else
    the module's opening paragraphs and those from the one that starts with the project's name to the next one that
    starts with another's."""
    import importlib
    import inspect

    from mlprojects import registry

    module = entry.project.split(":")[0]
    paragraphs = inspect.cleandoc(importlib.import_module(module).__doc__ or "").split("\n\n")
    others = [other.name for other in registry.entries() if other.project.split(":")[0] == module]
    if len(others) == 1:
        return "\n\n".join(paragraphs)
    owner, kept = "", []
    for paragraph in paragraphs:
        owner = next((name for name in others if paragraph.startswith(f"{name}:")), owner)
        if owner in ("", entry.name):
            kept.append(paragraph)
    return "\n\n".join(kept)


def project_page(entry, rows: list[list[str]]) -> str:
    """docs/projects/NAME.md: the project's entry, its rows of the reproduction report with their plots, its notes."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    plots = "../../reproduction/plots/"
    parts = [f"# {entry.name}", "", f"{entry.summary[:1].upper()}{entry.summary[1:]}." if entry.summary else "", "",
             "| | |", "|---|---|", f"| source | {cell(entry.source)} |", f"| data | {cell(entry.dataset)} |",
             f"| published | {cell(entry.published)} |", f"| run it | `mlprojects run {entry.name}` |", "",
             "## Against the published figure", ""]
    if rows:
        parts += ["From the [reproduction report](../reproduction.md):", "",
                  "| configuration | published | ours | difference | notes |", "|---|---|---|---|---|"]
        for configuration, _, published, ours, difference, note in rows:
            parts.append(f"| {configuration} | {published} | {ours} | {difference} | "
                         f"{note.replace('](plots/', f']({plots}')} |")
        first = next((cells[5] for cells in rows if "](plots/" in cells[5]), "")
        if first:
            link = first[first.index("](plots/") + 2:first.index(")", first.index("](plots/"))]
            parts += ["", f"![{entry.name}: {Path(link).stem.split('__')[-1]}]({plots}{link[len('plots/'):]})"]
    elif entry.reproduce:
        parts += [f"Not in the report yet: `mlprojects reproduce {entry.name}`."]
    else:
        parts += [f"No published figure to set ours beside: {entry.why_unreproduced}."]
    parts += ["", "## Notes", "", "```{eval-rst}", notes(entry), "```", ""]
    return "\n".join(parts)


def project_pages() -> dict[Path, str]:
    from mlprojects import registry

    rows = report_rows()
    return {PROJECT_PAGES / f"{entry.name}.md": project_page(entry, rows.get(entry.name, []))
            for entry in registry.entries()}


def rewritten(text: str, table: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return f"{text[:start]}\n{table}\n{text[end:]}"


def main(check: bool = False) -> int:
    stale = []
    wanted = {page: rewritten(page.read_text(), block(page)) for page in PAGES} | project_pages()
    for page in sorted(set(PROJECT_PAGES.glob("*.md")) - set(wanted)):  # a project no longer registered
        stale.append(page)
        if not check:
            page.unlink()
    for page, text in wanted.items():
        if not page.is_file() or page.read_text() != text:
            stale.append(page)
            if not check:
                page.parent.mkdir(exist_ok=True)
                page.write_text(text)
    if check and stale:
        print(f"not what docs/generate.py writes: {', '.join(str(p.relative_to(ROOT)) for p in stale)}; run "
              "python docs/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
