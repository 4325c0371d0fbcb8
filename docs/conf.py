"""Sphinx configuration of the documentation site: MyST Markdown pages, the PyData theme, API pages from the
docstrings. Build: ``sphinx-build -W -b html docs docs/_build/html`` (warnings, broken references and pages missing
from the table of contents are errors)."""

import sys
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

project = "mlprojects"
release = version = metadata.version("mlprojects")
extensions = ["myst_parser", "sphinx.ext.autodoc"]
myst_heading_anchors = 3  # links to a section of a page: page.md#a-heading
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "pydata_sphinx_theme"
html_title = "mlprojects"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
autodoc_member_order = "bysource"
autodoc_typehints = "description"


def _reproduction(app, docname, source):
    """The reproduction page is reproduction/REPRODUCTION.md as `mlprojects reproduce` wrote it, its plots' links
    made relative to this folder."""
    if docname == "reproduction":
        report = Path(__file__).resolve().parents[1] / "reproduction" / "REPRODUCTION.md"
        source[0] = report.read_text().replace("](plots/", "](../reproduction/plots/")


def setup(app):
    app.connect("source-read", _reproduction)
