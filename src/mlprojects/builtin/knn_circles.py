"""knn-circles: k-nearest-neighbour classification of two noisy rings (Bonnin, ch. 2).

The book: make_circles, 210 points, noise 0.12, factor 0.4, the first 70% for training and the
rest for testing, each test point labelled by its single nearest training point (``tf.arg_min``
over the distances, so k = 1). The book prints the predicted labels but never scores them; here the
test accuracy is measured and the decision regions plotted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlprojects import plots
from mlprojects.builtin.rings import RingsConfig
from mlprojects.config import setting
from mlprojects.data import synthetic
from mlprojects.data.preparation import TablePrep, test_frame
from mlprojects.project import EstimatorProject, Table


@dataclass
class KnnCirclesConfig(RingsConfig):
    n_samples: int = setting(210, "points to generate")
    noise: float = setting(0.12, "standard deviation of the noise added to the rings")
    test_fraction: float = setting(0.3, "the last part of the shuffled points, held out for testing", gt=0, lt=1)
    n_neighbors: int = setting(1, "neighbours that vote (the book: 1)", gt=0)
    weights: Literal["uniform", "distance"] = setting("uniform", "uniform votes, or weighted by 1/distance")


class KnnCircles(EstimatorProject):
    config_class = KnnCirclesConfig
    smoke_settings = {"n_samples": 60}

    def prepare(self, cfg: KnnCirclesConfig) -> Table:
        X, y = synthetic.circles(cfg.n_samples, cfg.noise, cfg.factor, cfg.seed)
        cut = int(cfg.n_samples * (1 - cfg.test_fraction))  # the book's split: already shuffled
        prep = TablePrep(["x1", "x2"], "ring", "classification")
        return Table(X[:cut], y[:cut], X[cut:], y[cut:], preparation=prep, raw_test=test_frame(prep, X[cut:], y[cut:]))

    def build_estimator(self, cfg: KnnCirclesConfig, device: str):
        from mlprojects.estimators import KNeighborsClassifier

        return KNeighborsClassifier(cfg.n_neighbors, weights=cfg.weights, device=device)

    def evaluate(self, cfg, estimator, data: Table) -> dict[str, Any]:
        return {"accuracy": float(estimator.score(data.X_test, data.y_test)), "samples": int(len(data.y_test))}

    def report(self, run_dir: Path, cfg: KnnCirclesConfig, estimator, data: Table) -> dict[str, Any]:
        accuracy = estimator.score(data.X_test, data.y_test)
        plots.decision_regions(estimator.predict, data.X_train, data.y_train,
                               run_dir / "plots" / "decision_regions.png",
                               f"{cfg.n_neighbors}-NN on two rings: test accuracy {accuracy:.3f}",
                               test_points=data.X_test, test_labels=data.y_test)
        return {"train_samples": int(len(data.y_train))}


PROJECT = KnnCircles()
