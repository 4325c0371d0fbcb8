"""The book's generated datasets, from scikit-learn's generators with the book's parameters.

Every generator takes a seed; the same seed gives the same points on every machine.
"""

from __future__ import annotations

import numpy as np

# Bonnin, ch. 2: four Gaussian blobs
BLOB_CENTERS = ((-2.0, -2.0), (-2.0, 1.5), (1.5, -2.0), (2.0, 1.5))


def blobs(n_samples: int = 200, std: float = 0.8, seed: int = 42,
          centers=BLOB_CENTERS) -> tuple[np.ndarray, np.ndarray]:
    """(points, blob index); unshuffled, as the book: the first points all come from the first blob."""
    from sklearn.datasets import make_blobs

    return make_blobs(n_samples=n_samples, centers=np.asarray(centers), n_features=2, cluster_std=std,
                      shuffle=False, random_state=seed)


def circles(n_samples: int = 200, noise: float = 0.01, factor: float = 0.4, seed: int = 42):
    """Two concentric rings: (points, 0 for the outer ring and 1 for the inner one), shuffled."""
    from sklearn.datasets import make_circles

    return make_circles(n_samples=n_samples, shuffle=True, noise=noise, factor=factor, random_state=seed)


def noisy_line(n_samples: int = 101, slope: float = 2.0, intercept: float = 0.2, noise: float = 0.4,
               seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """x evenly spaced on [-1, 1]; y = slope x + intercept + N(0, noise^2) (Bonnin, ch. 3)."""
    x = np.linspace(-1.0, 1.0, n_samples)
    y = slope * x + intercept + np.random.default_rng(seed).normal(0.0, noise, n_samples)
    return x[:, None], y
