"""mlprojects sweep and reproduce: real runs in real processes, killed and resumed, on Ray too."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port, kill_when, run_subprocess

from mlprojects.experiments.sweep import Sweep, parse_grid
from mlprojects.rundir import state

GRID = ["--grid", "widths=16x2,32x2", "--grid", "lr=0.05,0.2", "--set", "epochs=1"]


def _rows(out: Path) -> list[dict]:
    with open(out / "results.csv") as handle:
        return list(csv.DictReader(handle))


def test_grid_parsing_and_trial_folders(tmp_path):
    grid = parse_grid(["widths=64x4,128-64-32-16", "lr=0.1, 0.01"])
    assert grid == {"widths": ["64x4", "128-64-32-16"], "lr": ["0.1", "0.01"]}
    plan = Sweep("mnist-mlp", grid, [42, 43], tmp_path)
    assert len(plan.trials) == 8 and len({plan.run_dir(t) for t in plan.trials}) == 8
    assert plan.trials[0].label == "widths=64x4 lr=0.1" and plan.trials[0].seed == 42
    assert state(tmp_path / "nothing") == "new"
    # another --set (or project) is another experiment: its trials never take the old results
    other = Sweep("mnist-mlp", grid, [42, 43], tmp_path, fixed={"epochs": "5"})
    assert {plan.run_dir(t) for t in plan.trials}.isdisjoint(other.run_dir(t) for t in other.trials)
    assert plan.run_dir(plan.trials[0]) == Sweep("mnist-mlp", dict(grid), [42], tmp_path).run_dir(plan.trials[0])
    linked = Sweep("mnist-mlp", parse_grid(["optimizer/lr=sgd/0.087,adam/0.001"]), [42], tmp_path)
    assert [t.overrides() for t in linked.trials] == [{"optimizer": "sgd", "lr": "0.087"},
                                                      {"optimizer": "adam", "lr": "0.001"}]


def test_trials_take_omp_num_threads_where_it_is_set_else_their_share_of_the_cores(tmp_path, cli, monkeypatch):
    """As `run --nproc` and `serve --workers` do: a user who keeps other work on some cores sets OMP_NUM_THREADS,
    and the trials do not fight that work for them (a search's trials with two threads each beside a busy core took
    27-38 s where one thread each took 13 s)."""
    from mlprojects import cores

    for value, expected in (("3", 3), ("2,1", 2), (" 1 ", 1), ("", cores.share(1)), ("many", cores.share(1)),
                            ("0", cores.share(1))):
        monkeypatch.setenv("OMP_NUM_THREADS", value)
        assert cores.per_process(1) == expected, value
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert cores.per_process(2) == cores.share(2)
    args = ["sweep", "mnist-mlp", "--grid", "lr=0.1", "--set", "epochs=1", "--set", "widths=16x2", "--set",
            "batch_size=128", "--out", str(tmp_path / "sweep")]
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    first = cli(*args)
    assert first.code == 0, first.err
    assert "1 trials: 0 done, 1 to run (1 at a time, 1 thread each)" in first.out
    monkeypatch.delenv("OMP_NUM_THREADS")
    again = cli(*args)  # nothing left to run: the line says what a trial would get
    assert f"1 trials: 1 done, 0 to run (1 at a time, {cores.threads_each(cores.share(1))})" in again.out


@pytest.mark.slow
def test_a_2x2_sweep_on_2_workers_writes_the_table_and_plots_then_skips_finished_trials(tmp_path, cli):
    out = tmp_path / "sweep"
    result = cli("sweep", "mnist-mlp", *GRID, "--workers", "2", "--out", str(out))
    assert result.code == 0, result.err
    assert "4 trials: 0 done, 4 to run (2 at a time, 1 thread each)" in result.out
    rows = _rows(out)
    assert [(r["widths"], r["lr"], r["seed"]) for r in rows] == [
        ("16x2", "0.05", "42"), ("16x2", "0.2", "42"), ("32x2", "0.05", "42"), ("32x2", "0.2", "42")]
    for row in rows:  # each row is its own run's metrics.json
        metrics = json.loads((out / row["run_dir"] / "metrics.json").read_text())
        assert float(row["test_accuracy"]) == pytest.approx(metrics["test_accuracy"])
        assert metrics["epochs_completed"] == 1
        settings = (out / row["run_dir"] / "config.yaml").read_text()
        assert f"lr: {row['lr']}" in settings and "epochs: 1" in settings
    summary = (out / "summary.md").read_text()
    table = [line for line in summary.splitlines() if line.startswith("| `")]
    means = [float(line.split("|")[4].split("±")[0]) for line in table]
    assert len(table) == 4 and means == sorted(means, reverse=True)  # best first: higher accuracy is better
    best = max(rows, key=lambda r: float(r["test_accuracy"]))
    best_row = f"| `{best['widths']}` | `{best['lr']}` | 1 | {float(best['test_accuracy']):.4f} ± 0.0000"
    assert table[0].startswith(best_row)
    assert (out / "plots" / "test_accuracy_vs_widths.png").stat().st_size > 5000
    assert "plots/test_accuracy_vs_lr.png" in summary
    stamps = {row["run_dir"]: (out / row["run_dir"] / "metrics.json").stat().st_mtime_ns for row in rows}
    again = cli("sweep", "mnist-mlp", *GRID, "--workers", "2", "--out", str(out))
    assert again.code == 0 and "4 trials: 4 done, 0 to run" in again.out
    side_by_side = cli("compare", str(out), "--out", str(tmp_path / "compare.html"))  # the sweep's 4 trials
    assert side_by_side.code == 0, side_by_side.err
    assert (tmp_path / "compare.html").read_text().count("<td>done</td>") == 4
    assert stamps == {row["run_dir"]: (out / row["run_dir"] / "metrics.json").stat().st_mtime_ns for row in _rows(out)}


@pytest.mark.slow
def test_a_killed_sweep_resumes_only_what_is_missing(tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", "mnist-mlp", "--grid", "lr=0.05,0.1,0.2", "--set", "epochs=3", "--set", "widths=32x2",
            "--set", "batch_size=128", "--out", str(out)]
    trials = out / "trials"

    def second_trial_started() -> bool:  # the first trial is done and the second has a checkpoint
        states = [state(folder) for folder in sorted(trials.glob("*"))] if trials.exists() else []
        return states.count("done") == 1 and "partial" in states

    kill_when(args, second_trial_started, "the sweep's second trial")
    first_done = [folder for folder in trials.glob("*") if state(folder) == "done"]
    stamp = (first_done[0] / "metrics.json").stat().st_mtime_ns
    result = run_subprocess(*args, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "3 trials: 1 done, 2 to run" in result.stdout
    outcomes = [line for line in result.stdout.splitlines() if "seed=42:" in line]
    assert sorted(line.split(": ")[1].split(" in ")[0] for line in outcomes) == ["ran", "resumed"]
    assert (first_done[0] / "metrics.json").stat().st_mtime_ns == stamp  # the finished trial was not rerun
    rows = _rows(out)
    assert len(rows) == 3
    for row in rows:  # the resumed trial has all its epochs, once each
        history = (out / row["run_dir"] / "history.jsonl").read_text().splitlines()
        assert [json.loads(line)["epoch"] for line in history] == [1, 2, 3]


def test_bad_sweeps_are_one_line_and_run_nothing(tmp_path, cli):
    for args, message in [
        (["mnist-mlp", "--grid", "widht=1,2"], "widht"),
        (["mnist-mlp", "--grid", "lr=fast,0.1"], "lr"),
        (["mnist-mlp", "--grid", "lr"], "KEY=V1,V2"),
        (["mnist-mlp", "--grid", "seed=1,2"], "--seeds"),
        (["mnist-mlp", "--grid", "lr=0.1,0.1"], "repeated"),
        (["mnist-mlp", "--grid", "optimizer/lr=adam,sgd/0.1"], "one value per linked setting"),
        (["mnist-mlp", "--grid", "optimizer/lr=adam/fast"], "lr"),
        (["no-such-project", "--grid", "lr=0.1"], "no-such-project"),
        (["mnist-mlp", "--grid", "lr=0.1", "--address", "ray://x:1"], "--backend ray"),
    ]:
        result = cli("sweep", *args, "--out", str(tmp_path / "bad"))
        assert result.code == 2 and message in result.err, (args, result.err)
        assert len(result.err.strip().splitlines()) == 1, (args, result.err)
        assert not (tmp_path / "bad" / "trials").exists()


def _ray_head(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    """A Ray head started by COMMAND with --block, in a session of its own, once it says it runs. Not stopped with
    `ray stop`: that kills every Ray process on the machine, the local instance of a test running beside this
    one included."""
    import time

    with open(log, "w") as output:
        head = subprocess.Popen([*command, "--block"], stdout=output, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    deadline = time.monotonic() + 120
    while "Ray runtime started" not in log.read_text():
        if head.poll() is not None or time.monotonic() > deadline:
            _stop_session(head)
            pytest.fail(f"ray start failed:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
    return head


def _stop_session(leader: subprocess.Popen) -> None:
    """Every process of LEADER's session (a Ray head's GCS, raylet, agents and workers) killed, as `ray stop
    --force` kills every Ray process."""
    import signal
    import time

    def members() -> list[int]:
        leader.poll()  # reaped once it ends
        found = []
        for name in filter(str.isdigit, os.listdir("/proc")):
            try:
                ended = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
                if os.getsid(int(name)) == leader.pid and not ended:
                    found.append(int(name))
            except OSError:  # gone meanwhile
                pass
        return found

    deadline = time.monotonic() + 30
    while (left := members()) and time.monotonic() < deadline:  # a worker may still be forking
        for pid in left:
            _signal(pid, signal.SIGKILL)
        time.sleep(0.1)
    leader.wait(timeout=30)


def _signal(pid: int, sig) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


@pytest.mark.slow
def test_the_ray_backend_gives_the_same_results_as_local_processes(tmp_path, cli, test_home):
    """A Ray head started as a separate cluster with token authentication (``ray start --head``), joined with
    --address by the CLI in its own process. The test makes its own token, in a file of its own that it names
    to both through Ray's documented variables (RAY_AUTH_MODE, RAY_AUTH_TOKEN_PATH): nothing comes from ~."""
    import importlib.util
    import secrets

    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (the ray extra)")
    assert not (test_home / ".ray").exists()  # no token lies in the (suite's own, empty) home folder
    ray_cli = Path(sys.executable).with_name("ray")
    port = free_port()
    token = tmp_path / "auth_token"
    token.write_text(secrets.token_hex(32))  # the form `ray get-auth-token --generate` writes
    token.chmod(0o600)
    with_token = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    head = _ray_head([str(ray_cli), "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                      "--disable-usage-stats"], with_token, tmp_path / "head.log")
    try:
        grid = ["--grid", "lr=0.05,0.2", "--set", "epochs=1", "--set", "widths=16x2", "--workers", "2"]
        local = cli("sweep", "mnist-mlp", *grid, "--out", str(tmp_path / "local"))
        assert local.code == 0, local.err
        sweep = ["sweep", "mnist-mlp", *grid, "--backend", "ray", "--address", f"127.0.0.1:{port}"]
        remote = run_subprocess(*sweep, "--out", str(tmp_path / "ray"), timeout=300, env=with_token)
        assert remote.returncode == 0, remote.stderr
        no_token = {key: value for key, value in with_token.items() if key != "RAY_AUTH_TOKEN_PATH"}
        bad = run_subprocess(*sweep, "--out", str(tmp_path / "gone"), timeout=300, env=no_token)
    finally:
        _stop_session(head)
    assert "on Ray" in remote.stdout
    a, b = _rows(tmp_path / "local"), _rows(tmp_path / "ray")
    columns = ("lr", "test_accuracy", "test_loss")
    assert [tuple(r[c] for c in columns) for r in a] == [tuple(r[c] for c in columns) for r in b]
    assert all((tmp_path / "ray" / r["run_dir"] / "model.safetensors").is_file() for r in b)
    # without the token: one line naming the variables to set, exit 2, and no sweep folder
    message = bad.stderr.strip().splitlines()[-1]
    assert bad.returncode == 2 and message.startswith("error:"), bad.stderr
    assert "RAY_AUTH_MODE=token" in message and "RAY_AUTH_TOKEN=" in message and "RAY_AUTH_TOKEN_PATH=" in message
    assert not (tmp_path / "gone").exists()


def test_the_suite_runs_in_a_home_folder_of_its_own(test_home, tmp_path):
    """Every test and every process a test starts sees the suite's empty home, and the libraries that keep
    tokens, caches and models there (Hugging Face, torch, matplotlib, Ray) look inside it."""
    probe = ("import json, os, pathlib, matplotlib, huggingface_hub.constants as hub, torch.hub;"
             "print(json.dumps([str(pathlib.Path.home()), matplotlib.get_configdir(), hub.HF_HUB_CACHE,"
             " hub.HF_TOKEN_PATH, torch.hub.get_dir(), os.environ['MLPROJECTS_HOME']]))")
    seen = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                     check=True).stdout)
    assert seen[0] == str(Path.home()) == str(test_home)
    assert all(Path(folder).is_relative_to(test_home) for folder in seen[1:5]), seen
    assert Path(seen[5]).is_relative_to(tmp_path.parent)  # each test's own dataset cache


