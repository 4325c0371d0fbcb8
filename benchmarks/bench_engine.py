"""The engine's own cost per training step, against a hand-written PyTorch loop (issue: speed).

Timing whole epochs cannot resolve a few percent on a shared 2-core machine: two runs of the same interleaved
comparison of the notebook MLP, back to back, gave the engine x0.91 and x1.04 of the loop, and two identical
hand-written loops timed in one run differed by a tenth. So this counts what does not depend on the machine's
neighbours: the PyTorch operators each step dispatches (``TorchDispatchMode``), the loop's and the engine's, for
the notebook MLP (batch 32) and LeNet (batch 50). The engine's extra operators are timed alone (the fastest of
many repeats), and its ratio to the loop is ``loop step / (loop step + their time)``, with the loop's step timed
as the fastest of interleaved rounds. The direct timing is printed beside it, and so is its noise: the same loop
timed twice in the same rounds. The goal is at least x0.97 for both models.

    python benchmarks/bench_engine.py                  # 11 rounds
    python benchmarks/bench_engine.py --rounds 3       # a quick look
"""

from __future__ import annotations

import argparse
import random
import time

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


def fastest(candidates: dict, rounds: int, steps: int) -> dict[str, float]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    torch.set_num_threads(2)
    print(f"CPU: {cpu_name()}, 2 threads; {args.rounds} interleaved rounds, the fastest of each")
    print("| model | operators a step: loop, engine | the engine's extra operators | their cost | loop step | "
          "ratio from the count | ratio timed | the same loop twice |\n|---|---|---|---|---|---|---|---|")
    for label, build, shape, batch, steps in (("notebook MLP, batch 32", lambda: MLP(784, (256,) * 4, 10), (784,),
                                               32, 200),
                                              ("LeNet, batch 50", LeNet, (1, 28, 28), 50, 20)):
        x = torch.rand(batch * steps, *shape, generator=generator)
        y = torch.randint(0, 10, (len(x),), generator=generator)
        made = {}
        for name, way in (("loop", hand_loop), ("engine", engine), ("loop again", hand_loop)):
            torch.manual_seed(0)
            model = build()
            made[name] = way(model, torch.optim.SGD(model.parameters(), lr=0.01), x, y, batch)
        timed = fastest(made, args.rounds, steps)
        counted = {name: operators(made[name], steps) for name in ("loop", "engine")}
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
