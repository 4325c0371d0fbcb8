"""``mlprojects doctor``: is this install whole? (as Ludwig's ``check_install``).

It reports the Python and the key packages' versions, which extras are installed and what each
enables, the devices, where runs and the data cache live and whether they can be written, and then
trains a small network on the embedded digits and predicts the test digits with it, end to end through
the same code as ``mlprojects run`` and ``mlprojects predict`` (in a temporary folder). Each problem is
one line saying what to do; there are none when all is well.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

DISTRIBUTION = "mlprojects"
# what each extra of pyproject.toml enables (a test checks that every extra is described here)
EXTRAS = {
    "web": "the web apps and REST serving: serve digits, serve RUN (MLflow, Open Inference Protocol), serve style",
    "nlp": "pretrained transformers: the nlp commands, text-classify, token-classify",
    "music": "bach-charrnn's corpora, ABC and MIDI (music21)",
    "export": "export --format onnx; predict and serve images through onnxruntime",
    "ray": "sweep --backend ray",
    "vision": "EfficientNet-Lite0's ImageNet weights: classify and style-transfer offline",
    "parquet": "data=PATH.parquet and data convert to Parquet (pyarrow)",
    "tracking": "run --track, sweep --track and track import: runs in MLflow",
    "search": "sweep --search tpe|random: Optuna chooses and prunes the trials",
    "bench": "benchmarks/ against Keras on TensorFlow",
    "notebooks": "the notebooks/ in JupyterLab, and the small BERT they fine-tune offline",
    "docs": "the documentation site: sphinx-build -W -b html docs docs/_build/html",
    "test": "the test suite and its linter",
}
KEY_PACKAGES = ("torch", "torchvision", "numpy", "pandas", "scikit-learn", "numba", "matplotlib", "safetensors")
CHECK_SETTINGS = {"epochs": 1, "widths": "64"}  # about a second of training on 2 cores
CHECK_ACCURACY = 0.85  # the check's network reaches about 0.92 on the embedded test digits


@dataclass
class Report:
    """What ``doctor`` found: facts to show, and problems (one line each, with what to do)."""

    facts: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _requirements(extra: str | None) -> list[Requirement]:
    """The distribution's requirements for EXTRA (None: the core ones) on this platform, nested extras expanded."""
    found = []
    for text in metadata.requires(DISTRIBUTION) or []:
        requirement = Requirement(text)
        marker = requirement.marker
        of_an_extra = marker is not None and "extra" in str(marker)
        if (of_an_extra != (extra is not None)) or (marker is not None and not marker.evaluate({"extra": extra or ""})):
            continue
        if requirement.name == DISTRIBUTION:
            found += [inner for name in sorted(requirement.extras) for inner in _requirements(name)]
        else:
            found.append(requirement)
    return found


def _version(name: str) -> str | None:
    """The installed version of the distribution NAME, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _unmet(requirements: list[Requirement]) -> tuple[list[str], list[str]]:
    """The requirements not installed, and those installed at a version they exclude."""
    missing, wrong = [], []
    for requirement in requirements:
        version = _version(requirement.name)
        if version is None:
            missing.append(requirement.name)
        elif requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
            wrong.append(f"{requirement.name} {version} (needs {requirement.specifier})")
    return missing, wrong


def extras_declared() -> list[str]:
    return list(metadata.metadata(DISTRIBUTION).get_all("Provides-Extra") or [])


def _versions(report: Report) -> None:
    report.facts["mlprojects"] = metadata.version(DISTRIBUTION)
    report.facts["python"] = f"{platform.python_version()} ({platform.python_implementation()}, {sys.executable})"
    report.facts["platform"] = f"{platform.system()} {platform.machine()}"
    if sys.version_info < (3, 11):
        report.problems.append(f"Python {platform.python_version()} is older than 3.11, the oldest this package "
                               f"supports: use Python 3.11, 3.12 or 3.13")
    report.facts["packages"] = {name: _version(name) for name in KEY_PACKAGES}
    missing, wrong = _unmet(_requirements(None))
    if missing or wrong:
        report.problems.append(f"core dependencies: {', '.join([f'{name} missing' for name in missing] + wrong)}; "
                               f"reinstall: pip install --upgrade mlprojects (or pip install -e . in a checkout)")


def _extras(report: Report) -> None:
    """Each extra: installed or not (a package two extras share can make one look half there: not a problem),
    and a package installed at a version an extra excludes, which is one."""
    extras = {}
    for extra in extras_declared():
        missing, wrong = _unmet(_requirements(extra))
        extras[extra] = {"installed": not (missing or wrong), "enables": EXTRAS.get(extra, ""), "missing": missing,
                         "wrong_versions": wrong}
        if wrong:
            report.problems.append(f"extra {extra!r}: {', '.join(wrong)}: pip install --upgrade 'mlprojects[{extra}]'")
    report.facts["extras"] = extras


def _writable(folder: Path) -> tuple[bool, str]:
    """Whether FOLDER (or, if it does not exist yet, the nearest folder above it) takes a new file."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return False, f"{existing} is not a folder"
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".mlprojects-doctor-"):
            pass
    except OSError as error:
        return False, error.strerror or str(error)
    return True, f"{shutil.disk_usage(existing).free / 1e9:.1f} GB free"


