"""A search instead of a grid: ``mlprojects sweep PROJECT --search tpe|random --trials N --space KEY=SPEC ...``.

Optuna chooses each trial's settings (its TPE sampler, or the random one as the baseline) from the --space
ranges; each trial is an ordinary run in a process of its own, as a grid's trials are, reporting its validation
figure to the study every epoch so that the pruner (Optuna's median rule by default) stops the unpromising ones.
The study lives in an Optuna storage (``OUT/study.db``, SQLite, by default; ``--storage`` a database URL, or
``journal:PATH``, Optuna's journal file on a shared filesystem, for workers on several machines), so a killed
search run again continues where it stopped: finished trials count, a trial cut off mid-run resumes from its
checkpoint, and workers given the same storage share one study. Trials run as local processes or on Ray
(``--backend ray``), whose workers report to the same storage; ``--track`` copies each trial to MLflow under the
search's parent run, as a grid sweep's are.

The search never looks at the test set: trials are pruned and ranked on a validation split carved from the
training data (``val_fraction=0.1`` when the project's default is 0), and the test figure is reported for the
chosen trial only.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mlprojects import cores, registry, rundir
from mlprojects.engine.callbacks import optuna_pruner, optuna_storage
from mlprojects.errors import UserError, first_line, require
from mlprojects.experiments import backends
from mlprojects.experiments.results import write_table
from mlprojects.experiments.trials import PRUNERS, SAMPLERS
from mlprojects.project import Project

SPACE_FORMS = "KEY=log:LOW..HIGH, KEY=int:LOW..HIGH, KEY=int-log:LOW..HIGH, KEY=LOW..HIGH or KEY=V1,V2,..."
SEED = 42  # every trial's seed: the search compares settings, not seeds


def require_optuna():
    """The optuna module, or one line naming the extra."""
    module = require("optuna", "search", "--search chooses trials with Optuna")
    module.logging.set_verbosity(module.logging.WARNING)
    return module


@dataclass(frozen=True)
class Dimension:
    """One --space entry: a float or int range (log-scaled or not), or a list of choices."""

    name: str
    kind: str  # "float", "int" or "choice"
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[str, ...] = ()

    def distribution(self):
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "choice":
            return CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(self.low, self.high, log=self.log)

    def examples(self) -> list[str]:
        """Values that must all be valid settings: the ends of a range, every choice."""
        if self.kind == "choice":
            return list(self.choices)
        number = int if self.kind == "int" else float
        return [str(number(self.low)), str(number(self.high))]

    def text(self, value: Any) -> str:
        """A value of this dimension as --set takes it (a float to 6 significant digits)."""
        return f"{value:.6g}" if self.kind == "float" else str(value)


def parse_space(pairs: list[str] | tuple[str, ...]) -> list[Dimension]:
    dimensions: list[Dimension] = []
    for pair in pairs:
        name, _, spec = (part.strip() for part in pair.partition("="))
        form, colon, text = spec.partition(":") if ":" in spec else ("float", "", spec)
        if not name or not text:
            raise UserError(f"--space {pair}: write {SPACE_FORMS}")
        if name in [dimension.name for dimension in dimensions]:
            raise UserError(f"--space {name} is given twice")
        if ".." in text and form in ("float", "log", "int", "int-log"):
            low_text, high_text = text.split("..", 1)
            try:
                low, high = float(low_text), float(high_text)
            except ValueError:
                raise UserError(f"--space {pair}: {text} is not a range of numbers; write {SPACE_FORMS}") from None
            integer = form.startswith("int")
            if integer and (low != int(low) or high != int(high)):
                raise UserError(f"--space {pair}: an int range takes whole numbers")
            if not low < high:
                raise UserError(f"--space {pair}: the range is empty; LOW must be below HIGH")
            if form.endswith("log") and low <= 0:
                raise UserError(f"--space {pair}: a log range starts above 0")
            dimensions.append(Dimension(name, "int" if integer else "float", low, high, form.endswith("log")))
        elif not colon and ".." not in text:
            choices = tuple(value.strip() for value in text.split(","))
            if len(choices) < 2 or "" in choices or len(set(choices)) < len(choices):
                raise UserError(f"--space {pair}: give two or more different choices, or a range; write "
                                f"{SPACE_FORMS}")
            dimensions.append(Dimension(name, "choice", choices=choices))
        else:
            raise UserError(f"--space {pair}: write {SPACE_FORMS}")
    if not dimensions:
        raise UserError(f"--search needs at least one --space: {SPACE_FORMS}")
    return dimensions


@dataclass
class Search:
    project: str
    space: list[Dimension]
    trials: int
    out: Path
    sampler: str = "tpe"
    pruner: str = "median"
    storage: str | None = None  # default: sqlite:///OUT/study.db
    fixed: dict[str, str] = field(default_factory=dict)  # --set
    metric: str = ""  # the validation figure to optimise; default: the project's headline, on the validation split
    workers: int = 1
    device: str = "auto"
    threads: int = 0
    seed: int = SEED  # the sampler's, and every trial's
    track: bool = False  # copy each trial to MLflow (mlprojects.tracking.Group)
    budget: int = 0  # epochs the trials may spend in all (0: no limit but --trials)

    @property
    def study_name(self) -> str:
        return f"{self.project} {self.out.resolve().name}"

    @property
    def storage_url(self) -> str:
        """The storage's URL, a journal file's path made absolute (the trials may run in other folders)."""
        if self.storage and self.storage.startswith("journal:"):
            return "journal:" + str(Path(self.storage.removeprefix("journal:")).expanduser().resolve())
        return self.storage or f"sqlite:///{self.out.resolve() / 'study.db'}"

    def run_dir(self, number: int) -> Path:
        return self.out / "trials" / f"trial-{number:04d}"


def objective(search: Search) -> tuple[str, str]:
    """(the validation figure the search optimises, "maximize" or "minimize")."""
    entry = registry.entry(search.project)
    metric = search.metric or "val_" + (entry.headline.removeprefix("test_") if entry.headline else "loss")
    if not metric.startswith("val_"):
        raise UserError(f"--metric {metric}: a search ranks trials on a validation figure (val_...), never on the "
                        "test set")
    goal = rundir.goal(metric, entry) or rundir.goal("test_" + metric.removeprefix("val_"), entry)
    if goal is None:
        raise UserError(f"--metric {metric}: {search.project} does not say whether a higher or lower value is "
                        "better; choose val_loss or a declared figure")
    return metric, "maximize" if goal == "max" else "minimize"


def validate(search: Search) -> tuple[dict[str, str], int]:
    """Every setting a trial can get resolves before anything runs; returns the settings every trial shares (the
    --set ones, and a validation split where the project has none by default) and the most epochs a trial may
    take."""
    from mlprojects.runner import resolve_settings

    project = registry.get(search.project)
    if project.kind != "trained":
        raise UserError(f"{search.project} is not trained in epochs: a search is for trained networks; use --grid")
    if search.trials < 1:
        raise UserError("--trials must be at least 1")
    # the CLI offers only these; from Python, optuna_pruner would take an unknown pruner as none, silently
    if search.sampler not in SAMPLERS or search.pruner not in PRUNERS:
        raise UserError(f"--search {search.sampler} --pruner {search.pruner}: the search is one of "
                        f"{', '.join(SAMPLERS)}, the pruner one of {', '.join(PRUNERS)}")
    if search.budget < 0:
        raise UserError("--budget is a number of epochs: 1 or more (0, the default, sets no budget)")
    fixed = dict(search.fixed)
    if "seed" in [dimension.name for dimension in search.space] or "seed" in fixed:
        raise UserError(f"the seed is not a search setting: every trial runs with seed {search.seed}")
    _, cfg = resolve_settings(search.project, fixed)
    if not cfg.val_fraction and type(project).validation is Project.validation:  # no validation data of its own
        fixed["val_fraction"] = "0.1"  # the search never looks at the test set
    for dimension in search.space:
        for value in dimension.examples():
            resolve_settings(search.project, {**fixed, dimension.name: value})
    reserve = trial_epochs(search, cfg)
    if search.budget and search.budget < reserve:
        raise UserError(f"--budget {search.budget}: one trial may take {reserve} epochs; give a budget of at least "
                        "that")
    return fixed, reserve


def trial_epochs(search: Search, cfg) -> int:
    """The most epochs one trial may take: its epochs setting, or the largest an ``epochs`` --space entry allows."""
    for dimension in search.space:
        if dimension.name == "epochs":
            return int(max(map(float, dimension.choices)) if dimension.kind == "choice" else dimension.high)
    return int(cfg.epochs)


def spent(trial) -> int:
    """The epochs a trial has run: what its run said after each (the user attribute ``epochs``, set by
    engine.callbacks.Pruning), else the epochs it reported a figure for (a study from before that attribute)."""
    return int(trial.user_attrs.get("epochs", len(trial.intermediate_values)))


def epochs_used(study, reserve: int) -> int:
    """Epochs the study's trials have spent, the running ones counted at RESERVE: all they may take."""
    return sum(reserve if trial.state.name == "RUNNING" else spent(trial) for trial in study.get_trials(deepcopy=False))


