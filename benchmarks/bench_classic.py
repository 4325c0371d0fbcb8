"""k-means and k-NN speed: mlprojects.estimators vs scikit-learn, interleaved in one run.

k-means: 200,000 x 64 float32 points, k = 16, and 1,000,000 x 32, k = 64 (overlapping blobs, so Lloyd runs
its 20 iterations), the same initial centres for both, ``max_iter=20, tol=0``: seconds per iteration
(fit time / n_iter_).
k-NN: Fashion-MNIST as float32 in [0, 1] (60,000 x 784 training images, 10,000 test queries, the real
data where Debian's dataset-fashion-mnist or the cache has it, else random data of that shape),
k = 5, fit + predict; scikit-learn with ``algorithm="brute"``. Agreement of the two predictions
is reported too. ``--memory`` runs 1,000,000 queries of 784 float32 values through our k-NN and
reports the process's peak memory.

    python benchmarks/bench_classic.py                  # 5 rounds of k-means, 3 of k-NN
    python benchmarks/bench_classic.py --kinds kmeans --rounds 7
    python benchmarks/bench_classic.py --device cuda    # our estimators on a GPU (scikit-learn stays on CPU)
    python benchmarks/bench_classic.py --memory --train 2000   # 1,000,000 queries in about a minute
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

IMPLS = ["mlprojects", "sklearn"]
KMEANS_ITERS = 20
KMEANS_SIZES = {"kmeans": (200_000, 64, 16), "kmeans-1m": (1_000_000, 32, 64)}  # kind: (n, d, k)
KINDS = [*KMEANS_SIZES, "knn"]


def kmeans_data(n: int, d: int, k: int):
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n, d, centers=k, cluster_std=6.0, random_state=0)
    X = X.astype(np.float32)
    return X, X[np.random.default_rng(0).choice(len(X), k, replace=False)]


def knn_data():
    from mlprojects.data import images
    from mlprojects.errors import UserError

    try:
        splits = images.load("fashion-mnist")
        source = "fashion-mnist"
        train, labels, test = splits.train_images, splits.train_labels, splits.test_images
    except UserError:
        rng = np.random.default_rng(0)
        source = "random"
        train, labels, test = (rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 60000),
                               rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8))
    scale = np.float32(1 / 255)
    return (train.reshape(len(train), -1).astype(np.float32) * scale, labels,
            test.reshape(len(test), -1).astype(np.float32) * scale, source)


def child(impl: str, device: str) -> None:
    harness.pin_torch()
    from sklearn import cluster, neighbors

    from mlprojects import estimators

    data = {kind: kmeans_data(*size) for kind, size in KMEANS_SIZES.items()}
    train, labels, test, _ = knn_data()

    def make_kmeans(start):
        if impl == "mlprojects":
            return estimators.KMeans(len(start), init=start, max_iter=KMEANS_ITERS, tol=0, device=device)
        return cluster.KMeans(len(start), init=start, n_init=1, max_iter=KMEANS_ITERS, tol=0, algorithm="lloyd")

    def make_knn():
        if impl == "mlprojects":
            return estimators.KNeighborsClassifier(5, device=device)
        return neighbors.KNeighborsClassifier(5, algorithm="brute")

    for X, start in data.values():  # warm-up (and, for ours, the compiled kernel's first load)
        make_kmeans(start).fit(X[:50000])
    make_knn().fit(train[:2000], labels[:2000]).predict(test[:200])

    def kmeans(kind: str):
        X, start = data[kind]

        def measure():
            started = time.perf_counter()
            model = make_kmeans(start).fit(X)
            seconds = time.perf_counter() - started
            return {"s_per_iter": seconds / model.n_iter_, "iters": model.n_iter_, "inertia": model.inertia_}
        return measure

    def knn():
        started = time.perf_counter()
        predicted = make_knn().fit(train, labels).predict(test)
        seconds = time.perf_counter() - started
        np.save(os.path.join(os.environ["BENCH_TMP"], f"knn-{impl}.npy"), predicted)
        return {"seconds": seconds, "queries_per_s": len(test) / seconds}

    harness.serve({**{kind: kmeans(kind) for kind in KMEANS_SIZES}, "knn": knn})


def memory(device: str, queries: int, train_size: int) -> None:
    from mlprojects import estimators

    train, labels, _, source = knn_data()
    train, labels = train[:train_size], labels[:train_size]
    rng = np.random.default_rng(1)
    many = np.empty((queries, 784), dtype=np.float32)
    for start in range(0, queries, 100_000):  # filled in place: no float64 temporary
        many[start:start + 100_000] = rng.random((min(100_000, queries - start), 784), dtype=np.float32)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    started = time.perf_counter()
    predicted = estimators.KNeighborsClassifier(5, device=device).fit(train, labels).predict(many)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"k-NN on {source} ({len(train):,} training images): {queries:,} queries of 784 float32 "
          f"({many.nbytes / 2**30:.2f} GiB of input) in "
          f"{seconds:.1f} s; peak memory {peak:.2f} GiB (before the search {before:.2f} GiB: training set and "
          f"queries); {len(predicted):,} predictions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    parser.add_argument("--impls", nargs="+", default=IMPLS, choices=IMPLS)
    parser.add_argument("--kinds", nargs="+", default=KINDS, choices=KINDS)
    parser.add_argument("--rounds", type=int, default=5, help="k-means rounds (k-NN: --knn-rounds)")
    parser.add_argument("--knn-rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="where our estimators run")
    parser.add_argument("--memory", action="store_true", help="peak memory of 1,000,000 k-NN queries, then exit")
    parser.add_argument("--queries", type=int, default=1_000_000)
    parser.add_argument("--train", type=int, default=60_000, help="--memory: training images (fewer: faster)")
    args = parser.parse_args()
    if args.impl:
        return child(args.impl, args.device)
    if args.memory:
        harness.pin_torch()
        return memory(args.device, args.queries, args.train)

    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        os.environ["BENCH_TMP"] = folder
        plan = [(kind, args.knn_rounds if kind == "knn" else args.rounds) for kind in args.kinds]
        samples = harness.run(__file__, args.impls, plan, ["--device", args.device])
        agreement = None
        if "knn" in args.kinds and all(os.path.exists(os.path.join(folder, f"knn-{i}.npy")) for i in IMPLS):
            ours, theirs = (np.load(os.path.join(folder, f"knn-{i}.npy"), allow_pickle=False) for i in IMPLS)
            agreement = float(np.mean(ours == theirs))
    print(f"\nthreads {harness.THREADS}, device {args.device}; medians (min-max) over rounds")
    for kind in args.kinds:  # seconds: lower is better
        metric = "seconds" if kind == "knn" else "s_per_iter"
        for impl in samples:
            print(f"  {kind:6s} {impl:11s} {metric} {harness.median_range(samples[impl][kind][metric])}")
        if {"mlprojects", "sklearn"} <= set(samples):
            ratio = harness.paired_ratio(samples, "sklearn", "mlprojects", kind, metric)  # their time / ours
            print(f"  {kind:6s} speed vs scikit-learn: x{ratio[0]:.2f} (per-round range {ratio[1]:.2f}-{ratio[2]:.2f})")
    for kind in [kind for kind in args.kinds if kind in KMEANS_SIZES]:
        if {"mlprojects", "sklearn"} <= set(samples):
            ours, theirs = samples["mlprojects"][kind]["inertia"][0], samples["sklearn"][kind]["inertia"][0]
            print(f"  {kind} inertia: ours {ours:.6g}, scikit-learn {theirs:.6g} "
                  f"(relative difference {abs(ours - theirs) / theirs:.1e}); iterations "
                  f"{samples['mlprojects'][kind]['iters'][0]} and {samples['sklearn'][kind]['iters'][0]}")
    if agreement is not None:
        print(f"  knn predictions identical to scikit-learn's: {agreement:.4%}")
    print(json.dumps({impl: {kind: {m: v for m, v in metrics.items()} for kind, metrics in kinds.items()}
                      for impl, kinds in samples.items()}))


if __name__ == "__main__":
    main()
