"""Settings shared by the projects on generated concentric rings (k-means and k-NN, the book's chapter 2)."""

from __future__ import annotations

from dataclasses import dataclass

from mlprojects.config import ProjectConfig, non_negative, positive, setting


@dataclass
class RingsConfig(ProjectConfig):
    """Settings of the projects on generated concentric rings (scikit-learn's make_circles)."""

    n_samples: int = setting(200, "points to generate")
    noise: float = setting(0.01, "standard deviation of the noise added to the rings")
    factor: float = setting(0.4, "inner ring radius / outer ring radius")

    def __post_init__(self) -> None:
        super().__post_init__()
        positive(self, "n_samples")
        non_negative(self, "noise")
        if not 0 < self.factor < 1:
            raise ValueError(f"factor={self.factor}: must be in (0, 1)")
