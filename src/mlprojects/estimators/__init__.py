"""scikit-learn-compatible classic models, computed with torch on the CPU or a GPU.

Each one is a scikit-learn estimator (``fit`` returns self, ``get_params``/``set_params``, learned
attributes ending in ``_``) and works in ``Pipeline`` and ``GridSearchCV``; ``device`` picks where
the arithmetic runs. :func:`save` and :func:`load` keep a fitted model in one safetensors file.
"""

from mlprojects.estimators.kmeans import KMeans
from mlprojects.estimators.linear import LinearRegression, LogisticRegression
from mlprojects.estimators.neighbors import KNeighborsClassifier
from mlprojects.estimators.persistence import load, save

__all__ = ["KMeans", "KNeighborsClassifier", "LinearRegression", "LogisticRegression", "load", "save"]