def test_the_suite_starts_each_workers_share_with_its_slow_tests():
    """conftest's order: pytest-xdist's worksteal sends N workers N contiguous parts (12 tests, 2 workers: 6 and 6);
    each part starts with its round-robin share of the slow tests, the others in their order after them."""
    from types import SimpleNamespace

    from conftest import pytest_collection_modifyitems

    class Item(SimpleNamespace):
        def get_closest_marker(self, name):
            return name == "slow" and self.slow or None

    def ordered(count, slow, workers=None):
        items = [Item(name=f"t{i}", slow=i in slow) for i in range(count)]
        config = SimpleNamespace(workerinput={"workercount": workers}) if workers else SimpleNamespace()
        pytest_collection_modifyitems(config, items)
        return [item.name for item in items]

    assert ordered(12, {2, 5, 6, 9}, workers=2) == ["t2", "t6", "t0", "t1", "t3", "t4",
                                                    "t5", "t9", "t7", "t8", "t10", "t11"]
    # 7 tests on 3 workers: parts of 2, 2 and 3
    assert ordered(7, {0, 6}, workers=3) == ["t0", "t1", "t6", "t2", "t3", "t4", "t5"]
    # one process, or more slow tests than a part holds: the slow ones first
    assert ordered(5, {1, 3}) == ["t1", "t3", "t0", "t2", "t4"]
    assert ordered(3, {0, 1, 2}, workers=2) == ["t0", "t1", "t2"]
    assert ordered(4, {1, 2, 3}, workers=2) == ["t1", "t3", "t2", "t0"]  # parts of 2: t1 t3 | t2 t0


