"""k-nearest-neighbours classification, exact, by brute force in torch.

Source: Bonnin, ch. 2 ("k-nearest neighbors" on make-circles data).

How it is fast and still exact: the data are centred on the training mean (distances do not change;
the norms, and with them the rounding errors, shrink), then for each chunk of queries one fast matrix
product ranks every training point: in bfloat16 where the CPU multiplies it natively (AVX512-BF16,
AMX) or on a GPU, in float32 otherwise (``ranking``). The product of ``[q, 1]`` and ``[t, -|t|^2/2]``
is the score ``q.t - |t|^2/2``, larger for nearer points (the query's own norm does not change the
order), and has a proven error bound, ``e (|q| |t| + |t|^2/2)``, e three times the format's unit
roundoff plus the float32 accumulation's ``(d + 1) u / (1 - (d + 1) u)``. Every training point whose
score plus its bound reaches the k-th largest score minus its bound can still be among the k nearest
(a first cut with one bound per query, a second with each point's own), and each of them, however
many, is re-ranked by its exact distance ``sum((q - t)^2)`` in the data's own precision, ties going to
the lower training index. The result is the exact brute force's; scikit-learn's brute force computes
every distance in float64, twice the arithmetic of float32 and many times that of bfloat16 on such a
CPU. Queries are converted and processed a chunk at a time, so memory is bounded by
``working_memory`` (MiB) plus the queries.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from mlprojects.estimators._base import (
    FLOATS,
    TorchEstimatorMixin,
    as_tensor,
    check_choice,
    check_positive_int,
    rows_per_chunk,
)

RANKINGS = ("auto", "float32", "bfloat16")
UNIT_ROUNDOFF = {torch.float32: 2.0 ** -24, torch.bfloat16: 2.0 ** -8}


def ranking_dtype(ranking: str, device: torch.device) -> torch.dtype:
    """bfloat16 where the hardware multiplies it natively (auto), else float32."""
    if ranking == "auto":
        from mlprojects.engine.device import bf16_is_fast

        return torch.bfloat16 if bf16_is_fast(device) else torch.float32
    return torch.bfloat16 if ranking == "bfloat16" else torch.float32


def exact_distances(train: torch.Tensor, block: torch.Tensor, rows: torch.Tensor, candidates: torch.Tensor,
                    pairs: int = 4096) -> torch.Tensor:
    """sum((q - t)^2) for each (query row, training candidate) pair, PAIRS at a time (memory stays small)."""
    out = torch.empty(len(rows), dtype=train.dtype, device=train.device)
    for start in range(0, len(rows), pairs):
        stop = start + pairs
        out[start:stop] = (train[candidates[start:stop]] - block[rows[start:stop]]).pow_(2).sum(1)
    return out


def by_query(rows: torch.Tensor, values: torch.Tensor, queries: int, fill: float) -> torch.Tensor:
    """VALUES, one per (query row, candidate) in row order, as a (queries, most candidates) matrix padded with
    FILL after each row's own, which keep their order."""
    counts = torch.bincount(rows, minlength=queries)
    position = torch.arange(len(rows), device=rows.device) - (torch.cumsum(counts, 0) - counts)[rows]
    dense = torch.full((queries, int(counts.max()) if len(rows) else 1), fill, dtype=values.dtype,
                       device=values.device)
    dense[rows, position] = values
    return dense


def _k_smallest(rows: torch.Tensor, candidates: torch.Tensor, exact: torch.Tensor, queries: int, k: int):
    """Per query, the K smallest exact distances among its candidates, ties to the lower training index:
    (distances (queries, k), indices (queries, k)). Candidates come in row order, by training index, and a
    stable sort keeps that order among equal distances."""
    distances = by_query(rows, exact, queries, float("inf"))
    indices = by_query(rows, candidates, queries, -1)
    order = torch.sort(distances, dim=1, stable=True).indices[:, :k]
    return distances.gather(1, order), indices.gather(1, order)


