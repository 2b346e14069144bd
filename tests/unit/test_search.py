"""Hyperparameter search: candidates, contiguous-fold cross-validation, the best
mean score in the metric's direction, the refit, search_results, callbacks and every error."""
import json

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, make_blobs
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold

from pgml_py import errors
from pgml_py.ml import metrics, search


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X.astype(np.float32), y.astype(np.float32)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X[:300].astype(np.float32), y[:300].astype(np.float32)


ALPHAS = [{"alpha": a} for a in (0.1, 1, 10)]


def manual_means(X, y, alphas, cv=5):
    means = []
    for alpha in alphas:
        model = Ridge(alpha=alpha)
        fold_scores = [r2_score(y[test], model.fit(X[train], y[train]).predict(X[test]))
                       for train, test in KFold(cv).split(X)]
        means.append(np.mean(fold_scores))
    return means


# ---- candidates ----------------------------------------------------------------------------

def test_grid_is_the_product_with_fixed_hyperparams():
    got = search.candidates({"fit_intercept": True}, "grid",
                            {"alpha": [0.1, 1], "solver": ["svd", "lsqr", "cholesky"]}, {})
    assert len(got) == 6
    assert got[0] == {"fit_intercept": True, "alpha": 0.1, "solver": "svd"}
    assert got[-1] == {"fit_intercept": True, "alpha": 1, "solver": "cholesky"}
    assert {(c["alpha"], c["solver"]) for c in got} == {
        (a, s) for a in (0.1, 1) for s in ("svd", "lsqr", "cholesky")}
    assert all(list(c) == ["fit_intercept", "alpha", "solver"] for c in got)


def test_no_search_params_is_the_hyperparams_alone():
    assert search.candidates({"alpha": 2}, None, {}, {}) == [{"alpha": 2}]
    assert search.candidates(None, None, None, None) == [{}]
    assert search.candidates({}, "random", {}, {"n_iter": 5}) == [{}]


def test_search_params_without_search_is_a_grid():
    assert search.candidates({}, None, {"alpha": [1, 2]}, {}) == [{"alpha": 1}, {"alpha": 2}]


def test_random_is_deterministic_subset_capped():
    space = {"a": list(range(10)), "b": list(range(10))}
    grid = search.candidates({}, "grid", space, {})
    first = search.candidates({}, "random", space, {"n_iter": 2}, seed=7)
    assert first == search.candidates({}, "random", space, {"n_iter": 2}, seed=7)
    assert len(first) == 2 and first[0] != first[1] and all(c in grid for c in first)
    assert len(search.candidates({}, "random", space, {})) == 10  # default n_iter
    others = [search.candidates({}, "random", space, {"n_iter": 2}, seed=s) for s in range(5)]
    assert any(o != first for o in others)
    capped = search.candidates({}, "random", {"alpha": [1, 2, 3]}, {"n_iter": 50})
    assert sorted(c["alpha"] for c in capped) == [1, 2, 3]


def test_default_cv():
    assert search.default_cv(None, {}, {}) == 1
    assert search.default_cv("grid", {}, {}) == 5
    assert search.default_cv("random", {"a": [1]}, {}) == 5
    assert search.default_cv(None, {"a": [1, 2]}, {}) == 5
    assert search.default_cv(None, {}, {"cv": 3}) == 3


