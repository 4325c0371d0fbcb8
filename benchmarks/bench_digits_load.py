"""Load on the digit app: 20 concurrent clients x 10 requests each against a local server.

Starts the real app on 127.0.0.1 (a free port), then 20 threads, each with its own
``gradio_client.Client``, send 10 ``/predict`` requests with a digit image; reports errors and the
p50/p95/max latency of a request (upload, queue, preprocessing, model, response).

    python benchmarks/bench_digits_load.py [--model RUN_DIR] [--clients 20] [--requests 10]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mlprojects.data import images
from mlprojects.runner import run
from mlprojects.serve import app as web
from mlprojects.serve.predictor import DigitPredictor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=10)
    args = parser.parse_args()
    from gradio_client import Client, handle_file

    folder = Path(tempfile.mkdtemp())
    model_dir = args.model or run("mnist-mlp", {"epochs": 3}, out=folder / "mnist-mlp", progress=False)
    predictor = DigitPredictor(model_dir)
    digits = images.load("mnist-10k").test_images[: args.clients]
    for i, digit in enumerate(digits):  # dark ink on white, 280x280
        Image.fromarray(255 - np.kron(digit, np.ones((10, 10), np.uint8))).save(folder / f"{i}.png")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = web.serve(predictor, "127.0.0.1", port, block=False)
    url = f"http://127.0.0.1:{port}/"
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(args.clients)

    def client(index: int) -> None:
        try:
            connection = Client(url, verbose=False)
        except Exception as error:  # noqa: BLE001 - every failure is counted and reported
            with lock:
                errors.extend([f"connect: {error}"] * args.requests)
            start.wait()
            return
        start.wait()
        for _ in range(args.requests):
            begun = time.perf_counter()
            try:
                result = connection.predict(handle_file(str(folder / f"{index}.png")), api_name="/predict")
                assert len(result[0]["confidences"]) == 3
                with lock:
                    latencies.append(time.perf_counter() - begun)
            except Exception as error:  # noqa: BLE001
                with lock:
                    errors.append(str(error))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    wall = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - wall
    server.close()
    ms = sorted(1000 * x for x in latencies)
    total = args.clients * args.requests
    print(f"{args.clients} clients x {args.requests} requests = {total}: {len(ms)} ok, {len(errors)} errors, "
          f"{wall:.1f}s wall")
    if ms:
        p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
        print(f"latency ms: p50 {statistics.median(ms):.0f}  p95 {p95:.0f}  max {ms[-1]:.0f}; "
              f"throughput {len(ms) / wall:.1f} requests/s")
    for error in errors[:5]:
        print("  error:", error)


if __name__ == "__main__":
    main()
