"""The allocator's thresholds fixed while a model trains on the CPU (engine/memory.py), seen in page faults: each
probe runs in a fresh interpreter, since glibc's thresholds are the process's own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from mlprojects.engine import memory

pytestmark = pytest.mark.skipif(memory._glibc() is None, reason="the thresholds are glibc's")

PAGES = 3 * 15 * 2**20 // 4096  # a cycle's three 15 MiB blocks, in 4 KiB pages: 11,520

# Three blocks of 15 MiB taken, written and freed, five times over, after one block of 16 MiB was freed (as after a
# training's first step). glibc's moving thresholds then stand at 16 MiB to serve from the heap and 32 MiB to
# trim, so each cycle's 45 MiB freed at the heap's top goes back to the kernel and the next cycle faults every
# page in again; with the thresholds fixed (32 MiB, 1 GiB) the pages stay and fault once.
PROBE = textwrap.dedent("""
    import ctypes, resource, sys
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    MiB = 2**20
    def cycles(n):
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(n):
            blocks = [libc.malloc(15 * MiB) for _ in range(3)]
            for block in blocks:
                ctypes.memset(block, 1, 15 * MiB)
            for block in blocks:
                libc.free(block)
        return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start) // n
    if sys.argv[1] == "train":
        import torch
        from torch import nn
        from mlprojects.engine import TensorData, Trainer, memory
        model = nn.Linear(4, 2)
        Trainer(model, nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.1),
                device=torch.device("cpu")).fit(TensorData(torch.randn(8, 4), torch.randint(0, 2, (8,))),
                                                 epochs=1, batch_size=4, seed=0)
        print("why_not", memory.why_not())
    libc.free(libc.malloc(16 * MiB))
    cycles(1)
    print("faults", cycles(5))
    if sys.argv[1] == "train":
        memory.release_freed_memory()
        print("after_release", cycles(1))
""")


def _probe(mode: str, **env: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    done = subprocess.run([sys.executable, "-c", PROBE, mode], env={**clean, **env}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return dict(line.split(" ", 1) for line in done.stdout.splitlines())


def test_glibcs_own_thresholds_give_a_steps_pages_back_every_time():
    """What a training met before: every cycle faults its 11,520 pages in again."""
    assert int(_probe("plain")["faults"]) >= PAGES * 0.95


def test_after_a_training_the_pages_stay_and_the_end_hands_them_back():
    """A training on the CPU (Trainer.fit, through train_epoch) fixed the thresholds: five cycles fault almost
    nothing. The end of a training hands the kept pages back (malloc_trim): the next cycle faults them in again."""
    seen = _probe("train")
    assert seen["why_not"] == "None"
    assert int(seen["faults"]) < PAGES * 0.05
    assert int(seen["after_release"]) >= PAGES * 0.95


def test_a_user_who_sets_glibcs_parameters_keeps_them():
    """MALLOC_TRIM_THRESHOLD_ in the environment (here glibc's own initial 128 KiB, which also stops its thresholds
    from moving): a training leaves it as it is, and the pages keep going back."""
    seen = _probe("train", MALLOC_TRIM_THRESHOLD_="131072")
    assert seen["why_not"] == "the environment sets glibc's malloc parameters"
    assert int(seen["faults"]) >= PAGES * 0.95


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("MALLOC_MMAP_THRESHOLD_", "65536", "the environment sets glibc's malloc parameters"),
    ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0", "the environment sets glibc's malloc parameters"),
    ("GLIBC_TUNABLES", "glibc.rtld.optional_static_tls=512", None),
    ("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "LD_PRELOAD brings another allocator"),
    ("LD_PRELOAD", "/opt/lib/libtcmalloc_minimal.so.4", "LD_PRELOAD brings another allocator"),
    ("LD_PRELOAD", "/opt/lib/libfaketime.so.1", None),
])
def test_what_the_environment_says_decides(monkeypatch, name, value, reason):
    for key in [k for k in os.environ if k.startswith("MALLOC_") or k in ("GLIBC_TUNABLES", "LD_PRELOAD")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv(name, value)
    assert memory.why_not() == reason