@pytest.mark.parametrize("args, text", [
    (({"alpha": 1}, "grid", {"alpha": [1, 2]}, {}),
     "`alpha` cannot be present in both hyperparams and search_params"),
    (({}, "grid", {"alpha": 0.1}, {}), "search_params must be a JSON object of non-empty lists."),
    (({}, "grid", {"alpha": []}, {}), "Got [] for alpha instead."),
    (({}, "grid", [1, 2], {}), "search_params must be a JSON object of lists. Got list instead."),
    (({}, "grid", {}, {"folds": 3}), 'unknown search_args key "folds"'),
    (({}, "grid", {}, []), "search_args must be a JSON object"),
    (({}, "random", {}, {"n_iter": 0}), "search_args.n_iter must be a positive integer. Got 0"),
    (({}, "random", {}, {"n_iter": 2.5}), "search_args.n_iter must be a positive integer"),
    (({}, "random", {}, {"n_iter": True}), "search_args.n_iter must be a positive integer"),
    (({}, "grid", {}, {"cv": -1}), "search_args.cv must be a positive integer. Got -1"),
    (({}, "grid", {}, {"cv": "5"}), "search_args.cv must be a positive integer"),
    (({}, "bayes", {}, {}), "search must be grid, random or NULL. Got 'bayes' instead."),
    (([1], None, {}, {}), "hyperparams must be a JSON object"),
])
def test_candidate_errors(args, text):
    with pytest.raises(errors.InvalidParameter) as info:
        search.candidates(*args)
    assert text in info.value.message
    assert info.value.sqlstate == "22023" and info.value.hint


# ---- run -----------------------------------------------------------------------------------

def test_grid_picks_best_mean_r2(diabetes):
    X, y = diabetes
    best, estimator, results = search.run("regression", "ridge", X, y, ALPHAS, 5)
    expected = manual_means(X, y, [0.1, 1, 10])
    assert results["mean_test_score"] == pytest.approx(expected, rel=1e-4)
    assert results["best_index"] == int(np.argmax(expected))
    assert best == ALPHAS[int(np.argmax(expected))]
    assert estimator.alpha == best["alpha"]


def test_search_results_shape_and_types(diabetes):
    X, y = diabetes
    cands = search.candidates({"fit_intercept": True}, "grid", {"alpha": [0.1, 1, 10]}, {})
    _, _, results = search.run("regression", "ridge", X, y, cands, 3)
    assert set(results) == {
        "params", "n_splits", "best_index", "mean_fit_time", "std_fit_time", "mean_score_time",
        "std_score_time", "mean_test_score", "std_test_score", "split0_test_score",
        "split1_test_score", "split2_test_score", "param_fit_intercept", "param_alpha"}
    assert results["params"] == cands and results["n_splits"] == 3
    assert type(results["best_index"]) is int
    assert results["param_alpha"] == [0.1, 1, 10] and results["param_fit_intercept"] == [True] * 3
    for key, value in results.items():
        if key.startswith(("mean_", "std_", "split")):
            assert len(value) == 3 and all(type(v) is float for v in value), key
    assert all(t > 0 for t in results["mean_fit_time"])
    json.dumps(results, allow_nan=False)


def test_refit_equals_one_fit_on_all_rows(diabetes):
    X, y = diabetes
    best, estimator, _ = search.run("regression", "ridge", X, y, ALPHAS, 4)
    alone = Ridge(**best).fit(X, y)
    np.testing.assert_allclose(estimator.predict(X), alone.predict(X), rtol=1e-5)


def test_lower_is_better_metric(diabetes, monkeypatch):
    X, y = diabetes
    monkeypatch.setitem(metrics.TARGETS, "regression", ("mean_squared_error", False))
    cands = [{"alpha": a} for a in (0.001, 100.0)]  # a huge alpha has the worse (higher) MSE
    _, _, results = search.run("regression", "ridge", X, y, cands, 3)
    assert results["mean_test_score"][1] > results["mean_test_score"][0]
    assert results["best_index"] == 0


def test_classification_xgboost(cancer):
    X, y = cancer
    cands = search.candidates({"n_estimators": 10}, "grid", {"max_depth": [1, 3]}, {})
    best, estimator, results = search.run("classification", "xgboost", X, y, cands, 3)
    means = results["mean_test_score"]
    assert results["best_index"] == int(np.argmax(means)) and best == cands[results["best_index"]]
    assert all(0.5 < m <= 1 for m in means)
    assert estimator.get_params()["max_depth"] == best["max_depth"]
    assert (estimator.predict(X) == y).mean() > 0.9


