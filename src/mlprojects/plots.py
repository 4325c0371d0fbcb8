"""Matplotlib figures for run reports, written atomically as PNG files (Agg backend, no display)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from mlprojects.engine.io import atomic_write


def _figure(*args, **kwargs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, plt.figure(*args, **kwargs)


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


def learning_curves(history: Sequence[dict], path: Path, metrics: Sequence[str] = ("loss", "accuracy")) -> Path:
    plt, fig = _figure(figsize=(5 * len(metrics), 3.6))
    epochs = [row["epoch"] for row in history]
    for i, name in enumerate(metrics, start=1):
        ax = fig.add_subplot(1, len(metrics), i)
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = [row.get(prefix + name) for row in history]
            if any(v is not None for v in values):
                ax.plot(epochs, values, marker="o", ms=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(plt, fig, path)


def confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], path: Path, title: str = "") -> Path:
    size = max(4.5, 0.5 * len(class_names) + 2)
    plt, fig = _figure(figsize=(size, size))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(matrix, cmap="Blues")
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), value in np.ndenumerate(matrix):
        ax.text(col, row, str(value), ha="center", va="center", fontsize=7,
                color="white" if value > threshold else "black")
    return _save(plt, fig, path)


def image_grid(images: np.ndarray, titles: Sequence[str], path: Path, columns: int = 8) -> Path:
    rows = max(1, int(np.ceil(len(images) / columns)))
    plt, fig = _figure(figsize=(1.3 * columns, 1.5 * rows))
    for i, (image, title) in enumerate(zip(images, titles)):
        ax = fig.add_subplot(rows, columns, i + 1)
        ax.imshow(image, cmap="gray_r")
        ax.set_title(title, fontsize=7)
        ax.axis("off")
    if not len(images):
        fig.text(0.5, 0.5, "no misclassified examples", ha="center")
    return _save(plt, fig, path)


def confusion_counts(predicted: np.ndarray, true: np.ndarray, classes: int) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (true, predicted), 1)
    return matrix
