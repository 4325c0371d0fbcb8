"""What the tabular projects share (the linear models, wine): a held-out split with the columns standardised by
the training split's statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlprojects.data.preparation import TablePrep
from mlprojects.project import Table


def split_and_standardize(frame: pd.DataFrame, prep: TablePrep, y: np.ndarray, test_fraction: float, seed: int,
                          stratify: bool) -> Table:
    """Held-out split, then PREP's columns scaled by the training split's mean and standard deviation only
    (scikit-learn's StandardScaler); the preparation and the raw test rows travel with the table."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    train_rows, test_rows, y_train, y_test = train_test_split(np.arange(len(frame)), y, test_size=test_fraction,
                                                              random_state=seed, stratify=y if stratify else None)
    train, test = frame.iloc[train_rows], frame.iloc[test_rows]
    scaler = StandardScaler().fit(prep.numbers(train))
    prep.mean, prep.scale = scaler.mean_.tolist(), scaler.scale_.tolist()
    raw_test = test[prep.inputs].reset_index(drop=True)
    raw_test[prep.target] = test[prep.target].to_numpy()
    return Table(prep.transform(train), y_train, prep.transform(test), y_test,
                 {"feature_mean": prep.mean, "feature_scale": prep.scale}, preparation=prep, raw_test=raw_test)
