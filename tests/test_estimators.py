"""The torch estimators against hand-computed answers and against scikit-learn itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import cluster, linear_model, neighbors
from sklearn.datasets import make_blobs, make_circles, make_classification
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from mlprojects.engine.optim import Ftrl
from mlprojects.estimators import KMeans, KNeighborsClassifier, LinearRegression, LogisticRegression, load, save
from mlprojects.estimators.linear import GRADIENT_SOLVERS


# scikit-learn's own common checks: every one of them applies and passes (none is excluded)
@parametrize_with_checks([KMeans(n_clusters=3, random_state=0), KNeighborsClassifier(), LinearRegression(),
                          LogisticRegression()])
def test_scikit_learn_common_checks(estimator, check):
    check(estimator)


# --- k-means ----------------------------------------------------------------------------------------

def test_kmeans_on_four_points_by_hand():
    X = np.array([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 2.0]])
    model = KMeans(2, init="first", tol=0).fit(X)
    # start (0,0),(0,2): first pass splits by y, centres (5,0),(5,2); nothing moves after that
    np.testing.assert_allclose(model.cluster_centers_, [[5.0, 0.0], [5.0, 2.0]])
    assert model.inertia_ == pytest.approx(4 * 25.0)
    assert model.n_iter_ == 2  # the second pass finds the labels unchanged
    assert model.predict([[4.0, 0.1], [6.0, 1.9]]).tolist() == [0, 1]
    np.testing.assert_allclose(model.transform([[5.0, 1.0]]), [[1.0, 1.0]])
    assert model.score(X) == pytest.approx(-100.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kmeans_from_the_same_start_reaches_scikit_learns_inertia(dtype):
    X, _ = make_blobs(3000, 8, centers=6, cluster_std=2.5, random_state=1)
    X = X.astype(dtype)
    start = X[np.random.default_rng(0).choice(len(X), 6, replace=False)]
    ours = KMeans(6, init=start, max_iter=300).fit(X)
    theirs = cluster.KMeans(6, init=start, n_init=1, max_iter=300, algorithm="lloyd").fit(X)
    assert abs(ours.inertia_ - theirs.inertia_) / theirs.inertia_ < 1e-4
    assert ours.n_iter_ == theirs.n_iter_
    assert (ours.labels_ == theirs.labels_).mean() > 0.999
    assert ours.cluster_centers_.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_fused_cpu_pass_reaches_scikit_learns_inertia_and_the_torch_steps_labels(dtype, monkeypatch):
    from mlprojects.estimators import _fused

    X, _ = make_blobs(40_000, 32, centers=8, cluster_std=3.0, random_state=2)  # 10 M: the fused pass runs
    X = X.astype(dtype)
    assert _fused.worth_it(len(X), 8, 32)
    start = X[np.random.default_rng(0).choice(len(X), 8, replace=False)]
    ours = KMeans(8, init=start, max_iter=300).fit(X)
    again = KMeans(8, init=start, max_iter=300).fit(X)  # the same on every run, whatever the threads did
    assert again.inertia_ == ours.inertia_ and np.array_equal(again.cluster_centers_, ours.cluster_centers_)
    theirs = cluster.KMeans(8, init=start, n_init=1, max_iter=300, algorithm="lloyd").fit(X)
    assert abs(ours.inertia_ - theirs.inertia_) / theirs.inertia_ < 1e-5
    assert ours.n_iter_ == theirs.n_iter_ and (ours.labels_ == theirs.labels_).mean() > 0.999
    monkeypatch.setattr(_fused, "MIN_WORK", 10**12)  # the same fit by the three torch passes
    unfused = KMeans(8, init=start, max_iter=300).fit(X)
    assert unfused.n_iter_ == ours.n_iter_ and (unfused.labels_ == ours.labels_).mean() > 0.9999
    assert ours.inertia_ == pytest.approx(unfused.inertia_, rel=1e-6)


def test_the_fused_pass_relocates_an_empty_cluster_as_the_torch_step_does():
    from mlprojects.estimators import _fused

    X, _ = make_blobs(30_000, 40, centers=5, cluster_std=1.0, random_state=3)
    start = np.vstack([X[:4], np.full((1, 40), 1e3)])  # the fifth centre attracts nobody
    assert _fused.worth_it(len(X), 5, 40)
    ours = KMeans(5, init=start, max_iter=1).fit(X)
    theirs = cluster.KMeans(5, init=start, n_init=1, max_iter=1, algorithm="lloyd").fit(X)
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-10, atol=1e-10)


def test_kmeans_relocates_an_empty_cluster_like_scikit_learn():
    X = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [30.0]])
    start = np.array([[1.0], [10.5], [100.0]])  # the third centre attracts nobody
    ours = KMeans(3, init=start, max_iter=1).fit(X)
    theirs = cluster.KMeans(3, init=start, n_init=1, max_iter=1, algorithm="lloyd").fit(X)
    # the empty cluster takes 30 (farthest from its centre 10.5), leaving (10, 11) to the second
    np.testing.assert_allclose(np.sort(ours.cluster_centers_.ravel()), [1.0, 10.5, 30.0])
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_)
    assert ours.inertia_ == pytest.approx(theirs.inertia_)
    ours, theirs = KMeans(3, init=start).fit(X), cluster.KMeans(3, init=start, n_init=1, algorithm="lloyd").fit(X)
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_)  # and on to convergence
    assert (ours.n_iter_, ours.labels_.tolist()) == (theirs.n_iter_, theirs.labels_.tolist())


def test_kmeans_plus_plus_and_restarts_match_scikit_learn_given_the_same_random_state():
    X, _ = make_blobs(1000, 5, centers=7, cluster_std=3.0, random_state=3)
    ours = KMeans(7, n_init=4, random_state=11).fit(X)
    theirs = cluster.KMeans(7, n_init=4, random_state=11, algorithm="lloyd").fit(X)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-6)
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-6, atol=1e-8)
    seeds = cluster.kmeans_plusplus(X, 7, random_state=5)[0]
    first = KMeans(7, max_iter=1, random_state=5)
    from mlprojects.estimators.kmeans import kmeans_plusplus
    ours_seeds = kmeans_plusplus(torch.from_numpy(X), 7, np.random.RandomState(5)).numpy()
    np.testing.assert_allclose(ours_seeds, seeds)
    assert first.fit(X).n_iter_ == 1


def test_more_restarts_never_end_worse():
    X, _ = make_blobs(600, 2, centers=9, cluster_std=1.5, random_state=0)
    one = KMeans(9, init="random", n_init=1, random_state=0).fit(X).inertia_
    ten = KMeans(9, init="random", n_init=10, random_state=0).fit(X).inertia_
    assert ten <= one


# --- k-NN -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_knn_predictions_are_identical_to_scikit_learns_brute_force(weights):
    X, y = make_classification(1500, 20, n_informative=8, n_classes=4, random_state=0)
    train, test = slice(0, 1000), slice(1000, None)
    for k in (1, 5, 12):
        ours = KNeighborsClassifier(k, weights=weights, working_memory=0.05).fit(X[train], y[train])
        theirs = neighbors.KNeighborsClassifier(k, weights=weights, algorithm="brute").fit(X[train], y[train])
        np.testing.assert_array_equal(ours.predict(X[test]), theirs.predict(X[test]))
        np.testing.assert_allclose(ours.predict_proba(X[test]), theirs.predict_proba(X[test]), atol=1e-12)
        distances, indices = ours.kneighbors(X[test])
        their_distances, their_indices = theirs.kneighbors(X[test])
        np.testing.assert_array_equal(indices, their_indices)
        np.testing.assert_allclose(distances, their_distances, rtol=1e-10)


def test_knn_by_hand_with_ties_going_to_the_smaller_class():
    X = np.array([[0.0], [1.0], [3.0], [4.0]])
    y = np.array(["b", "a", "b", "a"])
    model = KNeighborsClassifier(2).fit(X, y)
    # k=2 always pairs one "a" with one "b" here: one vote each, the tie goes to the smaller class "a"
    assert model.predict([[2.0], [0.1], [3.9]]).tolist() == ["a", "a", "a"]
    # k=3 at 0.1: x=0 "b", x=1 "a", x=3 "b" -> "b"; at 3.9: x=4 "a", x=3 "b", x=1 "a" -> "a"
    assert model.set_params(n_neighbors=3).predict([[0.1], [3.9]]).tolist() == ["b", "a"]
    distances, indices = model.set_params(n_neighbors=2).kneighbors([[0.2]])
    np.testing.assert_allclose(distances, [[0.2, 0.8]])
    assert indices.tolist() == [[0, 1]]
    # X=None: every training point's neighbours, itself excluded
    assert model.kneighbors(n_neighbors=1, return_distance=False).ravel().tolist() == [1, 0, 3, 2]


def test_knn_keeps_memory_bounded_with_many_queries():
    rng = np.random.default_rng(0)
    train, labels = rng.random((300, 16), dtype=np.float32), rng.integers(0, 3, 300)
    queries = rng.random((5000, 16), dtype=np.float32)
    chunked = KNeighborsClassifier(3, working_memory=0.01).fit(train, labels)  # ~4 queries per chunk
    whole = KNeighborsClassifier(3).fit(train, labels)
    np.testing.assert_array_equal(chunked.predict(queries), whole.predict(queries))


# --- linear models --------------------------------------------------------------------------------

def test_linear_regression_matches_least_squares():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = X @ np.array([1.5, -2.0, 0.0, 3.0, 0.5]) + 4.0 + rng.normal(scale=0.1, size=200)
    model = LinearRegression().fit(X, y)
    design = np.hstack([X, np.ones((200, 1))])
    expected = np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(model.coef_, expected[:5], atol=1e-4)
    assert model.intercept_ == pytest.approx(expected[5], abs=1e-4)
    two = LinearRegression().fit(X, np.stack([y, -y], 1))
    np.testing.assert_allclose(two.coef_, [expected[:5], -expected[:5]], atol=1e-4)
    assert model.score(X, y) > 0.99


def test_a_line_through_two_points_by_hand():
    model = LinearRegression().fit([[1.0], [3.0]], [2.0, 6.0])
    assert model.coef_[0] == pytest.approx(2.0) and model.intercept_ == pytest.approx(0.0, abs=1e-12)
    assert model.predict([[10.0]])[0] == pytest.approx(20.0)


@pytest.mark.parametrize("solver, learning_rate", [("sgd", 0.1), ("momentum", 0.05), ("adagrad", 0.5),
                                                   ("adadelta", 5.0), ("rmsprop", 0.002), ("adam", 0.05),
                                                   ("ftrl", 1.0)])
def test_every_gradient_solver_reaches_the_least_squares_line(solver, learning_rate):
    assert solver in GRADIENT_SOLVERS
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(100, 2))
    y = X @ np.array([2.0, -1.0]) + 0.5 + rng.normal(scale=0.05, size=100)
    exact = LinearRegression().fit(X, y)
    model = LinearRegression(solver=solver, learning_rate=learning_rate, max_iter=300, batch_size=10,
                             random_state=0, record_path=True).fit(X, y)
    np.testing.assert_allclose(model.coef_, exact.coef_, atol=0.03)
    assert model.intercept_ == pytest.approx(exact.intercept_, abs=0.03)
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    assert model.coef_path_.shape == (300, 1, 2)
    np.testing.assert_allclose(model.coef_path_[-1, 0], model.coef_)


def test_one_sample_at_a_time_gradient_descent_step_by_hand():
    # one epoch, lr 0.1, MSE: w -= 0.1 * 2 (w x + b - y) x, b -= 0.1 * 2 (w x + b - y)
    w = b = 0.0
    for x, y in [(1.0, 3.0), (2.0, 5.0)]:
        error = w * x + b - y
        w, b = w - 0.1 * 2 * error * x, b - 0.1 * 2 * error
    model = LinearRegression(solver="sgd", learning_rate=0.1, max_iter=1, batch_size=1, shuffle=False)
    model.fit([[1.0], [2.0]], [3.0, 5.0])
    assert model.coef_[0] == pytest.approx(w) and model.intercept_ == pytest.approx(b)


def test_ftrl_steps_by_hand():
    weight = torch.nn.Parameter(torch.tensor([0.5]))
    optimizer = Ftrl([weight], lr=0.1, initial_accumulator_value=0.1, l1=0.0, l2=0.0)
    n, z, w = 0.1, 0.0, 0.5
    for grad in (0.4, -0.2):
        weight.grad = torch.tensor([grad])
        optimizer.step()
        n_new = n + grad ** 2
        z += grad - (n_new ** 0.5 - n ** 0.5) / 0.1 * w
        w, n = -z / (n_new ** 0.5 / 0.1), n_new
        assert float(weight.detach()) == pytest.approx(w, rel=1e-6)
    sparse = torch.nn.Parameter(torch.tensor([0.5]))
    l1 = Ftrl([sparse], lr=0.1, l1=1.0)
    sparse.grad = torch.tensor([0.4])
    l1.step()
    assert float(sparse.detach()) == 0.0  # |z| <= l1: exactly zero


def test_unpenalised_logistic_regression_matches_scikit_learn():
    X, y = make_classification(400, 4, n_informative=3, n_redundant=0, flip_y=0.2, random_state=0)
    ours = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(X, y)
    theirs = linear_model.LogisticRegression(C=np.inf, tol=1e-10, max_iter=10000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-3)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-3)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-4)


def test_multinomial_and_penalised_logistic_regression_match_scikit_learn():
    X, y = make_classification(600, 5, n_informative=4, n_redundant=0, n_classes=3, flip_y=0.1, random_state=2)
    for C in (np.inf, 0.5):
        ours = LogisticRegression(C=C, tol=1e-10, max_iter=2000).fit(X, y)
        theirs = linear_model.LogisticRegression(C=C, tol=1e-10, max_iter=10000).fit(X, y)
        np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-3)
        np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-3)
        assert (ours.predict(X) == theirs.predict(X)).all()


def test_logistic_regression_by_gradient_descent_approaches_the_optimum():
    X, y = make_classification(300, 3, n_informative=3, n_redundant=0, flip_y=0.1, random_state=4)
    exact = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(X, y)
    model = LogisticRegression(C=np.inf, solver="adam", learning_rate=0.05, max_iter=400, tol=None,
                               random_state=0).fit(X, y)
    np.testing.assert_allclose(model.coef_, exact.coef_, atol=0.02)
    assert model.score(X, y) == pytest.approx(exact.score(X, y), abs=0.01)


# --- scikit-learn tools, devices, persistence, bad input ---------------------------------------------

def test_grid_search_over_a_pipeline():
    X, y = make_circles(300, noise=0.1, factor=0.4, random_state=0)
    search = GridSearchCV(make_pipeline(StandardScaler(), KNeighborsClassifier()),
                          {"kneighborsclassifier__n_neighbors": [1, 5, 15]}, cv=3).fit(X, y)
    theirs = GridSearchCV(make_pipeline(StandardScaler(), neighbors.KNeighborsClassifier(algorithm="brute")),
                          {"kneighborsclassifier__n_neighbors": [1, 5, 15]}, cv=3).fit(X, y)
    assert search.best_params_ == theirs.best_params_
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"])


@pytest.mark.parametrize("make", [lambda: KMeans(3, random_state=0), lambda: KNeighborsClassifier(3),
                                  lambda: LinearRegression(), lambda: LogisticRegression()])
def test_save_and_load_predict_the_same(make, tmp_path):
    X, y = make_blobs(120, 3, centers=3, random_state=0)
    labels = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    model = make().fit(X, y if not isinstance(make(), KNeighborsClassifier) else labels)
    path = save(model, tmp_path / "model.safetensors")
    loaded = load(path)
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert b"pickle" not in path.read_bytes()[:200]


def test_device_parameter():
    X, y = make_blobs(50, 2, centers=2, random_state=0)
    assert (LogisticRegression(device="auto").fit(X, y).predict(X) == y).mean() > 0.9
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device=cuda: no CUDA device"):
            KMeans(2, device="cuda").fit(X)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_matches_cpu():
    X, y = make_blobs(2000, 8, centers=5, random_state=0)
    for make in (lambda d: KMeans(5, random_state=0, device=d), lambda d: KNeighborsClassifier(5, device=d),
                 lambda d: LogisticRegression(device=d)):
        np.testing.assert_array_equal(make("cuda").fit(X, y).predict(X), make("cpu").fit(X, y).predict(X))


@pytest.mark.parametrize("make, message", [
    (lambda X, y: KMeans(5).fit(X[:3]), "n_samples=3 should be >= n_clusters=5"),
    (lambda X, y: KNeighborsClassifier(5).fit(X[:3], y[:3]).predict(X), "n_neighbors=5 is more than the 3"),
    (lambda X, y: KMeans(2, init=np.zeros((3, 2))).fit(X), "init has shape"),
    (lambda X, y: KMeans(0).fit(X), "n_clusters=0"),
    (lambda X, y: KMeans(2, init="kmeans++").fit(X), "init='kmeans\\+\\+': expected one of"),
    (lambda X, y: LinearRegression(solver="newton").fit(X, y), "solver='newton'"),
    (lambda X, y: LogisticRegression(C=-1).fit(X, y), "C=-1"),
    (lambda X, y: LogisticRegression().fit(X, np.zeros(len(X))), "only one class"),
    (lambda X, y: LinearRegression(solver="sgd", learning_rate=1e6).fit(X * 1e3, y), "too large"),
    (lambda X, y: LinearRegression().fit(np.vstack([X[:-1], [[np.nan, 0]]]), y), "NaN"),
    (lambda X, y: KMeans(2).fit(np.vstack([X[:-1], [[np.inf, 0]]])), "infinity"),
    (lambda X, y: KNeighborsClassifier().fit(X, y).predict(X[:, :1]), "has 1 features"),
    (lambda X, y: LogisticRegression().fit(X, y).predict(X[0]), "Expected 2D array"),
])
def test_bad_input_raises_a_clear_value_error(make, message):
    X, y = make_blobs(40, 2, centers=2, random_state=0)
    with pytest.raises(ValueError, match=message):
        make(X, y.astype(float))


def _brute_force(train: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact k nearest by hand: every distance in float64 of the data's own values, ties to the lower index."""
    distances = ((queries[:, None, :].astype(np.float64) - train[None, :, :].astype(np.float64)) ** 2).sum(2)
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(distances, order, 1), order


