"""k-nearest-neighbours classification, exact, by brute force in torch.

Source: Bonnin, ch. 2 ("k-nearest neighbors" on make-circles data).

How it is fast and still exact: for each chunk of queries one float32 matrix product ranks every
training point by ``|t|^2 - 2 q.t`` (the query's own norm does not change the order), ``topk``
keeps the ``n_neighbors + 8`` best candidates, and those are re-ranked by their exact distance
``sum((q - t)^2)`` in the training data's own precision, ties going to the lower training index.
scikit-learn's brute force computes every distance in float64, which costs twice the arithmetic
on a CPU. Queries are converted and processed a chunk at a time, so memory is bounded by
``working_memory`` (MiB) plus the queries themselves, whatever their number.
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

EXTRA_CANDIDATES = 8  # re-ranked exactly beyond n_neighbors: covers float32 rounding in the first pass


class KNeighborsClassifier(ClassifierMixin, TorchEstimatorMixin, BaseEstimator):
    """Vote of the ``n_neighbors`` nearest training points (Euclidean).

    weights: ``uniform`` (one vote each) or ``distance`` (votes weighted by 1/distance; a query at
    distance 0 from training points takes only their votes, as scikit-learn).
    """

    def __init__(self, n_neighbors: int = 5, *, weights: str = "uniform", device: str = "cpu",
                 working_memory: float = 512):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.device = device
        self.working_memory = working_memory

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=FLOATS)
        check_classification_targets(y)
        check_positive_int("n_neighbors", self.n_neighbors)
        check_choice("weights", self.weights, ("uniform", "distance"))
        self.classes_, encoded = np.unique(y, return_inverse=True)
        self.n_samples_fit_ = len(X)
        device = self._torch_device()
        self._fit_X = as_tensor(X, device)  # exact re-ranking, in the data's precision
        self._fit_X32 = self._fit_X if X.dtype == np.float32 else self._fit_X.float()
        self._fit_norms = (self._fit_X32 * self._fit_X32).sum(1)
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
        train, train32, norms = self._fit_X, self._fit_X32, self._fit_norms
        n_train = len(train)
        wanted = k + exclude_self
        candidates = min(n_train, wanted + EXTRA_CANDIDATES)
        row_bytes = max(n_train * 4 * 2, candidates * train.shape[1] * train.element_size() * 2)
        chunk = rows_per_chunk(row_bytes, self.working_memory)
        all_distances, all_indices = [], []
        for start in range(0, len(queries), chunk):
            block = as_tensor(queries[start:start + chunk], train.device, train.dtype)
            block32 = block if block.dtype == torch.float32 else block.float()
            ranking = torch.addmm(norms, block32, train32.T, alpha=-2)  # (chunk, n_train)
            nearest = ranking.topk(candidates, dim=1, largest=False, sorted=False).indices
            del ranking
            nearest = nearest.sort(dim=1).values  # lower index first among equal distances
            exact = (train[nearest] - block[:, None, :]).pow_(2).sum(2)  # (chunk, candidates)
            if exclude_self:  # a point is not its own neighbour
                own = torch.arange(start, start + len(block), device=train.device)[:, None]
                exact = exact.masked_fill(nearest == own, float("inf"))
            order = exact.argsort(dim=1, stable=True)[:, :k]
            all_distances.append(exact.gather(1, order))
            all_indices.append(nearest.gather(1, order))
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
