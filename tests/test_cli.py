"""The CLI contract: commands, help, bad input as one line with exit code 2, no torch for list."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST, run_subprocess


@pytest.mark.parametrize("args, exit_code", [([], 0), (["--help"], 0), (["list"], 0), (["run", "--help"], 0),
                                             (["data", "--help"], 0), (["run", "mnist-mpl"], 2),
                                             (["reproduce", "mnist-mpl"], 2), (["export", "no/such/run"], 2),
                                             (["serve", "no/such/run"], 2), (["serve", "a=no/such/run"], 2),
                                             (["compare", "no/such/run"], 2)])
def test_help_list_and_bad_names_do_not_import_torch(args, exit_code):
    """Torch's and Gradio's imports are seconds: help, the list, and the one line for a mistyped project or a
    folder that is not a run come without them (each line took 2.5-4.5 s before)."""
    code = ("import sys; from mlprojects.cli import main\n"
            "try:\n    main(sys.argv[2:])\n"
            "except SystemExit as e:\n    assert (e.code or 0) == int(sys.argv[1]), e.code\n"
            "heavy = {'torch', 'gradio'} & set(sys.modules)\n"
            "assert not heavy, f'{heavy} imported'\n")
    result = subprocess.run([sys.executable, "-c", code, str(exit_code), *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", ["a/b", "", "x y", "w%3F", ".w"])
def test_a_served_name_that_cannot_be_an_address_is_one_line(cli, wine_run, name):
    """A name is part of /v2/models/NAME/infer: "a/b" was served and could never be reached, "" fell back to the
    project's name."""
    result = cli("serve", f"{name}={wine_run}")
    assert result.code == 2 and result.err == (f"error: {name}={wine_run}: a name is letters, digits, '.', '_' and "
                                               "'-', from a letter or digit (it is part of the address "
                                               "/v2/models/NAME/infer); e.g. wine=runs/wine\n")


def test_no_help_shows_an_empty_default():
    """Options whose default is "" (none given) said `[default: ""]` in their help."""
    import click

    from mlprojects.cli import _register, cli

    _register()

    def helps(command, path):
        with click.Context(command, info_name=path, **command.context_settings) as context:
            yield path, command.get_help(context)
        for name, sub in getattr(command, "commands", {}).items():
            yield from helps(sub, f"{path} {name}")

    shown = dict(helps(cli, "mlprojects"))
    assert len(shown) > 20 and "mlprojects nlp run" in shown
    assert [path for path, text in shown.items() if 'default: ""' in text] == []


def test_list_names_the_project_source_and_figure(cli):
    result = cli("list", "--json")
    projects = {p["name"]: p for p in json.loads(result.out)}
    assert "mnist-mlp" in projects and "0.983" in projects["mnist-mlp"]["published"]


@pytest.mark.parametrize("command", [["run"], ["show"], ["data", "list"], ["data", "info"], ["data", "fetch"],
                                     ["devices"], ["list"], ["serve"], ["serve", "digits"]])
def test_every_command_has_help(cli, command):
    result = cli(*command, "--help")
    assert result.code == 0 and "Usage:" in result.out


