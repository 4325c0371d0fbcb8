"""What the image classifiers share (mnist-mlp, mnist-cnn, cifar10-cnn): their data (a dataset, or a user's
folder or records, which ``ImageInputs`` reads), and the report: learning curves, the confusion matrix, the
misclassified test images, the worst class. Each project adds its network and how pixels become that
network's input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlprojects import plots
from mlprojects.data import images
from mlprojects.engine import Trainer
from mlprojects.inputs import ImageInputs, ImageSettings
from mlprojects.project import Prepared, Project


class ImageClassifier(Project):
    """A network that classifies pictures; by default MNIST's 28x28 grayscale digits."""

    inputs = ImageInputs(pixel_shape=(28, 28), digits=True)

    def dataset(self, cfg: ImageSettings) -> Prepared:
        return self.inputs.prepared(self, cfg, images.load(cfg.data))

    def report(self, run_dir: Path, cfg, trainer: Trainer, data: Prepared) -> dict[str, Any]:
        names = data.meta["class_names"]
        predicted = trainer.predict(data.test.inputs).argmax(1).cpu().numpy()
        true = data.test.targets.cpu().numpy()
        matrix = plots.confusion_counts(predicted, true, len(names))
        plots.learning_curves(trainer.history, run_dir / "plots" / "learning_curves.png")
        plots.confusion_matrix(matrix, names, run_dir / "plots" / "confusion_matrix.png",
                               f"{data.meta['dataset']} test set: accuracy {np.mean(predicted == true):.4f}")
        wrong = np.flatnonzero(predicted != true)[:32]
        plots.image_grid(data.meta["test_images"][wrong], [f"{names[true[i]]} as {names[predicted[i]]}" for i in wrong],
                         run_dir / "plots" / "misclassified.png")
        per_class = matrix.diagonal() / np.maximum(matrix.sum(1), 1)
        return {"test_samples": int(len(true)), "worst_class": names[int(per_class.argmin())],
                "worst_class_accuracy": float(per_class.min())}

    def image_preparation(self, cfg) -> dict:
        """How raw pixels become this model's input, for an exported model's consumers."""
        return {"pixels": "uint8 28x28 grayscale, ink high, digit centred by mass (MNIST's form)", "divide_by": 255}
