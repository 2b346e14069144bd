"""Hyperparameter search and cross-validation for pgml.train. Pure: arrays in,
an estimator and JSON-ready search_results out; the caller turns progress into NOTICEs.

Differences from PostgresML 2.10 (the (+) fixes): the best candidate has the best MEAN fold
score in the target metric's direction (the original kept the best single fold fit, always by
max) and is refitted on all training rows; random search is reproducible (seeded).
search_params without `search` is a grid search, as in the original, with the same default
cv of 5 a named search gets (the original scored every candidate on the test rows instead)."""
import json
import math
import random
import time

import numpy as np

from .. import errors
from . import algorithms, metrics

SEARCHES = ("grid", "random")
SEARCH_ARGS = ("n_iter", "cv")
DEFAULT_N_ITER = 10
DEFAULT_CV = 5


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise errors.bad_argument("search_args.%s" % name, "a positive integer", repr(value),
                                  hint='Pass search_args like \'{"n_iter": 10, "cv": 5}\'.')
    return value


def _check(search, search_params, search_args):
    """Validated (search, search_params, search_args), with None read as empty."""
    if search is not None and search not in SEARCHES:
        raise errors.bad_argument("search", "grid, random or NULL", repr(search),
                                  hint="Pass search => 'grid' or search => 'random'.")
    search_params = {} if search_params is None else search_params
    search_args = {} if search_args is None else search_args
    if not isinstance(search_params, dict):
        raise errors.bad_argument("search_params", "a JSON object of lists",
                                  type(search_params).__name__,
                                  hint='Pass search_params like \'{"alpha": [0.1, 1, 10]}\'.')
    for name, values in search_params.items():
        if not isinstance(values, list) or not values:
            raise errors.bad_argument(
                "search_params", "a JSON object of non-empty lists",
                "%s for %s" % (json_repr(values), name),
                hint='Give every parameter a list of values, like \'{"%s": [1, 2]}\'.' % name)
    if not isinstance(search_args, dict):
        raise errors.bad_argument("search_args", "a JSON object", type(search_args).__name__,
                                  hint='Pass search_args like \'{"n_iter": 10, "cv": 5}\'.')
    for name, value in search_args.items():
        if name not in SEARCH_ARGS:
            raise errors.InvalidParameter(
                "unknown search_args key %s" % json_repr(name),
                hint="search_args takes only n_iter and cv.")
        _positive_int(name, value)
    return search, search_params, search_args


def json_repr(value):
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def candidates(hyperparams, search, search_params, search_args, seed=0):
    """The hyperparams to try: the fixed `hyperparams` combined with every combination of the
    `search_params` lists (grid), or `n_iter` of them sampled without replacement (random)."""
    search, search_params, search_args = _check(search, search_params, search_args)
    hyperparams = {} if hyperparams is None else hyperparams
    if not isinstance(hyperparams, dict):
        raise errors.bad_argument("hyperparams", "a JSON object", type(hyperparams).__name__,
                                  hint='Pass hyperparams like \'{"n_estimators": 20}\'.')
    for name in search_params:
        if name in hyperparams:
            raise errors.InvalidParameter(
                "`%s` cannot be present in both hyperparams and search_params. "
                "Please choose one or the other." % name,
                hint="Remove %s from hyperparams to search it, or from search_params to fix it."
                % name)
    names = list(search_params)
    sizes = [len(search_params[name]) for name in names]
    size = math.prod(sizes)
    indexes = range(size)
    if search == "random":
        n_iter = search_args.get("n_iter", DEFAULT_N_ITER)
        # Indexes, not combinations, are sampled, so a huge grid is never materialized.
        indexes = sorted(random.Random(seed).sample(range(size), min(n_iter, size)))
    result = []
    for index in indexes:
        params = dict(hyperparams)
        for name, n in zip(reversed(names), reversed(sizes)):  # mixed radix, last name fastest
            index, digit = divmod(index, n)
            params[name] = search_params[name][digit]
        result.append({k: params[k] for k in list(hyperparams) + names})
    return result


def default_cv(search, search_params, search_args):
    """search_args.cv, else 5 for a search (search_params alone count as a grid), else 1."""
    search, search_params, search_args = _check(search, search_params, search_args)
    if "cv" in search_args:
        return search_args["cv"]
    return DEFAULT_CV if search is not None or search_params else 1


