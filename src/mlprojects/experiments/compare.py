"""Runs side by side (``mlprojects compare RUN_DIR... [--out report.html]``): the settings that differ, the
figures (with the published figure of each project that has one) and the learning curves overlaid; a sweep's
folder stands for its trials.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlprojects import registry, rundir
from mlprojects.engine.io import write_text
from mlprojects.errors import UserError

MAX_CURVES = 20  # runs drawn in the overlaid learning curves (the table has them all)
CURVES = ("loss", "val_loss", "accuracy", "val_accuracy")  # what the curves show, where the runs have them
TAIL = ("epochs_completed", "duration_s")  # figures shown after the test and validation ones


@dataclass
class Comparison:
    runs: list[Path]
    labels: list[str]
    settings: list[str]  # the settings whose values differ between the runs
    figures: list[str]
    rows: list[dict[str, str]]  # one per run, then one per published figure
    notes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return ["run", "status", *self.settings, *self.figures]


def runs_in(paths: list[str | Path]) -> list[Path]:
    """PATHS with each sweep folder (one holding trials/) replaced by its trials' run directories."""
    found: list[Path] = []
    for path in map(Path, paths):
        if (path / rundir.CONFIG).is_file():
            found.append(path)
        elif (path / "trials").is_dir():
            found += sorted(trial for trial in (path / "trials").iterdir() if (trial / rundir.CONFIG).is_file())
        else:
            raise UserError(f"{path} is neither a run directory (no {rundir.CONFIG}) nor a sweep folder (no trials/)")
    if not found:
        raise UserError("nothing to compare: the sweep folders given hold no trials yet")
    return found


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) >= 1e4 or (value and abs(value) < 1e-3) else f"{value:.4f}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return "" if value is None else str(value)


def compare(paths: list[str | Path]) -> Comparison:
    runs = runs_in(paths)
    settings = [rundir.read_settings(run) for run in runs]
    metrics = [rundir.read_metrics(run) if (run / rundir.METRICS).is_file() else {} for run in runs]
    keys = list(dict.fromkeys(key for found in settings for key in found))
    differ = [key for key in keys if len({_text(found.get(key)) for found in settings}) > 1]
    numbers = {key for found in metrics for key, value in found.items() if rundir.is_figure(value)}
    figures = (sorted(key for key in numbers if key.startswith("test_"))
               + sorted(key for key in numbers if key.startswith("val_")) + [key for key in TAIL if key in numbers])
    names = [run.name for run in runs]
    labels = names if len(set(names)) == len(names) else [str(run) for run in runs]
    rows = [{"run": label, "status": rundir.state(run), **{key: _text(found.get(key)) for key in differ},
             **{key: _text(result.get(key)) for key in figures}}
            for label, run, found, result in zip(labels, runs, settings, metrics)]
    notes = []
    for project in dict.fromkeys(found["project"] for found in settings):
        datasets = {_text(found.get("data")) for found in settings if found["project"] == project}
        for figure in registry.entry(project).reproduce:  # those on the data these runs used
            if figure.metric in figures and figure.value is not None and \
                    _text(figure.settings.get("data", next(iter(datasets)))) in datasets:
                notes.append(f"[{len(notes) + 1}] {project}: {figure.source}"
                             + "".join(f", {key}={value}" for key, value in figure.settings.items()))
                rows.append({"run": f"published [{len(notes)}]", "status": "published",
                             figure.metric: _text(float(figure.value))})
    return Comparison(runs, labels, differ, figures, rows, notes)


def curves(comparison: Comparison, path: Path) -> Path | None:
    """The learning curves of up to MAX_CURVES runs overlaid, one panel per metric they have; None when no run
    has a history (estimators fitted in one pass, demonstrations)."""
    from mlprojects.plots import overlaid_curves

    drawn = [(label, rows) for label, rows in zip(comparison.labels, map(rundir.read_history, comparison.runs)) if rows]
    if not drawn:
        return None
    if len(drawn) > MAX_CURVES:
        comparison.notes.append(f"the curves show the first {MAX_CURVES} of {len(drawn)} runs; the table has all")
        drawn = drawn[:MAX_CURVES]
    metrics = [name for name in CURVES if any(name in row for _, rows in drawn for row in rows)]
    return overlaid_curves(drawn, metrics or ["loss"], path)


def report(comparison: Comparison, out: Path) -> Path:
    """A self-contained HTML page: the table and the curves (embedded, so the file can be moved or mailed)."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        picture = curves(comparison, Path(scratch) / "curves.png")
        encoded = base64.b64encode(picture.read_bytes()).decode() if picture is not None else ""
    head = "".join(f"<th>{html.escape(column)}</th>" for column in comparison.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(row.get(column, ''))}</td>" for column in comparison.columns)
                   + "</tr>\n" for row in comparison.rows)
    image = (f'<h2>Learning curves</h2>\n<img alt="learning curves" src="data:image/png;base64,{encoded}">\n'
             if encoded else "")
    notes = "".join(f"<p>{html.escape(note)}</p>\n" for note in comparison.notes)
    page = (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>mlprojects compare</title>\n"
            "<style>body{font-family:sans-serif} table{border-collapse:collapse} "
            "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right} img{max-width:100%}</style>\n"
            f"</head><body>\n<h1>{len(comparison.runs)} runs</h1>\n<table>\n<tr>{head}</tr>\n{body}</table>\n"
            f"{notes}{image}</body></html>\n")
    return write_text(out, page)
