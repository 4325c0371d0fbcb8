"""The project registry: one entry per project, carrying everything other parts ask about it.

An :class:`Entry` is cheap metadata (no torch import, so ``list`` and ``--help`` stay instant): the
project's name, its source and published figures (``reproduce`` runs them), which way its metrics
are better (``sweep`` sorts by them), what it serves and generates, what data it needs that is not
embedded, and where its implementation lives, as ``"module:attribute"`` (the form of Python's entry
points), imported only when the project is used. A new project is its module plus one entry.

Entries are registered by the modules that hold them: the built-in table, ``mlprojects.builtin``;
any installed package that declares an entry point in the group ``mlprojects.projects``; and the
modules named in ``MLPROJECTS_PROJECTS`` (comma-separated module names, importable from
``sys.path``/``PYTHONPATH``), which is how a project of your own joins ``list``, ``run``,
``sweep`` and ``reproduce`` without touching this package (processes started by ``sweep`` inherit it).
"""

from __future__ import annotations

import difflib
import importlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mlprojects.errors import UserError

if TYPE_CHECKING:
    from mlprojects.project import BaseProject

Goal = Literal["max", "min"]
BUILTIN = "mlprojects.builtin"
PLUGINS_VARIABLE = "MLPROJECTS_PROJECTS"
ENTRY_POINT_GROUP = "mlprojects.projects"


@dataclass(frozen=True)
class Published:
    """A figure a source published, and how ``reproduce`` sets ours beside it."""

    source: str
    published: str  # as the source states it
    metric: str  # the key of metrics.json compared with it
    value: float | None = None  # the published figure as a number, when there is one to compare
    settings: dict[str, Any] = field(default_factory=dict)  # the published configuration
    seeds: int = 3  # seeds where a run is cheap; 1 where it takes minutes
    also: tuple[str, ...] = ()  # more metrics shown beside ours
    note: str = ""
    data: str = ""  # a dataset that must be present (a download); "" = embedded or generated


@dataclass(frozen=True)
class Entry:
    name: str
    project: str  # "module:attribute" of the project instance
    source: str  # book chapter and section, or the notebook
    dataset: str
    published: str  # the figure the source reports, in its own words
    summary: str = ""
    #: which way each metric of metrics.json is better ("max" or "min"); the first is the project's
    #: headline figure. Metrics the runner writes for every project (losses, time) are declared in
    #: mlprojects.rundir; a metric declared nowhere (a slope, an iteration count) has no direction.
    goals: dict[str, Goal] = field(default_factory=dict)
    reproduce: tuple[Published, ...] = ()  # the published figures `mlprojects reproduce` runs
    #: with no figure to reproduce: why not, as the reproduction report lists it ("the book shows images only")
    unreproduced: str = ""
    serves: str = ""  # the web app that serves its runs ("digits"), or ""
    generates: str = ""  # what `mlprojects generate` samples from its runs ("abc"), or ""
    #: what it reads that is neither embedded nor generated: catalog datasets to download ("cifar10"), or
    #: inputs the user gives ("pretrained-model", "labelled-texts"); the tests provide each in its real form
    needs: tuple[str, ...] = ()

    @property
    def headline(self) -> str:
        return next(iter(self.goals), "")

    @property
    def why_unreproduced(self) -> str:
        """Why there is no published figure to reproduce: its own words, or what the source published instead."""
        return self.unreproduced or self.published


_ENTRIES: dict[str, Entry] = {}
_LOADED: list[bool] = []


def register(*entries: Entry) -> None:
    for entry in entries:
        module, _, attribute = entry.project.partition(":")
        if not module or not attribute:
            raise ValueError(f"project {entry.name!r}: project={entry.project!r} must read 'module:attribute'")
        if entry.name in _ENTRIES and _ENTRIES[entry.name] != entry:
            raise ValueError(f"project {entry.name!r} is registered twice")
        _ENTRIES[entry.name] = entry


def _discover() -> None:
    """Import the modules that register entries: the built-in table, entry points, MLPROJECTS_PROJECTS."""
    if _LOADED:
        return
    _LOADED.append(True)
    importlib.import_module(BUILTIN)
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINT_GROUP):
        point.load()
    for name in filter(None, (part.strip() for part in os.environ.get(PLUGINS_VARIABLE, "").split(","))):
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise UserError(f"{PLUGINS_VARIABLE}={name}: cannot import it ({error}); put its folder on "
                            "PYTHONPATH") from None


def entries() -> list[Entry]:
    """Every entry, in the order they were registered (the built-in table is in the sources' order)."""
    _discover()
    return list(_ENTRIES.values())


def entry(name: str) -> Entry:
    known = {found.name: found for found in entries()}
    if name not in known:
        close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else "see `mlprojects list`"
        raise UserError(f"unknown project {name!r}: {hint}")
    return known[name]


def get(name: str) -> BaseProject:
    """The project's implementation (imports its module, and so torch), named after its entry."""
    from mlprojects.project import BaseProject

    found = entry(name)
    module, _, attribute = found.project.partition(":")
    project = getattr(importlib.import_module(module), attribute, None)
    if not isinstance(project, BaseProject):
        raise LookupError(f"{found.project} is not a project instance (a Project, EstimatorProject or DemoProject)")
    if project.name not in ("", name):
        raise LookupError(f"{found.project} is registered as both {project.name!r} and {name!r}")
    project.name = name
    return project


def serving(app: str) -> list[Entry]:
    """The projects whose runs the web app APP serves."""
    return [found for found in entries() if found.serves == app]
