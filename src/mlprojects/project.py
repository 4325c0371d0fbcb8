"""What a project is: three kinds, each a base class that declares what the runner calls.

- :class:`Project` (kind ``"trained"``): a network trained on the engine. It gives its settings, its
  data as tensors, its model, its loss and metrics, and the plots and figures of its report; the
  runner trains it in epochs (checkpoints, ``--resume``, ``--nproc``).
- :class:`EstimatorProject` (kind ``"estimator"``): one scikit-learn-style estimator fitted in one
  pass (``mlprojects.estimators``); nothing to resume, one process.
- :class:`DemoProject` (kind ``"demo"``): a demonstration that computes and draws, with nothing to
  train or to load afterwards.

A project module defines a subclass and one instance; its entry in the registry (``mlprojects.registry``,
the table in ``mlprojects/builtin/__init__.py``) gives its name and everything other parts ask about
it. The name is set on the instance by the registry when it is loaded, so it is written once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from mlprojects.config import ProjectConfig, TrainConfig
from mlprojects.data.preparation import Prepared, Table
from mlprojects.inputs import Inputs, NoInputs, TableInputs

if TYPE_CHECKING:
    import torch
    from torch import nn

    from mlprojects.engine import TensorData, Trainer
    from mlprojects.engine.trainer import LossFn, MetricFn

Kind = Literal["trained", "estimator", "demo"]


class BaseProject:
    """What every kind has: a name (set by the registry), settings, and settings for a run of seconds."""

    kind: ClassVar[Kind]
    #: what ``mlprojects predict``, ``serve`` and ``export`` take, and how (``mlprojects.inputs``): a table, images,
    #: a series, texts, or nothing to predict (a demonstration, a generator)
    inputs: ClassVar[Inputs] = NoInputs()
    #: the kinds of device it runs on (``--device``): "cpu", "cuda", "mps"
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda", "mps")
    #: a demonstration that runs as every process of ``--nproc`` or a cluster (trained projects always can)
    distributed: ClassVar[bool] = False
    name: str = ""
    config_class: type[ProjectConfig] = ProjectConfig
    #: settings for a run of a few seconds, used by the contract tests and ``reproduce --quick``
    smoke_settings: dict[str, Any] = {}

    def prepare(self, cfg: Any) -> Any:
        """The run's data (:class:`Prepared`, or a :class:`Table` for an estimator): the user's own when the settings
        name it, read by the input kind (``inputs.training_data``), else the project's own (:meth:`dataset`)."""
        if self.inputs.reads(cfg):
            return self.inputs.training_data(self, cfg)
        return self.dataset(cfg)

    def dataset(self, cfg: Any) -> Any:
        """The project's own data; a project that takes no data of a user's may define ``prepare`` instead."""
        raise NotImplementedError


