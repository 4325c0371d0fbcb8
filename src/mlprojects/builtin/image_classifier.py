"""What the image classifiers share (mnist-mlp, mnist-cnn, cifar10-cnn): their data (a dataset, or a user's
folder or records brought to the project's pixel form), class names saved with a model trained on a
user's images, MNIST's preparation of any picture of a digit, and the report: learning curves, the
confusion matrix, the misclassified test images, the worst class. Each project adds its network and how
pixels become that network's input.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mlprojects import plots
from mlprojects.builtin.user_data import ImageDataSettings, user_images
from mlprojects.data import image_folder, images
from mlprojects.data.preparation import ImagePrep
from mlprojects.engine import TensorData, Trainer
from mlprojects.inputs import ImageInputs
from mlprojects.project import Prepared, Project


@functools.lru_cache(maxsize=2)
def _user_splits(data: str, shape, test_fraction, seed, bad_images) -> images.ImageSplits:
    """One reading of a user's folder or records per run (its data, its model's width and its class names)."""
    from mlprojects.data import tfrecord

    records = tfrecord.path_of(data)
    if records is not None:
        return image_folder.load_records(records, shape, test_fraction, seed, bad_images)
    return image_folder.load(image_folder.path_of(data), shape, test_fraction, seed, bad_images)


class ImageClassifier(Project):
    """A network that classifies pictures; by default MNIST's 28x28 grayscale digits."""

    inputs = ImageInputs(pixel_shape=(28, 28))  # what image_pixels gives

    def splits(self, cfg) -> images.ImageSplits:
        """The dataset, or the user's folder (data=folder:PATH) brought to this project's pixel form."""
        if not user_images(cfg):
            return images.load(cfg.data)
        return _user_splits(cfg.data, self.inputs.pixel_shape, cfg.test_fraction, cfg.seed, cfg.bad_images)

    def prepare(self, cfg: ImageDataSettings) -> Prepared:
        splits = self.splits(cfg)
        train = TensorData(self.images_to_inputs(cfg, splits.train_images), torch.from_numpy(splits.train_labels))
        test = TensorData(self.images_to_inputs(cfg, splits.test_images), torch.from_numpy(splits.test_labels))
        preparation = ImagePrep(splits.class_names, list(self.inputs.pixel_shape)) if user_images(cfg) else None
        return Prepared(train, test, {"dataset": splits.name, "class_names": splits.class_names,
                                      "test_images": splits.test_images}, preparation,
                        raw_test=(splits.test_images, [splits.class_names[i] for i in splits.test_labels]))

    def model_for_run(self, cfg, run_dir: Path):
        """A run on a user's folder is sized by the class names it saved (the folder may be gone)."""
        from mlprojects.rundir import preparation

        prep = preparation(run_dir) if user_images(cfg) else None
        return self.build_model(cfg, len(prep.classes) if prep else None)

    def class_names(self, cfg: ImageDataSettings) -> list[str]:
        if user_images(cfg):
            return self.splits(cfg).class_names
        return images.CLASS_NAMES[cfg.data]

    def image_pixels(self, cfg: ImageDataSettings, image) -> np.ndarray:
        """Any image of a digit -> MNIST's own form, as the digit app prepares a drawing; a model trained on a
        user's folder gets its images as training did (grayscale, resized)."""
        from mlprojects.data.digits import as_array, to_mnist

        if user_images(cfg):
            from PIL import Image

            return image_folder.to_pixels(Image.fromarray(as_array(image)), self.inputs.pixel_shape)
        return to_mnist(image)

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

    def build_model(self, cfg, classes: int | None = None) -> torch.nn.Module:
        raise NotImplementedError

    def image_preparation(self, cfg) -> dict:
        """How raw pixels become this model's input, for an exported model's consumers."""
        return {"pixels": "uint8 28x28 grayscale, ink high, digit centred by mass (MNIST's form)", "divide_by": 255}

    def loss_fn(self, cfg):
        return F.cross_entropy