def test_reproduce_writes_the_report_rows(tmp_path, cli):
    out = tmp_path / "report"
    result = cli("reproduce", "kmeans-blobs", "logreg-chd", "cifar10-cnn", "--quick", "--out", str(out))
    assert result.code == 0, result.err
    report = (out / "REPRODUCTION.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| `")]
    names = [row.split("|")[1].strip() for row in rows]
    assert names == ["`kmeans-blobs`", "`logreg-chd`", "`cifar10-cnn preset=book`"]
    blobs, chd, cifar = rows
    metrics = json.loads(next((out / "runs").glob("kmeans-blobs/trials/*/metrics.json")).read_text())
    assert f"iterations **{metrics['iterations']}**" in blobs
    assert "accuracy 0.74" in chd and "train_accuracy **" in chd and "test_accuracy" in chd and "training data" in chd
    assert "not run: data not available" in cifar
    assert "Quick mode" in report
    assert "no published figure" not in report  # a report of some projects lists only those
    assert cli("reproduce", "no-such-project").code == 2
    refused = cli("reproduce", "text-classify")  # nothing published to reproduce, and why
    assert refused.code == 2 and "has no published figure to reproduce: the notebook shows the steps" in refused.err


@pytest.mark.slow
def test_a_failing_trial_is_reported_and_the_others_still_count(tmp_path):
    out = tmp_path / "sweep"
    result = run_subprocess("sweep", "linreg-synthetic", "--grid", "learning_rate=0.01,1000", "--workers", "2",
                            "--out", str(out), timeout=300)
    assert result.returncode == 1
    assert "1 of 2 trials failed" in result.stderr and "learning_rate=1000.0 is too large" in result.stderr
    assert [row["learning_rate"] for row in _rows(out)] == ["0.01"]
    assert "1 of 2 trials finished" in (out / "summary.md").read_text()
    log = next((out / "logs").glob("learning_rate=1000*.log")).read_text()
    assert "loss became nan" in log
    assert "Warning" not in log  # only what the run wrote: no Python warning from how the trial was started


