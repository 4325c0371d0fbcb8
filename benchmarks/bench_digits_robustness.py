"""Robustness of the digit app's preprocessing: held-out digits redrawn on big canvases.

Each held-out test digit is drawn, as black ink on a transparent 800x800 RGBA canvas (what
Gradio's sketchpad hands the app), at a random position, a random height (15% to 90% of the
canvas) and a random stroke width (thinner or thicker by up to half an MNIST pixel on each side).
The model then sees it through the app's preprocessing (``mlprojects.data.digits.to_mnist``)
and through the Keras notebook's whole-canvas resize; both are compared with its accuracy on
the original 28x28 digits. Target: the app within 3 percentage points of the original.

    python benchmarks/bench_digits_robustness.py                 # trains mnist-mlp first (~30 s)
    python benchmarks/bench_digits_robustness.py --model runs/mnist-mlp/<run> --count 2000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from mlprojects.data import images
from mlprojects.data.digits import to_mnist, whole_canvas_resize
from mlprojects.runner import run
from mlprojects.serve.predictor import DigitPredictor

CANVAS = 800
UPSCALE = 4  # stroke width is changed at 4 px per MNIST pixel, before the final resize


def draw(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rows, cols = np.flatnonzero(digit.max(1) > 0), np.flatnonzero(digit.max(0) > 0)
    crop = Image.fromarray(digit[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
    big = crop.resize((crop.width * UPSCALE, crop.height * UPSCALE), Image.BILINEAR)
    stroke = rng.choice(["thin", "same", "thick", "thicker"])
    if stroke == "thin":
        big = big.filter(ImageFilter.MinFilter(3))
    elif stroke != "same":
        big = big.filter(ImageFilter.MaxFilter(3 if stroke == "thick" else 5))
    height = int(rng.uniform(0.15, 0.90) * CANVAS)
    width = max(1, min(CANVAS, round(big.width * height / big.height)))
    ink = np.asarray(big.resize((width, height), Image.BILINEAR))
    top, left = rng.integers(0, CANVAS - height + 1), rng.integers(0, CANVAS - width + 1)
    canvas = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    canvas[top:top + height, left:left + width, 3] = ink
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="an mnist-mlp or mnist-cnn run directory")
    parser.add_argument("--count", type=int, default=2000, help="held-out digits to redraw")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model_dir = args.model or run("mnist-mlp", {}, out=Path(tempfile.mkdtemp()) / "mnist-mlp", progress=False)
    predictor = DigitPredictor(model_dir)
    splits = images.load(predictor.cfg.data)
    digits, labels = splits.test_images[: args.count], splits.test_labels[: args.count]
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    ours, notebook = [], []
    for digit in digits:
        canvas = draw(digit, rng)
        ours.append(to_mnist(canvas))
        notebook.append(whole_canvas_resize(canvas))
    elapsed = time.perf_counter() - started

    def accuracy(batch) -> float:
        return float((predictor.forward(np.stack(batch)).argmax(1).numpy() == labels).mean())

    original, app, naive = accuracy(list(digits)), accuracy(ours), accuracy(notebook)
    print(f"model: {predictor.describe()}")
    print(f"{len(digits)} held-out digits on {CANVAS}x{CANVAS} canvases (height 15-90%, random position and stroke)")
    print(f"  original 28x28 digits:              accuracy {original:.4f}")
    print(f"  canvas -> app preprocessing:        accuracy {app:.4f}  ({100 * (app - original):+.2f} points)")
    print(f"  canvas -> notebook whole-canvas resize: accuracy {naive:.4f}  ({100 * (naive - original):+.2f} points)")
    print(f"  preprocessing time: {1000 * elapsed / len(digits):.1f} ms per canvas (drawing included)")
    verdict = "PASS" if original - app <= 0.03 else "FAIL"
    print(f"target: app within 3 points of the original: {verdict}")


if __name__ == "__main__":
    main()
