"""Settings shared by the projects on generated concentric rings (k-means and k-NN, the book's chapter 2)."""

from __future__ import annotations

from dataclasses import dataclass

from mlprojects.config import ProjectConfig, setting


@dataclass
class RingsConfig(ProjectConfig):
    """Settings of the projects on generated concentric rings (scikit-learn's make_circles)."""

    n_samples: int = setting(200, "points to generate", gt=0)
    noise: float = setting(0.01, "standard deviation of the noise added to the rings", ge=0)
    factor: float = setting(0.4, "inner ring radius / outer ring radius", gt=0, lt=1)
