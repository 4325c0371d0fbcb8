"""Load on the digit app: 20 concurrent clients x 10 requests each against a local server.

Starts the real app on 127.0.0.1 (a free port), then 20 threads, each with its own
``gradio_client.Client``, send 10 ``/predict`` requests with a digit image; reports errors and the
p50/p95/max latency of a request (upload, queue, preprocessing, model, response).

    python benchmarks/bench_digits_load.py [--model RUN_DIR] [--clients 20] [--requests 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from mlprojects.data import images
from mlprojects.runner import run
from mlprojects.serve import app as web
from mlprojects.serve.predictor import DigitPredictor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadtest import free_port, hammer  # noqa: E402


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
    port = free_port()
    server = web.serve(predictor, "127.0.0.1", port, block=False)

    def request(client, index: int) -> None:
        result = client.predict(handle_file(str(folder / f"{index}.png")), api_name="/predict")
        assert len(result[0]["confidences"]) == 3

    hammer(f"http://127.0.0.1:{port}/", request, args.clients, args.requests)
    server.close()


if __name__ == "__main__":
    main()