class Project(BaseProject):
    kind = "trained"
    config_class: type[TrainConfig] = TrainConfig
    smoke_settings: dict[str, Any] = {"epochs": 2}

    def build_model(self, cfg: TrainConfig, preparation: Any) -> nn.Module:
        """The model, from the settings and the description of the prepared data (``Prepared.preparation``: its
        columns, classes, vocabulary), which a finished run keeps with its weights, so loading it reads no data."""
        raise NotImplementedError

    def model_for_run(self, cfg: TrainConfig, run_dir: Path, preparation: Any) -> nn.Module:
        """The model of a finished run, before its weights are loaded: :meth:`build_model` with the saved
        preparation (a fine-tuned transformer reads the configuration its run saved)."""
        return self.build_model(cfg, preparation)

    def validation(self, cfg: TrainConfig, data: Prepared) -> TensorData | None:
        """A project's own validation data (a time series holds out the period after training);
        None: the runner holds out a random ``val_fraction`` of the training data, if set."""
        return None

    def adapt(self, model: nn.Module, train: TensorData) -> None:
        """Set what the model takes from the training data before training (like Keras' ``adapt``),
        such as an output scale; it is saved with the weights. Most projects have nothing to set."""

    def class_names(self, cfg: TrainConfig) -> list[str]:
        raise NotImplementedError(f"{self.name} is not a classifier")

    def images_to_inputs(self, cfg: TrainConfig, pixels: Any) -> torch.Tensor:
        """uint8 pixels (N, H, W) or (N, H, W, 3) in the project's form -> model input; image classifiers
        define it."""
        raise NotImplementedError(f"{self.name} does not take images")

    def image_preparation(self, cfg: TrainConfig) -> dict[str, Any]:
        """How raw pixels become the model's input, in words and numbers, for an exported model's consumers;
        image classifiers define it."""
        raise NotImplementedError(f"{self.name} does not take images")

    def series_data(self, cfg: TrainConfig, series: Any, scale: tuple[float, float] | None = None) -> Prepared:
        """Float64 readings (the project's own, or a user's from ``SeriesInputs``) as the project's windows, scaled
        by SCALE (offset, factor) or else by the readings' own training statistics; forecasters define it."""
        raise NotImplementedError(f"{self.name} does not forecast a series")

    def channels_last(self, cfg: TrainConfig) -> bool:
        """Whether activations are kept in channels-last memory format (the convnets' setting)."""
        return False

    def dynamic_dims(self, cfg: TrainConfig) -> dict[int, str]:
        """The input dimensions an exported model leaves free, by name: the batch, and a sequence's length
        where the model allows it."""
        return {0: "batch"}

    def generate(self, run: Any, prime: str = "X:1\n", length: int = 1000, temperature: float = 0.8, seed: int = 0,
                 out: Path | None = None) -> dict[str, Any]:
        """Sample from a finished run (``mlprojects generate``); generators define it."""
        raise NotImplementedError(f"{self.name} does not generate")

    def loss_fn(self, cfg: TrainConfig) -> LossFn:
        from torch.nn.functional import cross_entropy

        return cross_entropy

    def metrics(self, cfg: TrainConfig) -> dict[str, MetricFn]:
        from mlprojects.engine.trainer import correct_count

        return {"accuracy": correct_count}

    def train_transform(self, cfg: TrainConfig):
        """A function applied to every training batch on the device (data augmentation), or None."""
        return None

    def report(self, run_dir: Path, cfg: TrainConfig, trainer: Trainer, data: Prepared) -> dict[str, Any]:
        """Write plots under ``run_dir/plots`` and return extra figures for metrics.json."""
        return {}

    def example_inputs(self, data: Prepared, count: int = 8) -> torch.Tensor:
        return data.test.inputs[:count]


class EstimatorProject(BaseProject):
    """A project that fits one scikit-learn-style estimator (``mlprojects.estimators``).

    The runner calls ``prepare`` (a :class:`Table`) -> ``build_estimator`` -> ``fit`` -> ``evaluate`` -> ``report``; the
    fitted estimator is saved as ``model.safetensors``. There are no epochs to resume and no
    processes to spread: a fit takes seconds.
    """

    kind = "estimator"
    inputs: ClassVar[Inputs] = TableInputs()
    devices = ("cpu", "cuda")  # their arithmetic is float64 in places, which Apple's MPS lacks

    def build_estimator(self, cfg: ProjectConfig, device: str) -> Any:
        raise NotImplementedError

    def features(self, cfg: ProjectConfig, X: Any) -> Any:
        """The estimator's inputs from the prepared matrix (k-means on rings can cluster on the radius);
        prediction applies it too."""
        return X

    def fit(self, cfg: ProjectConfig, estimator: Any, data: Table) -> Any:
        return estimator.fit(data.X_train, data.y_train)

    def evaluate(self, cfg: ProjectConfig, estimator: Any, data: Table) -> dict[str, Any]:
        """Test figures (keys without the ``test_`` prefix, which the runner adds)."""
        raise NotImplementedError

    def report(self, run_dir: Path, cfg: ProjectConfig, estimator: Any, data: Table) -> dict[str, Any]:
        """Write plots under ``run_dir/plots`` and return extra figures for metrics.json."""
        return {}


class DemoProject(BaseProject):
    """A demonstration: ``run`` computes on DEVICE, writes its figures under ``run_dir/plots`` and returns
    the numbers for metrics.json. Nothing is trained, so there is nothing to resume or load. One that
    declares ``distributed`` runs as every process of ``--nproc`` or a cluster (``torch.distributed`` is set
    up for it): every rank computes, rank 0 alone writes."""

    kind = "demo"

    def run(self, run_dir: Path, cfg: ProjectConfig, device: Any) -> dict[str, Any]:
        raise NotImplementedError


KINDS: dict[str, type[BaseProject]] = {"trained": Project, "estimator": EstimatorProject, "demo": DemoProject}
