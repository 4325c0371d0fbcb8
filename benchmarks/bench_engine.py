"""The engine's own cost per training step, against a hand-written PyTorch loop (issue: speed).

Timing whole epochs cannot resolve a few percent on a shared 2-core machine: two runs of the same interleaved
comparison of the notebook MLP, back to back, gave the engine x0.91 and x1.04 of the loop, and two identical
hand-written loops timed in one run differed by a tenth. So this counts what does not depend on the machine's
neighbours: the PyTorch operators each step dispatches (``TorchDispatchMode``), the loop's and the engine's, for
the notebook MLP (batch 32) and LeNet (batch 50). The engine's extra operators are timed alone (the fastest of
many repeats), and its ratio to the loop is ``loop step / (loop step + their time)``, with the loop's step timed
as the fastest of interleaved rounds. The direct timing is printed beside it, and so is its noise: the same loop
timed twice in the same rounds. The goal is at least x0.97 for both models.

Operators leave out the Python around them (the engine's closures, callbacks, lists and branches). ``--instructions``
counts everything: each way's epoch runs once more in a process of its own under valgrind's callgrind, which
counts the CPU instructions it executes (its Python, PyTorch's dispatch and kernels, the allocator), from the
start of a warm epoch to its end, one thread, the same count on a busy machine as on an idle one. The ratio is the
loop's instructions over the engine's. Valgrind emulates an AVX2 CPU, so the kernels' share is larger than
natively and the ratio, if anything, closer to 1 than the engine's own overhead alone would make it.

    python benchmarks/bench_engine.py                  # 11 rounds
    python benchmarks/bench_engine.py --rounds 3       # a quick look
    python benchmarks/bench_engine.py --instructions   # needs valgrind and a C compiler; 15 minutes for the MLP

Each run also prints the engine's fixed cost a step: a model of one 8 x 10 layer, whose step is almost all
overhead, trained by the loop and by the engine, the fastest of the rounds of each; the difference is what the
engine adds to any step, whatever the model.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from torch import nn

from mlprojects.engine import TensorData, Trainer
from mlprojects.engine.device import cpu_name
from mlprojects.nn import MLP
from mlprojects.nn.convnets import LeNet


def hand_loop(model: nn.Module, optimizer, x: torch.Tensor, y: torch.Tensor, batch: int):
    """pytorch/examples' loop over in-memory tensors: the reference."""

    def epoch() -> None:
        model.train()
        order = torch.randperm(len(x))
        for start in range(0, len(x), batch):
            index = order[start:start + batch]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[index]), y[index])
            loss.backward()
            optimizer.step()

    return epoch


def engine(model: nn.Module, optimizer, x: torch.Tensor, y: torch.Tensor, batch: int):
    """The engine as a run drives it: accuracy tracked, divergence checked every step."""
    trainer = Trainer(model, nn.functional.cross_entropy, optimizer, device=torch.device("cpu"))
    data, epochs = TensorData(x, y), iter(range(10**9))
    return lambda: trainer.train_epoch(data, batch, 0, next(epochs))


class _Count:
    """Every PyTorch operator dispatched while it is active, by name."""

    def __init__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        counts: dict[str, int] = {}

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                counts[str(func)] = counts.get(str(func), 0) + 1
                return func(*args, **(kwargs or {}))

        self.counts, self.mode = counts, Mode()


def operators(run, steps: int) -> dict[str, float]:
    """Operators a step, by name, over one epoch of RUN (STEPS steps)."""
    counter = _Count()
    with counter.mode:
        run()
    return {name: count / steps for name, count in counter.counts.items()}


def operator_cost(name: str) -> float:
    """µs of one call of an operator the engine adds, on a loss-sized tensor (the fastest of many repeats)."""
    import timeit

    value = torch.tensor(0.5)
    call = {"aten.detach.default": value.detach, "aten._local_scalar_dense.default": value.item}.get(name)
    if call is None:
        return 0.0
    return min(timeit.repeat(call, number=20000, repeat=7)) / 20000 * 1e6


def fastest(candidates: dict, steps: int, rounds: int) -> dict[str, float]:
    """µs per step of each candidate: the fastest of ROUNDS interleaved rounds (in a shuffled order each round)."""
    for run in candidates.values():
        run()  # warm-up
    best = {name: float("inf") for name in candidates}
    for index in range(rounds):
        order = list(candidates.items())
        random.Random(index).shuffle(order)
        for name, run in order:
            started = time.perf_counter()
            run()
            best[name] = min(best[name], (time.perf_counter() - started) / steps * 1e6)
    return best


MODELS = {"notebook MLP, batch 32": (lambda: MLP(784, (256,) * 4, 10), (784,), 32, 200),
          "LeNet, batch 50": (LeNet, (1, 28, 28), 50, 20),
          "one 8 x 10 layer, batch 32": (lambda: nn.Linear(8, 10), (8,), 32, 2000)}
COUNTED_STEPS = {"notebook MLP, batch 32": 200, "LeNet, batch 50": 4}  # under callgrind, a LeNet step takes minutes
WAYS = {"loop": hand_loop, "engine": engine, "loop again": hand_loop}