@pytest.mark.parametrize("args, message", [
    (["run", "mnist-mpl"], "unknown project 'mnist-mpl': did you mean mnist-mlp"),
    (["run", "mnist-mlp", "--set", "epoch=3"], "unknown setting 'epoch': did you mean epochs?"),
    (["run", "mnist-mlp", "--set", "epochs=many"], "expected an integer"),
    (["run", "mnist-mlp", "--set", "batch_size=0"], "batch_size=0: must be greater than 0"),
    (["run", "mnist-mlp", "--set", "widths=256,-1"], "widths=256,-1: must be 1 or more values, each greater than 0"),
    (["run", "mnist-mlp", "--set", "data=cifar"], "expected one of mnist-10k, mnist, fashion-mnist"),
    (["run", "mnist-mlp", "--device", "tpu"], "expected auto, cpu, cuda, cuda:N or mps"),
    (["run", "mnist-mlp", "--config", "/nonexistent.yaml"], "does not exist"),
    (["run"], "name a project"),
    (["data", "info", "mnsit"], "unknown dataset 'mnsit': did you mean mnist"),
    (["show", "/nonexistent-run"], "is not a run directory"),
    (["serve", "digits", "--model", "/nonexistent-run"], "is not a run directory"),
])
def test_bad_input_is_one_line_and_exit_code_2(cli, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = cli(*args)
    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.err
    assert not (tmp_path / "runs").exists()


def test_missing_dataset_offline_leaves_no_run_directory(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("run", "mnist-mlp", "--set", "data=mnist", *FAST)
    assert result.code == 2
    assert "mlprojects data fetch mnist --from DIR" in result.err and len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_debug_shows_the_traceback(tmp_path):
    quiet = run_subprocess("run", "nope", cwd=tmp_path)
    loud = run_subprocess("run", "nope", cwd=tmp_path, env={"MLPROJECTS_DEBUG": "1"})
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr
    assert "Traceback" in loud.stderr and "UserError" in loud.stderr


def test_config_file_and_set_layers(cli, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("project: mnist-mlp\nepochs: 1\nwidths: [32]\nbatch_size: 64\n")
    result = cli("run", "mnist-mlp", "--config", str(config), "--set", "batch_size=128", "--quiet",
                 "--out", str(tmp_path / "run"))
    assert result.code == 0, result.err
    shown = json.loads(cli("show", str(tmp_path / "run"), "--json").out)
    assert shown["config"]["widths"] == [32] and shown["config"]["batch_size"] == 128
    assert shown["metrics"]["completed"] is True
    wrong = tmp_path / "w.yaml"
    wrong.write_text("project: other\n")
    assert "is for project 'other'" in cli("run", "mnist-mlp", "--config", str(wrong)).err


def test_settings_listing(cli):
    result = cli("run", "mnist-mlp", "--settings")
    assert result.code == 0 and "widths" in result.out and "0.087" in result.out


def test_devices_lists_the_cpu_and_what_each_project_accepts(cli):
    found = json.loads(cli("devices", "--json").out)
    cpu = found["devices"][0]
    assert cpu["device"] == "cpu" and cpu["cores"] >= 1 and isinstance(cpu["bf16_fast"], bool)
    from mlprojects.engine import linear

    assert cpu["dense_onednn"] == linear.available()  # large dense layers through oneDNN: an AMD CPU with AVX-512
    from mlprojects.engine import memory

    reason = memory.why_not()  # glibc's thresholds fixed while training (engine/memory.py), unless the user set them
    assert cpu["freed_memory"] == ("kept while training" if reason is None else f"left to the allocator: {reason}")
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    assert ("avx2" in cpu["capability"]) == (" avx2" in flags)
    assert found["projects"]["mnist-mlp"] == ["cpu", "cuda", "mps"]
    assert found["projects"]["kmeans-blobs"] == ["cpu", "cuda"] and found["projects"]["conv-demo"] == ["cpu"]


def test_data_list_and_info(cli):
    listing = cli("data", "list")
    assert listing.code == 0 and "mnist-10k" in listing.out and "embedded" in listing.out
    info = cli("data", "info", "mnist")
    assert "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609" in info.out
    assert "missing" in info.out


def test_corrupt_cached_dataset_is_reported_not_trained_on(cli, tmp_path, monkeypatch, isolated_home):
    monkeypatch.chdir(tmp_path)
    cached = isolated_home / "datasets" / "mnist"
    cached.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (cached / name).write_bytes(b"\x1f\x8b truncated download")
    result = cli("run", "mnist-mlp", "--set", "data=mnist", *FAST)
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1
    assert "train-images-idx3-ubyte.gz" in result.err and "corrupt" in result.err
    assert not (tmp_path / "runs").exists()
