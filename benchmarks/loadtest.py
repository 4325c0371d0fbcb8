"""Concurrent clients against a local Gradio app: each thread has its own ``gradio_client.Client`` and
sends its requests one after another; all start together. Reports errors and request latency
(upload, queue, model, response): p50, p95, max, and requests per second over the wall time."""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any, Callable


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


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
