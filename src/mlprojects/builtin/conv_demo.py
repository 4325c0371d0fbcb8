"""conv-demo: what a convolution and a pooling layer do to a photograph (the book's chapter 6).

The book convolves its blue-jay photograph with an edge-detection kernel and then "max pools" it,
but its pooling listing calls ``tf.nn.avg_pool``: it shows an average pool. Here both poolings are
applied to the same edge map and written side by side, so the difference is visible: max pooling
keeps the strongest edge in each window, average pooling dilutes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from mlprojects.config import ProjectConfig, setting
from mlprojects.errors import UserError
from mlprojects.project import DemoProject

KERNELS = {
    "edge": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],  # the book's edge detector (a Laplacian)
    "sobel-x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel-y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "blur": [[1 / 9] * 3] * 3,
}
BOOK_IMAGES = ("blue_jay", "leopard")


@dataclass
class ConvDemoConfig(ProjectConfig):
    image: str = setting("blue_jay", "blue_jay or leopard (the book's photographs), or the path of an image file")
    kernel: Literal[tuple(KERNELS)] = setting("edge", "3x3 kernel: " + ", ".join(KERNELS))
    pool: int = setting(2, "pooling window and stride, in pixels", gt=0)


def read_image(spec: str) -> tuple[np.ndarray, str]:
    """(H, W) float32 luminance in [0, 1] of one of the book's images or a file; a non-image is a UserError."""
    from mlprojects.data.image_folder import open_picture

    if spec in BOOK_IMAGES:
        from mlprojects.data import store

        path = store.locate("book-images")[f"{spec}.jpg"]
    else:
        path = Path(spec)
        if not path.is_file():
            raise UserError(f"image={spec}: no such file; use {' or '.join(BOOK_IMAGES)}, or the path of an image")
    gray = np.asarray(open_picture(path, f"image={spec}").convert("L"), dtype=np.float32) / 255.0
    return gray, path.name


def convolve(gray: np.ndarray, kernel: str) -> np.ndarray:
    """A 'same'-padded 2-D convolution (cross-correlation, as in every deep-learning library)."""
    weight = torch.tensor(KERNELS[kernel], dtype=torch.float32).view(1, 1, 3, 3)
    return F.conv2d(torch.from_numpy(gray)[None, None], weight, padding=1)[0, 0].numpy()


def pool(feature: np.ndarray, size: int, kind: str) -> np.ndarray:
    pooling = F.max_pool2d if kind == "max" else F.avg_pool2d
    return pooling(torch.from_numpy(feature)[None, None], size)[0, 0].numpy()


class ConvDemo(DemoProject):
    """A demonstration: no training, just the images a convolution and the poolings produce."""

    config_class = ConvDemoConfig
    smoke_settings = {"image": "leopard"}

    devices = ("cpu",)  # a few small convolutions: the CPU is where they are fastest

    def run(self, run_dir: Path, cfg: ConvDemoConfig, device=None) -> dict[str, Any]:
        from mlprojects import plots

        gray, source = read_image(cfg.image)
        if min(gray.shape) < 3 * cfg.pool:
            raise UserError(f"image={cfg.image} is {gray.shape[1]}x{gray.shape[0]}: too small for pool={cfg.pool}")
        feature = np.abs(convolve(gray, cfg.kernel))  # edge strength, whatever its sign
        pooled = {kind: pool(feature, cfg.pool, kind) for kind in ("max", "avg")}
        panels = {f"{source} (grayscale, {gray.shape[1]}x{gray.shape[0]})": gray,
                  f"|{cfg.kernel} kernel|": feature,
                  f"max pool {cfg.pool}x{cfg.pool} ({pooled['max'].shape[1]}x{pooled['max'].shape[0]})": pooled["max"],
                  f"average pool {cfg.pool}x{cfg.pool} (the book's \"max pool\")": pooled["avg"]}
        plots.side_by_side(panels, run_dir / "plots" / "conv_demo.png", reference=feature)
        for name, image in (("grayscale", gray), ("convolved", feature), ("max_pool", pooled["max"]),
                            ("avg_pool", pooled["avg"])):
            plots.save_image(image, run_dir / "plots" / f"{name}.png")
        return {"image": source, "input_shape": list(gray.shape), "pooled_shape": list(pooled["max"].shape),
                "kernel": KERNELS[cfg.kernel], "convolved_mean": float(feature.mean()),
                "max_pool_mean": float(pooled["max"].mean()), "avg_pool_mean": float(pooled["avg"].mean())}


PROJECT = ConvDemo()
