"""Installing: the wheel and the sdist carry what users need and nothing else; ``mlprojects doctor`` tells
a whole install from a broken one."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from conftest import run_subprocess
from packaging.requirements import Requirement

import mlprojects
from mlprojects import doctor

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "mlprojects"
PYTHONS = ("3.11", "3.12", "3.13")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """The sdist, and the wheel built from it, as `python -m build` makes them (offline: no isolation)."""
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("not a checkout: no pyproject.toml to build from")
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {"wheel": next(out.glob("*.whl")), "sdist": next(out.glob("*.tar.gz"))}


def test_the_wheel_carries_every_packaged_file_and_nothing_else(built):
    names = set(zipfile.ZipFile(built["wheel"]).namelist())
    packaged = {f"mlprojects/{path.relative_to(SOURCE).as_posix()}" for path in SOURCE.rglob("*")
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"}
    assert packaged - names == set(), "files of the package missing from the wheel"
    # the embedded data every offline project and notebook reads
    for data in ("mnist_10k.npz", "wine.csv", "elec_load.csv", "blue_jay.jpg", "leopard.jpg", "style_style.jpg",
                 "PROVENANCE.md"):
        assert f"mlprojects/data/embedded/{data}" in names
    info = f"mlprojects-{mlprojects.__version__}.dist-info/"
    assert {name for name in names if not name.startswith(info)} == packaged
    assert not any("__pycache__" in name or name.endswith(".pyc") or name.startswith("tests/") for name in names)
    assert built["wheel"].stat().st_size < 8_000_000  # 3.4 MB today, most of it the embedded data


def test_the_wheel_promises_the_pythons_it_is_tested_on(built):
    with zipfile.ZipFile(built["wheel"]) as wheel:
        text = wheel.read(f"mlprojects-{mlprojects.__version__}.dist-info/METADATA").decode()
    assert "Requires-Python: >=3.11\n" in text  # no upper bound: pip refuses 3.10 and older, nothing newer
    for python in PYTHONS:
        assert f"Classifier: Programming Language :: Python :: {python}\n" in text
    entry = zipfile.ZipFile(built["wheel"]).read(f"mlprojects-{mlprojects.__version__}.dist-info/entry_points.txt")
    assert b"mlprojects = mlprojects.cli:main" in entry


def test_the_sdist_builds_the_same_package(built):
    import tarfile

    with tarfile.open(built["sdist"]) as sdist:
        names = sdist.getnames()
    top = f"mlprojects-{mlprojects.__version__}/"
    assert f"{top}pyproject.toml" in names and f"{top}README.md" in names
    assert f"{top}src/mlprojects/data/embedded/mnist_10k.npz" in names
    assert not any("__pycache__" in name or "/.venv/" in name or "/runs/" in name for name in names)


# --- doctor ---------------------------------------------------------------------------------------

def test_every_extra_is_described_and_its_requirements_are_read_from_the_metadata():
    declared = doctor.extras_declared()
    assert sorted(declared) == sorted(doctor.EXTRAS)
    # the test extra names other extras: doctor expands them (gradio comes from web, onnxruntime from export)
    names = {requirement.name for requirement in doctor._requirements("test")}
    assert {"pytest", "gradio", "onnxruntime", "pyarrow", "music21"} <= names
    assert "torch" in {requirement.name for requirement in doctor._requirements(None)}
    assert "gradio" not in {requirement.name for requirement in doctor._requirements(None)}


def test_a_missing_package_and_a_wrong_version_are_told_apart():
    numpy = metadata.version("numpy")
    missing, wrong = doctor._unmet([Requirement("numpy>=1"), Requirement("no-such-package-here>=1"),
                                    Requirement("numpy<1")])
    assert missing == ["no-such-package-here"]
    assert wrong == [f"numpy {numpy} (needs <1)"]


@pytest.mark.slow
def test_doctor_on_a_whole_install_trains_predicts_and_exits_0(tmp_path):
    done = run_subprocess("doctor", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["problems"] == []
    assert report["python"].startswith(".".join(map(str, sys.version_info[:3])))
    assert report["packages"]["torch"] == metadata.version("torch")
    assert report["extras"]["test"]["installed"] and report["extras"]["web"]["installed"]
    assert report["devices"][0]["device"] == "cpu"
    assert report["places"]["runs"] == {"path": str(tmp_path / "runs"), "writable": True,
                                        "detail": report["places"]["runs"]["detail"]}
    check = report["check"]
    # the saved run's predictions of the test digits give exactly the accuracy the run measured
    assert check["ok"] and check["predicted_accuracy"] == check["test_accuracy"] > doctor.CHECK_ACCURACY
    assert not (tmp_path / "runs").exists()  # the check trains in a temporary folder


def test_doctor_names_each_problem_in_one_line_with_what_to_do(tmp_path):
    (tmp_path / "runs").write_text("a file where the runs folder should be")
    blocked = tmp_path / "cache-file"
    blocked.write_text("")
    done = run_subprocess("doctor", "--no-check", cwd=tmp_path, env={"MLPROJECTS_HOME": str(blocked / "cache")})
    assert done.returncode == 1
    problems = [line for line in done.stdout.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 2, done.stdout
    assert "runs folder" in problems[0] and "--out" in problems[0]
    assert "data cache" in problems[1] and "MLPROJECTS_HOME" in problems[1]
    assert done.stdout.rstrip().endswith("2 problems (above)")