def test_without_an_address_ray_is_the_cluster_ray_address_names_or_a_new_local_instance(monkeypatch):
    """Not ray.init's own default, which joins the last cluster started on this machine: with a `ray start --head`
    running here (the test above), a local search joined it with its own num_cpus, which Ray refuses."""
    ray = pytest.importorskip("ray")
    from mlprojects.experiments import backends

    calls = []
    monkeypatch.setattr(ray, "init", lambda **options: calls.append(options))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    backends.ray_runner(None, 1)
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    backends.ray_runner(None, 1)
    backends.ray_runner("10.0.0.2:6379", 1)
    from mlprojects import cores

    assert [(call["address"], call["num_cpus"]) for call in calls] == [
        ("local", cores.available()), ("10.0.0.1:6379", None), ("10.0.0.2:6379", None)]


def test_a_trials_archive_unpacks_its_files_and_refuses_what_is_not_inside(tmp_path):
    """On every Python 3.11 (the "data" extraction filter arrived in 3.11.4; Debian 12 has 3.11.2)."""
    import io
    import tarfile

    from mlprojects.experiments.backends import pack, unpack

    (tmp_path / "run" / "plots").mkdir(parents=True)
    (tmp_path / "run" / "metrics.json").write_text("{}")
    (tmp_path / "run" / "plots" / "a.png").write_bytes(b"png")
    unpack(pack(tmp_path / "run"), tmp_path / "back")
    assert (tmp_path / "back" / "metrics.json").read_text() == "{}"
    assert (tmp_path / "back" / "plots" / "a.png").read_bytes() == b"png"

    def archive_of(name: str) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            member = tarfile.TarInfo(name)
            member.size = 4
            archive.addfile(member, io.BytesIO(b"evil"))
        return buffer.getvalue()

    (tmp_path / "target").mkdir()
    with pytest.raises((ValueError, tarfile.TarError)):  # out of the folder: refused
        unpack(archive_of("../evil.txt"), tmp_path / "target")
    assert not (tmp_path / "evil.txt").exists()
    outside = tmp_path / "outside.txt"  # an absolute name: refused, or (Python's "data" filter) kept inside
    try:
        unpack(archive_of(str(outside)), tmp_path / "target")
    except (ValueError, tarfile.TarError):
        pass
    assert not outside.exists()


