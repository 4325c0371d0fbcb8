"""The cores this process may run on, and each process's share of them when several share the machine.

Torch-free, so that the launchers (``run --nproc``, ``serve --workers``, sweeps and searches) can size their
processes' threads before any of them imports PyTorch.
"""

from __future__ import annotations

import os


def available() -> int:
    """The cores this process may run on: its CPU affinity where the system has one (a container's cpuset,
    ``taskset``), which ``os.cpu_count`` ignores; every core elsewhere (macOS, Windows)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def threads_each(threads: int) -> str:
    """"1 thread each", "2 threads each": how many threads each process has, as the launchers say it."""
    return f"{threads} thread{'' if threads == 1 else 's'} each"


def share(processes: int) -> int:
    """Threads for each of PROCESSES processes that share the cores: the cores divided among them, at least one."""
    return max(1, available() // max(1, processes))


def per_process(processes: int) -> int:
    """Threads for each of PROCESSES processes started side by side (a sweep's, a search's or ``reproduce``'s
    trials, ``run --nproc``'s workers, ``serve --workers``'): ``OMP_NUM_THREADS`` where it is set to a whole number
    (the user's choice, as PyTorch takes it; the first of a nested list such as ``4,2``), else the cores shared out
    among them (:func:`share`). Set, it keeps the processes from fighting over cores that other work holds: two
    threads each beside a busy core made a search's trials take 2-3 times as long."""
    first = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(first) if first.isdigit() and int(first) > 0 else share(processes)
