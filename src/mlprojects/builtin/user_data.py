"""The settings that put a user's data into a project: a CSV into the tabular projects
(``mlprojects.data.user_table``), a folder of images into the image projects (``mlprojects.data.image_folder``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from mlprojects.config import setting


@dataclass
class UserTableSettings:
    data: str = setting("", "your own table instead of the project's: a CSV file (with a header line), a .parquet "
                            "file, or tfrecord:PATH (tf.train.Example records, one column per feature)")
    target: str = setting("", "with data=: the column to predict")
    features: str = setting("", "with data=: comma-separated input columns  [default: all but the target]")
    categorical: str = setting("", "with data=: columns of numbers to treat as categories (one-hot)")
    stream: bool = setting(False, "with data=CSV: read it in chunks every epoch, for files larger than memory "
                                  "(networks only)")
    test_limit: int = setting(100_000, "with stream=true: the most held-out rows kept for the test")


USER_IMAGES = ("folder:", "tfrecord:")  # data= naming a user's images rather than a dataset


def user_images(cfg) -> bool:
    """Whether a project's settings name a user's images (a folder or TFRecord records)."""
    return getattr(cfg, "data", "").startswith(USER_IMAGES)


@dataclass
class ImageDataSettings:
    """An image project's data: its datasets (DATASETS, the first the default) or a user's folder."""

    data: str = setting("mnist-10k", "dataset: mnist-10k (embedded), mnist, fashion-mnist, folder:PATH (your "
                                     "images, one sub-folder per class) or tfrecord:PATH (image records)")
    test_fraction: float = setting(0.2, "with data=folder: the share of images held out for the test (stratified)")
    bad_images: Literal["skip", "refuse"] = setting("skip", "with data=folder: skip unreadable files (named in a "
                                                            "warning) or refuse the folder")

    DATASETS: ClassVar[tuple[str, ...]] = ("mnist-10k", "mnist", "fashion-mnist")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.data not in self.DATASETS and not user_images(self):
            raise ValueError(f"data={self.data}: expected one of {', '.join(self.DATASETS)}, folder:PATH or "
                             "tfrecord:PATH")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction={self.test_fraction}: must be in (0, 1)")


def stream_or_table(cfg, task: str, warn: bool = False):
    """A user's table (data=): (its preparation, a UserTable or None, a Stream or None)."""
    from mlprojects.data import streaming, user_table

    if getattr(cfg, "stream", False):
        if cfg.val_fraction:
            from mlprojects.errors import UserError

            raise UserError("stream=true holds out only the test split: leave val_fraction at 0")
        stream = streaming.for_project(cfg, task)
        if warn:
            user_table.announce(stream.path.name, stream.report,
                                "the training rows (the medians of a sample of them, or the most frequent category)")
        return stream.prep, None, stream
    table = user_table.for_project(cfg, task, warn)
    return table.prep, table, None


def as_tensors(X, y, regression: bool):
    """Feature and target arrays as TensorData: float32 features; float32 (N, 1) targets for a regression, int64
    class indices otherwise. Copies: pandas' arrays may be read-only."""
    import torch

    from mlprojects.engine import TensorData

    targets = torch.tensor(y, dtype=torch.float32).reshape(-1, 1) if regression else torch.tensor(y, dtype=torch.long)
    return TensorData(torch.tensor(X, dtype=torch.float32), targets)


def user_prepared(cfg, task: str):
    """The Prepared data of a network project on a user's table, read whole or streamed."""
    from mlprojects.data import streaming
    from mlprojects.project import Prepared

    regression = task == "regression"
    prep, table, stream = stream_or_table(cfg, task, warn=True)
    if stream is None:
        return Prepared(as_tensors(table.X_train, table.y_train, regression),
                        as_tensors(table.X_test, table.y_test, regression), {"data": table.report}, prep,
                        table.raw_test)
    test = stream.test
    return Prepared(streaming.StreamingTable(stream),
                    as_tensors(prep.transform(test, str(stream.path)), stream.y(test[stream.target]), regression),
                    {"data": stream.report}, prep, test[prep.inputs + [stream.target]].reset_index(drop=True))


def table_width(cfg, task: str) -> tuple[int, int]:
    """(inputs, classes) of a network on a user's table, before training."""
    prep, _, _ = stream_or_table(cfg, task)
    return prep.width, max(len(prep.classes), 1)


def model_width(run_dir) -> tuple[int, int]:
    """(inputs, classes) of a finished run's table model, from the preparation saved with its weights."""
    from mlprojects.rundir import preparation

    prep = preparation(run_dir)
    return prep.width, max(len(prep.classes), 1)
