"""Interleaved, paired measurements on a noisy machine (the method of shared/peers-bench).

Each implementation runs in its own child process with the same thread pinning. Children are
started one after another (set-up and warm-up never overlap), then wait idle; the driver asks
them round-robin for one measurement at a time, reversing the order every round, with a short
pause before each. Every implementation thus sees the same fast and slow phases of the machine,
and each round gives a paired ratio. Reported: median (min-max) of each figure over the rounds,
and the median over rounds of the per-round ratio to a reference implementation.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, TypeVar

T = TypeVar("T")

THREADS = int(os.environ.get("BENCH_THREADS", "2"))
PIN_ENV = {
    "OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS), "OPENBLAS_NUM_THREADS": str(THREADS),
    "TF_NUM_INTRAOP_THREADS": str(THREADS), "TF_NUM_INTEROP_THREADS": str(THREADS), "TF_CPP_MIN_LOG_LEVEL": "2",
    "PYTHONHASHSEED": "0",
}
PAUSE_S = 0.3
SHARED_CACHE_NS = 200  # a cache line's round trip under this: the two CPUs share a cache (measured on an AMD EPYC
# of family 25: 46-70 ns within one die, 290-364 ns between two; bench_placement.py)


def pin_torch():
    import torch

    torch.set_num_threads(THREADS)
    try:
        torch.set_num_interop_threads(THREADS)
    except RuntimeError:
        pass
    return torch


def pin_tf():
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(THREADS)
    return tf


def serve(measures: dict[str, Callable[[], dict]]) -> None:
    """Child side: announce readiness, then answer 'go KIND' lines until 'end'."""
    print("@@READY@@", flush=True)
    for line in sys.stdin:
        if line.strip() == "end":
            break
        kind = line.split()[1]
        print("@@M@@" + json.dumps(measures[kind]() if kind in measures else {}), flush=True)  # {}: not measured


def serve_throughput(train: Callable[[], None], train_samples: int, infer: Callable[[], None],
                     infer_samples: int) -> None:
    """Child side for a training/inference benchmark: each measurement times one call, in samples/s."""

    def timed(run: Callable[[], None], samples: int) -> Callable[[], dict]:
        def measure() -> dict:
            started = time.perf_counter()
            run()
            return {"samples_per_s": samples / (time.perf_counter() - started)}
        return measure

    serve({"train": timed(train, train_samples), "infer": timed(infer, infer_samples)})


def without_missing_keras(impls: list[str]) -> list[str]:
    """``impls`` without the Keras rows (keras-tf, keras-tf-bf16) when Keras or TensorFlow is not installed (the
    ``bench`` extra)."""
    import importlib.util

    keras = [impl for impl in impls if impl.startswith("keras-tf")]
    if keras and not (importlib.util.find_spec("keras") and importlib.util.find_spec("tensorflow")):
        print(f"keras/tensorflow not installed (pip install -e '.[bench]'): {', '.join(keras)} left out")
        return [impl for impl in impls if impl not in keras]
    return list(impls)


#: the rows each row is compared with, where present: the plain loop, Keras in float32 and in bf16, our float32
REFERENCES = ("torch-loop", "keras-tf", "keras-tf-bf16", "mlprojects")


def print_throughput(samples: dict, references=REFERENCES, flop_per_sample: dict | None = None) -> None:
    """samples/s per implementation and kind, with paired ratios to each reference present; where run() recorded
    the placement, the same again over the rounds in which every implementation ran on one cache."""
    _print_throughput(samples, references, flop_per_sample)
    clean = on_one_cache(samples)
    if clean is not None:
        print("\nthe rounds in which every measurement ran with CPUs 0 and 1 on one cache "
              f"({', '.join(f'{kind} {len(rounds)}' for kind, rounds in clean.items())}):")
        _print_throughput({impl: {kind: {metric: [values[i] for i in clean[kind]] for metric, values in
                                         figures.items()} for kind, figures in kinds.items() if clean.get(kind)}
                           for impl, kinds in samples.items()}, references, flop_per_sample)


def on_one_cache(samples: dict) -> dict[str, list[int]] | None:
    """{kind: the rounds in which every implementation's measurement ran on one cache}, or None without
    placements."""
    kinds = {kind for figures in samples.values() for kind in figures}
    if not any("placement" in figures[kind] for figures in samples.values() for kind in figures):
        return None
    clean = {}
    for kind in sorted(kinds):
        places = [figures[kind]["placement"] for figures in samples.values() if kind in figures]
        clean[kind] = [i for i in range(min(map(len, places))) if all(p[i] == "one cache" for p in places)]
    return clean


def _print_throughput(samples: dict, references, flop_per_sample: dict | None) -> None:
    for kind in ("train", "infer"):
        print(f"{kind}:")
        for impl in samples:
            if "samples_per_s" not in samples[impl].get(kind, {}):
                continue
            values = samples[impl][kind]["samples_per_s"]
            line = f"  {impl:20s} {median_range(values)}"
            if flop_per_sample:
                line += f"  ({statistics.median(values) * flop_per_sample[kind] / 1e9:.0f} GFLOP/s)"
            for reference in references:
                if reference != impl and "samples_per_s" in samples.get(reference, {}).get(kind, {}):
                    ratio = paired_ratio(samples, impl, reference, kind, "samples_per_s")
                    line += f"   x{ratio[0]:.2f} ({ratio[1]:.2f}-{ratio[2]:.2f}) vs {reference}"
            print(line)


def _read(process, tag):
    for line in process.stdout:
        if line.startswith(tag):
            return line[len(tag):].strip()
    return None


def _measurement(process) -> dict:
    return json.loads(_read(process, "@@M@@"))


def run(script: str, impls: list[str], plan: list[tuple[str, int]], args: list[str] = (),
        round_trips: RoundTrips | None = None) -> dict:
    """Driver side: {impl: {kind: {metric: [values per round]}}}. With ROUND_TRIPS, each measurement also gets its
    "placement": where CPUs 0 and 1 were, from the round trips before and after it."""
    processes = {}
    for impl in impls:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, script, "--impl", impl, *args], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True, bufsize=1, env={**os.environ, **PIN_ENV})
        if _read(process, "@@READY@@") is None:  # a row left out would go unnoticed in the table (bench_cnn's
            for started_process in processes.values():  # onnxruntime row did, for a day): stop, with its error above
                started_process.kill()
            sys.exit(f"{impl} failed to start (exit code {process.wait()}); its error is above")
        processes[impl] = process
        print(f"  started {impl} (set-up and warm-up {time.perf_counter() - started:.1f}s)", flush=True)
    samples: dict = {impl: {} for impl in processes}
    for kind, rounds in plan:
        for round_index in range(rounds):
            order = list(processes) if round_index % 2 == 0 else list(reversed(processes))
            for impl in order:
                time.sleep(PAUSE_S)
                processes[impl].stdin.write(f"go {kind}\n")
                processes[impl].stdin.flush()
                note = ""
                if round_trips is None:
                    result = _measurement(processes[impl])
                else:
                    result, place, trips = round_trips.around(functools.partial(_measurement, processes[impl]))
                    result["placement"], note = place, f"  ({trips})"
                figures = "  ".join(f"{k} {v:.4g}" for k, v in result.items() if k != "placement") + note
                for key, value in result.items():
                    samples[impl].setdefault(kind, {}).setdefault(key, []).append(value)
                print(f"  [{kind} round {round_index}] {impl:16s} {figures}", flush=True)
    for process in processes.values():
        process.stdin.write("end\n")
        process.stdin.flush()
        process.wait()
    return samples


def median_range(values: list[float], spec: str = ".4g") -> str:
    return f"{statistics.median(values):{spec}} ({min(values):{spec}}-{max(values):{spec}})"


def paired_ratio(samples: dict, impl: str, reference: str, kind: str, metric: str) -> tuple[float, float, float]:
    ratios = [a / b for a, b in zip(samples[impl][kind][metric], samples[reference][kind][metric])]
    return statistics.median(ratios), min(ratios), max(ratios)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (for a server a benchmark starts)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RoundTrips:
    """A cache line's round trip between CPUs 0 and 1, timed around measurements (``pingpong.c``, compiled into
    FOLDER; the median over 0.3 s, in nanoseconds). Each measurement is placed by the round trips before and after
    it, the one after a measurement being the one before the next. Exits with one line without a C compiler or
    those two CPUs."""

    def __init__(self, folder) -> None:
        import shutil
        from pathlib import Path

        if not {0, 1} <= os.sched_getaffinity(0):
            sys.exit("error: the cache-line probe needs CPUs 0 and 1 to run on")
        compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            sys.exit("error: no C compiler (cc) to build the cache-line probe; install one (apt-get install gcc)")
        self.binary = Path(folder) / "pingpong"
        try:
            built = subprocess.run([compiler, "-O2", "-pthread", str(Path(__file__).with_name("pingpong.c")), "-o",
                                    str(self.binary)], capture_output=True, text=True)
        except OSError as error:
            sys.exit(f"error: the C compiler {compiler} did not start ({error.strerror}); set CC to one that does")
        if built.returncode:
            sys.exit("error: the cache-line probe did not compile: "
                     f"{(built.stderr.strip().splitlines() or ['?'])[-1]}")
        self.last = self.time_ns()

    def time_ns(self) -> float:
        done = subprocess.run([str(self.binary), "0.3", "0", "1"], capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"error: {done.stderr.strip()}")
        return float(done.stdout)

    def around(self, measure: Callable[[], T]) -> tuple[T, str, str]:
        """MEASURE's value; where CPUs 0 and 1 were meanwhile ("one cache", "two caches" or "moved"); and a note
        with both round trips, for the progress line."""
        before = self.last
        value = measure()
        self.last = after = self.time_ns()
        shared = before < SHARED_CACHE_NS, after < SHARED_CACHE_NS
        place = "one cache" if all(shared) else "two caches" if not any(shared) else "moved"
        return value, place, f"round trips {before:.0f}, {after:.0f} ns: {place}"