@pytest.mark.parametrize("ranking", ["float32", "bfloat16"])
def test_knn_neighbours_are_exact_on_adversarial_data(ranking):
    rng = np.random.default_rng(7)
    base = rng.normal(size=(300, 24)).astype(np.float32)
    train = np.vstack([
        base,
        base[:40],                                       # exact duplicates: equal distances, ties by index
        base[40:80] + np.float32(1e-4),                  # near-ties, far below bfloat16's resolution
        base[80:120] * 0 + base[80:81],                  # 40 copies of one point
    ]) + np.float32(1e4)                                 # large norms: |t| ~ 5e4, all of it the offset
    queries = np.vstack([train[:30] + np.float32(1e-5), rng.normal(size=(30, 24)).astype(np.float32) + 1e4,
                         train[330:360]])
    labels = np.arange(len(train)) % 3
    model = KNeighborsClassifier(7, ranking=ranking).fit(train, labels)
    distances, indices = model.kneighbors(queries)
    expected_distances, expected_indices = _brute_force(train, queries, 7)
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_allclose(distances, np.sqrt(expected_distances), rtol=1e-5, atol=1e-4)
    votes = np.array([np.bincount(labels[row], minlength=3).argmax() for row in expected_indices])
    assert (model.predict(queries) == votes).all()
