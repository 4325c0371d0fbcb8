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


def panel(width: float, height: float):
    """(pyplot, a figure of WIDTH x HEIGHT inches, its one Axes)."""
    plt, fig = _figure(figsize=(width, height))
    return plt, fig, fig.add_subplot(1, 1, 1)


def save_figure(plt, fig, path: Path, tight: bool = True, rect: tuple | None = None) -> Path:
    """FIG as PNG at PATH, laid out by ``tight_layout`` (within RECT, a part of the figure) unless not TIGHT."""
    if tight:
        fig.tight_layout(**({} if rect is None else {"rect": rect}))
    # tight_layout leaves a placeholder layout engine in the figure, and for a figure with one, savefig draws it
    # once to nothing before drawing it into the file: without it the file is the same, byte for byte, and a
    # run's confusion matrix and learning curves take 13-17% less CPU to write (EPYC-25, 31 alternated rounds)
    fig.set_layout_engine(None)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


def finish(plt, fig, ax, path: Path, title: str = "", title_size: float | None = None, legend: float | str | None = 8,
            grid: bool = True, **labels) -> Path:
    """ax's title, LABELS (``ax.set``'s: xlabel, ylabel, ...), legend (its font size; None: none) and grid, then
    the figure saved to PATH."""
    ax.set(**labels)
    ax.set_title(title, fontsize=title_size)
    if legend is not None:
        ax.legend(fontsize=legend)
    if grid:
        ax.grid(alpha=0.3)
    return save_figure(plt, fig, path)


def learning_curves(history: Sequence[dict], path: Path, metrics: Sequence[str] = ("loss", "accuracy")) -> Path:
    plt, fig = _figure(figsize=(5 * len(metrics), 3.6))
    epochs = [row["epoch"] for row in history]
    for i, name in enumerate(metrics, start=1):
        ax = fig.add_subplot(1, len(metrics), i)
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = [row.get(prefix + name) for row in history]
            if any(v is not None for v in values):
                ax.plot(epochs, values, marker="o", ms=3, label=label)
        ax.set(xlabel="epoch", ylabel=name)
        ax.grid(alpha=0.3)
        ax.legend()
    return save_figure(plt, fig, path)


def overlaid_curves(runs: Sequence[tuple[str, Sequence[dict]]], metrics: Sequence[str], path: Path) -> Path:
    """Several runs' histories, one line per run (labelled) in one panel per metric (``mlprojects compare``)."""
    plt, fig = _figure(figsize=(5 * len(metrics), 3.6 + 0.18 * len(runs)))
    for i, name in enumerate(metrics, start=1):
        ax = fig.add_subplot(1, len(metrics), i)
        for label, history in runs:
            points = [(row["epoch"], row[name]) for row in history if row.get(name) is not None]
            if points:
                ax.plot(*zip(*points), marker="o", ms=2, label=label)
        ax.set(xlabel="epoch", ylabel=name)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, max(1, len(labels))), fontsize=7)
    return save_figure(plt, fig, path, rect=(0, 0.06 * len(runs) / 4 + 0.04, 1, 1))


LABELLED_CLASSES = 30  # above this, a confusion matrix is drawn at a fixed size without names or counts


def confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], path: Path, title: str = "") -> Path:
    """Counts of (true, predicted) classes; with more than LABELLED_CLASSES classes, the picture keeps its size
    and leaves out the names and the counts (metrics.json has the matrix)."""
    labelled = len(class_names) <= LABELLED_CLASSES
    size = max(4.5, 0.5 * min(len(class_names), LABELLED_CLASSES) + 2)
    plt, fig, ax = panel(size, size)
    ax.imshow(matrix, cmap="Blues")
    if labelled:
        ticks = range(len(class_names))
        ax.set_xticks(ticks, class_names, rotation=45, ha="right")
        ax.set_yticks(ticks, class_names)
        threshold = matrix.max() / 2 if matrix.size else 0
        for (row, col), value in np.ndenumerate(matrix):
            ax.text(col, row, str(value), ha="center", va="center", fontsize=7,
                    color="white" if value > threshold else "black")
    return finish(plt, fig, ax, path, title, legend=None, grid=False, ylabel="true",
                   xlabel="predicted" if labelled else f"predicted (of {len(class_names)} classes, in their order)")


