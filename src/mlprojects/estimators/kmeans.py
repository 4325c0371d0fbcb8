"""k-means (Lloyd's algorithm) in torch, step for step the algorithm of scikit-learn's ``KMeans``.

Source: Bonnin, ch. 2 ("k-means"). The same ``random_state`` gives the same k-means++ seeds as
scikit-learn (its random draws are made in the same order from a numpy ``RandomState``), the same
stopping rule (labels unchanged, or a total centre shift within ``tol`` times the mean feature
variance) and the same rule for an empty cluster (it takes the point farthest from its centre).

Speed: distances are ``|c|^2 - 2 x.c`` by one matrix product per chunk of rows (``|x|^2`` does not
change the argmin); the new centres are an ``index_add_`` of the rows into their cluster. Chunks
keep memory bounded by ``working_memory`` (MiB). On the CPU, for large enough data, each iteration
is instead one fused pass (``_fused``: distances, nearest centre and sums for a chunk while it is in
cache, chunks in parallel), as scikit-learn's own Lloyd step does.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from mlprojects.estimators import _fused
from mlprojects.estimators._base import (
    FLOATS,
    TorchEstimatorMixin,
    as_tensor,
    check_choice,
    check_positive_int,
    rows_per_chunk,
)

INITS = ("k-means++", "random", "first")


class KMeans(ClusterMixin, TransformerMixin, TorchEstimatorMixin, BaseEstimator):
    """k-means clustering.

    init: ``k-means++`` (greedy k-means++, as scikit-learn), ``random`` (k distinct samples),
    ``first`` (the first k samples: the book's start) or an array of shape (n_clusters, n_features).
    n_init: runs from different starts, the lowest inertia wins; ``auto`` is 10 for ``random``, else 1.
    """

    def __init__(self, n_clusters: int = 8, *, init="k-means++", n_init="auto", max_iter: int = 300,
                 tol: float = 1e-4, random_state=None, device: str = "cpu", working_memory: float = 64):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.device = device
        self.working_memory = working_memory

    # --- fitting -----------------------------------------------------------------------------------

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=FLOATS, copy=False)
        n_clusters = check_positive_int("n_clusters", self.n_clusters)
        max_iter = check_positive_int("max_iter", self.max_iter)
        if len(X) < n_clusters:
            raise ValueError(f"n_samples={len(X)} should be >= n_clusters={n_clusters}: "
                             "ask for fewer clusters or give more samples")
        if not isinstance(self.tol, (int, float)) or self.tol < 0:
            raise ValueError(f"tol={self.tol!r}: expected a number >= 0")
        init, n_init = self._init_and_runs(X)
        device = self._torch_device()
        rng = check_random_state(self.random_state)
        points = as_tensor(X, device)
        chunk = rows_per_chunk(max(n_clusters, X.shape[1]) * X.itemsize * 2, self.working_memory)
        tolerance = float(np.mean(np.var(X, axis=0))) * self.tol if self.tol else 0.0  # scikit-learn's, scale-free

        best = None
        for _ in range(n_init):
            centers = self._initial_centers(points, init, n_clusters, rng)
            labels, inertia, centers, n_iter = lloyd(points, centers, max_iter, tolerance, chunk)
            if best is None or (inertia < best[1] and not same_clustering(labels, best[0], n_clusters)):
                best = (labels, inertia, centers, n_iter)
        labels, inertia, centers, n_iter = best
        found = int(torch.unique(labels).numel())
        if found < n_clusters:
            warnings.warn(f"found {found} distinct clusters, fewer than n_clusters={n_clusters}: "
                          "the data may hold duplicate points", ConvergenceWarning, stacklevel=2)
        self.cluster_centers_ = centers.cpu().numpy()
        self.labels_ = labels.to(torch.int32).cpu().numpy()
        self.inertia_ = float(inertia)
        self.n_iter_ = int(n_iter)
        return self

    def _init_and_runs(self, X: np.ndarray):
        init = self.init
        if isinstance(init, str):
            check_choice("init", init, INITS)
        else:
            init = np.asarray(init, dtype=X.dtype)
            if init.shape != (self.n_clusters, X.shape[1]):
                raise ValueError(f"init has shape {init.shape}; expected (n_clusters, n_features) = "
                                 f"({self.n_clusters}, {X.shape[1]})")
            if not np.isfinite(init).all():
                raise ValueError("init contains NaN or infinity")
        deterministic = not isinstance(init, str) or init == "first"
        if self.n_init == "auto":
            return init, 10 if isinstance(init, str) and init == "random" else 1
        n_init = check_positive_int("n_init", self.n_init)
        if deterministic and n_init != 1:
            warnings.warn(f"init={'first' if isinstance(init, str) else 'array'} gives the same start every "
                          f"time: running once instead of n_init={n_init}", RuntimeWarning, stacklevel=3)
            n_init = 1
        return init, n_init

    def _initial_centers(self, points: torch.Tensor, init, n_clusters: int, rng: np.random.RandomState):
        n = len(points)
        if not isinstance(init, str):
            return as_tensor(init, points.device, points.dtype)
        if init == "first":
            return points[:n_clusters].clone()
        if init == "random":
            chosen = rng.choice(n, size=n_clusters, replace=False, p=np.full(n, 1.0 / n))
            return points[torch.as_tensor(chosen, device=points.device)].clone()
        return kmeans_plusplus(points, n_clusters, rng)

    # --- using a fitted model ------------------------------------------------------------------------

    def _centers_and_points(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=FLOATS, reset=False, copy=False)
        device = self._torch_device()
        centers = as_tensor(self.cluster_centers_, device)
        return centers, as_tensor(X, device, centers.dtype)

    def predict(self, X):
        centers, points = self._centers_and_points(X)
        chunk = rows_per_chunk(max(len(centers), points.shape[1]) * points.element_size() * 2, self.working_memory)
        return assign(points, centers, chunk).to(torch.int32).cpu().numpy()

    def transform(self, X):
        """Euclidean distance from every sample to every centre, shape (n_samples, n_clusters)."""
        centers, points = self._centers_and_points(X)
        return torch.cdist(points, centers).cpu().numpy()

    def score(self, X, y=None):
        """Minus the inertia of X under the fitted centres (higher is better, as scikit-learn)."""
        centers, points = self._centers_and_points(X)
        chunk = rows_per_chunk(max(len(centers), points.shape[1]) * points.element_size() * 2, self.working_memory)
        return -float(inertia(points, centers, assign(points, centers, chunk), chunk))


# --- the algorithm, on tensors --------------------------------------------------------------------

def assign(points: torch.Tensor, centers: torch.Tensor, chunk: int) -> torch.Tensor:
    """Index of the nearest centre for every point (ties: the lowest index)."""
    center_norms = (centers * centers).sum(1)
    labels = torch.empty(len(points), dtype=torch.long, device=points.device)
    for start in range(0, len(points), chunk):
        # |x - c|^2 - |x|^2 = |c|^2 - 2 x.c  (batch, k)
        partial = torch.addmm(center_norms, points[start:start + chunk], centers.T, alpha=-2)
        labels[start:start + chunk] = partial.min(1).indices  # faster than argmin(1) on CPU; same first-index ties
    return labels


def squared_distances_to_own_center(points, centers, labels, chunk: int) -> torch.Tensor:
    return torch.cat([(points[s:s + chunk] - centers[labels[s:s + chunk]]).pow(2).sum(1)
                      for s in range(0, len(points), chunk)])


def inertia(points, centers, labels, chunk: int) -> torch.Tensor:
    return squared_distances_to_own_center(points, centers, labels, chunk).sum()


def update(points, labels, old_centers, chunk: int) -> torch.Tensor:
    """Cluster means; an empty cluster takes the point farthest from its centre (scikit-learn's rule)."""
    k = len(old_centers)
    sums = torch.zeros_like(old_centers).index_add_(0, labels, points)
    counts = torch.bincount(labels, minlength=k).to(points.dtype)
    empty = torch.nonzero(counts == 0).flatten()
    if len(empty):
        distances = squared_distances_to_own_center(points, old_centers, labels, chunk)
        farthest = distances.topk(len(empty)).indices
        for new_id, index in zip(empty.tolist(), farthest.tolist()):
            old_id = int(labels[index])
            sums[old_id] -= points[index]
            counts[old_id] -= 1
            sums[new_id] = points[index]
            counts[new_id] = 1
    return sums / torch.where(counts > 0, counts, torch.ones_like(counts))[:, None]


def lloyd(points: torch.Tensor, centers: torch.Tensor, max_iter: int, tolerance: float, chunk: int):
    """One k-means run: (labels, inertia, centres, iterations)."""
    if points.device.type == "cpu" and _fused.worth_it(len(points), len(centers), points.shape[1]):
        return lloyd_fused(points, centers, max_iter, tolerance, chunk)
    previous = None
    strict = False
    for iteration in range(max_iter):  # noqa: B007  (the count is returned after the loop)
        labels = assign(points, centers, chunk)
        new_centers = update(points, labels, centers, chunk)
        shift = float((new_centers - centers).pow(2).sum())
        centers = new_centers
        if previous is not None and torch.equal(labels, previous):
            strict = True
            break
        if shift <= tolerance:
            break
        previous = labels
    if not strict:  # the labels must belong to the final centres
        labels = assign(points, centers, chunk)
    return labels, float(inertia(points, centers, labels, chunk)), centers, iteration + 1


def lloyd_fused(points: torch.Tensor, centers: torch.Tensor, max_iter: int, tolerance: float, chunk: int):
    """:func:`lloyd` with each iteration one fused pass over the data (``_fused``): the same steps, the same
    stopping rule, the same rule for an empty cluster. The inertia comes from the passes' own sums."""
    with _fused.Lloyd(points.numpy(), len(centers)) as passes:
        return _lloyd_fused(passes, points, centers, max_iter, tolerance, chunk)


def _lloyd_fused(passes, points, centers, max_iter: int, tolerance: float, chunk: int):
    X = passes.X
    current = np.ascontiguousarray(centers.numpy())
    labels, previous = np.empty(len(X), np.int64), np.full(len(X), -1, np.int64)
    squares = float(np.einsum("ij,ij->", X, X, dtype=np.float64))  # sum of |x|^2
    strict = False
    for iteration in range(max_iter):  # noqa: B007  (the count is returned after the loop)
        sums, counts, _ = passes(current, labels)
        if (counts == 0).any():  # rare: the torch step applies the empty-cluster rule
            new = update(points, torch.from_numpy(labels), torch.from_numpy(current), chunk).numpy()
        else:
            new = (sums / counts[:, None]).astype(X.dtype)
        shift = float(((new.astype(np.float64) - current) ** 2).sum())
        current = new
        if iteration and np.array_equal(labels, previous):
            strict = True
            break
        if shift <= tolerance:
            break
        labels, previous = previous, labels  # the next pass writes into the older buffer
    if strict:  # the labels' own means: sum |x - c|^2 = sum |x|^2 - 2 sum_j c_j.S_j + sum_j n_j |c_j|^2
        final = current.astype(np.float64)
        total = squares - 2 * float((final * sums).sum()) + float((counts * (final * final).sum(1)).sum())
    else:  # the labels must belong to the final centres: a last pass assigns them
        _, _, partial = passes(current, labels)
        total = squares + partial
    return torch.from_numpy(labels), max(total, 0.0), torch.from_numpy(current), iteration + 1


def kmeans_plusplus(points: torch.Tensor, n_clusters: int, rng: np.random.RandomState) -> torch.Tensor:
    """Greedy k-means++ (Arthur & Vassilvitskii; scikit-learn's variant with 2 + log k trials per centre)."""
    n = len(points)
    trials = 2 + int(np.log(n_clusters))
    norms = (points * points).sum(1)

    def squared_distances(rows: torch.Tensor) -> torch.Tensor:  # (len(rows), n)
        return (norms[rows][:, None] + norms[None, :] - 2 * points[rows] @ points.T).clamp_(min=0)

    first = int(rng.choice(n, p=np.full(n, 1.0 / n)))
    chosen = [first]
    closest = squared_distances(torch.tensor([first], device=points.device))[0]
    potential = float(closest.sum())
    for _ in range(1, n_clusters):
        thresholds = rng.uniform(size=trials) * potential
        cumulative = torch.cumsum(closest.double(), 0)
        candidates = torch.searchsorted(cumulative, torch.as_tensor(thresholds, device=points.device))
        candidates = candidates.clamp_(max=n - 1)
        distances = torch.minimum(closest, squared_distances(candidates))
        potentials = distances.sum(1)
        best = int(potentials.argmin())
        potential, closest = float(potentials[best]), distances[best]
        chosen.append(int(candidates[best]))
    return points[torch.tensor(chosen, device=points.device)].clone()


def same_clustering(first: torch.Tensor, second: torch.Tensor, n_clusters: int) -> bool:
    """Whether two labelings are the same partition under a renaming of clusters."""
    mapping = torch.full((n_clusters,), -1, dtype=first.dtype, device=first.device)
    mapping[first] = second
    return bool(torch.equal(mapping[first], second))
