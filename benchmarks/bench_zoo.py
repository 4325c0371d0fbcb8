"""Latency and throughput of chapter 8's architectures on this CPU (mlprojects zoo's models).

Each model is built untrained (speed does not depend on the weights) and run under
``torch.inference_mode()`` on random images of its input size, at batch 1 and batch 32, in one process
pinned to BENCH_THREADS threads (2 by default), after two warm-up calls. Reported per model: the median
(min-max) over the rounds of the milliseconds per call at batch 1, and of the images per second at batch 32.
No peer runs the same models here, so these are figures, not ratios: the table says the CPU they are for.

    python benchmarks/bench_zoo.py [--rounds 5] [--models lenet5,alexnet,...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def timed(model, images, torch) -> float:
    with torch.inference_mode():
        started = time.perf_counter()
        model(images)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", default="")
    args = parser.parse_args()
    os.environ.update(harness.PIN_ENV)
    torch = harness.pin_torch()
    from mlprojects.engine.device import cpu_name
    from mlprojects.vision import zoo

    names = args.models.split(",") if args.models else [a.name for a in zoo.ARCHITECTURES]
    print(f"CPU: {cpu_name()}, {harness.THREADS} threads, torch {torch.__version__}; median (min-max) of "
          f"{args.rounds} rounds\n")
    print("| architecture | input | batch 1: ms per image | batch 32: images/s |\n|---|---|---|---|")
    for name in names:
        architecture = zoo.find(name)
        model = zoo.build(name)
        channels = 1 if name == "lenet5" else 3
        size = architecture.input_size
        one, many = torch.rand(1, channels, size, size), torch.rand(32, channels, size, size)
        for _ in range(2):
            timed(model, one, torch), timed(model, many, torch)
        latency = [1000 * timed(model, one, torch) for _ in range(args.rounds)]
        rate = [32 / timed(model, many, torch) for _ in range(args.rounds)]
        print(f"| {architecture.title} | {size}x{size} | {harness.median_range(latency)} | "
              f"{harness.median_range(rate)} |", flush=True)


if __name__ == "__main__":
    main()
