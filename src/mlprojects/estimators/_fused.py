"""One Lloyd pass fused in a compiled kernel (numba), for k-means on the CPU.

In torch a Lloyd iteration is three passes over the data with separate kernels (the distance product,
the row minimum, ``index_add_`` of the rows into their centre), each streaming the whole matrix from
memory. scikit-learn's Cython does all three for a chunk of rows while it sits in cache. So does this
kernel: for each chunk (in parallel over chunks), the chunk's distances to the centres by one BLAS
product, the nearest centre of each row (ties: the lowest index), the row added to its centre's sum
in the chunk's own accumulator (in the data's precision: a chunk is a few thousand rows at most), and the chunk's
inertia. The chunks' sums are then added
in chunk order, so the result does not depend on which thread took which chunk: the same data give
the same centres on every run.

Compiled once per machine (``cache=True``: numba keeps the machine code on disk), used only where the
work is large enough for the kernel to pay (``worth_it``); the GPU path stays in torch.
"""

from __future__ import annotations

import functools

import numpy as np

CHUNK_BYTES = 512 * 1024  # a chunk of rows stays in L2 while its distances, search and sums are done


def chunk_rows(features: int, itemsize: int = 4) -> int:
    """Rows per chunk: 512 KiB of data (4,096 rows of 32 float32 features, 2,048 of 64), between 256 and 8,192.
    Measured at 1,000,000 x 32, k = 64: 4,096 rows take 58 ms a pass where 1,024 took 65."""
    return int(min(8192, max(256, CHUNK_BYTES // (features * itemsize))))
MIN_WORK = 5_000_000  # rows x centres x features below which torch's three passes are fast enough


def worth_it(rows: int, centres: int, features: int) -> bool:
    return rows * centres * features >= MIN_WORK and available()


@functools.lru_cache(maxsize=1)
def available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _kernel():
    from numba import njit, prange

    @njit(parallel=True, fastmath=False, nogil=True, cache=True)
    def lloyd_pass(X, centers_t, center_norms, labels, sums, counts, chunk):  # pragma: no cover - compiled
        n, d = X.shape
        k = centers_t.shape[1]
        n_chunks = (n + chunk - 1) // chunk
        partial = np.zeros(n_chunks)
        for c in prange(n_chunks):
            t = c  # each chunk its own accumulator: the sums do not depend on the threads' schedule
            sums[t, :, :] = 0.0  # the buffers are reused from pass to pass (no fresh pages to fault in)
            counts[t, :] = 0
            start = c * chunk
            stop = min(n, start + chunk)
            block = np.dot(X[start:stop], centers_t)  # (rows, k): x.c by BLAS
            total = 0.0
            for r in range(stop - start):
                i = start + r
                best = center_norms[0] - 2 * block[r, 0]
                arg = 0
                for j in range(1, k):
                    value = center_norms[j] - 2 * block[r, j]
                    if value < best:
                        best = value
                        arg = j
                labels[i] = arg
                counts[t, arg] += 1
                row = sums[t, arg]
                for f in range(d):
                    row[f] += X[i, f]
                total += best
            partial[c] = total
        return partial.sum()

    return lloyd_pass


@functools.lru_cache(maxsize=1)
def _blas():
    """The BLAS libraries loaded here, found once (looking costs a millisecond, an iteration's tenth)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


class Lloyd:
    """Lloyd passes over one data matrix, with buffers kept from pass to pass; a context manager that keeps BLAS
    to one thread meanwhile (the kernel's threads each call it: more would oversubscribe the cores five times
    over, and setting it around every pass would cost a sixth of a pass)."""

    def __init__(self, X: np.ndarray, k: int):
        self.X = np.ascontiguousarray(X)
        self.chunk = chunk_rows(X.shape[1], self.X.dtype.itemsize)
        chunks = -(-len(X) // self.chunk)
        # a chunk's sums in the data's precision (at most 8,192 rows each), the chunks' together in float64
        self.sums = np.empty((chunks, k, X.shape[1]), dtype=self.X.dtype)
        self.counts = np.empty((chunks, k), np.int64)
        self._limit = None

    def __enter__(self) -> Lloyd:
        self._limit = _blas().limit(limits=1, user_api="blas")
        return self

    def __exit__(self, *error) -> None:
        self._limit.restore_original_limits()

    def __call__(self, centers: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(per-centre sums of their rows (float64), counts, sum over rows of |c|^2 - 2 x.c for the nearest c);
        LABELS is filled with each row's nearest centre. CENTERS: the data's float dtype."""
        if self._limit is None:
            raise RuntimeError("use Lloyd as a context manager: `with Lloyd(X, k) as passes:`")
        centers_t = np.ascontiguousarray(centers.T)
        norms = (centers * centers).sum(1)
        partial = _kernel()(self.X, centers_t, norms, labels, self.sums, self.counts, self.chunk)
        # added in a fixed order: the same sums whatever the threads' schedule
        return self.sums.sum(0, dtype=np.float64), self.counts.sum(0), float(partial)
