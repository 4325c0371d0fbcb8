"""The project registry: names, sources and published figures, without importing torch.

A :class:`ProjectInfo` is the cheap metadata that ``mlprojects list`` prints; the project's code
(config dataclass, data, model, loss) lives in the module named by ``module`` and is imported only
when the project is used, so listing stays fast.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlprojects.errors import UserError

if TYPE_CHECKING:
    from mlprojects.projects.base import Project


@dataclass(frozen=True)
class ProjectInfo:
    name: str
    source: str  # book chapter and section, or the notebook
    dataset: str
    published: str  # the figure the source reports, in its own words
    module: str  # where the Project subclass lives
    summary: str = ""


_PROJECTS: dict[str, ProjectInfo] = {}


def register(info: ProjectInfo) -> ProjectInfo:
    if info.name in _PROJECTS:
        raise ValueError(f"project {info.name!r} is registered twice")
    _PROJECTS[info.name] = info
    return info


def all_projects() -> list[ProjectInfo]:
    import mlprojects.projects  # noqa: F401  (registers the built-in projects)

    return sorted(_PROJECTS.values(), key=lambda info: info.name)


def info(name: str) -> ProjectInfo:
    known = {p.name: p for p in all_projects()}
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else "see `mlprojects list`"
        raise UserError(f"unknown project {name!r}: {hint}")
    return known[name]


def get(name: str) -> "Project":
    """The project's implementation (imports torch). A module holds one ``PROJECT`` or several
    ``Project`` instances at module level, found by their ``name``."""
    module = importlib.import_module(info(name).module)
    for value in vars(module).values():
        if getattr(value, "name", None) == name and hasattr(value, "config_class") and not isinstance(value, type):
            return value
    raise LookupError(f"{info(name).module} defines no project named {name!r}")
