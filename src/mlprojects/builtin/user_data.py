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


@dataclass
class ImageDataSettings:
    """An image project's data: its datasets (DATASETS, the first the default) or a user's folder."""

    data: str = setting("mnist-10k", "dataset: mnist-10k (embedded), mnist, fashion-mnist, or folder:PATH (your "
                                     "images, one sub-folder per class)")
    test_fraction: float = setting(0.2, "with data=folder: the share of images held out for the test (stratified)")
    bad_images: Literal["skip", "refuse"] = setting("skip", "with data=folder: skip unreadable files (named in a "
                                                            "warning) or refuse the folder")

    DATASETS: ClassVar[tuple[str, ...]] = ("mnist-10k", "mnist", "fashion-mnist")

    def __post_init__(self) -> None:
        from mlprojects.data import image_folder

        super().__post_init__()
        if self.data not in self.DATASETS and not image_folder.path_of(self.data):
            raise ValueError(f"data={self.data}: expected one of {', '.join(self.DATASETS)}, or folder:PATH")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction={self.test_fraction}: must be in (0, 1)")


def model_width(run_dir) -> tuple[int, int]:
    """(inputs, classes) of a finished run's table model, from the preparation saved with its weights."""
    from mlprojects.rundir import preparation

    prep = preparation(run_dir)
    return len(prep.columns) + sum(len(c) for c in prep.one_hot.values()), max(len(prep.classes), 1)
