"""device-placement: a computation put on a chosen device, where each tensor lives, and what moving data
between devices costs (the book's chapter 9, example 1, in PyTorch terms).

The book pins a matrix product to a device with ``with tf.device('/cpu:0')`` and lets
``log_device_placement`` print where each operation ran. In PyTorch a tensor lives on one device and an
operation runs where its inputs are, so placement is explicit: ``torch.randn(..., device=d)``,
``x.to(d)``; mixing devices in one operation is an error. This demonstration builds two matrices on the
chosen device (``--device``), multiplies them there, brings the result back, and reports each tensor's
device; then it measures, on every device here, the matrix product's speed and the cost of moving
1, 16 and 128 MiB between the CPU and the device (pageable and pinned host memory on a GPU; on a
CPU alone, a copy in memory is the reference). Medians of ``repeats`` timings.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from mlprojects.config import ProjectConfig, setting
from mlprojects.project import DemoProject


@dataclass
class PlacementConfig(ProjectConfig):
    matrix: int = setting(1024, "size n of the n x n matrices multiplied", gt=0)
    sizes: tuple[int, ...] = setting((1, 16, 128), "MiB moved between devices, each size in turn", gt=0,
                                    min_length=1)
    repeats: int = setting(5, "timings per figure (the median is reported)", gt=0)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def median_seconds(work: Callable[[], Any], device: torch.device, repeats: int) -> float:
    """The median wall time of WORK, waiting for the device before and after; one untimed call first."""
    work()
    _sync(device)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        _sync(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def devices_here() -> list[torch.device]:
    found = [torch.device("cpu")]
    found += [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        found.append(torch.device("mps"))
    return found


def placement(device: torch.device, n: int) -> dict[str, str]:
    """The book's example: two matrices made on DEVICE, their product computed there, the result brought to
    the CPU; the device of each tensor."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    c = a @ b
    back = c.cpu()
    return {"a": str(a.device), "b": str(b.device), "c = a @ b": str(c.device), "c.cpu()": str(back.device)}


def transfer(device: torch.device, mib: int, repeats: int) -> dict[str, float]:
    """GB/s moving MIB MiB of float32 from the CPU to DEVICE and back (pinned too, on a GPU)."""
    count = mib * 2**20 // 4
    host = torch.randn(count)
    figures: dict[str, float] = {}
    if device.type == "cpu":
        seconds = median_seconds(lambda: host.clone(), device, repeats)
        figures["copy within CPU memory"] = mib * 2**20 / seconds / 1e9
        return figures
    on_device = host.to(device)
    figures["CPU -> device (pageable)"] = mib * 2**20 / median_seconds(lambda: host.to(device), device, repeats) / 1e9
    figures["device -> CPU"] = mib * 2**20 / median_seconds(lambda: on_device.cpu(), device, repeats) / 1e9
    if device.type == "cuda":
        pinned = host.pin_memory()
        figures["CPU -> device (pinned)"] = mib * 2**20 / median_seconds(
            lambda: pinned.to(device, non_blocking=True), device, repeats) / 1e9
    return figures


class DevicePlacement(DemoProject):
    config_class = PlacementConfig
    smoke_settings = {"matrix": 128, "sizes": "1", "repeats": 2}

    def run(self, run_dir: Path, cfg: PlacementConfig, device) -> dict[str, Any]:
        from mlprojects import plots
        from mlprojects.engine.io import write_text

        torch.manual_seed(cfg.seed)
        placed = placement(device, cfg.matrix)
        speed, moves = {}, {}
        for here in devices_here():
            a, b = torch.randn(cfg.matrix, cfg.matrix, device=here), torch.randn(cfg.matrix, cfg.matrix, device=here)
            seconds = median_seconds(lambda a=a, b=b: a @ b, here, cfg.repeats)
            speed[str(here)] = 2 * cfg.matrix ** 3 / seconds / 1e9
            for mib in cfg.sizes:
                for route, rate in transfer(here, mib, cfg.repeats).items():
                    moves[f"{here} {route}, {mib} MiB"] = rate
        lines = [f"# Device placement on {device}", "",
                 f"`a` and `b` ({cfg.matrix} x {cfg.matrix}) were made on `{device}`, multiplied there, and the "
                 "product brought to the CPU:", "", "| tensor | device |", "|---|---|",
                 *[f"| `{name}` | `{where}` |" for name, where in placed.items()], "",
                 f"Matrix product, {cfg.matrix} x {cfg.matrix} float32 (median of {cfg.repeats}):", "",
                 "| device | GFLOP/s |", "|---|---|", *[f"| `{d}` | {g:.1f} |" for d, g in speed.items()], "",
                 "Moving data (median of {}):".format(cfg.repeats), "", "| route, size | GB/s |", "|---|---|",
                 *[f"| {route} | {rate:.2f} |" for route, rate in moves.items()], ""]
        if len(devices_here()) == 1:
            lines += ["Only a CPU here: there is no second device to move data to, so the copy within memory is "
                      "the reference; on a machine with a GPU the routes CPU -> device and back are measured.", ""]
        write_text(run_dir / "report.md", "\n".join(lines))
        plots.bars(list(moves), list(moves.values()), run_dir / "plots" / "transfer.png", "GB/s",
                   "moving data between devices")
        return {"placement": placed, "matmul_gflops": speed, "transfer_gb_per_s": moves,
                "devices": [str(d) for d in devices_here()]}


DEVICE_PLACEMENT = DevicePlacement()
