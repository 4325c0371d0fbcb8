"""`mlprojects sweep --search`: Optuna chooses the trials, prunes them on the validation split, keeps the study in a
storage so that a search run again continues it, and reports the test figure of the best trial only."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

optuna = pytest.importorskip("optuna")

from mlprojects.errors import UserError  # noqa: E402
from mlprojects.experiments.search import Dimension, parse_space  # noqa: E402

SMALL = ["--set", "epochs=2", "--set", "widths=16,16", "--set", "batch_size=128"]


def test_each_form_of_space_and_what_is_refused():
    assert parse_space(["lr=log:1e-4..0.3", "batch_size=int:16..256", "dropout=0..0.5", "widths=64x2,256x4",
                        "hidden=int-log:8..512"]) == [
        Dimension("lr", "float", 1e-4, 0.3, True), Dimension("batch_size", "int", 16, 256),
        Dimension("dropout", "float", 0, 0.5), Dimension("widths", "choice", choices=("64x2", "256x4")),
        Dimension("hidden", "int", 8, 512, True)]
    for pairs, message in [
        (["lr=exp:1..2"], "--space lr=exp:1..2: write KEY=log:LOW..HIGH"),
        (["lr=0.3..0.1"], "the range is empty"),
        (["lr=log:0..1"], "a log range starts above 0"),
        (["batch_size=int:1.5..4"], "an int range takes whole numbers"),
        (["widths=64x2"], "two or more different choices"),
        (["lr=a..b"], "is not a range of numbers"),
        (["lr=0.1..0.2", "lr=0.2..0.3"], "--space lr is given twice"),
        ([], "--search needs at least one --space"),
    ]:
        with pytest.raises(UserError, match=message.replace(".", r"\.").replace("(", r"\(")):
            parse_space(pairs)


def test_bad_searches_are_one_line_and_create_nothing(cli, tmp_path):
    out = tmp_path / "search"
    for args, message in [
        (["--space", "widht=0.1..0.2"], "widht"),
        (["--space", "lr=0.1..0.2", "--trials", "0"], "--trials"),
        (["--space", "lr=0.1..0.2", "--budget", "3"], "--budget 3: one trial may take 15 epochs"),
        (["--space", "lr=0.1..0.2", "--space", "epochs=int:2..30", "--budget", "20"], "may take 30 epochs"),
        (["--space", "lr=0.1..0.2", "--grid", "epochs=1,2"], "--grid and --search are two ways"),
        (["--space", "lr=0.1..0.2", "--metric", "test_accuracy"], "never on the test set"),
        (["--space", "lr=0.1..0.2", "--storage", "postgresql://nobody@127.0.0.1:1/nothing"], "cannot open the study"),
    ]:
        done = cli("sweep", "mnist-mlp", "--search", "tpe", *args, "--out", str(out))
        assert done.code == 2 and len(done.err.strip().splitlines()) == 1 and message in done.err, (args, done.err)
        assert not out.exists(), args
    done = cli("sweep", "kmeans-blobs", "--search", "tpe", "--space", "k=int:2..5", "--out", str(out))
    assert done.code == 2 and "a search is for trained networks" in done.err and not out.exists()
    from mlprojects.experiments.search import Search, validate

    for sampler, pruner in (("tpe", "hyperband"), ("grid", "median")):  # from Python, past the CLI's choices
        with pytest.raises(UserError, match="the search is one of tpe, random, the pruner one of median, halving"):
            validate(Search("mnist-mlp", parse_space(["lr=0.1..0.2"]), 2, out, sampler, pruner))
    done = cli("sweep", "mnist-mlp", "--grid", "lr=0.1,0.2", "--budget", "30", "--out", str(out))
    assert done.code == 2 and "--budget and --storage are for --search" in done.err and not out.exists()


def test_the_budget_counts_what_trials_ran_and_holds_all_a_running_trial_may_take():
    from mlprojects.experiments.search import epochs_used

    study = optuna.create_study(direction="maximize")
    complete, pruned, old, running = (study.ask() for _ in range(4))
    for trial, epochs in ((complete, 3), (pruned, 1), (old, 0)):
        for epoch in range(1, (epochs or 2) + 1):
            trial.report(0.5, epoch)
            if epochs:  # a study from before the attribute: its trial counts the epochs it reported (2)
                trial.set_user_attr("epochs", epoch)
    study.tell(complete, 0.5)
    study.tell(pruned, state=optuna.trial.TrialState.PRUNED)
    study.tell(old, 0.4)
    running.set_user_attr("epochs", 1)  # has run one epoch, may take 10
    assert epochs_used(study, 10) == 3 + 1 + 2 + 10


@pytest.mark.slow
def test_a_search_ranks_on_validation_reports_the_best_trials_test_figure_and_continues(cli, tmp_path):
    import matplotlib

    out = tmp_path / "search"
    args = ["sweep", "mnist-mlp", "--search", "tpe", "--space", "lr=log:0.01..0.5", *SMALL, "--workers", "2",
            "--out", str(out)]
    matplotlib.use("Agg")  # as the runs' plots set it

    def style() -> dict:
        return {key: value for key, value in matplotlib.rcParams.items() if not key.startswith("backend")}

    before = style()
    done = cli(*args, "--trials", "4")
    assert done.code == 0, done.err
    assert style() == before  # Optuna's plots leave this process's figures as they were (not in ggplot's style)
    with open(out / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    # every trial ran its 2 epochs: the median rule may mark a late one pruned at its last epoch, once 3 others are
    # complete (which depends on which of the 2 workers finishes first), but stops none before
    assert [row["trial"] for row in rows] == ["0", "1", "2", "3"]
    assert {row["state"] for row in rows} <= {"complete", "pruned"} and rows[0]["state"] == rows[1]["state"] == \
        "complete"
    assert not [column for column in rows[0] if column.startswith("test_")]  # the test set is not in the ranking
    study = optuna.load_study(study_name=f"mnist-mlp {out.name}", storage=f"sqlite:///{out / 'study.db'}")
    for row, trial in zip(rows, study.trials):
        run_dir = out / row["run_dir"]
        settings = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert settings["val_fraction"] == 0.1 and settings["lr"] == pytest.approx(trial.params["lr"], rel=1e-5)
        assert float(row["val_accuracy"]) == json.loads((run_dir / "metrics.json").read_text())["val_accuracy"] \
            == trial.value
    best = max(rows, key=lambda row: float(row["val_accuracy"]))
    test = json.loads((out / best["run_dir"] / "metrics.json").read_text())["test_accuracy"]
    summary = (out / "summary.md").read_text()
    assert f"**Best: trial {best['trial']}**, val_accuracy {float(best['val_accuracy']):.4f}" in summary
    assert summary.count("test_accuracy") == 1 and f"test_accuracy {test:.4f}" in summary
    assert f"--set lr={best['lr']} --seed 42`" in summary and "--set val_fraction=0.1" in summary
    assert (out / "plots" / "optimization_history.png").stat().st_size > 5000

    again = cli(*args, "--trials", "6")  # the same study, two more trials
    assert again.code == 0, again.err
    assert "6 trials (tpe, median pruning, on val_accuracy): 4 finished, 0 to resume, 2 to start" in again.out
    assert len(optuna.load_study(study_name=f"mnist-mlp {out.name}",
                                 storage=f"sqlite:///{out / 'study.db'}").trials) == 6

    # a budget: 12 epochs spent, so of 14 there is room for one more 2-epoch trial, not for a second beside it
    budget = cli(*args, "--trials", "9", "--budget", "14")
    assert budget.code == 0, budget.err
    assert "9 trials (tpe, median pruning, on val_accuracy): 6 finished, 0 to resume, 3 to start, within 14 " \
           "epochs (12 spent or held)" in budget.out
    study = optuna.load_study(study_name=f"mnist-mlp {out.name}", storage=f"sqlite:///{out / 'study.db'}")
    assert [trial.user_attrs["epochs"] for trial in study.trials] == [2] * 7
    summary = (out / "summary.md").read_text()
    assert "\n7 trials: " in summary and " failed; 14 epochs spent of 14. " in summary
    with open(out / "results.csv") as handle:  # each trial's epochs, pruned ones too, add up to the total
        assert [row["epochs"] for row in csv.DictReader(handle)] == ["2"] * 7


def test_a_trial_the_pruner_stops_ends_early_marked_pruned(tmp_path):
    from mlprojects.runner import run

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    for _ in range(3):  # the median rule's 3 trials before it prunes: each at 0.95 every epoch
        good = study.ask()
        for epoch in (1, 2, 3, 4):
            good.report(0.95, epoch)
        study.tell(good, 0.95)
    poor = study.ask()
    run_dir = run("mnist-mlp", {"epochs": 4, "widths": "16,16", "batch_size": 128, "lr": 1e-5, "val_fraction": 0.1},
                  out=tmp_path / "poor", progress=False,
                  trial={"storage": storage, "study": "s", "trial": poor._trial_id, "metric": "val_accuracy",
                         "pruner": "median"})
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    # the first epoch is never pruned (warm-up); the second, far below the median, is the last
    assert metrics["pruned"] is True and metrics["epochs_completed"] == 2 and history[-1]["pruned"] is True
    reported = optuna.load_study(study_name="s", storage=storage).trials[3].intermediate_values
    assert reported == {1: history[0]["val_accuracy"], 2: history[1]["val_accuracy"]}


def test_without_optuna_search_is_one_line_naming_the_extra(cli, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "optuna", None)  # as if the extra were not installed
    done = cli("sweep", "mnist-mlp", "--search", "tpe", "--space", "lr=0.1..0.2", "--out", str(tmp_path / "s"))
    assert done.code == 2 and done.err.strip() == ("error: --search chooses trials with Optuna, which is not "
                                                   "installed: pip install 'mlprojects[search]'")
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_a_killed_search_resumes_its_cut_off_trial_and_runs_only_what_is_missing(tmp_path):
    from conftest import kill_when, run_subprocess

    out = tmp_path / "search"
    args = ["sweep", "mnist-mlp", "--search", "random", "--trials", "3", "--space", "lr=log:0.05..0.3",
            "--set", "epochs=3", "--set", "widths=32x2", "--set", "batch_size=128", "--out", str(out)]
    second = out / "trials" / "trial-0001"
    # killed when the first trial is done and the second has a checkpoint
    kill_when(args, lambda: (second / "checkpoint.safetensors").is_file() and not (second / "metrics.json").is_file(),
              "the search's second trial")
    again = run_subprocess(*args)
    assert again.returncode == 0, again.stderr
    assert "3 trials (random, median pruning, on val_accuracy): 1 finished, 1 to resume, 1 to start" in again.stdout
    study = optuna.load_study(study_name=f"mnist-mlp {out.name}", storage=f"sqlite:///{out / 'study.db'}")
    assert [trial.state.name for trial in study.trials] == ["COMPLETE"] * 3
    history = [json.loads(line)["epoch"] for line in (out / "trials" / "trial-0001" / "history.jsonl").read_text()
               .splitlines()]
    assert history == [1, 2, 3]  # resumed from its checkpoint, each epoch once


@pytest.mark.slow
def test_a_search_on_ray_shares_a_journal_study_and_is_tracked_in_mlflow(cli, tmp_path):
    """Trials on a local Ray instance report to a study in Optuna's journal file, and each is copied to MLflow
    under the search's parent run, as a grid sweep's are; a Ray cluster without a storage every node reaches is
    refused in one line."""
    import importlib.util

    from conftest import run_subprocess

    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("mlflow") is None:
        pytest.skip("needs the ray and tracking extras")
    from mlflow.tracking import MlflowClient

    out, journal, uri = tmp_path / "search", tmp_path / "study.journal", f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["sweep", "mnist-mlp", "--search", "random", "--trials", "2", "--space", "lr=log:0.05..0.3",
            "--set", "epochs=1", "--set", "widths=16,16", "--set", "batch_size=128", "--workers", "2"]
    refused = cli(*args, "--backend", "ray", "--address", "127.0.0.1:1", "--out", str(out))
    assert refused.code == 2 and "--storage a database URL (postgresql://...) or journal:PATH" in refused.err
    assert not out.exists()
    done = run_subprocess(*args, "--backend", "ray", "--storage", f"journal:{journal}", "--track", "--out", str(out),
                          env={"MLFLOW_TRACKING_URI": uri}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert ", on Ray); study in journal:" in done.stdout and not (out / "study.db").exists()
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    study = optuna.load_study(study_name=f"mnist-mlp {out.name}", storage=storage)
    assert [trial.state.name for trial in study.trials] == ["COMPLETE"] * 2
    client = MlflowClient(uri)
    parent_id = json.loads((out / "mlflow.json").read_text())[uri]["run_id"]
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED" and parent.data.params["space.lr"] == "log:0.05..0.3"
    assert {"results.csv", "summary.md"} <= {item.path for item in client.list_artifacts(parent_id)}
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")
    assert len(children) == 2
    for trial in study.trials:  # each trial's MLflow run holds the value the study was told
        run_dir = out / "trials" / f"trial-{trial.number:04d}"
        record = json.loads((run_dir / "mlflow.json").read_text())[uri]
        assert client.get_run(record["run_id"]).data.metrics["val_accuracy"] == pytest.approx(trial.value)
