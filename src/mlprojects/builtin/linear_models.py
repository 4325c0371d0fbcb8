"""Linear, logistic and softmax regression: the book's chapters 3 and 4 (Bonnin).

linreg-synthetic: y = 2x + 0.2 + N(0, 0.4^2) at 101 points on [-1, 1]; gradient descent on the
squared error, lr 0.05, one sample at a time in order, 100 epochs. The book ends at w = 2.094,
b = 0.256 (its noise had no seed, so only their closeness to 2 and 0.2 is comparable); here the fit is
compared with the least-squares solution. Gradient descent one sample at a time, in order, with a constant
rate settles into a cycle (the same w and b at the end of every epoch from epoch 5 on) short of the
least-squares line; ``--set shuffle=true`` or ``--set solver=lstsq`` shows the difference.

linreg-boston: the book's Boston example fits two separate one-feature lines (INDUS, and AGE)
against the price and calls that a multivariate regression: a bug. Here one model uses all 12
features, standardised with training statistics, with a held-out test split, and gradient descent
is checked against the closed form. The dataset's ethical problem: its original B column encoded
the proportion of Black residents as a price feature (Harrison & Rubinfeld, 1978); scikit-learn
withdrew the dataset for it. The book's copy lacks B, and it is used here only to reproduce the book.

logreg-chd: P(coronary heart disease | age). The book's listing: softmax over 2 classes on the
standardised age, gradient descent lr 0.2, 5 epochs of 4 full-batch steps (its ``400/batch_size``
for 100 rows). A two-class softmax from zero weights is a sigmoid with twice the step, so the
default is the equivalent: a logistic model, lr 0.4, 20 full-batch steps. It stops far from the
optimum; the report also gives the L-BFGS optimum. The book scored 0.74 on its training data
(and 0.80 on 10 rows with Keras); here test accuracy is on a stratified 30% held out.

softmax-iris: multinomial logistic regression on Fisher's iris (4 features, 3 species), standardised,
stratified 70/30 split; test accuracy and confusion matrix; ``grid_search=true`` tunes C by
5-fold cross-validation over a scikit-learn Pipeline, as the book's skflow example.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlprojects import plots
from mlprojects.builtin.tabular import split_and_standardize
from mlprojects.config import ProjectConfig, setting
from mlprojects.data import synthetic, tables
from mlprojects.data.preparation import TablePrep, test_frame
from mlprojects.estimators.linear import GRADIENT_SOLVERS
from mlprojects.inputs import TableInputs, TableSettings
from mlprojects.project import EstimatorProject, Table


@dataclass
class LinearConfig(ProjectConfig):
    solver: str = setting("sgd", "sgd (gradient descent), momentum, adagrad, adadelta, rmsprop, adam, ftrl, "
                                 "or the exact solver (lstsq for regression, lbfgs for classification)")
    learning_rate: float = setting(0.05, "step size of the gradient solvers", gt=0)
    epochs: int = setting(100, "passes over the training data (gradient solvers)", gt=0)
    batch_size: int = setting(1, "samples per step; 0: the whole training set", ge=0)
    shuffle: bool = setting(False, "shuffle the samples every epoch (the book does not)")

    exact_solver = "lstsq"

    def __post_init__(self) -> None:
        super().__post_init__()
        allowed = (self.exact_solver,) + GRADIENT_SOLVERS
        if self.solver not in allowed:
            raise ValueError(f"solver={self.solver}: expected one of {', '.join(allowed)}")


class _LinearProject(EstimatorProject):
    estimator_name = "LinearRegression"

    def estimator_options(self, cfg) -> dict[str, Any]:
        return {}

    def build_estimator(self, cfg: LinearConfig, device: str):
        from mlprojects import estimators

        return getattr(estimators, self.estimator_name)(
            solver=cfg.solver, learning_rate=cfg.learning_rate, max_iter=cfg.epochs,
            batch_size=cfg.batch_size or None, shuffle=cfg.shuffle, random_state=cfg.seed, device=device,
            **self.estimator_options(cfg))

    def exact(self, cfg, data: Table):
        """The same model fitted by the exact solver, for comparison."""
        from mlprojects import estimators

        options = {k: v for k, v in self.estimator_options(cfg).items() if k not in ("record_path", "tol")}
        return getattr(estimators, self.estimator_name)(solver=cfg.exact_solver, max_iter=1000,
                                                        **options).fit(data.X_train, data.y_train)

    def evaluate(self, cfg, estimator, data: Table) -> dict[str, Any]:
        return regression_figures(estimator, data.X_test, data.y_test)

    def learning_curve(self, run_dir: Path, estimator) -> None:
        if len(getattr(estimator, "loss_curve_", [])) > 1:
            history = [{"epoch": i, "loss": loss} for i, loss in enumerate(estimator.loss_curve_, 1)]
            plots.learning_curves(history, run_dir / "plots" / "learning_curves.png", metrics=("loss",))


def regression_figures(estimator, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    predicted = estimator.predict(X)
    return {"mse": float(mean_squared_error(y, predicted)), "rmse": float(np.sqrt(mean_squared_error(y, predicted))),
            "mae": float(mean_absolute_error(y, predicted)), "r2": float(r2_score(y, predicted))}


# --- linear regression ---------------------------------------------------------------------------

@dataclass
class SyntheticLineConfig(LinearConfig):
    n_samples: int = setting(101, "points evenly spaced on [-1, 1]", gt=0)
    slope: float = setting(2.0, "true slope")
    intercept: float = setting(0.2, "true intercept")
    noise: float = setting(0.4, "standard deviation of the Gaussian noise")


class LinregSynthetic(_LinearProject):
    config_class = SyntheticLineConfig
    smoke_settings = {"epochs": 5}

    def prepare(self, cfg: SyntheticLineConfig) -> Table:
        args = (cfg.n_samples, cfg.slope, cfg.intercept, cfg.noise)
        X, y = synthetic.noisy_line(*args, seed=cfg.seed)
        X_test, y_test = synthetic.noisy_line(*args, seed=cfg.seed + 1)  # fresh noise on the same line
        prep = TablePrep(["x"], "y")
        return Table(X, y, X_test, y_test, preparation=prep, raw_test=test_frame(prep, X_test, y_test))

    def estimator_options(self, cfg) -> dict[str, Any]:
        return {"record_path": cfg.solver != cfg.exact_solver}

    def report(self, run_dir: Path, cfg: SyntheticLineConfig, estimator, data: Table) -> dict[str, Any]:
        exact = self.exact(cfg, data)
        figures = {"slope": float(estimator.coef_[0]), "intercept": float(estimator.intercept_),
                   "least_squares_slope": float(exact.coef_[0]), "least_squares_intercept": float(exact.intercept_),
                   "least_squares_test_mse": regression_figures(exact, data.X_test, data.y_test)["mse"]}
        if hasattr(estimator, "coef_path_"):
            epochs = sorted({e for e in (1, 2, 5, 10, 25, 50, 100, cfg.epochs) if e <= estimator.n_iter_})
            plots.lines_over_epochs(data.X_train[:, 0], data.y_train, estimator.coef_path_[:, 0, 0],
                                    estimator.intercept_path_[:, 0], epochs,
                                    (figures["least_squares_slope"], figures["least_squares_intercept"]),
                                    run_dir / "plots" / "fit_over_epochs.png",
                                    f"{cfg.solver}, lr {cfg.learning_rate}, batch {cfg.batch_size or 'all'}")
        self.learning_curve(run_dir, estimator)
        return figures


@dataclass
class BostonConfig(TableSettings, LinearConfig):
    learning_rate: float = setting(0.1, "step size of the gradient solvers")
    epochs: int = setting(500, "passes over the training data (gradient solvers)")
    batch_size: int = setting(0, "samples per step; 0: the whole training set")
    test_fraction: float = setting(0.2, "fraction held out for testing", gt=0, lt=1)


class LinregBoston(_LinearProject):
    config_class = BostonConfig
    smoke_settings = {"epochs": 5}

    def dataset(self, cfg: BostonConfig) -> Table:
        frame = tables.load("boston")
        features = [c for c in frame.columns if c != "MEDV"]
        table = split_and_standardize(frame, TablePrep(features, "MEDV"), frame["MEDV"].to_numpy(),
                                      cfg.test_fraction, cfg.seed, stratify=False)
        table.meta["features"] = features
        return table

    def report(self, run_dir: Path, cfg: BostonConfig, estimator, data: Table) -> dict[str, Any]:
        exact = self.exact(cfg, data)
        ours, best = estimator.predict(data.X_test), exact.predict(data.X_test)
        closed = regression_figures(exact, data.X_test, data.y_test)
        plots.predicted_vs_actual(data.y_test, {cfg.solver: ours, "least squares": best},
                                  run_dir / "plots" / "predicted_vs_actual.png", data.preparation.target,
                                  f"{self.inputs.data_name(cfg, 'Boston')} test split: RMSE "
                                  f"{np.sqrt(np.mean((ours - data.y_test) ** 2)):.2f} "
                                  f"(least squares {closed['rmse']:.2f})")
        self.learning_curve(run_dir, estimator)
        return {"least_squares_test_rmse": closed["rmse"], "least_squares_test_r2": closed["r2"],
                "coefficients": dict(zip(data.meta["features"], np.round(estimator.coef_, 4).tolist())),
                "feature_mean": data.meta["feature_mean"], "feature_scale": data.meta["feature_scale"],
                **({"data": data.meta["data"]} if "data" in data.meta else {})}


# --- logistic and softmax regression ------------------------------------------------------------

@dataclass
class ChdConfig(TableSettings, LinearConfig):
    solver: str = setting("sgd", "sgd (gradient descent, the book), momentum, adagrad, adadelta, rmsprop, adam, "
                                 "ftrl, or lbfgs (the exact optimum)")
    learning_rate: float = setting(0.4, "step size (the book's 0.2 on a two-class softmax = 0.4 here)")
    epochs: int = setting(20, "full-batch steps (the book: 5 epochs x 4 repeated batches)")
    batch_size: int = setting(0, "samples per step; 0: the whole training set")
    test_fraction: float = setting(0.3, "fraction held out for testing, stratified", gt=0, lt=1)
    C: float | None = setting(None, "inverse L2 penalty; none: no penalty, as the book")

    exact_solver = "lbfgs"


@dataclass
class IrisConfig(ChdConfig):
    solver: str = setting("lbfgs", "lbfgs (exact optimum), or sgd, momentum, adagrad, adadelta, rmsprop, adam, ftrl")
    learning_rate: float = setting(0.1, "step size of the gradient solvers")
    epochs: int = setting(100, "the most iterations (L-BFGS) or epochs (gradient solvers)")
    batch_size: int = setting(16, "samples per step of the gradient solvers; 0: the whole training set")
    shuffle: bool = setting(True, "shuffle the samples every epoch")
    C: float | None = setting(1.0, "inverse L2 penalty (scikit-learn's default 1.0); none: no penalty")
    grid_search: bool = setting(False,
                                "choose C by 5-fold cross-validation over a Pipeline (the book's skflow example)")


class _LogisticProject(_LinearProject):
    estimator_name = "LogisticRegression"
    inputs = TableInputs("classification")

    def estimator_options(self, cfg) -> dict[str, Any]:
        # gradient solvers run every epoch (the book's loop); L-BFGS stops at its gradient tolerance
        return {"C": np.inf if cfg.C is None else cfg.C, "tol": 1e-6 if cfg.solver == "lbfgs" else None}

    def evaluate(self, cfg, estimator, data: Table) -> dict[str, Any]:
        from sklearn.metrics import log_loss

        return {"accuracy": float(estimator.score(data.X_test, data.y_test)), "samples": int(len(data.y_test)),
                "log_loss": float(log_loss(data.y_test, estimator.predict_proba(data.X_test),
                                           labels=estimator.classes_))}


class LogregChd(_LogisticProject):
    config_class = ChdConfig
    smoke_settings = {"epochs": 5}

    def dataset(self, cfg: ChdConfig) -> Table:
        frame = tables.load("chd")
        return split_and_standardize(frame, TablePrep(["age"], "chd", "classification"),
                                     frame["chd"].to_numpy().astype(int), cfg.test_fraction, cfg.seed, stratify=True)

    def report(self, run_dir: Path, cfg: ChdConfig, estimator, data: Table) -> dict[str, Any]:
        if self.inputs.reads(cfg):  # a user's table: what softmax-iris reports (no age curve)
            return SoftmaxIris.report(self, run_dir, cfg, estimator, data)
        exact = self.exact(cfg, data)
        mean, scale = data.meta["feature_mean"][0], data.meta["feature_scale"][0]
        ages = np.linspace(15, 75, 200)
        standardized = ((ages - mean) / scale)[:, None]
        curves = {f"{cfg.solver}, {estimator.n_iter_} steps": estimator.predict_proba(standardized)[:, 1],
                  "optimum (L-BFGS)": exact.predict_proba(standardized)[:, 1]}
        plots.probability_curves(data.X_train[:, 0] * scale + mean, data.y_train, ages, curves,
                                 run_dir / "plots" / "logistic_curve.png", "age (years)", "P(CHD)",
                                 f"CHD against age: test accuracy {estimator.score(data.X_test, data.y_test):.3f}")
        self.learning_curve(run_dir, estimator)
        # log-odds(CHD) = per_year * age + at_zero, in years rather than standardised units
        per_year = float(estimator.coef_[0, 0] / scale)
        at_zero = float(estimator.intercept_[0] - per_year * mean)
        return {"train_accuracy": float(estimator.score(data.X_train, data.y_train)),
                "optimum_test_accuracy": float(exact.score(data.X_test, data.y_test)),
                "log_odds_per_year": per_year, "log_odds_at_age_0": at_zero,
                "optimum_log_odds_per_year": float(exact.coef_[0, 0] / scale),
                "age_at_probability_half": -at_zero / per_year if per_year else None}


class SoftmaxIris(_LogisticProject):
    config_class = IrisConfig
    smoke_settings = {"epochs": 5}

    def dataset(self, cfg: IrisConfig) -> Table:
        frame = tables.load("iris")
        return split_and_standardize(frame, TablePrep(list(tables.IRIS_FEATURES), "species", "classification"),
                                     frame["species"].to_numpy(), cfg.test_fraction, cfg.seed, stratify=True)

    def fit(self, cfg: IrisConfig, estimator, data: Table):
        if not cfg.grid_search:
            return estimator.fit(data.X_train, data.y_train)
        from sklearn.model_selection import GridSearchCV, StratifiedKFold

        search = GridSearchCV(estimator, {"C": [0.01, 0.1, 1.0, 10.0, 100.0]},
                              cv=StratifiedKFold(5, shuffle=True, random_state=cfg.seed))
        search.fit(data.X_train, data.y_train)
        data.meta["grid_search"] = {"best_C": search.best_params_["C"],
                                    "mean_cv_accuracy": dict(zip(map(str, search.cv_results_["param_C"]),
                                                                 np.round(search.cv_results_["mean_test_score"], 4)
                                                                 .tolist()))}
        return search.best_estimator_

    def report(self, run_dir: Path, cfg: IrisConfig, estimator, data: Table) -> dict[str, Any]:
        names = [str(c) for c in estimator.classes_]
        predicted = np.searchsorted(estimator.classes_, estimator.predict(data.X_test))
        true = np.searchsorted(estimator.classes_, data.y_test)
        matrix = plots.confusion_counts(predicted, true, len(names))
        plots.confusion_matrix(matrix, names, run_dir / "plots" / "confusion_matrix.png",
                               f"{self.inputs.data_name(cfg, 'iris')} test split: accuracy "
                               f"{np.mean(predicted == true):.3f}")
        self.learning_curve(run_dir, estimator)
        return {"confusion_matrix": matrix.tolist(), "classes": names, **data.meta.get("grid_search", {}),
                **({"data": data.meta["data"]} if "data" in data.meta else {})}


LINREG_SYNTHETIC = LinregSynthetic()
LINREG_BOSTON = LinregBoston()
LOGREG_CHD = LogregChd()
SOFTMAX_IRIS = SoftmaxIris()
