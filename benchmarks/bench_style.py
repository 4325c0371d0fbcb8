"""Seconds per picture of style-transfer on this CPU, at 256 and 512 pixels (the longer side), for both
backbones.

The book's pair (style_content.jpg 580x387 and style_style.jpg) is resized to each size; the tutorial
preset's layers; L-BFGS. A round times STEPS loss evaluations after two warm-up steps; the figure is the
median (min-max) over the rounds of the seconds per step, and that times 300 (the tutorial's steps) as the
seconds for one picture. VGG-19 runs untrained (its ImageNet weights cannot be downloaded here; speed does
not depend on them); EfficientNet-Lite0 with its packaged weights. One process, BENCH_THREADS threads.

    python benchmarks/bench_style.py [--rounds 3] [--steps 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    os.environ.update(harness.PIN_ENV)
    torch = harness.pin_torch()
    from torchvision.models import vgg19

    from mlprojects.builtin.style_transfer import read_picture, sized, to_tensor
    from mlprojects.engine.device import cpu_name
    from mlprojects.vision import style

    content, _ = read_picture("book", "content")
    painting, _ = read_picture("book", "style")
    print(f"CPU: {cpu_name()}, {harness.THREADS} threads, torch {torch.__version__}; median (min-max) of "
          f"{args.rounds} rounds of {args.steps} L-BFGS steps\n")
    print("| backbone | size | seconds per step | seconds per picture (300 steps) |\n|---|---|---|---|")
    for name in ("vgg19", "efficientnet-lite0"):
        backbone = style.Backbone.vgg(vgg19(weights=None).features) if name == "vgg19" else style.Backbone.load(name)
        layers = style.PRESETS["tutorial"][name]
        for size in (256, 512):
            picture = sized(content, size)
            pair = to_tensor(picture), to_tensor(sized(painting, max(picture.size)))
            style.transfer(backbone, *pair, style.Settings(*layers, steps=2))
            per_step = [style.transfer(backbone, *pair, style.Settings(*layers, steps=args.steps)).seconds / args.steps
                        for _ in range(args.rounds)]
            print(f"| {name} | {picture.width}x{picture.height} | {harness.median_range(per_step)} | "
                  f"{300 * statistics.median(per_step):.0f} |", flush=True)


if __name__ == "__main__":
    main()