def test_folds_missing_classes_do_not_crash():
    X = np.arange(60, dtype=np.float32).reshape(30, 2)
    y = np.repeat([0.0, 1.0, 2.0], 10)  # sorted: every held-out fold is a class unseen in training
    _, estimator, results = search.run("classification", "linear", X, y, [{"C": 1.0}], 3)
    assert results["mean_test_score"] == [0.0] and results["best_index"] == 0
    assert list(estimator.classes_) == [0, 1, 2]
    y2 = np.repeat([0.0, 1.0], 15)  # every training fold holds one class: the fit fails
    calls = []
    _, estimator, results = search.run("classification", "linear", X, y2, [{}, {"C": 2.0}], 2,
                                       progress=lambda *a: calls.append(a[:2]))
    assert calls == [(n, 5) for n in range(1, 6)]
    assert results["mean_test_score"] == [None, None]
    assert results["split0_test_score"] == [None, None]
    assert results["best_index"] == 0 and list(estimator.classes_) == [0, 1]
    json.dumps(results, allow_nan=False)


def test_clustering_without_labels():
    X, _ = make_blobs(120, centers=3, random_state=0)
    cands = [{"n_clusters": k, "n_init": 2} for k in (2, 3)]
    best, estimator, results = search.run("clustering", "kmeans", X, None, cands, 2)
    assert results["n_splits"] == 2 and best == cands[results["best_index"]]
    assert estimator.n_clusters == best["n_clusters"]


def test_single_candidate_without_folds_just_fits(diabetes):
    X, y = diabetes
    calls = []
    best, estimator, results = search.run("regression", "ridge", X, y, [{"alpha": 2.0}], 1,
                                          progress=lambda *a: calls.append(a))
    assert results is None and best == {"alpha": 2.0} and estimator.alpha == 2.0
    assert [c[:2] for c in calls] == [(1, 1)]


def test_cv_one_scores_on_test_rows(diabetes):
    X, y = diabetes
    calls = []
    best, estimator, results = search.run("regression", "ridge", X[:350], y[:350], ALPHAS, 1,
                                          X_test=X[350:], y_test=y[350:],
                                          progress=lambda *a: calls.append(a[:2]))
    scores = [r2_score(y[350:], Ridge(**c).fit(X[:350], y[:350]).predict(X[350:])) for c in ALPHAS]
    assert results["n_splits"] == 1
    assert results["split0_test_score"] == pytest.approx(scores, rel=1e-4)
    assert best == ALPHAS[int(np.argmax(scores))]
    assert calls == [(1, 3), (2, 3), (3, 3)]  # no refit: the best fit already saw all rows
    with pytest.raises(errors.InvalidParameter, match="without test rows"):
        search.run("regression", "ridge", X, y, ALPHAS, 1)


def test_cv_larger_than_rows(diabetes):
    X, y = diabetes
    with pytest.raises(errors.InvalidParameter) as info:
        search.run("regression", "ridge", X[:4], y[:4], ALPHAS, 5)
    assert "cv = 5 is too large. There are only 4 samples." in info.value.message
    assert info.value.sqlstate == "22023" and info.value.hint


def test_progress_counts_every_fit(diabetes):
    X, y = diabetes
    calls = []
    search.run("regression", "ridge", X, y, ALPHAS, 5, progress=lambda *a: calls.append(a))
    assert [c[0] for c in calls] == list(range(1, 17))  # 3 candidates x 5 folds + the refit
    assert {c[1] for c in calls} == {16}
    elapsed = [c[2] for c in calls]
    assert elapsed == sorted(elapsed) and elapsed[0] >= 0


