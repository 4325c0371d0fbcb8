"""pi: estimating π by Monte Carlo across processes and machines (the book's chapter 9, 9.4 and 9.6).

The book draws random points in the unit square on several devices, then on a cluster of TensorFlow
servers, and counts those inside the quarter circle: π ≈ 4 · inside / points. Here the points are
drawn in chunks on the chosen device by every process of ``--nproc`` (or of a cluster started with
``--nnodes``), and the counts are summed with ``torch.distributed.all_reduce``.

The points come from ``streams`` independent random streams, each seeded from (seed, stream) and
each drawing its share of the points; process r of w takes streams r, r + w, r + 2w, ... So a run is
reproducible, and two processes sum exactly the points that one process drawing the same two streams
counts (tested). Reported: the estimate, its error, the standard error 4·sqrt(p(1 − p)/N) with
p = inside/N, and points per second.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mlprojects.config import ProjectConfig, setting
from mlprojects.project import DemoProject


@dataclass
class PiConfig(ProjectConfig):
    points: int = setting(20_000_000, "points drawn in all", gt=0)
    streams: int = setting(0, "independent random streams the points come from (0: one per process)", ge=0)
    chunk: int = setting(1_000_000, "points drawn at a time (memory: 8 bytes a point)", gt=0)


def stream_counts(points: int, streams: int, stream: int) -> int:
    """How many of POINTS stream STREAM draws (the first ones take the remainder)."""
    return points // streams + (stream < points % streams)


def count_inside(points: int, seed: int, stream: int, chunk: int, device: torch.device) -> int:
    """Points of one stream inside the quarter circle x² + y² <= 1, drawn CHUNK at a time."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed * 1_000_003 + stream)
    inside = torch.zeros((), dtype=torch.int64, device=device)
    for start in range(0, points, chunk):
        xy = torch.rand(min(chunk, points - start), 2, generator=generator, device=device)
        inside += ((xy * xy).sum(1) <= 1.0).sum()
    return int(inside)


def estimate(inside: int, points: int) -> dict[str, float]:
    p = inside / points
    value = 4 * p
    return {"pi_estimate": value, "error": value - math.pi, "standard_error": 4 * math.sqrt(p * (1 - p) / points)}


class Pi(DemoProject):
    config_class = PiConfig
    distributed = True
    smoke_settings = {"points": 200_000, "chunk": 50_000}

    def run(self, run_dir: Path, cfg: PiConfig, device) -> dict[str, Any]:
        from mlprojects.engine import distributed

        context = distributed.from_environment()
        streams = cfg.streams or context.world_size
        mine = range(context.rank, streams, context.world_size)
        started = time.perf_counter()
        counts = torch.zeros(2, dtype=torch.int64, device=device)  # inside, drawn
        for stream in mine:
            share = stream_counts(cfg.points, streams, stream)
            counts[0] += count_inside(share, cfg.seed, stream, cfg.chunk, device)
            counts[1] += share
        local_seconds = time.perf_counter() - started
        distributed.all_reduce_sum(counts)
        seconds = torch.tensor([local_seconds], dtype=torch.float64, device=device)
        distributed.all_reduce_max(seconds)  # the slowest process decides when the sum is known
        inside, drawn = int(counts[0]), int(counts[1])
        figures = {"points": drawn, "inside": inside, **estimate(inside, drawn), "streams": streams,
                   "processes": context.world_size, "points_per_second": drawn / float(seconds)}
        figures["within_4_standard_errors"] = abs(figures["error"]) <= 4 * figures["standard_error"]
        if context.is_main:
            self.plot(run_dir, cfg, device, figures)
        return figures

    def plot(self, run_dir: Path, cfg: PiConfig, device, figures: dict[str, Any]) -> None:
        """The running estimate over (up to) the first 2 million points of stream 0, against π."""
        import numpy as np

        from mlprojects import plots

        shown = min(stream_counts(cfg.points, figures["streams"], 0), 2_000_000)
        generator = torch.Generator(device=device)
        generator.manual_seed(cfg.seed * 1_000_003)
        xy = torch.rand(shown, 2, generator=generator, device=device)
        step = max(1, shown // 200)
        running = ((xy * xy).sum(1) <= 1.0).cumsum(0).cpu().numpy()[step - 1::step]
        drawn = np.arange(1, len(running) + 1) * step
        plots.running_estimate(drawn, 4 * running / drawn, math.pi, run_dir / "plots" / "pi.png",
                               f"π by Monte Carlo: {figures['pi_estimate']:.6f} from {figures['points']:,} points "
                               f"(error {figures['error']:+.1e}, standard error {figures['standard_error']:.1e})")


PI = Pi()
