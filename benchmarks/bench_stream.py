"""Training on a CSV larger than memory (stream=true): peak memory and time on a generated file of several GB.

The file: ROWS rows of 12 numeric columns (normal), one categorical column (8 cities) and a target
y = a fixed linear function of them plus noise, written once in chunks (about 100 bytes a row: 30 million
rows are 3 GB). Then ``mlprojects run auto-mpg --set data=FILE --set target=y --set stream=true`` (one epoch,
batch 1024) runs in a child process; its peak resident memory is the child's ru_maxrss. For comparison, the
same file read whole by pandas would need several times its size in memory.

    python benchmarks/bench_stream.py [--rows 30000000] [--file /tmp/big.csv] [--epochs 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def generate(path: Path, rows: int, chunk: int = 1_000_000) -> None:
    rng = np.random.default_rng(0)
    weights = rng.normal(size=12)
    cities = np.array(["paris", "lyon", "nice", "lille", "nantes", "metz", "brest", "pau"])
    offsets = rng.normal(size=len(cities)) * 3
    import pandas as pd

    with open(path, "w") as out:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            X = rng.normal(size=(n, 12))
            city = rng.integers(len(cities), size=n)
            frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(12)])
            frame["city"] = cities[city]
            frame["y"] = X @ weights + offsets[city] + rng.normal(scale=0.5, size=n)
            frame.to_csv(out, index=False, header=start == 0, float_format="%.5f")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000_000)
    parser.add_argument("--file", type=Path, default=Path("/tmp/mlprojects-big.csv"))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("/tmp/mlprojects-big-run"))
    parser.add_argument("--whole", action="store_true", help="read the file whole instead (stream=false), to compare")
    args = parser.parse_args()
    if not args.file.is_file():
        started = time.perf_counter()
        generate(args.file, args.rows)
        seconds = time.perf_counter() - started
        print(f"generated {args.file}: {args.file.stat().st_size / 1e9:.2f} GB in {seconds:.0f} s")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mlprojects", "run", "auto-mpg", "--set", f"data={args.file}",
                           "--set", "target=y", "--set", f"stream={str(not args.whole).lower()}",
                           "--set", f"epochs={args.epochs}",
                           "--set", "batch_size=1024", "--set", "widths=64,64", "--quiet", "--out", str(args.out)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        sys.exit(done.stderr)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    metrics = json.loads((args.out / "metrics.json").read_text())
    how = "whole" if args.whole else "streamed"
    print(f"{how}: file {args.file.stat().st_size / 1e9:.2f} GB, {metrics['data']['train_rows']:,} training rows, "
          f"{metrics['data']['test_rows']:,} test rows; {args.epochs} epoch(s) in {wall:.0f} s; peak memory "
          f"{peak_mb:.0f} MB; test R2 {metrics['test_r2']:.4f}")


if __name__ == "__main__":
    main()