def test_interrupt_between_fits_propagates(diabetes):
    X, y = diabetes
    checks, fits = [], []

    class Cancelled(Exception):
        pass

    def check():
        checks.append(len(fits))
        if len(checks) == 4:
            raise Cancelled("canceling statement due to user request")

    with pytest.raises(Cancelled):
        search.run("regression", "ridge", X, y, ALPHAS, 5, check_for_interrupts=check,
                   progress=lambda *a: fits.append(a[0]))
    assert checks == [0, 1, 2, 3] and fits == [1, 2, 3]


def test_a_cancel_raised_by_the_progress_notice_propagates(diabetes):
    """PostgreSQL raises a pending cancel from inside a NOTICE: it must not count as a failed fold."""
    X, y = diabetes

    class Cancelled(Exception):
        pass

    def progress(done, total, elapsed):
        if done == 2:
            raise Cancelled("canceling statement due to statement timeout")

    with pytest.raises(Cancelled):
        search.run("regression", "ridge", X, y, ALPHAS, 5, progress=progress)


def test_interrupt_checked_before_every_fit(diabetes):
    X, y = diabetes
    checks = []
    search.run("regression", "ridge", X, y, ALPHAS, 2,
               check_for_interrupts=lambda: checks.append(1))
    assert len(checks) == 3 * 2 + 1


def test_bad_hyperparams_raise(diabetes):
    X, y = diabetes
    with pytest.raises(errors.InvalidParameter):
        search.run("regression", "ridge", X, y, [{"alpha": 1}, {"alpha": "big"}], 2)


def test_joint_regression_and_decomposition(diabetes):
    X, y = diabetes
    Y = np.column_stack([y, y * 2]).astype(np.float32)
    best, estimator, results = search.run("regression", "bayesian_ridge", X, Y,
                                          [{"max_iter": 300}], 2)
    assert estimator.predict(X).shape == (len(X), 2) and results["mean_test_score"][0] > 0.3
    best, estimator, results = search.run("decomposition", "pca", X, None,
                                          [{"n_components": 2}, {"n_components": 5}], 2)
    assert results["best_index"] == 1 and estimator.n_components == 5


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm", "catboost"])
def test_a_cancel_between_boosting_rounds_stops_the_fit(diabetes, monkeypatch, algorithm):
    """Inside a fold's fit too: a cancel raised between rounds is never taken for bad data."""
    monkeypatch.setattr(search, "ROUND_CHECK_SECONDS", 0.0)
    X, y = diabetes
    size = {"catboost": "iterations"}.get(algorithm, "n_estimators")
    checks = []

    class Cancelled(Exception):
        pass

    def check():
        checks.append(1)
        if len(checks) == 10:
            raise Cancelled("canceling statement due to statement timeout")

    with pytest.raises(Cancelled):
        search.run("regression", algorithm, X, y, [{size: 5000}], 3, check_for_interrupts=check)
    assert len(checks) == 10   # 1 before the first fold, then 9 rounds of it


def test_xgboost_random_forest_has_one_round_and_no_hook(diabetes, monkeypatch):
    monkeypatch.setattr(search, "ROUND_CHECK_SECONDS", 0.0)
    X, y = diabetes
    calls = []
    search.run("regression", "xgboost_random_forest", X, y, [{"n_estimators": 5}], 1,
               progress=lambda *a, **kw: calls.append((a[:2], kw.get("rounds"))))
    assert calls == [((1, 1), None)]


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm", "catboost"])
def test_progress_reports_boosting_rounds(diabetes, monkeypatch, algorithm):
    monkeypatch.setattr(search, "ROUND_CHECK_SECONDS", 0.0)
    X, y = diabetes
    size = {"catboost": "iterations"}.get(algorithm, "n_estimators")
    calls = []
    _, estimator, _ = search.run("regression", algorithm, X, y, [{size: 7}], 1,
                                 progress=lambda *a, **kw: calls.append((a[:2], kw.get("rounds"))))
    assert calls == [((0, 1), (i, 7)) for i in range(1, 8)] + [((1, 1), None)]
    if algorithm == "xgboost":
        assert estimator.get_params()["callbacks"] is None   # the hook does not stay with the model