def image_grid(images: np.ndarray, titles: Sequence[str], path: Path, columns: int = 8) -> Path:
    """Pictures (grayscale drawn dark on white, each scaled to its own range as ``imshow`` does; or RGB) in rows of
    COLUMNS, each under its title. Drawn as one picture in one Axes: 32 Axes, one a picture, took 0.8 s to lay out
    and draw, most of a short run's report."""
    rows = max(1, int(np.ceil(len(images) / columns)))
    plt, fig = _figure(figsize=(1.3 * columns, 1.5 * rows))
    if not len(images):
        fig.text(0.5, 0.5, "no misclassified examples", ha="center")
        return save_figure(plt, fig, path)
    tiles = [_rgb(image) for image in images]
    side = max(max(tile.shape[:2]) for tile in tiles)
    width = round(side * 1.3 / 1.1)  # a picture takes 1.1 of its cell's 1.3 inches
    height = round(width * 1.5 / 1.3)
    canvas = np.ones((rows * height, columns * width, 3))
    for index, (tile, title) in enumerate(zip(tiles, titles)):
        row, column = divmod(index, columns)
        top = (row + 1) * height - 1 - side + (side - tile.shape[0]) // 2  # the title above it
        left = column * width + (width - tile.shape[1]) // 2
        canvas[top:top + tile.shape[0], left:left + tile.shape[1]] = tile
        fig.text((column + 0.5) / columns, 1 - (row * height + (height - side - 1) / 2) / (rows * height), title,
                 ha="center", va="center", fontsize=7)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(canvas, aspect="auto")
    ax.axis("off")
    return save_figure(plt, fig, path, tight=False)


def _rgb(image: np.ndarray) -> np.ndarray:
    """A picture as RGB floats in [0, 1]: grayscale (H, W) scaled from its own minimum to maximum, drawn dark on
    white (``imshow``'s gray_r); RGB from 0..255 (whole numbers) or 0..1."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        low, high = float(image.min()), float(image.max())
        scaled = (image.astype(np.float64) - low) / (high - low) if high > low else np.zeros(image.shape)
        return np.repeat((1 - scaled)[:, :, None], 3, axis=2)
    image = image[:, :, :3].astype(np.float64) / (255 if image.dtype.kind in "iu" else 1)
    return np.clip(image, 0, 1)


def confusion_counts(predicted: np.ndarray, true: np.ndarray, classes: int) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (true, predicted), 1)
    return matrix


def _grid(points: np.ndarray, steps: int = 300, margin: float = 0.3):
    low, high = points.min(0) - margin, points.max(0) + margin
    xs, ys = np.meshgrid(np.linspace(low[0], high[0], steps), np.linspace(low[1], high[1], steps))
    return xs, ys, np.column_stack([xs.ravel(), ys.ravel()])


def clusters_with_paths(points: np.ndarray, labels: np.ndarray, path: np.ndarray, out: Path, title: str = "") -> Path:
    """2-D points coloured by cluster, and each centroid's positions over the iterations (path: (iters+1, k, 2))."""
    plt, fig, ax = panel(6, 5.5)
    ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=14, alpha=0.6, vmin=0, vmax=9)
    for k in range(path.shape[1]):
        ax.plot(path[:, k, 0], path[:, k, 1], "-o", color="black", ms=3, lw=1)
        ax.plot(path[-1, k, 0], path[-1, k, 1], "X", color="red", ms=12, mec="black")
    ax.plot([], [], "-o", color="black", ms=3, label="centroid path (o: each iteration)")
    ax.plot([], [], "X", color="red", ms=10, mec="black", ls="", label="final centroid")
    return finish(plt, fig, ax, out, title)


