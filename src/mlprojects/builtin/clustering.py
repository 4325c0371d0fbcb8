"""kmeans-blobs and kmeans-circles: k-means on the book's generated data (Bonnin, ch. 2).

kmeans-blobs: 200 points around (-2,-2), (-2,1.5), (1.5,-2), (2,1.5), std 0.8, seed 42, K=4, started
from the first K points (all of which come from the first blob: the book does not shuffle) and run
until no assignment changes. The book reports, after 8 iterations, centroids of about
(1.65,-2.05), (-2.08,1.61), (-2.09,-2.07), (2.10,1.56). This reproduces the book exactly, because
scikit-learn's ``make_blobs`` still draws the same points for seed 42.

kmeans-circles: make_circles, 200 points, noise 0.01, factor 0.4, K=2. k-means fails: both rings
have their mean at the origin, and k-means can only cut the plane with straight boundaries between
centroids. ``features=radius`` clusters on the distance from the origin instead, and succeeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mlprojects import plots
from mlprojects.builtin.rings import RingsConfig
from mlprojects.config import ProjectConfig, setting
from mlprojects.data import synthetic
from mlprojects.data.preparation import TablePrep, test_frame
from mlprojects.project import EstimatorProject, Table


@dataclass
class KMeansConfig(ProjectConfig):
    k: int = setting(4, "number of clusters", gt=0)
    init: Literal["first", "k-means++"] = setting("first",
                                                  "start: first (the first k points, as the book) or k-means++")
    max_iter: int = setting(100, "the most iterations", gt=0)
    tol: float = setting(0.0, "stop when the centres move less than this (x mean feature variance); "
                              "0: when no label changes", ge=0)


@dataclass
class BlobsConfig(KMeansConfig):
    n_samples: int = setting(200, "points to generate", gt=0)
    std: float = setting(0.8, "standard deviation of each blob", gt=0)


@dataclass
class CirclesConfig(RingsConfig, KMeansConfig):
    k: int = setting(2, "number of clusters")
    features: Literal["xy", "radius"] = setting("xy", "cluster on the (x, y) coordinates (the book) or on the radius")


class _KMeansProject(EstimatorProject):
    def build_estimator(self, cfg: KMeansConfig, device: str):
        from mlprojects.estimators import KMeans

        return KMeans(cfg.k, init=cfg.init, max_iter=cfg.max_iter, tol=cfg.tol, random_state=cfg.seed, device=device)

    def fit(self, cfg: KMeansConfig, estimator, data: Table):
        return estimator.fit(self.features(cfg, data.X_train))

    def evaluate(self, cfg, estimator, data: Table) -> dict[str, Any]:
        from sklearn.metrics import adjusted_rand_score

        predicted = estimator.predict(self.features(cfg, data.X_test))
        return {"adjusted_rand_index": float(adjusted_rand_score(data.y_test, predicted)),
                "inertia": -float(estimator.score(self.features(cfg, data.X_test)))}

    def fitted_figures(self, cfg, estimator, data: Table) -> dict[str, Any]:
        from sklearn.metrics import adjusted_rand_score

        return {"iterations": estimator.n_iter_, "inertia": estimator.inertia_,
                "centroids": np.round(estimator.cluster_centers_, 4).tolist(),
                "train_adjusted_rand_index": float(adjusted_rand_score(data.y_train, estimator.labels_))}


class KMeansBlobs(_KMeansProject):
    config_class = BlobsConfig
    smoke_settings = {"n_samples": 60}

    def prepare(self, cfg: BlobsConfig) -> Table:
        X, y = synthetic.blobs(cfg.n_samples, cfg.std, cfg.seed)
        X_test, y_test = synthetic.blobs(cfg.n_samples, cfg.std, cfg.seed + 1)  # fresh points, same blobs
        prep = TablePrep(["x1", "x2"], "blob", "clustering")
        return Table(X, y, X_test, y_test, preparation=prep, raw_test=test_frame(prep, X_test, y_test))

    def build_estimator(self, cfg: BlobsConfig, device: str):
        from mlprojects.estimators import KMeans

        # an explicit start, so the report can replay the run one iteration at a time
        return KMeans(cfg.k, init=self.start(cfg), max_iter=cfg.max_iter, tol=cfg.tol, device=device)

    def start(self, cfg: BlobsConfig) -> np.ndarray:
        import torch

        from mlprojects.estimators.kmeans import kmeans_plusplus

        X = self.prepare(cfg).X_train
        if cfg.init == "first":
            return X[:cfg.k].copy()
        return kmeans_plusplus(torch.from_numpy(X), cfg.k, np.random.RandomState(cfg.seed)).numpy()

    def report(self, run_dir: Path, cfg: BlobsConfig, estimator, data: Table) -> dict[str, Any]:
        from mlprojects.estimators import KMeans

        # the centroids after 0, 1, 2 ... iterations: the same run stopped early (it is deterministic)
        path = [estimator.init] + [KMeans(cfg.k, init=estimator.init, max_iter=i, tol=cfg.tol).fit(data.X_train)
                                   .cluster_centers_ for i in range(1, estimator.n_iter_ + 1)]
        plots.clusters_with_paths(data.X_train, estimator.labels_, np.stack(path), run_dir / "plots" / "clusters.png",
                                  f"k-means, K={cfg.k}, start {cfg.init}: {estimator.n_iter_} iterations, "
                                  f"inertia {estimator.inertia_:.1f}")
        return self.fitted_figures(cfg, estimator, data)


class KMeansCircles(_KMeansProject):
    config_class = CirclesConfig
    smoke_settings = {"n_samples": 60}

    def prepare(self, cfg: CirclesConfig) -> Table:
        X, y = synthetic.circles(cfg.n_samples, cfg.noise, cfg.factor, cfg.seed)
        X_test, y_test = synthetic.circles(cfg.n_samples, cfg.noise, cfg.factor, cfg.seed + 1)
        prep = TablePrep(["x1", "x2"], "ring", "clustering")
        return Table(X, y, X_test, y_test, preparation=prep, raw_test=test_frame(prep, X_test, y_test))

    def features(self, cfg: CirclesConfig, points):
        """The points, or their radius (an array, or a tensor inside an exported model)."""
        if cfg.features != "radius":
            return points
        if isinstance(points, np.ndarray):
            return np.linalg.norm(points, axis=1, keepdims=True)
        return points.norm(dim=1, keepdim=True)

    def report(self, run_dir: Path, cfg: CirclesConfig, estimator, data: Table) -> dict[str, Any]:
        ring_means = np.stack([data.X_train[data.y_train == ring].mean(0) for ring in (0, 1)])
        marks = {"mean of each true ring": ring_means}
        if cfg.features == "xy":
            marks["k-means centroids"] = estimator.cluster_centers_
        figures = self.fitted_figures(cfg, estimator, data)
        plots.decision_regions(lambda points: estimator.predict(self.features(cfg, points)), data.X_train,
                               data.y_train, run_dir / "plots" / "clusters.png",
                               f"k-means on {cfg.features}: adjusted Rand index "
                               f"{figures['train_adjusted_rand_index']:.2f} (1 = the rings)", marks=marks)
        figures["ring_means"] = np.round(ring_means, 4).tolist()
        return figures


KMEANS_BLOBS = KMeansBlobs()
KMEANS_CIRCLES = KMeansCircles()