# CALLGRIND_START_INSTRUMENTATION and its kin are instructions valgrind recognises, written by its header's macros
COUNTER = """#include <valgrind/callgrind.h>
void count_start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
void count_stop(void) { CALLGRIND_DUMP_STATS_AT("epoch"); CALLGRIND_STOP_INSTRUMENTATION; }
"""


def made(label: str, names=tuple(WAYS), steps: int | None = None) -> tuple[dict, int]:
    """({way: one epoch of it}, steps an epoch) for the model LABEL, every way from the same weights and data."""
    build, shape, batch, usual = MODELS[label]
    steps = steps or usual
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch * steps, *shape, generator=generator)
    y = torch.randint(0, 10, (len(x),), generator=generator)
    ways = {}
    for name in names:
        torch.manual_seed(0)
        model = build()
        ways[name] = WAYS[name](model, torch.optim.SGD(model.parameters(), lr=0.01), x, y, batch)
    return ways, steps


def counted_child(label: str, way: str, library: str) -> None:
    """Under callgrind: one warm-up epoch uncounted, then one counted."""
    import ctypes

    torch.set_num_threads(1)
    run = made(label, (way,), COUNTED_STEPS[label])[0][way]
    counter = ctypes.CDLL(library)
    run()
    counter.count_start()
    run()
    counter.count_stop()


def instructions() -> None:
    """Each way's instructions an epoch, counted by callgrind in processes of their own, two at a time."""
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as name:  # the counts are read before it goes
        folder = Path(name)
        (folder / "counter.c").write_text(COUNTER)
        try:
            subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", folder / "counter.so", folder / "counter.c"],
                           check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as error:
            raise SystemExit(f"--instructions needs valgrind's headers and a C compiler: {error}") from None

        def count(job: tuple[str, str]) -> int:
            label, way = job
            out = folder / f"{list(MODELS).index(label)}-{way}.out"
            subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                            sys.executable, __file__, "--child", label, way, str(folder / "counter.so")],
                           check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": "0"})
            dumped = Path(f"{out}.1").read_text()
            return int(re.search(r"^(?:summary|totals): (\d+)", dumped, re.M).group(1))

        jobs = [(label, way) for label in COUNTED_STEPS for way in ("loop", "engine")]
        with ThreadPoolExecutor(2) as pool:
            totals = dict(zip(jobs, pool.map(count, jobs)))
    print(f"CPU: {cpu_name()} as valgrind emulates it; 1 thread; instructions of one warm epoch")
    print("| model | loop, a step | engine, a step | engine / loop, from the instructions |\n|---|---|---|---|")
    for label, steps in COUNTED_STEPS.items():
        loop, ours = totals[label, "loop"], totals[label, "engine"]
        print(f"| {label} | {loop / steps:,.0f} | {ours / steps:,.0f} | x{loop / ours:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind instead")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return counted_child(*args.child)
    if args.instructions:
        return instructions()
    torch.set_num_threads(2)
    print(f"CPU: {cpu_name()}, 2 threads; {args.rounds} interleaved rounds, the fastest of each")
    fixed = fastest(*made("one 8 x 10 layer, batch 32"), rounds=args.rounds)
    print(f"The engine's fixed cost a step (one 8 x 10 layer, the fastest of {args.rounds} rounds): "
          f"{fixed['engine'] - fixed['loop']:.1f} µs; the loop timed twice differs by "
          f"{fixed['loop again'] - fixed['loop']:.1f} µs\n")
    print("| model | operators a step: loop, engine | the engine's extra operators | their cost | loop step | "
          "ratio from the count | ratio timed | the same loop twice |\n|---|---|---|---|---|---|---|---|")
    for label in list(MODELS)[:2]:
        made_ways, steps = made(label)
        timed = fastest(made_ways, steps, args.rounds)
        counted = {name: operators(made_ways[name], steps) for name in ("loop", "engine")}
        extra = {op: counted["engine"].get(op, 0) - counted["loop"].get(op, 0)
                 for op in counted["engine"].keys() | counted["loop"].keys()}
        extra = {op: n for op, n in extra.items() if abs(n) > 0.005}
        cost = sum(n * operator_cost(op) for op, n in extra.items() if n >= 0.5)  # the per-step ones
        shown = ", ".join(f"{op.removeprefix('aten.').removesuffix('.default')} {n:.2f}"
                          for op, n in sorted(extra.items(), key=lambda item: -item[1]) if n >= 0.5)
        print(f"| {label} | {sum(counted['loop'].values()):.1f}, {sum(counted['engine'].values()):.1f} | {shown} "
              f"(and {sum(n for n in extra.values() if n < 0.5):.2f} a step of sums every 64 steps) | {cost:.1f} µs "
              f"| {timed['loop']:.0f} µs | x{timed['loop'] / (timed['loop'] + cost):.3f} | "
              f"x{timed['loop'] / timed['engine']:.3f} | x{timed['loop'] / timed['loop again']:.3f} |")


if __name__ == "__main__":
    main()
