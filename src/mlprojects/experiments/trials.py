"""A sweep's plan: its trials (grid values x seeds), where each one's run directory is, and the command
that runs it. Trials are ordinary runs; nothing here keeps state of its own."""

from __future__ import annotations

import hashlib
import itertools
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mlprojects.errors import UserError

SAMPLERS = ("tpe", "random")  # how a search (sweep --search) chooses its trials' settings
PRUNERS = ("median", "halving", "none")  # how it stops unpromising trials early

SEEDS_FROM = 42  # --seeds 3: 42, 43, 44 (the first is every project's default seed)


@dataclass(frozen=True)
class Trial:
    settings: tuple[tuple[str, str], ...]  # the grid's values, as given
    seed: int

    def overrides(self) -> dict[str, str]:
        """The settings of this trial, linked keys (optimizer/lr=adam/0.001) expanded."""
        result = {}
        for key, value in self.settings:
            result.update(zip(key.split("/"), value.split("/")))
        return result

    @property
    def label(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.settings) or "defaults"

    def folder(self, context: str = "") -> str:
        """A readable, filesystem-safe folder name, unique for these settings in this CONTEXT (the project
        and the settings every trial shares)."""
        text = "__".join(f"{key}={value}" for key, value in self.settings) or "defaults"
        safe = re.sub(r"[^\w.=+-]+", "_", text)[:80]
        digest = hashlib.sha1(f"{context}{self.settings}{self.seed}".encode()).hexdigest()[:6]
        return f"{safe}__seed={self.seed}__{digest}"


@dataclass
class Sweep:
    project: str
    grid: dict[str, list[str]]
    seeds: list[int]
    out: Path
    fixed: dict[str, str] = field(default_factory=dict)  # --set: the same for every trial
    metric: str = ""
    workers: int = 1
    device: str = "auto"
    threads: int = 0  # per trial; 0: cores // workers
    track: bool = False  # each trial copied to MLflow when it ends, under the sweep's parent run

    @property
    def trials(self) -> list[Trial]:
        combos = itertools.product(*([(key, value) for value in values] for key, values in self.grid.items()))
        return [Trial(tuple(combo), seed) for combo in combos for seed in self.seeds]

    def run_dir(self, trial: Trial) -> Path:
        """Trials of another project or other --set settings get other folders: a rerun with a changed
        --set runs again instead of taking old results for new ones."""
        return self.out / "trials" / trial.folder(f"{self.project}{sorted(self.fixed.items())}")

def parse_grid(pairs: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """["widths=64x4,128x4", "lr=0.1,0.01"] -> {"widths": ["64x4", "128x4"], "lr": ["0.1", "0.01"]}.
    Settings that go together are linked with "/": optimizer/lr=sgd/0.087,adam/0.001."""
    grid: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, values = pair.partition("=")
        key = key.strip().replace("-", "_")
        items = [value.strip() for value in values.split(",") if value.strip()]
        if not sep or not key or not items:
            raise UserError(f"--grid {pair!r}: write KEY=V1,V2,... (e.g. --grid lr=0.1,0.01)")
        if key in grid:
            raise UserError(f"--grid {key} is given twice; put all its values in one --grid")
        if len(set(items)) != len(items):
            raise UserError(f"--grid {pair!r}: a value is repeated (commas separate values: write one value "
                            "with commas another way, e.g. widths=128x2 or 128-128)")
        for item in items:
            if item.count("/") != key.count("/"):
                raise UserError(f"--grid {pair!r}: {item!r} needs one value per linked setting "
                                f"({key.count('/') + 1}, separated by '/')")
        grid[key] = items
    return grid

def validate(sweep: Sweep) -> None:
    """Every trial's settings resolve (names, types, ranges) before anything runs."""
    from mlprojects.runner import resolve_settings

    if "seed" in [name for key in sweep.grid for name in key.split("/")] or "seed" in sweep.fixed:
        raise UserError("the seed is not a grid setting: use --seeds N (seeds 42, 43, ...)")
    if not sweep.seeds:
        raise UserError("--seeds must be at least 1")
    for trial in sweep.trials[:: len(sweep.seeds)]:
        resolve_settings(sweep.project, {**sweep.fixed, **trial.overrides()}, None, trial.seed)

def command(sweep: Sweep, trial: Trial, run_dir: Path, resume: bool) -> list[str]:
    base = [sys.executable, "-m", "mlprojects", "run"]
    if resume:
        return [*base, "--resume", str(run_dir), "--device", sweep.device, "--quiet"]
    sets = [arg for key, value in {**sweep.fixed, **trial.overrides()}.items() for arg in ("--set", f"{key}={value}")]
    return [*base, sweep.project, *sets, "--seed", str(trial.seed), "--out", str(run_dir), "--device", sweep.device,
            "--quiet"]