class KNeighborsClassifier(ClassifierMixin, TorchEstimatorMixin, BaseEstimator):
    """Vote of the ``n_neighbors`` nearest training points (Euclidean).

    weights: ``uniform`` (one vote each) or ``distance`` (votes weighted by 1/distance; a query at
    distance 0 from training points takes only their votes, as scikit-learn).
    """

    def __init__(self, n_neighbors: int = 5, *, weights: str = "uniform", device: str = "cpu",
                 working_memory: float = 512, ranking: str = "auto"):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.device = device
        self.working_memory = working_memory
        self.ranking = ranking

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=FLOATS)
        check_classification_targets(y)
        check_positive_int("n_neighbors", self.n_neighbors)
        check_choice("weights", self.weights, ("uniform", "distance"))
        check_choice("ranking", self.ranking, RANKINGS)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        self.n_samples_fit_ = len(X)
        device = self._torch_device()
        self._fit_X = as_tensor(X, device)  # exact re-ranking, in the data's precision
        n, d = self._fit_X.shape
        self._center = (self._fit_X.sum(0, dtype=torch.float64) / n).float()
        centred = self._fit_X.float() - self._center  # float32: its rounding is in the bound (see _search)
        self.ranking_ = str(ranking_dtype(self.ranking, device)).removeprefix("torch.")  # float32 or bfloat16
        squares = torch.einsum("ij,ij->i", centred, centred)  # float32: its rounding is in the bound too
        # [t, -|t|^2 / 2]: one product with [q, 1] gives q.t - |t|^2 / 2, larger for nearer points
        # (|q - t|^2 = |q|^2 - 2 (q.t - |t|^2 / 2)), so ranking needs no pass but the product itself
        self._fit_rank = torch.empty((n, d + 1), dtype=getattr(torch, self.ranking_), device=device)
        self._fit_rank[:, :d] = centred
        self._fit_rank[:, d] = squares * -0.5
        self._fit_norm = squares.double().sqrt()
        self._fit_y = as_tensor(encoded.astype(np.int64), device)
        return self

    def kneighbors(self, X=None, n_neighbors: int | None = None, return_distance: bool = True):
        """Distances and indices of the nearest training points. ``X=None``: the training points
        themselves, each one not counted as its own neighbour."""
        check_is_fitted(self)
        k = check_positive_int("n_neighbors", self.n_neighbors if n_neighbors is None else n_neighbors)
        exclude_self = X is None
        if exclude_self:
            queries = self._fit_X.cpu().numpy()
        else:
            queries = validate_data(self, X, dtype="numeric", reset=False, copy=False)
        available = self.n_samples_fit_ - exclude_self
        if k > available:
            raise ValueError(f"n_neighbors={k} is more than the {available} training samples available: "
                             f"use n_neighbors <= {available}")
        distances, indices = self._search(queries, k, exclude_self)
        indices = indices.cpu().numpy()
        return (distances.sqrt().cpu().numpy(), indices) if return_distance else indices

    def _search(self, queries: np.ndarray, k: int, exclude_self: bool):
        train, n_train, d = self._fit_X, len(self._fit_X), self._fit_X.shape[1]
        rank_dtype = getattr(torch, self.ranking_)
        u = UNIT_ROUNDOFF[rank_dtype]
        accumulation = (d + 1) * 2.0 ** -24 / (1 - (d + 1) * 2.0 ** -24)  # float32 sums of d + 1 products
        # the score q.t - |t|^2/2 from the fast product is off by at most e (|q| |t| + |t|^2/2): the inputs'
        # rounding to the ranking format (2u + u^2), the float32 accumulation, the result's rounding (u)
        # and the float32 centring of t and q (2 u32, each), and the float32 sums of |t|^2 (two more
        # accumulations: the |t|^2 in the score, and the one in the norms the bound itself uses)
        e = (3 * u + u * u + 3 * accumulation + 4 * 2.0 ** -24) * (1 + 1e-6)
        t_norm = self._fit_norm
        t_max = float(t_norm.max())
        chunk = rows_per_chunk(n_train * 2 * 3, self.working_memory)
        all_distances, all_indices = [], []
        for start in range(0, len(queries), chunk):
            block = as_tensor(queries[start:start + chunk], train.device, train.dtype)
            centred = block.float() - self._center
            q_norm = torch.einsum("ij,ij->i", centred, centred).double().sqrt()
            scores = torch.cat([centred, torch.ones(len(block), 1, dtype=centred.dtype, device=centred.device)],
                               1).to(rank_dtype) @ self._fit_rank.T
            if exclude_self:  # a point is not its own neighbour
                own = torch.arange(start, start + len(block), device=train.device)
                scores[torch.arange(len(block)), own] = float("-inf")
            # first cut, one bound per query (with the largest |t|): a point can be among the k nearest only if
            # its score is within twice the bound of the k-th largest score
            kth = scores.topk(k, dim=1).values[:, -1].double()
            threshold = kth - 2 * e * (q_norm * t_max + t_max ** 2 / 2)
            threshold = (threshold - threshold.abs() * 2 * u - 1e-30).to(rank_dtype)  # rounded down, not up
            rows, candidates = torch.nonzero(scores >= threshold[:, None], as_tuple=True)
            values = scores[rows, candidates].double()
            del scores
            # second cut, each candidate's own bound (with its |t|): the same test, tighter
            bound = e * (q_norm[rows] * t_norm[candidates] + t_norm[candidates] ** 2 / 2)
            kth_lower = by_query(rows, values - bound, len(block), float("-inf")).topk(k, dim=1).values[:, -1]
            keep = values + bound >= kth_lower[rows]
            rows, candidates = rows[keep], candidates[keep]
            exact = exact_distances(train, block, rows, candidates)  # in the data's precision
            if exclude_self:
                exact[candidates == rows + start] = float("inf")
            distances, indices = _k_smallest(rows, candidates, exact, len(block), k)
            all_distances.append(distances)
            all_indices.append(indices)
        return torch.cat(all_distances), torch.cat(all_indices)

    def _votes(self, X) -> torch.Tensor:
        check_is_fitted(self)
        distances, indices = self.kneighbors(X)
        device = self._fit_y.device
        indices = torch.as_tensor(indices, device=device)
        if self.weights == "uniform":
            weights = torch.ones(indices.shape, dtype=torch.float64, device=device)
        else:
            distances = torch.as_tensor(distances, device=device, dtype=torch.float64)
            with np.errstate(divide="ignore"):
                weights = 1.0 / distances
            exact_hit = torch.isinf(weights)
            rows = exact_hit.any(1)
            weights[rows] = exact_hit[rows].to(weights.dtype)
        votes = torch.zeros(len(indices), len(self.classes_), dtype=torch.float64, device=device)
        return votes.scatter_add_(1, self._fit_y[indices], weights)

    def predict(self, X):
        check_is_fitted(self)
        # argmax takes the first of equal vote counts: the smallest class, as scikit-learn
        return self.classes_[self._votes(X).argmax(1).cpu().numpy()]

    def predict_proba(self, X):
        votes = self._votes(X)
        return (votes / votes.sum(1, keepdim=True)).cpu().numpy()
