"""Load on the digit app: 20 concurrent clients x 10 requests each against a local server.

Starts the real app on 127.0.0.1 (a free port), then 20 threads, each with its own
``gradio_client.Client``, send 10 ``/predict`` requests with a digit image; reports errors and the
p50/p95/max latency of a request (upload, queue, preprocessing, model, response).

    python benchmarks/bench_digits_load.py [--model RUN_DIR] [--clients 20] [--requests 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from mlprojects.data import images
from mlprojects.runner import run
from mlprojects.serve import app as web
from mlprojects.serve.predictor import DigitPredictor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def hammer(url: str, request: Callable[[Any, int], Any], clients: int = 20, requests: int = 10,
           auth: tuple[str, str] | None = None) -> dict[str, Any]:
    """REQUEST(client, index) is one call; returns the figures and prints them."""
    from gradio_client import Client

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def client(index: int) -> None:
        try:
            connection = Client(url, verbose=False, auth=auth)
        except Exception as error:  # noqa: BLE001 - every failure is counted and reported
            with lock:
                errors.extend([f"connect: {error}"] * requests)
            start.wait()
            return
        start.wait()
        for _ in range(requests):
            begun = time.perf_counter()
            try:
                request(connection, index)
                with lock:
                    latencies.append(time.perf_counter() - begun)
            except Exception as error:  # noqa: BLE001
                with lock:
                    errors.append(str(error))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    wall = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - wall
    ms = sorted(1000 * x for x in latencies)
    figures = {"requests": clients * requests, "ok": len(ms), "errors": len(errors), "wall_s": wall}
    print(f"{clients} clients x {requests} requests = {clients * requests}: {len(ms)} ok, {len(errors)} errors, "
          f"{wall:.1f}s wall")
    if ms:
        figures.update(p50_ms=statistics.median(ms), p95_ms=ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))],
                       max_ms=ms[-1], per_s=len(ms) / wall)
        print(f"latency ms: p50 {figures['p50_ms']:.0f}  p95 {figures['p95_ms']:.0f}  max {ms[-1]:.0f}; "
              f"throughput {figures['per_s']:.1f} requests/s")
    for error in errors[:5]:
        print("  error:", error)
    return figures



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=10)
    args = parser.parse_args()
    from gradio_client import handle_file

    folder = Path(tempfile.mkdtemp())
    model_dir = args.model or run("mnist-mlp", {"epochs": 3}, out=folder / "mnist-mlp", progress=False)
    predictor = DigitPredictor(model_dir)
    digits = images.load("mnist-10k").test_images[: args.clients]
    for i, digit in enumerate(digits):  # dark ink on white, 280x280
        Image.fromarray(255 - np.kron(digit, np.ones((10, 10), np.uint8))).save(folder / f"{i}.png")
    port = harness.free_port()
    server = web.serve(predictor, "127.0.0.1", port, block=False)

    def request(client, index: int) -> None:
        result = client.predict(handle_file(str(folder / f"{index}.png")), api_name="/predict")
        assert len(result[0]["confidences"]) == 3

    hammer(f"http://127.0.0.1:{port}/", request, args.clients, args.requests)
    server.close()


if __name__ == "__main__":
    main()
