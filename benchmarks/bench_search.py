"""A search against the grid, on a fixed space so that the goal cannot move (issue: experiments).

mnist-mlp on the embedded digits with a 10% validation split, 10 epochs a trial. The grid: lr in {0.01, 0.03,
0.087, 0.2, 0.5} x widths in {64x2, 256x4, 512x2} x batch_size in {32, 128}: 30 trials, 300 epochs. Random search
and TPE (both with the median pruner) search the same ranges (lr log-uniform on [0.01, 0.5], the same widths and
batch sizes) within a budget of a third of the grid's epochs each (sweep --budget: a trial starts only if it fits
with all its epochs, so a search never spends more). Every method runs once per seed (the grid's training seed;
the samplers' seed and their trials' training seed), interleaved seed by seed. The figure: the best trial's
validation accuracy against the epochs spent. Goal: TPE with pruning reaches the grid's best validation accuracy,
within one seed-to-seed standard deviation of it, with at most a third of the grid's epochs.

    python benchmarks/bench_search.py                  # 3 seeds, a budget of 100 epochs a search (6 min, 2 cores)
    python benchmarks/bench_search.py --seeds 42 --epochs 1 --trials 4 --grid-lr 0.087,0.2   # a smoke run
    python benchmarks/bench_search.py --plot docs/search-vs-grid.png   # the curves too (or --replot LOG)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

from mlprojects import rundir
from mlprojects.experiments.search import PRUNERS, Search, parse_space
from mlprojects.experiments.search import execute as search
from mlprojects.experiments.sweep import Sweep
from mlprojects.experiments.sweep import execute as sweep

METRIC = "val_accuracy"


def spent(folders: list[Path]) -> list[tuple[int, float]]:
    """(epochs spent so far, best validation accuracy so far) after each trial, in the order they finished."""
    done = sorted((folder for folder in folders if rundir.is_complete(folder)),
                  key=lambda folder: (folder / rundir.METRICS).stat().st_mtime)
    curve, epochs, best = [], 0, float("-inf")
    for folder in done:
        found = rundir.read_metrics(folder)
        epochs += found["epochs_completed"]
        if not found.get("pruned"):
            best = max(best, found[METRIC])
        curve.append((epochs, best))
    return curve


def goal(results: dict[str, list[dict]]) -> tuple[float, float, float]:
    """The goal's terms from the grid's runs: its seed-to-seed standard deviation of the best validation accuracy,
    its bar (the mean less that deviation) and its budget (a third of the grid's mean epochs)."""
    best = [item["best"] for item in results["grid"]]
    std = statistics.stdev(best) if len(best) > 1 else 0.0
    return std, statistics.fmean(best) - std, statistics.fmean(item["epochs"] for item in results["grid"]) / 3


def draw(results: dict[str, list[dict]], path: Path) -> None:
    """The best validation accuracy so far against the epochs spent, a line per method and seed; the grid's mean -
    std (the goal's bar) and a third of its epochs (the goal's budget) dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2))
    colours = {"grid": "tab:grey", "random": "tab:blue", "tpe": "tab:red"}
    for method, found in results.items():
        for index, item in enumerate(found):
            epochs, best = zip(*[(0, None), *item["curve"]])
            axes.step(epochs[1:], best[1:], where="post", color=colours[method], alpha=0.8,
                      label=method if index == 0 else None)
    _, bar, budget = goal(results)
    axes.axhline(bar, color="black", linestyle="--", linewidth=0.8, label="grid mean - std")
    axes.axvline(budget, color="black", linestyle=":", linewidth=0.8, label="a third of the grid's epochs")
    lows = [point[1] for found in results.values() for item in found for point in item["curve"]]
    axes.set_ylim(max(min(lows), bar - 0.03), max(lows) + 0.003)
    axes.set_xlabel("epochs spent")
    axes.set_ylabel(f"best {METRIC} so far")
    axes.set_title("mnist-mlp: search against the grid, one line per seed")
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="42,43,44")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--trials", type=int, default=100, help="trials of each search, at most")
    parser.add_argument("--budget", type=int, default=None,
                        help="epochs each search may spend (sweep --budget)  [default: a third of the grid's]")
    parser.add_argument("--grid-lr", default="0.01,0.03,0.087,0.2,0.5")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pruner", default="median", choices=PRUNERS, help="the searches' pruner")
    parser.add_argument("--methods", default="grid,random,tpe", help="which of grid, random, tpe to run")
    parser.add_argument("--out", type=Path, default=None, help="keep the sweeps here (default: a scratch folder)")
    parser.add_argument("--plot", type=Path, default=None, help="draw the curves into this PNG")
    parser.add_argument("--replot", type=Path, default=None, help="only draw --plot from the output of a run")
    args = parser.parse_args()
    if args.replot:
        draw(json.loads(args.replot.read_text().strip().splitlines()[-1]), args.plot)
        return
    from mlprojects.engine.device import cpu_name

    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; mnist-mlp, {args.epochs} epochs a trial, seeds {args.seeds}, "
          f"{args.pruner} pruner")
    scratch = tempfile.TemporaryDirectory()
    root = args.out or Path(scratch.name)
    fixed = {"epochs": str(args.epochs), "val_fraction": "0.1"}
    space = parse_space(["lr=log:0.01..0.5", "widths=64x2,256x4,512x2", "batch_size=32,128"])
    results: dict[str, list[dict]] = {method: [] for method in args.methods.split(",")}
    grid = {"lr": args.grid_lr.split(","), "widths": ["64x2", "256x4", "512x2"], "batch_size": ["32", "128"]}
    budget = args.budget if args.budget is not None else math.prod(map(len, grid.values())) * args.epochs // 3
    for seed in map(int, args.seeds.split(",")):
        for method in results:
            out = root / f"{method}-{seed}"
            started = time.perf_counter()
            if method == "grid":
                plan = Sweep("mnist-mlp", grid, [seed], out, fixed=fixed, workers=args.workers)
                sweep(plan, echo=lambda line: None)
            else:
                plan = Search("mnist-mlp", space, args.trials, out, method, args.pruner, fixed=fixed,
                              workers=args.workers, seed=seed, budget=budget)
                search(plan, echo=lambda line: None)
            curve = spent(sorted((out / "trials").iterdir()))
            results[method].append({"seed": seed, "epochs": curve[-1][0], "best": curve[-1][1], "curve": curve,
                                    "seconds": round(time.perf_counter() - started, 1)})
            print(f"seed {seed} {method:6}: best {METRIC} {curve[-1][1]:.4f} after {curve[-1][0]} epochs "
                  f"({results[method][-1]['seconds']:.0f} s)", flush=True)
    print(f"\n| method | best {METRIC}, mean ± std over seeds | epochs spent (median) |\n|---|---|---|")
    for method, found in results.items():
        bests = [item["best"] for item in found]
        std = statistics.stdev(bests) if len(bests) > 1 else 0.0
        print(f"| {method} | {statistics.fmean(bests):.4f} ± {std:.4f} | "
              f"{statistics.median(item['epochs'] for item in found):.0f} |")
    if "grid" in results and "tpe" in results:
        std, bar, third = goal(results)
        by_seed = {item["seed"]: item["best"] for item in results["grid"]}
        tpe = {item["seed"]: item["best"] for item in results["tpe"]}
        within = all(item["epochs"] <= third for item in results["tpe"])
        readings = [  # the goal read three ways, the words first
            (f"TPE's mean {statistics.fmean(tpe.values()):.4f} at or above the grid's mean - std {bar:.4f}",
             statistics.fmean(tpe.values()) >= bar),
            ("each TPE seed at or above the grid's best of the same seed (the same validation split) - std",
             all(tpe[seed] >= by_seed[seed] - std for seed in tpe)),
            (f"every TPE seed at or above the grid's mean - std {bar:.4f}",
             all(value >= bar for value in tpe.values())),
        ]
        print(f"\ngoal, within a third of the grid's epochs: {'yes' if within else 'no'}")
        for words, met in readings:
            print(f"goal, {words}: {'met' if met else 'not met'}")
    print(json.dumps(results))
    if args.plot and "grid" in results:
        draw(results, args.plot)


if __name__ == "__main__":
    main()
