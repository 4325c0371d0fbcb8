"""Linear and logistic regression in torch: closed form or L-BFGS by default, or the book's optimizers.

Source: Bonnin, ch. 3 (linear regression: univariate, multivariate) and ch. 4 (logistic and
softmax regression). ``solver`` picks how the weights are found:

- ``lstsq`` (LinearRegression, default): least squares, ``torch.linalg.lstsq`` on centred data;
- ``lbfgs`` (LogisticRegression, default): full-batch L-BFGS with a strong-Wolfe line search, the
  objective of scikit-learn (mean log-loss + ``|W|^2 / (2 C n)``; ``C=np.inf`` for none);
- ``sgd`` (plain gradient descent, the book's ``GradientDescentOptimizer``), ``momentum``,
  ``adagrad``, ``adadelta``, ``rmsprop``, ``adam``, ``ftrl``: ``max_iter`` epochs of mini-batches of
  ``batch_size`` (``None``: the whole set; ``1``: one sample at a time, as the book), shuffled each
  epoch unless ``shuffle=False``. The regression loss is the mean squared error (as the book and
  Keras, not scikit-learn's half of it). ``loss_curve_`` holds the mean loss of every epoch and,
  with ``record_path=True``, ``coef_path_``/``intercept_path_`` the weights after every epoch.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from mlprojects.estimators._base import FLOATS, TorchEstimatorMixin, as_tensor, check_choice, check_positive_int

GRADIENT_SOLVERS = ("sgd", "momentum", "adagrad", "adadelta", "rmsprop", "adam", "ftrl")
NO_CHANGE_EPOCHS = 5  # gradient solvers stop when the epoch loss has not improved by tol this many times


class _LinearModel(TorchEstimatorMixin, BaseEstimator):
    """Shared by both models: parameter checks, the gradient-solver loop, prediction of ``X W^T + b``."""

    def _check_common(self, solvers: tuple[str, ...]) -> str:
        solver = check_choice("solver", self.solver, solvers)
        check_positive_int("max_iter", self.max_iter)
        if self.batch_size is not None:
            check_positive_int("batch_size", self.batch_size)
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise ValueError(f"learning_rate={self.learning_rate!r}: expected a number > 0")
        if self.tol is not None and not (isinstance(self.tol, (int, float)) and self.tol >= 0):
            raise ValueError(f"tol={self.tol!r}: expected a number >= 0, or None")
        return solver

    def _set_gradients(self, X, Y, weight, bias, loss_of, penalty: float) -> torch.Tensor:
        """Loss of ``X W^T + b`` and its exact gradient, written into ``.grad`` (no autograd graph: for
        a linear model the gradient is ``dL/dout^T X``, and a step costs a few small matrix products)."""
        outputs = X @ weight.T
        if bias is not None:
            outputs += bias
        loss, grad_outputs = loss_of(outputs, Y)  # grad_outputs: dL/doutputs, (n, outputs)
        weight.grad = grad_outputs.T @ X
        if penalty:
            loss = loss + penalty * weight.pow(2).sum()
            weight.grad += 2 * penalty * weight
        if bias is not None:
            bias.grad = grad_outputs.sum(0)
        return loss

    def _fit_gradient(self, X: torch.Tensor, Y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                      loss_of, penalty: float = 0.0) -> None:
        """Epochs of mini-batch steps with the chosen optimizer; fills the curves and ``n_iter_``."""
        from mlprojects.engine.optim import build_optimizer

        params = [weight] + ([bias] if bias is not None else [])
        optimizer = build_optimizer(self.solver, params, lr=self.learning_rate)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        generator = torch.Generator().manual_seed(seed)
        n = len(X)
        size = n if self.batch_size is None else min(self.batch_size, n)
        self.loss_curve_, paths = [], []
        best, stale = math.inf, 0
        for epoch in range(self.max_iter):
            order = torch.randperm(n, generator=generator).to(X.device) if self.shuffle else None
            total = torch.zeros((), dtype=X.dtype, device=X.device)
            for start in range(0, n, size):
                rows = order[start:start + size] if order is not None else slice(start, start + size)
                batch = X[rows]
                total += self._set_gradients(batch, Y[rows], weight, bias, loss_of, penalty) * len(batch)
                optimizer.step()
            self.loss_curve_.append(float(total) / n)
            if self.record_path:
                paths.append((weight.clone(), None if bias is None else bias.clone()))
            if not math.isfinite(self.loss_curve_[-1]):
                raise ValueError(f"the loss became {self.loss_curve_[-1]} at epoch {epoch + 1}: "
                                 f"learning_rate={self.learning_rate} is too large for solver={self.solver}")
            if self.tol is not None:
                stale = stale + 1 if self.loss_curve_[-1] > best - self.tol else 0
                best = min(best, self.loss_curve_[-1])
                if stale >= NO_CHANGE_EPOCHS:
                    break
        self.n_iter_ = epoch + 1
        if self.record_path:
            self._store_path(paths)

    def _store_path(self, paths) -> None:
        """``coef_path_`` (epochs, targets or classes, features), ``intercept_path_`` (epochs, ...)."""
        self.coef_path_ = np.stack([w.cpu().numpy() for w, _ in paths])
        self.intercept_path_ = np.stack([b.cpu().numpy() if b is not None else np.zeros(len(w)) for w, b in paths])

    def _fit_lbfgs(self, X, Y, weight, bias, loss_of, penalty: float) -> None:
        params = [weight] + ([bias] if bias is not None else [])
        eps = float(torch.finfo(weight.dtype).eps)
        optimizer = torch.optim.LBFGS(params, lr=1, max_iter=self.max_iter, max_eval=self.max_iter * 2,
                                      tolerance_grad=self.tol if self.tol is not None else 0.0,
                                      tolerance_change=64 * eps, history_size=10, line_search_fn="strong_wolfe")

        def closure():
            return self._set_gradients(X, Y, weight, bias, loss_of, penalty)

        optimizer.step(closure)
        self.n_iter_ = int(optimizer.state[optimizer._params[0]]["n_iter"])
        self.loss_curve_ = [float(closure())]
        if self.n_iter_ >= self.max_iter:
            warnings.warn(f"L-BFGS did not converge in max_iter={self.max_iter} iterations: raise max_iter, "
                          "or standardise the features", ConvergenceWarning, stacklevel=3)

    def _linear_output(self, X) -> torch.Tensor:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=FLOATS, reset=False, copy=False)
        device = self._torch_device()
        coef = as_tensor(self.coef_, device)
        points = as_tensor(X, device, coef.dtype)
        intercept = as_tensor(np.atleast_1d(self.intercept_), device, coef.dtype)
        return points @ coef.reshape(-1, coef.shape[-1]).T + intercept


class LinearRegression(RegressorMixin, _LinearModel):
    """Least-squares linear regression (``coef_`` of shape (n_features,) or (n_targets, n_features))."""

    def __init__(self, *, fit_intercept: bool = True, solver: str = "lstsq", learning_rate: float = 0.01,
                 max_iter: int = 100, batch_size: int | None = None, shuffle: bool = True, tol: float | None = None,
                 random_state=None, device: str = "cpu", record_path: bool = False):
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.tol = tol
        self.random_state = random_state
        self.device = device
        self.record_path = record_path

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=FLOATS, multi_output=True, y_numeric=True)
        solver = self._check_common(("lstsq",) + GRADIENT_SOLVERS)
        device = self._torch_device()
        points = as_tensor(X, device)
        targets = as_tensor(y, device, points.dtype)
        targets_2d = targets.reshape(len(targets), -1)
        if solver == "lstsq":
            weight, bias = _least_squares(points, targets_2d, self.fit_intercept)
            self.n_iter_ = 1
        else:
            weight = torch.zeros(targets_2d.shape[1], points.shape[1], dtype=points.dtype, device=device)
            bias = torch.zeros(targets_2d.shape[1], dtype=points.dtype, device=device) if self.fit_intercept else None
            self._fit_gradient(points, targets_2d, weight, bias, squared_error)
        self.coef_ = (weight[0] if y.ndim == 1 else weight).cpu().numpy()
        intercept = bias.detach().cpu().numpy() if bias is not None else np.zeros(len(weight), dtype=X.dtype)
        self.intercept_ = float(intercept[0]) if y.ndim == 1 else intercept
        return self

    def predict(self, X):
        output = self._linear_output(X)
        return (output[:, 0] if np.ndim(self.coef_) == 1 else output).cpu().numpy()


def _least_squares(points: torch.Tensor, targets: torch.Tensor, fit_intercept: bool):
    """(weight (targets, features), bias (targets,) or None): minimum-norm least squares."""
    if fit_intercept:
        x_mean, y_mean = points.mean(0), targets.mean(0)
        points, targets = points - x_mean, targets - y_mean
    driver = "gelsd" if points.device.type == "cpu" else None  # gelsd: rank-deficient X too, as scipy
    solution = torch.linalg.lstsq(points, targets, driver=driver).solution  # (features, targets)
    weight = solution.T.contiguous()
    bias = (y_mean - weight @ x_mean) if fit_intercept else None
    return weight, bias


# --- losses with their gradient with respect to the model's outputs, means over the batch ---------

def squared_error(outputs: torch.Tensor, targets: torch.Tensor):
    difference = outputs - targets
    return difference.pow(2).mean(), difference * (2.0 / difference.numel())


def binary_log_loss(outputs: torch.Tensor, labels: torch.Tensor):
    logits, truth = outputs[:, 0], labels.to(outputs.dtype)
    loss = F.binary_cross_entropy_with_logits(logits, truth)
    return loss, ((torch.sigmoid(logits) - truth) / len(logits))[:, None]


def softmax_log_loss(outputs: torch.Tensor, labels: torch.Tensor):
    log_probabilities = outputs.log_softmax(1)
    loss = F.nll_loss(log_probabilities, labels)
    gradient = log_probabilities.exp()
    gradient[torch.arange(len(labels), device=labels.device), labels] -= 1
    return loss, gradient / len(labels)


class LogisticRegression(ClassifierMixin, _LinearModel):
    """Binary (sigmoid) or multinomial (softmax) logistic regression.

    C: inverse strength of the L2 penalty on the weights (not the intercept), as scikit-learn;
    ``C=np.inf`` fits without a penalty. Binary problems have ``coef_`` of shape (1, n_features).
    """

    def __init__(self, *, C: float = 1.0, fit_intercept: bool = True, solver: str = "lbfgs",
                 learning_rate: float = 0.1, max_iter: int = 100, batch_size: int | None = None,
                 shuffle: bool = True, tol: float | None = 1e-4, random_state=None, device: str = "cpu",
                 record_path: bool = False):
        self.C = C
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.tol = tol
        self.random_state = random_state
        self.device = device
        self.record_path = record_path

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=FLOATS)
        check_classification_targets(y)
        solver = self._check_common(("lbfgs",) + GRADIENT_SOLVERS)
        if not (isinstance(self.C, (int, float)) and self.C > 0):
            raise ValueError(f"C={self.C!r}: expected a number > 0 (np.inf for no penalty)")
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"LogisticRegression needs samples of at least 2 classes, but the data contains "
                             f"only one class: {self.classes_[0]!r}")
        device = self._torch_device()
        points = as_tensor(X, device)
        labels = as_tensor(encoded.astype(np.int64), device)
        binary = len(self.classes_) == 2
        rows = 1 if binary else len(self.classes_)
        weight = torch.zeros(rows, points.shape[1], dtype=points.dtype, device=device)
        bias = torch.zeros(rows, dtype=points.dtype, device=device) if self.fit_intercept else None
        # scikit-learn's objective: mean log-loss + |W|^2 / (2 C n)
        penalty = 0.0 if math.isinf(self.C) else 1.0 / (2.0 * self.C * len(points))
        loss_of = binary_log_loss if binary else softmax_log_loss
        if solver == "lbfgs":
            self._fit_lbfgs(points, labels, weight, bias, loss_of, penalty)
        else:
            self._fit_gradient(points, labels, weight, bias, loss_of, penalty)
        self.coef_ = weight.cpu().numpy()
        self.intercept_ = bias.cpu().numpy() if bias is not None else np.zeros(rows, dtype=X.dtype)
        return self

    def decision_function(self, X):
        output = self._linear_output(X)
        return (output[:, 0] if len(self.classes_) == 2 else output).cpu().numpy()

    def predict_proba(self, X):
        output = self._linear_output(X)
        if len(self.classes_) == 2:
            positive = torch.sigmoid(output[:, 0])
            return torch.stack([1 - positive, positive], 1).cpu().numpy()
        return output.softmax(1).cpu().numpy()

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        output = self._linear_output(X)
        index = (output[:, 0] > 0).long() if len(self.classes_) == 2 else output.argmax(1)
        return self.classes_[index.cpu().numpy()]