def _sampler(search: Search, reserve: int):
    """Optuna's TPE, or its random sampler (the baseline), seeded. TPE draws its first trials at random (10 by
    default, as many as a small search has): here a third of the trials (of those a budget holds if none is pruned),
    3 to 10, so that it has trials left to choose. It models the settings jointly (multivariate: lr and batch size
    work together) and, while trials run in parallel, counts each running one as done badly (constant liar), so
    that two workers do not try the same place; Optuna's documentation recommends both, and marks them
    experimental."""
    import warnings

    optuna = require_optuna()
    if search.sampler != "tpe":
        return optuna.samplers.RandomSampler(seed=search.seed)
    planned = min(search.trials, search.budget // reserve) if search.budget else search.trials
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=search.seed, n_startup_trials=max(3, min(10, planned // 3)),
                                          multivariate=True, constant_liar=True)


#: what a search's trials import beside a run's: Optuna's database storage (SQLAlchemy) and the schema check it makes
#: on opening a study (Alembic); imported once by the trials' server instead, a trial takes ~1 s less (EPYC-25)
TRIAL_PRELOAD = ["optuna.storages._rdb.models", "alembic.command", "alembic.config", "alembic.migration",
                 "alembic.script"]


def execute(search: Search, backend: str = "local", address: str | None = None,
            echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the trials the study still needs, as local processes or on Ray (BACKEND ``ray``, at ADDRESS or a local
    instance); writes results.csv, summary.md and the plots; returns the best trial as {"number", "value",
    "params", "run_dir"} (empty when none finished)."""
    optuna = require_optuna()
    fixed, reserve = validate(search)
    metric, direction = objective(search)
    if backend == "ray" and address and search.storage is None:
        raise UserError("a search on a Ray cluster keeps its study where every node reaches it: give --storage a "
                        "database URL (postgresql://...) or journal:PATH on a shared filesystem")
    if search.track:
        from mlprojects import tracking

        tracking.mlflow()  # a missing extra is one line before anything runs
    sampler = _sampler(search, reserve)
    pruner = optuna_pruner(search.pruner)
    threads = search.threads or cores.per_process(search.workers)
    # join the cluster before anything is written, so a refused join leaves no search folder behind
    runner = (backends.ray_runner(address, threads) if backend == "ray"
              else backends.local_runner(threads, preload=TRIAL_PRELOAD))
    if search.storage is None:
        search.out.mkdir(parents=True, exist_ok=True)
    try:
        study = optuna.create_study(study_name=search.study_name, storage=optuna_storage(search.storage_url),
                                    sampler=sampler, pruner=pruner, direction=direction, load_if_exists=True)
    except Exception as error:  # an unreachable database, a URL SQLAlchemy cannot read
        if search.storage is None and not any(search.out.iterdir()):
            search.out.rmdir()
        raise UserError(f"--storage {search.storage_url}: cannot open the study ({first_line(error)})") from None
    search.out.mkdir(parents=True, exist_ok=True)
    distributions = {dimension.name: dimension.distribution() for dimension in search.space}
    lock = threading.Lock()
    states = optuna.trial.TrialState
    # trials cut off here (their folder holds a partial run); a running trial without a folder here is another
    # worker's, sharing the storage, and is left to it
    unfinished = [trial for trial in study.get_trials(deepcopy=False) if trial.state == states.RUNNING
                  and trial.params.keys() == distributions.keys()
                  and rundir.state(search.run_dir(trial.number)) in ("partial", "broken")]
    finished = len([trial for trial in study.get_trials(deepcopy=False) if trial.state.is_finished()])
    todo = max(0, search.trials - finished - len(unfinished))
    budget = (f", within {search.budget} epochs ({epochs_used(study, reserve)} spent or held)"
              if search.budget else "")
    echo(f"{search.trials} trials ({search.sampler}, {search.pruner} pruning, on {metric}): {finished} finished, "
         f"{len(unfinished)} to resume, {todo} to start{budget} ({search.workers} at a time, "
         f"{cores.threads_each(threads)}{', on Ray' if backend == 'ray' else ''}); study in {search.storage_url}")
    group = _group(search, metric) if search.track else None
    ended = threading.Condition(lock)  # a trial of this process ended: what it held of the budget is free again
    running = [0]  # this process's trials now running

    def one(resumed) -> bool:
        with lock:
            if resumed is None:
                # a new trial starts only if it fits in the budget even when it takes all its epochs; while this
                # process's trials run, what they do not take may still make room
                while search.budget and epochs_used(study, reserve) + reserve > search.budget:
                    if not running[0]:
                        return True
                    ended.wait()
            trial = resumed if resumed is not None else study.ask(distributions)
            running[0] += 1
        params = {dimension.name: dimension.text(trial.params[dimension.name]) for dimension in search.space}
        run_dir = search.run_dir(trial.number)
        state = rundir.state(run_dir)
        if state == "broken" or (resumed is None and run_dir.exists()):
            shutil.rmtree(run_dir)
        spec = json.dumps({"storage": search.storage_url, "study": search.study_name, "trial": trial._trial_id,
                           "metric": metric, "pruner": search.pruner})
        base = [sys.executable, "-m", "mlprojects", "run"]
        if state == "partial":
            args = [*base, "--resume", str(run_dir)]
        else:
            sets = [part for key, value in {**fixed, **params}.items() for part in ("--set", f"{key}={value}")]
            args = [*base, search.project, *sets, "--seed", str(search.seed), "--out", str(run_dir)]
        args += ["--device", search.device, "--quiet", "--search-trial", spec]
        log = search.out / "logs" / f"{run_dir.name}.log"
        started = time.perf_counter()
        try:
            code = runner(args, run_dir, log)
        except BaseException:
            with lock:  # the other threads stop waiting for this trial
                running[0] -= 1
                ended.notify_all()
            raise
        found = rundir.read_metrics(run_dir) if rundir.is_complete(run_dir) else {}
        value = found.get(metric)
        with lock:
            if code == 0 and found.get("pruned"):
                study.tell(trial.number, state=states.PRUNED)
                outcome = f"pruned after {found.get('epochs_completed')} epochs"
            elif code == 0 and isinstance(value, (int, float)) and math.isfinite(value):
                study.tell(trial.number, float(value))
                outcome = f"{metric} {value:.4f}"
            else:
                study.tell(trial.number, state=states.FAIL)
                lines = log.read_text(errors="replace").strip().splitlines() if log.is_file() else []
                outcome = "failed: " + (lines[-1] if lines else f"exit code {code}") + f" (log: {log})"
            running[0] -= 1
            ended.notify_all()
        shown = " ".join(f"{key}={value}" for key, value in params.items())
        echo(f"  trial {trial.number} {shown}: {outcome} in {time.perf_counter() - started:.0f}s")
        if group is not None:
            group.trial(run_dir)
        with lock:  # one thread at a time: matplotlib's settings are the process's (see _plots)
            write_reports(search, study, metric, fixed)
        return not outcome.startswith("failed")

    try:
        with ThreadPoolExecutor(search.workers) as pool:
            finished_all = all(list(pool.map(one, [*unfinished, *[None] * todo])))
    finally:
        if backend == "ray":
            import ray

            ray.shutdown()
    best = write_reports(search, study, metric, fixed)
    if group is not None:
        group.close(finished_all)
    return best


def _group(search: Search, metric: str):
    """The search in MLflow: its space, sampler, pruner, metric and --set values as the parent run's params."""
    from mlprojects import tracking

    params = {f"space.{dimension.name}": _spec(dimension) for dimension in search.space}
    params.update({f"set.{key}": str(value) for key, value in search.fixed.items()})
    params.update({"search": search.sampler, "pruner": search.pruner, "metric": metric, "trials": str(search.trials),
                   "budget": str(search.budget), "seed": str(search.seed)})
    return tracking.Group(search.out, search.project, params)


def write_reports(search: Search, study, metric: str, fixed: dict[str, str]) -> dict[str, Any]:
    """results.csv (a row per trial: its settings, state, validation figure, epochs and time), summary.md (the best
    trial with its command line and its test figure, the only one reported) and Optuna's history and importance
    plots; returns the best trial."""
    from mlprojects.engine.io import write_text

    states = require_optuna().trial.TrialState
    rows = []
    trials = study.get_trials(deepcopy=False)
    for trial in trials:
        run_dir = search.run_dir(trial.number)
        found = rundir.read_metrics(run_dir) if rundir.is_complete(run_dir) else {}
        rows.append({"trial": trial.number, **{dimension.name: dimension.text(trial.params[dimension.name])
                                               for dimension in search.space if dimension.name in trial.params},
                     "state": trial.state.name.lower(), metric: trial.value if trial.value is not None else "",
                     "epochs": spent(trial), "duration_s": found.get("duration_s", ""),  # as the total counts them
                     "run_dir": str(run_dir.relative_to(search.out))})
    columns = ["trial", *[dimension.name for dimension in search.space], "state", metric, "epochs", "duration_s",
               "run_dir"]

    write_table(search.out / "results.csv", columns, rows)
    complete = [trial for trial in study.get_trials(deepcopy=False) if trial.state == states.COMPLETE]
    best: dict[str, Any] = {}
    if complete:
        trial = study.best_trial
        run_dir = search.run_dir(trial.number)
        test = {key: value for key, value in rundir.read_metrics(run_dir).items() if key.startswith("test_")}
        best = {"number": trial.number, "value": trial.value, "params": dict(trial.params), "run_dir": run_dir,
                "test": test}
    plots = _plots(search, study) if complete else []
    space = " ".join(f"--space {dimension.name}={_spec(dimension)}" for dimension in search.space)
    sets = " ".join(f"--set {key}={value}" for key, value in search.fixed.items())
    lines = [f"# Search: {search.project}", "",
             f"`mlprojects sweep {search.project} --search {search.sampler} --trials {search.trials} "
             f"{f'--budget {search.budget} ' if search.budget else ''}--pruner {search.pruner} {space} "
             f"{sets}`".replace("  ", " ").replace(" `", "`"), "",
             f"{len(rows)} trials: {sum(row['state'] == 'complete' for row in rows)} complete, "
             f"{sum(row['state'] == 'pruned' for row in rows)} pruned, {sum(row['state'] == 'fail' for row in rows)} "
             f"failed; {sum(map(spent, trials))} epochs spent{f' of {search.budget}' if search.budget else ''}. "
             f"Ranked on {metric} (the validation split); the test set is looked at for the best trial only.", ""]
    if best:
        settings = " ".join(f"--set {key}={value}" for key, value in {**fixed,
                            **{name: next(d for d in search.space if d.name == name).text(value)
                               for name, value in best["params"].items()}}.items())
        figures = ", ".join(f"{key} {value:.4f}" for key, value in best["test"].items()
                            if isinstance(value, float))
        lines += [f"**Best: trial {best['number']}**, {metric} {best['value']:.4f}; on the test set: {figures}.", "",
                  "Its command line:", "", f"`mlprojects run {search.project} {settings} --seed {search.seed}`", ""]
    ranked = sorted((row for row in rows if row["state"] == "complete"), key=lambda row: row[metric],
                    reverse=study.direction.name == "MAXIMIZE")
    if ranked:
        names = [dimension.name for dimension in search.space]
        lines += ["| trial | " + " | ".join(names) + f" | {metric} | epochs |", "|" + "---|" * (len(names) + 3)]
        lines += [f"| {row['trial']} | " + " | ".join(f"`{row[name]}`" for name in names)
                  + f" | {row[metric]:.4f} | {row['epochs']} |" for row in ranked[:50]]
        if len(ranked) > 50:
            lines.append(f"\n(the best 50 of {len(ranked)}; results.csv has them all)")
        lines.append("")
    lines += [f"![{path.stem.replace('_', ' ')}](plots/{path.name})" for path in plots]
    write_text(search.out / "summary.md", "\n".join(lines) + "\n")
    return best


def _spec(dimension: Dimension) -> str:
    if dimension.kind == "choice":
        return ",".join(dimension.choices)
    form = ("int-log:" if dimension.log else "int:") if dimension.kind == "int" else ("log:" if dimension.log else "")
    number = int if dimension.kind == "int" else float
    return f"{form}{number(dimension.low):g}..{number(dimension.high):g}"


def _plots(search: Search, study) -> list[Path]:
    """Optuna's optimisation history, and the parameters' importance where there are two or more and enough
    complete trials to weigh them."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    from mlprojects.plots import save_figure

    folder = search.out / "plots"
    folder.mkdir(exist_ok=True)
    made = []
    complete = [trial for trial in study.trials if trial.state.name == "COMPLETE"]
    drawers = [("optimization_history", optuna_plots.plot_optimization_history)]
    if len(search.space) > 1 and len(complete) >= 3:
        drawers.append(("param_importances", optuna_plots.plot_param_importances))
    for name, draw in drawers:
        # Optuna's plots switch matplotlib to its ggplot style for the whole process: the context gives the
        # settings back, so that every later figure (a run's plots, a notebook's) looks as it did (two threads in
        # it at once would give each other's back: the search writes its reports under a lock)
        with warnings.catch_warnings(), matplotlib.rc_context():
            warnings.simplefilter("ignore")  # Optuna's plots are marked experimental
            try:
                axes = draw(study)
            except (ValueError, RuntimeError):  # too few trials to weigh the parameters
                continue
            figure = axes.figure if hasattr(axes, "figure") else axes[0].figure
            figure.set_size_inches(7, 4.5)
            path = save_figure(plt, figure, folder / f"{name}.png")
        made.append(path)
    return made
