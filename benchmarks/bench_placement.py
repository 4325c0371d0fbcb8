"""Whether the machine keeps the two threads' CPUs on one cache, and what that does to the notebook MLP's steps.

On a virtual machine the host decides where the virtual CPUs run, and may move them while a run goes on. Two
CPUs that share a last-level cache pass a cache line in tens of nanoseconds; on different dies (AMD's CCDs,
or sockets) several times longer, and a small model's step, which hands its tensors from one thread to the
other dozens of times, slows with it. Each round trains the notebook MLP (784 -> 4 x 256 ReLU -> 10, SGD lr
0.087, batch 32) with mlprojects' engine for the same number of steps on two threads and on one, in alternated
order, between two timings of the round trip of a cache line between CPUs 0 and 1 (``pingpong.c``, compiled
here with ``cc``). The summary groups the rounds: the CPUs shared a cache before and after, were on two caches
before and after, or were moved during the round.

    python benchmarks/bench_placement.py --rounds 30

Needs a C compiler and two CPUs. Training speed does not depend on the values: the data are synthetic.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BATCH, STEPS, LR = 32, 600, 0.087


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    torch = harness.pin_torch()
    from torch import nn

    from mlprojects.engine import TensorData, Trainer
    from mlprojects.nn import MLP

    torch.manual_seed(0)
    x, y = torch.rand(STEPS * BATCH, 784), torch.randint(0, 10, (STEPS * BATCH,))
    model = MLP(784, (256,) * 4, 10)
    trainer = Trainer(model, nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), lr=LR),
                      device=torch.device("cpu"))
    data, epochs = TensorData(x, y), iter(range(10**6))

    def samples_per_s(threads: int) -> float:
        torch.set_num_threads(threads)
        started = time.perf_counter()
        trainer.train_epoch(data, BATCH, seed=0, epoch=next(epochs))
        return STEPS * BATCH / (time.perf_counter() - started)

    def both(order: tuple[int, int]) -> dict[int, float]:
        return {threads: samples_per_s(threads) for threads in order}

    with tempfile.TemporaryDirectory() as scratch:
        samples_per_s(2)  # warm-up
        round_trips = harness.RoundTrips(scratch)
        groups: dict[str, list[tuple[float, float]]] = {"one cache": [], "two caches": [], "moved": []}
        print(f"round  2 threads  1 thread  (samples/s, {STEPS} steps of {BATCH} each)")
        for round_ in range(args.rounds):
            order = (2, 1) if round_ % 2 == 0 else (1, 2)
            speed, place, trips = round_trips.around(functools.partial(both, order))
            groups[place].append((speed[2], speed[1]))
            print(f"{round_ + 1:5d}  {speed[2]:9,.0f}  {speed[1]:8,.0f}  ({trips})", flush=True)
    print("\nthe notebook MLP in mlprojects' engine, samples/s median (min-max), by where CPUs 0 and 1 were:")
    for place, rows in groups.items():
        if not rows:
            print(f"  {place:12s} no rounds")
            continue
        ratios = [two / one for two, one in rows]
        two, one = zip(*rows)
        print(f"  {place:12s} {len(rows):2d} rounds: 2 threads {harness.median_range(two, ',.0f')}, 1 thread "
              f"{harness.median_range(one, ',.0f')}; 2 threads against 1 x{statistics.median(ratios):.2f} "
              f"({min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
