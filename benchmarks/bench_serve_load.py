"""Load on `mlprojects serve RUN`: 20 concurrent clients x 10 requests each, for a tabular run (wine, the
form endpoint) and an image run (mnist-mlp, an image upload), with --auth on, against a local server.

    python benchmarks/bench_serve_load.py [--clients 20] [--requests 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from mlprojects import rundir
from mlprojects.data import images
from mlprojects.runner import run
from mlprojects.serve import run_app

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadtest import free_port, hammer  # noqa: E402

AUTH = ("bench", "a-long-password")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=10)
    args = parser.parse_args()
    from gradio_client import handle_file

    folder = Path(tempfile.mkdtemp())
    wine = rundir.load(run("wine", {}, out=folder / "wine", progress=False))
    rows = wine.project.prepare(wine.cfg).raw_test[wine.preparation.inputs].to_numpy().tolist()
    digits = rundir.load(run("mnist-mlp", {"epochs": 3}, out=folder / "mnist-mlp", progress=False))
    for i, digit in enumerate(images.load("mnist-10k").test_images[: args.clients]):
        Image.fromarray(255 - np.kron(digit, np.ones((10, 10), np.uint8))).save(folder / f"{i}.png")

    for name, finished, request in [
        ("wine (the form)", wine, lambda client, i: client.predict(*rows[i % len(rows)], api_name="/predict")),
        ("mnist-mlp (an image)", digits,
         lambda client, i: client.predict(handle_file(str(folder / f"{i}.png")), api_name="/predict")),
    ]:
        port = free_port()
        server = run_app.serve(finished, "127.0.0.1", port, AUTH, block=False)
        print(f"{name}:")
        hammer(f"http://127.0.0.1:{port}/", request, args.clients, args.requests, auth=AUTH)
        server.close()


if __name__ == "__main__":
    main()
