"""mnist-mlp: the Keras notebook's MNIST multi-layer perceptron.

Source: the Keras MNIST notebook. Its final model is 784 -> 4 x 256 ReLU -> 10 softmax, trained
with categorical cross-entropy and plain SGD (lr 0.087), batch 32, 15 epochs, inputs x / 255;
published figure: test accuracy 0.983 on the full MNIST test set. Every experiment of the
notebook is a setting: loss=mse, optimizer=adam lr=0.001, widths=20,20,20,20 ... 384x4,
batch_size=20|32|64|100, epochs, dropout=0.2, data=mnist|fashion-mnist.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from mlprojects import plots
from mlprojects.builtin.user_data import ImageDataSettings, user_images
from mlprojects.config import TrainConfig, positive, setting
from mlprojects.data import image_folder, images
from mlprojects.data.preparation import ImagePrep
from mlprojects.engine import TensorData, Trainer
from mlprojects.inputs import ImageInputs
from mlprojects.nn import MLP
from mlprojects.nn.mlp import ACTIVATIONS
from mlprojects.project import Prepared, Project


@dataclass
class MnistMLPConfig(ImageDataSettings, TrainConfig):
    widths: tuple[int, ...] = setting((256, 256, 256, 256),
                                      "hidden layer widths, e.g. 256,256 or 128x4 or 128-64-32-16")
    activation: Literal[tuple(ACTIVATIONS)] = setting("relu", "hidden activation: " + ", ".join(ACTIVATIONS))
    loss: Literal["cce", "mse"] = setting("cce", "cce: categorical cross-entropy; mse: squared error of the softmax "
                                                 "vs one-hot")
    dropout: float = setting(0.0, "dropout after each hidden layer")
    init: Literal["keras", "torch"] = setting("keras", "weight initialisation: keras (Glorot uniform, as the "
                                                       "notebook) or torch")
    epochs: int = setting(15, "passes over the training data")
    batch_size: int = setting(32, "global batch size")
    lr: float = setting(0.087, "learning rate")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.widths or min(self.widths) <= 0:
            raise ValueError(f"widths={','.join(map(str, self.widths))}: every width must be greater than 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout}: must be in [0, 1)")
        positive(self, "lr")


def softmax_mse(outputs: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Keras' ``mean_squared_error`` on softmax outputs and one-hot labels: mean over classes."""
    per_sample = (outputs.softmax(1) - F.one_hot(targets, outputs.shape[1]).to(outputs.dtype)).pow(2).mean(1)
    return per_sample.sum() if reduction == "sum" else per_sample.mean()


@functools.lru_cache(maxsize=2)
def _user_splits(data: str, shape, test_fraction, seed, bad_images) -> images.ImageSplits:
    """One reading of a user's folder or records per run (its data, its model's width and its class names)."""
    from mlprojects.data import tfrecord

    records = tfrecord.path_of(data)
    if records is not None:
        return image_folder.load_records(records, shape, test_fraction, seed, bad_images)
    return image_folder.load(image_folder.path_of(data), shape, test_fraction, seed, bad_images)


class MnistMLP(Project):
    inputs = ImageInputs(pixel_shape=(28, 28))  # what image_pixels gives
    config_class = MnistMLPConfig
    smoke_settings = {"epochs": 2, "widths": "64,64"}

    def splits(self, cfg) -> images.ImageSplits:
        """The dataset, or the user's folder (data=folder:PATH) brought to this project's pixel form."""
        if not user_images(cfg):
            return images.load(cfg.data)
        return _user_splits(cfg.data, self.inputs.pixel_shape, cfg.test_fraction, cfg.seed, cfg.bad_images)

    def prepare(self, cfg: MnistMLPConfig) -> Prepared:
        splits = self.splits(cfg)
        train = TensorData(self.images_to_inputs(cfg, splits.train_images), torch.from_numpy(splits.train_labels))
        test = TensorData(self.images_to_inputs(cfg, splits.test_images), torch.from_numpy(splits.test_labels))
        preparation = ImagePrep(splits.class_names, list(self.inputs.pixel_shape)) if user_images(cfg) else None
        return Prepared(train, test, {"dataset": splits.name, "class_names": splits.class_names,
                                      "test_images": splits.test_images}, preparation,
                        raw_test=(splits.test_images, [splits.class_names[i] for i in splits.test_labels]))

    def build_model(self, cfg: MnistMLPConfig, classes: int | None = None) -> MLP:
        return MLP(28 * 28, cfg.widths, classes or len(self.class_names(cfg)), cfg.activation, cfg.dropout, cfg.init)

    def model_for_run(self, cfg, run_dir: Path):
        """A run on a user's folder is sized by the class names it saved (the folder may be gone)."""
        from mlprojects.rundir import preparation

        prep = preparation(run_dir) if user_images(cfg) else None
        return self.build_model(cfg, len(prep.classes) if prep else None)

    def class_names(self, cfg: MnistMLPConfig) -> list[str]:
        if user_images(cfg):
            return self.splits(cfg).class_names
        return images.CLASS_NAMES[cfg.data]

    def images_to_inputs(self, cfg: MnistMLPConfig, pixels: np.ndarray) -> torch.Tensor:
        """uint8 (N, 28, 28) MNIST-form pixels -> what this model was trained on."""
        return images.to_model_input(pixels, flatten=True)

    def image_preparation(self, cfg: MnistMLPConfig) -> dict:
        """How raw pixels become this model's input, for an exported model's consumers."""
        return {"pixels": "uint8 28x28 grayscale, ink high, digit centred by mass (MNIST's form)", "divide_by": 255,
                "input_shape": "N,784 (rows of pixels, flattened)"}

    def image_pixels(self, cfg: MnistMLPConfig, image) -> np.ndarray:
        """Any image of a digit -> MNIST's own form, as the digit app prepares a drawing; a model trained on a
        user's folder gets its images as training did (grayscale, resized)."""
        from mlprojects.data.digits import as_array, to_mnist

        if user_images(cfg):
            from PIL import Image

            return image_folder.to_pixels(Image.fromarray(as_array(image)), self.inputs.pixel_shape)
        return to_mnist(image)

    def loss_fn(self, cfg: MnistMLPConfig):
        return F.cross_entropy if cfg.loss == "cce" else softmax_mse

    def report(self, run_dir: Path, cfg: MnistMLPConfig, trainer: Trainer, data: Prepared) -> dict[str, Any]:
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


PROJECT = MnistMLP()
