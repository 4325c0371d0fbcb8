"""Running at scale (the book's chapters 9 and 10): devices, a distributed pi, two nodes on 127.0.0.1,
and a run that survives a killed worker. Real torchrun processes, gloo, on the CPU."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import DATA_PARALLEL, Forked, assert_ends_as_one_process, free_port, run_subprocess
from safetensors.torch import load_file

from mlprojects import registry
from mlprojects.builtin.pi import count_inside, estimate, stream_counts
from mlprojects.errors import UserError
from mlprojects.runner import accept, run


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())



def test_pi_is_within_four_standard_errors_and_its_arithmetic_is_by_hand(tmp_path):
    run_dir = run("pi", {"points": 400_000, "chunk": 70_000, "streams": 3}, out=tmp_path / "pi", progress=False)
    found = metrics(run_dir)
    inside = sum(count_inside(stream_counts(400_000, 3, s), 42, s, 70_000, torch.device("cpu")) for s in range(3))
    assert found["inside"] == inside and found["points"] == 400_000
    assert found["pi_estimate"] == 4 * inside / 400_000
    p = inside / 400_000
    assert found["standard_error"] == pytest.approx(4 * math.sqrt(p * (1 - p) / 400_000))
    assert abs(found["error"]) <= 4 * found["standard_error"] and found["within_4_standard_errors"]
    assert [stream_counts(10, 3, s) for s in range(3)] == [4, 3, 3]
    assert estimate(785, 1000)["pi_estimate"] == 3.14
    assert (run_dir / "plots" / "pi.png").is_file()


def test_two_processes_sum_exactly_the_points_of_their_two_streams(tmp_path):
    settings = ["--set", "points=300000", "--set", "chunk=40000", "--quiet"]
    one = run_subprocess("run", "pi", *settings, "--set", "streams=2", "--out", str(tmp_path / "one"))
    two = run_subprocess("run", "pi", *settings, "--nproc", "2", "--out", str(tmp_path / "two"))
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    a, b = metrics(tmp_path / "one"), metrics(tmp_path / "two")
    assert b["processes"] == 2 and b["streams"] == 2 and a["processes"] == 1
    assert (a["inside"], a["points"]) == (b["inside"], b["points"])


def two_nodes(tmp_path, *args: str, out: str) -> list[subprocess.CompletedProcess]:
    """Two launchers on this machine, as two machines would start them: the same command, --nnodes 2."""
    from concurrent.futures import ThreadPoolExecutor

    master = f"127.0.0.1:{free_port()}"
    command = ["run", *args, "--nnodes", "2", "--master", master, "--out", str(tmp_path / out), "--quiet"]
    with ThreadPoolExecutor(2) as launchers:
        return list(launchers.map(lambda _: run_subprocess(*command), range(2)))


@pytest.mark.slow
def test_two_nodes_compute_pi_and_train_as_one_process_does(tmp_path, one_process_run):
    for node in two_nodes(tmp_path, "pi", "--set", "points=200000", "--set", "chunk=50000", out="pi2"):
        # nothing on stderr: torchrun's host no longer closes the rendezvous's store under the other node, which
        # then printed a C++ connection trace and a warning after a run that succeeded (cli/run.py Launch.leave)
        assert node.returncode == 0 and node.stderr == "", node.stderr
    single = run_subprocess("run", "pi", "--set", "points=200000", "--set", "chunk=50000", "--set", "streams=2",
                            "--out", str(tmp_path / "pi1"), "--quiet")
    assert single.returncode == 0
    assert metrics(tmp_path / "pi2")["inside"] == metrics(tmp_path / "pi1")["inside"]
    assert metrics(tmp_path / "pi2")["processes"] == 2

    for node in two_nodes(tmp_path, *DATA_PARALLEL, out="mlp2"):
        assert node.returncode == 0 and node.stderr == "", node.stderr
    assert_ends_as_one_process(one_process_run, tmp_path / "mlp2")


def workers(launcher: int) -> list[int]:
    """The pids of the torchrun workers of the `mlprojects run --nproc` whose pid is LAUNCHER, in the order they
    started: its children forked from it (the same command line; multiprocessing's resource tracker, also its
    child, is a new interpreter)."""
    command = Path(f"/proc/{launcher}/cmdline").read_bytes()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] == str(launcher)
                    and (entry / "cmdline").read_bytes() == command):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return sorted(found)


@pytest.mark.slow
def test_a_killed_worker_restarts_resumes_and_ends_where_an_uninterrupted_run_ends(tmp_path):
    common = ["run", "mnist-mlp", "--set", "epochs=3", "--set", "widths=256x2", "--set", "batch_size=128",
              "--device", "cpu", "--nproc", "2", "--quiet"]
    steady = run_subprocess(*common, "--out", str(tmp_path / "steady"))
    assert steady.returncode == 0, steady.stderr
    run_dir, temporary = tmp_path / "killed", tmp_path / "tmp"
    temporary.mkdir()
    launcher = Forked([*common, "--max-restarts", "1", "--out", str(run_dir)], env={"TMPDIR": str(temporary)})
    deadline = time.monotonic() + 300
    while not (run_dir / "checkpoint.safetensors").exists():  # the first epoch is done, the second begins
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.stderr.read()
        time.sleep(0.05)
    victims = workers(launcher.pid)
    assert len(victims) == 2
    os.kill(victims[1], signal.SIGKILL)
    launcher.wait(600)
    stderr = launcher.stderr.read()
    assert launcher.returncode == 0, stderr
    # torchrun saw a worker fail, and restarted the group (the run could not end otherwise): the one killed
    # (-9), or the other, first, when gloo lost its peer (1; the agent reports the first failure its forked
    # workers' sentinels show)
    assert re.search(r"failed \(exitcode: (-9|1)\) local_rank: [01]", stderr), stderr
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in history] == [1, 2, 3] and metrics(run_dir)["completed"]
    # nothing left behind by the failed attempt: torchrun's log folder, its agent's traceback file of the worker
    assert not list(temporary.iterdir())
    a = load_file(str(tmp_path / "steady/model.safetensors"))
    b = load_file(str(run_dir / "model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)


def test_device_placement_reports_where_each_tensor_lives(tmp_path):
    project = registry.get("device-placement")
    run_dir = run("device-placement", dict(project.smoke_settings), out=tmp_path / "placed", progress=False)
    found = metrics(run_dir)
    assert found["placement"] == {"a": "cpu", "b": "cpu", "c = a @ b": "cpu", "c.cpu()": "cpu"}
    assert found["matmul_gflops"]["cpu"] > 0 and found["transfer_gb_per_s"]["cpu copy within CPU memory, 1 MiB"] > 0
    assert "| `c = a @ b` | `cpu` |" in (run_dir / "report.md").read_text()


def test_a_device_a_project_cannot_use_is_one_line(cli):
    with pytest.raises(UserError, match="conv-demo runs on cpu, not mps: use --device cpu"):
        accept(registry.get("conv-demo"), torch.device("mps"))
    with pytest.raises(UserError, match="kmeans-blobs runs on cpu or cuda, not mps"):
        accept(registry.get("kmeans-blobs"), torch.device("mps"))
    result = cli("run", "pi", "--nnodes", "2")
    assert result.code == 2 and "--nnodes needs --master HOST:PORT" in result.err
    result = cli("run", "kmeans-blobs", "--nproc", "2")
    assert result.code == 2 and "fits one estimator in one process" in result.err


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2,
                    reason="needs CPU affinity (Linux) and two cores")
def test_processes_share_the_cores_the_process_may_run_on_not_the_machines():
    """A container's or taskset's cpuset limits the cores: each process's threads are its share of those."""
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); from mlprojects import cores; "
            "print(cores.available(), cores.share(1), cores.share(4), os.cpu_count())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[:3] == ["1", "1", "1"] and int(out[3]) >= 2
    from mlprojects import cores

    assert cores.share(2) == max(1, len(os.sched_getaffinity(0)) // 2) and cores.share(10**6) == 1


def test_the_rendezvous_names_its_steps_as_torch_does_without_reading_the_stack(monkeypatch):
    """`run --nproc`'s agent replaces the rendezvous' inspect.stack() (the source of every frame read, a search
    over every module imported) by the frame's own name: the same name at each depth, and torch's placeholder
    beyond the stack's bottom."""
    import inspect

    from torch.distributed.elastic.rendezvous import dynamic_rendezvous

    from mlprojects.cli.run import _cheap_step_names

    torchs = dynamic_rendezvous.get_method_name
    monkeypatch.setattr(dynamic_rendezvous, "get_method_name", torchs)  # put back after the test
    _cheap_step_names()
    ours = dynamic_rendezvous.get_method_name
    assert ours is not torchs

    def record(name_of, depth):  # a rendezvous method's _record, one frame under the method it names
        return name_of(depth) if depth is not None else name_of()

    def next_rendezvous(name_of, depth=None):
        return record(name_of, depth)

    depths = [None, 1, 2, 3, len(inspect.stack()) + 5]
    seen = [(next_rendezvous(torchs, depth), next_rendezvous(ours, depth)) for depth in depths]
    assert [pair[0] for pair in seen] == [pair[1] for pair in seen]
    assert seen[0][1] == "next_rendezvous" and seen[1][1] == "record" and seen[-1][1] == "no_method_name"