def test_report_figures_show_the_spread_over_seeds():
    from mlprojects.experiments.reproduce import _difference, _figure

    assert _figure([61100840.0]) == "61,100,840"  # a count
    assert _figure([0.9585, 0.9621]) == "0.9603 ± 0.0025 (2 seeds)"  # std 0.0036 / sqrt(2)
    assert _figure([3.1412, 3.1416, 3.1418]) == "3.14153 ± 0.00031 (3 seeds)"  # std 0.000306: five decimals
    assert _difference(1100840.0) == "+1,100,840" and _difference(-0.0001353) == "-0.0001353"


TRIAL_SERVER = r"""
import os, signal, sys, threading, time
from pathlib import Path

from mlprojects.experiments import backends

backends.PRELOAD[:] = ["mlprojects.cli", "torch"]
folder = Path(sys.argv[1])
backends.start_trial_server()
assert backends._server is None, "forked although the program did not allow it"
backends.allow_forking()
backends.start_trial_server()
server = backends._server
codes, env = {}, backends.thread_env(1)


def trial(name, *argv):
    codes[name] = server.run(list(argv), str(folder / f"{name}.log"), env, str(folder), 1)


def grandchildren():
    waiters = [int(pid) for pid in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
    return [int(pid) for waiter in waiters
            for pid in Path(f"/proc/{waiter}/task/{waiter}/children").read_text().split()]


side_by_side = [threading.Thread(target=trial, args=(name, *argv)) for name, argv in (
    ("pi", ["run", "pi", "--set", "points=1000", "--out", "rel", "--quiet"]),
    ("unknown", ["run", "no-such-project"]),
    ("endless", ["run", "pi", "--set", "points=1000000000000", "--quiet"]))]
for thread in side_by_side:
    thread.start()
while not (folder / "endless.log").exists() or not grandchildren():
    time.sleep(0.05)
for _ in range(100):  # the endless trial is the one still running once the other two ended
    if codes.keys() == {"pi", "unknown"}:
        break
    time.sleep(0.1)
os.kill(grandchildren()[0], signal.SIGKILL)
for thread in side_by_side:
    thread.join()
server.control.close()
os.waitpid(server.pid, 0)
print(sorted(codes.items()))
"""


def test_a_command_forks_its_trials_from_a_server_of_its_own(tmp_path):
    """As the `mlprojects` command, a sweep's trials are forked from a server forked from it (a new interpreter saved);
    each trial has its folder, environment and log, they run side by side, exit codes are theirs (minus the signal
    that killed one), and the server ends with its process. Anything but the command keeps multiprocessing's
    forkserver (a process that may have computed cannot fork safely: the test above runs a sweep that way)."""
    result = subprocess.run([sys.executable, "-c", TRIAL_SERVER, str(tmp_path)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('endless', -9), ('pi', 0), ('unknown', 2)]"
    assert json.loads((tmp_path / "rel" / "metrics.json").read_text())["completed"] is True  # in the trial's folder
    assert "pi" in (tmp_path / "pi.log").read_text()
    assert (tmp_path / "unknown.log").read_text().startswith("error: unknown project 'no-such-project'")