def decision_regions(predict, points: np.ndarray, labels: np.ndarray, out: Path, title: str = "",
                     test_points: np.ndarray | None = None, test_labels: np.ndarray | None = None,
                     marks: dict[str, np.ndarray] | None = None) -> Path:
    """The regions a 2-D classifier (``predict`` on an (n, 2) array) gives each class, with the data over them."""
    plt, fig, ax = panel(6, 5.5)
    xs, ys, grid = _grid(points if test_points is None else np.vstack([points, test_points]))
    ax.contourf(xs, ys, predict(grid).reshape(xs.shape), alpha=0.25, cmap="coolwarm", levels=1)
    ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="coolwarm", s=18, edgecolors="k", lw=0.3, label="train")
    if test_points is not None:
        wrong = predict(test_points) != test_labels
        ax.scatter(test_points[:, 0], test_points[:, 1], c=test_labels, cmap="coolwarm", marker="^", s=40,
                   edgecolors="k", lw=0.5, label="test")
        ax.scatter(test_points[wrong, 0], test_points[wrong, 1], facecolors="none", edgecolors="black", s=160,
                   lw=1.5, label=f"misclassified ({int(wrong.sum())})")
    for (label, where), marker in zip((marks or {}).items(), "XP*D"):
        ax.scatter(where[:, 0], where[:, 1], marker=marker, s=180, edgecolors="black", label=label)
    return finish(plt, fig, ax, out, title, grid=False)


def lines_over_epochs(x: np.ndarray, y: np.ndarray, slopes: np.ndarray, intercepts: np.ndarray, epochs: Sequence[int],
                      reference: tuple[float, float], out: Path, title: str = "") -> Path:
    """Data, the line after some epochs (light to dark), and a reference line (the closed form)."""
    plt, fig, ax = panel(6.5, 5)
    ax.scatter(x, y, s=12, color="gray", label="data")
    line = np.array([x.min(), x.max()])
    cmap = plt.get_cmap("viridis")
    for i, epoch in enumerate(epochs):
        ax.plot(line, slopes[epoch - 1] * line + intercepts[epoch - 1], color=cmap(i / max(1, len(epochs) - 1)),
                lw=1.2, label=f"epoch {epoch}: y = {slopes[epoch - 1]:.3f}x + {intercepts[epoch - 1]:.3f}")
    ax.plot(line, reference[0] * line + reference[1], "r--", lw=1.5,
            label=f"least squares: y = {reference[0]:.3f}x + {reference[1]:.3f}")
    return finish(plt, fig, ax, out, title, legend=7)


def predicted_vs_actual(actual: np.ndarray, series: dict[str, np.ndarray], out: Path, unit: str = "",
                        title: str = "") -> Path:
    plt, fig, ax = panel(5.5, 5.2)
    for (label, predicted), marker in zip(series.items(), "ox^s"):
        ax.scatter(actual, predicted, s=16, marker=marker, alpha=0.7, label=label)
    low, high = float(np.min(actual)), float(np.max(actual))
    ax.plot([low, high], [low, high], "k--", lw=1, label="perfect")
    return finish(plt, fig, ax, out, title, xlabel=f"actual {unit}".strip(), ylabel=f"predicted {unit}".strip())


def probability_curves(x: np.ndarray, y: np.ndarray, grid: np.ndarray, curves: dict[str, np.ndarray], out: Path,
                       xlabel: str, ylabel: str, title: str = "") -> Path:
    """Binary outcomes against one feature, with fitted P(y = 1) curves over a grid."""
    plt, fig, ax = panel(6.5, 4.5)
    jitter = np.random.default_rng(0).uniform(-0.02, 0.02, len(y))
    ax.scatter(x, y + jitter, s=14, color="gray", alpha=0.7, label="data (jittered)")
    for label, curve in curves.items():
        ax.plot(grid, curve, lw=2, label=label)
    ax.axhline(0.5, color="black", lw=0.5, ls=":")
    return finish(plt, fig, ax, out, title, xlabel=xlabel, ylabel=ylabel)


def function_fit(points: dict[str, tuple[np.ndarray, np.ndarray]], grid: np.ndarray, curves: dict[str, np.ndarray],
                 out: Path, title: str = "") -> Path:
    """Samples of y(x) (train, test, ...) with curves over a grid (the truth, a fitted model)."""
    plt, fig, ax = panel(6.5, 4.8)
    for (label, (x, y)), marker in zip(points.items(), "o^sx"):
        ax.scatter(x, y, s=14, marker=marker, alpha=0.6, label=label)
    for (label, curve), style in zip(curves.items(), ("k--", "r-", "g-", "b-")):
        ax.plot(grid, curve, style, lw=2, label=label)
    return finish(plt, fig, ax, out, title, 9, xlabel="x", ylabel="y")