def _fold_score(task, estimator, X, y, classes):
    """The target metric of a fitted estimator on held-out rows; NaN when it cannot be had."""
    metric, _ = metrics.target(task)
    try:
        with algorithms.threads_only():
            y_pred = None
            if task != "decomposition":
                y_pred = getattr(estimator, algorithms.prediction_method(estimator))(X)
        scores = metrics.compute(task, y, y_pred, X=X, model=estimator, classes=classes)
    except errors.PgmlError:
        raise
    except Exception:
        return math.nan
    return scores.get(metric, math.nan)


def _stats(matrix):
    """Per-row (mean, std) over the finite values, population std as sklearn reports it."""
    means, stds = [], []
    for row in np.asarray(matrix, dtype=np.float64):
        finite = row[np.isfinite(row)]
        means.append(metrics.finite_or_none(finite.mean()) if finite.size else None)
        stds.append(metrics.finite_or_none(finite.std()) if finite.size else None)
    return means, stds


ROUND_CHECK_SECONDS = 0.05


class _Fits:
    """The bookkeeping of one search: fits counted against the total for progress, the cancel
    check before each fit and between boosting rounds, and a cancel raised inside a library's
    callback remembered, so the fold that saw it never passes for one the data could not fit."""

    def __init__(self, task, algorithm, n_threads, n_targets, total, check_for_interrupts, progress):
        self.task, self.algorithm, self.n_threads, self.n_targets = task, algorithm, n_threads, n_targets
        self.total, self.done = total, 0
        self.check_for_interrupts, self.progress = check_for_interrupts, progress
        self.started = self.last_round = time.perf_counter()
        self.cancelled = []

    def interrupt(self):
        if self.check_for_interrupts is not None:
            self.check_for_interrupts()

    def on_round(self, i, n):
        """After a boosting round, at most every 50 ms: the cancel check and a progress line.
        What they raise is remembered, so a fold's fit never takes a cancel for bad data."""
        now = time.perf_counter()
        if now - self.last_round < ROUND_CHECK_SECONDS:
            return
        self.last_round = now
        try:
            self.interrupt()
            if self.progress is not None:
                self.progress(self.done, self.total, now - self.started, rounds=(i, n))
        except BaseException as e:
            self.cancelled.append(e)
            raise

    def fit(self, params, X_fit, y_fit):
        estimator = algorithms.build(self.algorithm, self.task, params, n_threads=self.n_threads,
                                     n_targets=self.n_targets)
        return algorithms.fit(estimator, X_fit, y_fit, params, on_round=self.on_round)

    def report(self):
        """After each fit attempt (failed folds count too, so done reaches total). Outside any
        try: a NOTICE is where PostgreSQL raises a pending cancel, which must propagate."""
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total, time.perf_counter() - self.started)

    def fit_reported(self, params, X_fit, y_fit):
        """A fit of its own (no fold): cancel check, fit, progress."""
        self.interrupt()
        estimator = self.fit(params, X_fit, y_fit)
        self.report()
        return estimator


def _check_cv(cv, n_candidates, n_rows, has_test_rows):
    if isinstance(cv, bool) or not isinstance(cv, int) or cv < 1:
        raise errors.bad_argument("cv", "a positive integer", repr(cv))
    if cv == 1 and n_candidates > 1 and not has_test_rows:
        raise errors.InvalidParameter(
            "cv = 1 cannot compare %d hyperparameter candidates without test rows" % n_candidates,
            hint='Pass search_args like \'{"cv": 5}\', or keep a test_size above 0.')


def _splits(cv, n_rows):
    """[(training row indexes, held-out row indexes or None)]: contiguous folds, or all rows."""
    if cv > n_rows:
        raise errors.InvalidParameter(
            "cv = %d is too large. There are only %d samples." % (cv, n_rows),
            hint="Pass search_args with a cv of at most %d, or train on more rows." % n_rows)
    if cv == 1:
        return [(np.arange(n_rows), None)]
    from sklearn.model_selection import KFold
    return list(KFold(n_splits=cv, shuffle=False).split(np.empty((n_rows, 1))))