def _places(report: Report) -> None:
    from mlprojects.data.store import home

    places = {"runs": (Path("runs").absolute(), "run with --out DIR, or from a folder you can write to"),
              "data cache": (home(), "set MLPROJECTS_HOME to a folder you can write to")}
    report.facts["places"] = {}
    for what, (folder, advice) in places.items():
        ok, detail = _writable(folder)
        report.facts["places"][what] = {"path": str(folder), "writable": ok, "detail": detail}
        if not ok:
            report.problems.append(f"{what} folder {folder} cannot be written ({detail}): {advice}")


def _devices(report: Report) -> None:
    from mlprojects.engine.device import describe

    report.facts["devices"] = describe()


def _end_to_end(report: Report) -> None:
    """Train mnist-mlp briefly on the embedded digits, then predict its test digits from the saved run: the
    predictions must give the run's own test accuracy, and that accuracy must be a trained network's."""
    from mlprojects.api import load, run
    from mlprojects.data.images import load as load_images

    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="mlprojects-doctor-") as folder:
            result = run("mnist-mlp", out=Path(folder) / "run", progress=False, device="cpu", **CHECK_SETTINGS)
            trained = time.perf_counter() - started
            digits = load_images("mnist-10k")
            predicted = load(result.dir).predict(list(digits.test_images), top_k=1)
            accuracy = float((predicted["label_1"].to_numpy() == [digits.class_names[i] for i in digits.test_labels])
                             .mean())
            measured = result.metrics["test_accuracy"]
    except Exception as error:  # the check exists to find what is broken: report it, whatever it is
        report.problems.append(f"the end-to-end check failed ({type(error).__name__}: {error}); "
                               f"run MLPROJECTS_DEBUG=1 mlprojects run mnist-mlp --set epochs=1 to see where")
        report.facts["check"] = {"ok": False}
        return
    seconds = time.perf_counter() - started
    report.facts["check"] = {"ok": True, "project": "mnist-mlp", "settings": CHECK_SETTINGS,
                             "test_accuracy": measured, "predicted_accuracy": accuracy,
                             "train_s": round(trained, 2), "total_s": round(seconds, 2)}
    if abs(accuracy - measured) > 1e-9:
        report.problems.append(f"the end-to-end check's predictions give accuracy {accuracy:.4f} but its run measured "
                               f"{measured:.4f}: predict disagrees with training; please report it")
    elif measured < CHECK_ACCURACY:
        report.problems.append(f"the end-to-end check's network reached test accuracy {measured:.4f}, below "
                               f"{CHECK_ACCURACY}: training is broken here; please report it with `mlprojects doctor "
                               f"--json`")


def examine(check: bool = True) -> Report:
    """Everything ``mlprojects doctor`` reports; CHECK: also train and predict end to end (a few seconds)."""
    report = Report()
    os.environ.setdefault("MPLBACKEND", "Agg")
    for step in (_versions, _extras, _places, _devices) + ((_end_to_end,) if check else ()):
        step(report)
    return report