def _scaled(image: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """A 2-D array -> uint8 0..255 from the 0.5th to the 99.5th percentile of ``reference`` (itself by
    default), so that a few extreme values (strong edges) do not leave the rest black."""
    low, high = (float(v) for v in np.percentile(image if reference is None else reference, (0.5, 99.5)))
    image = np.clip(image, low, high)
    if high <= low:
        return np.zeros(image.shape, np.uint8)
    return ((image - low) / (high - low) * 255).round().astype(np.uint8)


def side_by_side(panels: dict[str, np.ndarray], out: Path, reference: np.ndarray | None = None) -> Path:
    """Grayscale images in one row, each at its own resolution and titled. Every panel after the
    first is scaled by the range of ``reference`` when given, so their brightness compares."""
    plt, fig = _figure(figsize=(4.2 * len(panels), 4.2))
    for i, (title, image) in enumerate(panels.items(), start=1):
        ax = fig.add_subplot(1, len(panels), i)
        ax.imshow(_scaled(image, reference if i > 1 else None), cmap="gray", interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    return save_figure(plt, fig, out)


def save_image(image: np.ndarray, out: Path) -> Path:
    """One 2-D array as a grayscale PNG at its own resolution."""
    from PIL import Image

    atomic_write(out, lambda tmp: Image.fromarray(_scaled(image)).save(tmp, format="PNG"))
    return out


def forecast_week(days: np.ndarray, actual: np.ndarray, forecasts: dict[str, np.ndarray], out: Path, unit: str = "",
                  title: str = "") -> Path:
    """A stretch of a series against forecasts of it, over days."""
    plt, fig, ax = panel(11, 4.2)
    ax.plot(days, actual, color="black", lw=1.6, label="actual")
    for (label, forecast), style in zip(forecasts.items(), ("-", ":", "--", "-.")):
        ax.plot(days, forecast, style, lw=1.1, label=label)
    ax.legend(fontsize=8, ncol=len(forecasts) + 1)
    return finish(plt, fig, ax, out, title, 9, legend=None, xlabel="days into the test period", ylabel=unit)


def piano_roll(notes: Sequence[tuple[float, float, int]], out: Path, title: str = "") -> Path:
    """(onset, duration, MIDI pitch) triples, in quarter notes, as horizontal bars."""
    plt, fig, ax = panel(10, 4)
    for onset, duration, pitch in notes:
        ax.broken_barh([(onset, max(duration, 0.05))], (pitch - 0.4, 0.8), color="tab:blue")
    if notes:
        pitches = [p for _, _, p in notes]
        ax.set_ylim(min(pitches) - 2, max(pitches) + 2)
    return finish(plt, fig, ax, out, title, legend=None, xlabel="quarter notes", ylabel="MIDI pitch (60 = middle C)")


def running_estimate(drawn: np.ndarray, values: np.ndarray, truth: float, out: Path, title: str = "") -> Path:
    """A Monte Carlo estimate as the draws accumulate, with the true value and its ±2 standard errors band
    (for an estimate of 4p, p = pi/4)."""
    plt, fig, ax = panel(7, 3.6)
    p = truth / 4
    band = 2 * 4 * np.sqrt(p * (1 - p) / drawn)
    ax.fill_between(drawn, truth - band, truth + band, color="C1", alpha=0.2, label="±2 standard errors")
    ax.plot(drawn, values, color="C0", label="estimate")
    ax.axhline(truth, color="C1", linewidth=1, label="π")
    return finish(plt, fig, ax, out, title, 9, legend="medium", xscale="log", xlabel="points drawn",
                   ylabel="estimate")


def bars(labels: Sequence[str], values: Sequence[float], out: Path, ylabel: str, title: str = "") -> Path:
    plt, fig, ax = panel(max(5, 1.2 * len(labels)), 3.6)
    ax.bar(range(len(values)), values, color="C0")
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right")
    ax.grid(alpha=0.3, axis="y")
    return finish(plt, fig, ax, out, title, 9, legend=None, grid=False, ylabel=ylabel)