def _score_folds(fits, candidates, splits, X, y, classes, X_test, y_test):
    """Fits and scores every candidate on every split: (fit_times, score_times, scores, the
    estimators fitted on all rows when there are no folds)."""
    shape = (len(candidates), len(splits))
    fit_times, score_times, scores = np.zeros(shape), np.zeros(shape), np.full(shape, np.nan)
    supervised = y is not None
    estimators = []
    for i, params in enumerate(candidates):
        for k, (train, held_out) in enumerate(splits):
            fits.interrupt()  # outside the try: a cancel must never count as a failed fold
            begin = time.perf_counter()
            try:
                estimator = fits.fit(params, X[train], y[train] if supervised else None)
            except errors.PgmlError:
                raise
            except Exception:
                if fits.cancelled:
                    raise
                # A fold the data cannot fit (one class only, say) scores NaN, as in sklearn.
                fit_times[i, k] = time.perf_counter() - begin
                fits.report()
                continue
            fit_times[i, k] = time.perf_counter() - begin
            fits.report()
            begin = time.perf_counter()
            if held_out is None:
                estimators.append(estimator)
                scores[i, k] = _fold_score(fits.task, estimator, X_test, y_test, classes)
            else:
                scores[i, k] = _fold_score(fits.task, estimator, X[held_out],
                                           y[held_out] if supervised else None, classes)
            score_times[i, k] = time.perf_counter() - begin
    return fit_times, score_times, scores, estimators


def _best_index(task, scores):
    """The candidate with the best mean fold score in the target metric's direction; ties go to
    the earlier candidate, and 0 when none scored."""
    mean_scores, _ = _stats(scores)
    _, higher = metrics.target(task)
    ranked = [(s if higher else -s, -i) for i, s in enumerate(mean_scores) if s is not None]
    return -max(ranked)[1] if ranked else 0


def _results(candidates, cv, best, fit_times, score_times, scores):
    """search_results in scikit-learn's cv_results_ shape, JSON-ready."""
    results = {"params": [dict(p) for p in candidates], "n_splits": cv, "best_index": best}
    for name, matrix in (("fit_time", fit_times), ("score_time", score_times),
                         ("test_score", scores)):
        results["mean_" + name], results["std_" + name] = _stats(matrix)
    for k in range(scores.shape[1]):
        results["split%d_test_score" % k] = [metrics.finite_or_none(s) for s in scores[:, k]]
    names = []
    for params in candidates:
        names += [name for name in params if name not in names]
    for name in names:
        results["param_" + name] = [params.get(name) for params in candidates]
    return results


def run(task, algorithm, X, y, candidates, cv, n_threads=1, check_for_interrupts=None,
        progress=None, *, X_test=None, y_test=None):
    """Fits every candidate on `cv` contiguous folds of the training rows and returns
    (best_params, estimator refitted on all rows, search_results); search_results is None for
    a single candidate without folds. cv 1 with several candidates scores each one, fitted on
    all rows, on X_test/y_test (PostgresML's way). check_for_interrupts() runs before each fit
    and between boosting rounds; progress(done, total, elapsed_seconds) after each fit, the final
    refit included, and with rounds=(round, rounds) during a boosted fit."""
    task = str(task).replace("-", "_")
    if not candidates:
        candidates = [{}]
    _check_cv(cv, len(candidates), len(X), X_test is not None)
    n_targets = y.shape[1] if y is not None and np.ndim(y) == 2 else 1
    classes = np.unique(y) if task == "classification" else None
    refits = 1 if cv >= 2 else 0
    fits = _Fits(task, algorithm, n_threads, n_targets, len(candidates) * cv + refits,
                 check_for_interrupts, progress)
    if cv == 1 and len(candidates) == 1:
        return dict(candidates[0]), fits.fit_reported(candidates[0], X, y), None
    splits = _splits(cv, len(X))
    fit_times, score_times, scores, estimators = _score_folds(
        fits, candidates, splits, X, y, classes, X_test, y_test)
    best = _best_index(task, scores)
    best_params = dict(candidates[best])
    if cv == 1 and len(estimators) == len(candidates):
        estimator = estimators[best]
    else:
        fits.total = fits.done + 1
        estimator = fits.fit_reported(best_params, X, y)
    return best_params, estimator, _results(candidates, cv, best, fit_times, score_times, scores)
