"""pgml.train: project → snapshot → fit (with search) → metrics → catalog rows and
model files → automatic deploy, all in the caller's transaction, so a train that fails leaves
the catalog exactly as it was (the ERROR rolls everything back)."""
import json
import time

import numpy as np

from .. import catalog, errors
from . import algorithms, deploy, metrics, preprocess as preprocessing, search, snapshot, storage
from .split import test_rows
from .predict import COLUMNS_FILE, LABELS_FILE

SUPERVISED = ("regression", "classification")


def project_for(db, name, task):
    """(project id, task label): the existing project, or a new one when a task is given."""
    return catalog.project_for(db, name, None if task is None else algorithms.normalize_task(task))


def snapshot_for(db, project_id, task, relation_name, y_column_names, test_size, test_sampling, materialize):
    if relation_name is None:
        snapshot_id = catalog.latest_snapshot_id(db, project_id)
        if snapshot_id is None:
            raise errors.InvalidParameter(
                "You must pass a `relation_name` and `y_column_name` to snapshot the first time",
                hint="Pass relation_name => 'schema.table' (and y_column_name for a supervised task).")
        return snapshot_id
    if task in SUPERVISED and not y_column_names:
        raise errors.InvalidParameter(
            "You must pass a `y_column_name` when you pass a `relation_name` for a supervised task",
            hint="Pass y_column_name => 'the label column'.")
    return snapshot.create(db, relation_name, y_column_names or None, test_size, test_sampling, materialize)


def check_reused_test_size(db, snapshot_id, test_size, n):
    """A reused snapshot keeps its own split (as PostgresML), but a test_size passed with it is
    still checked as if it applied, and a NOTICE says it was not used."""
    if test_size is None:
        return
    if test_size < 0:
        raise errors.bad_argument("test_size", "a fraction below 1 or a row count of at least 1", test_size)
    test_rows(float(test_size), n)
    stored = catalog.snapshot(db, snapshot_id)["test_size"]
    if abs(float(stored) - float(test_size)) > 1e-6:
        db.notice("test_size %g is not used: the project's snapshot %d keeps its test_size %g "
               "(pass relation_name to take a new snapshot)" % (test_size, snapshot_id, stored))


def take_snapshot(db, relation_name, y_column_name, test_size, test_sampling, preprocess):
    """pgml.snapshot: a materialized snapshot of the relation for later use, its
    columns analysed as train does (statistics over the training rows, preprocessors fitted)."""
    snapshot_id = snapshot.create(db, relation_name, [y_column_name], test_size, test_sampling, materialize=True)
    dataset = snapshot.load(db, snapshot_id, background=True)
    apply_preprocess(dataset, preprocess)
    snapshot.save_columns(db, snapshot_id, dataset)
    return [(relation_name, y_column_name)]


def encode_labels(task, dataset):
    """Classification labels as codes 0..k-1 (XGBoost requires them) and the original values."""
    if task != "classification" or dataset.label_classes is not None:
        return dataset.label_classes
    classes, codes = np.unique(dataset.y_train, return_inverse=True)
    lookup = {value: code for code, value in enumerate(classes.tolist())}
    dataset.y_train = codes.astype(np.float32)
    dataset.y_test = np.array([lookup.get(v, np.nan) for v in dataset.y_test.tolist()], dtype=np.float32)
    return classes.tolist()


def test_metrics(task, estimator, dataset):
    """The metrics of docs/reference.md (Classic ML) on the test rows, plus score_time."""
    started = time.perf_counter()
    X, y = dataset.X_test, dataset.y_test
    if len(X) == 0:
        return {}
    method = algorithms.prediction_method(estimator)
    y_pred = estimator.predict(X) if method == "predict" else None
    y_proba = estimator.predict_proba(X) if task == "classification" and hasattr(estimator, "predict_proba") else None
    if y_pred is not None and task != "regression":
        y_pred = np.asarray(y_pred).reshape(len(X), -1)[:, 0]
    result = metrics.compute(task, y, y_pred, y_proba, X=X, model=estimator,
                             classes=getattr(estimator, "classes_", None))
    result["score_time"] = time.perf_counter() - started
    return result


def apply_preprocess(dataset, spec):
    """preprocess: impute → encode → scale every feature column, fitted on the training rows; the
    preprocessors and their statistics join dataset.columns (snapshots.columns and the model's
    files)."""
    features = [c for c in dataset.columns if not c["label"]]
    num_train = len(dataset.X_train)
    X = dataset.X if dataset.X is not None else np.vstack([dataset.X_train, dataset.X_test])
    X, names = preprocessing.fit(features, X, num_train, dataset.y_train, spec)
    dataset.X_train, dataset.X_test, dataset.feature_names = X[:num_train], X[num_train:], names
    dataset.X = X


def train(db, project_name, task=None, relation_name=None, y_column_name=None, algorithm="linear",
          hyperparams=None, search_method=None, search_params=None, search_args=None, test_size=0.25,
          test_sampling="stratified", runtime=None, automatic_deploy=True, materialize_snapshot=False,
          preprocess=None, n_threads=1, progress=None, check_for_interrupts=None):
    """Returns [(project, task with dashes, algorithm, deployed)]."""
    notice = progress or (lambda message: None)
    project_id, task = project_for(db, project_name, task)
    algorithm, task = algorithms.resolve(algorithm, task)
    if isinstance(y_column_name, str):
        y_column_name = [y_column_name]
    hyperparams, search_params, search_args = hyperparams or {}, search_params or {}, search_args or {}
    candidates = search.candidates(hyperparams, search_method, search_params, search_args)
    cv = search.default_cv(search_method, search_params, search_args)

    snapshot_id = snapshot_for(db, project_id, task, relation_name, y_column_name, test_size, test_sampling,
                               materialize_snapshot)
    notice("snapshot %d: reading rows" % snapshot_id)
    # The numeric columns' statistics are computed in a thread while the model fits.
    dataset = snapshot.load(db, snapshot_id, background=True)
    if relation_name is None:
        check_reused_test_size(db, snapshot_id, test_size, len(dataset.X_train) + len(dataset.X_test))
    label_classes = encode_labels(task, dataset)
    apply_preprocess(dataset, preprocess)
    notice("snapshot %d: %d training rows, %d test rows, %d features"
           % (snapshot_id, len(dataset.X_train), len(dataset.X_test), dataset.num_features))

    model_id = catalog.insert_model(db, project_id, snapshot_id, dataset.num_features, algorithm, hyperparams,
                                    runtime=runtime, search=search_method, search_params=search_params,
                                    search_args=search_args)

    def fit_progress(done, total, elapsed, rounds=None):
        if rounds is None:
            eta = elapsed / done * (total - done) if done else 0.0
            notice("fit %d of %d (%s), %.1f s elapsed, about %.1f s left" % (done, total, algorithm, elapsed, eta))
            return
        finished = done + rounds[0] / rounds[1]   # fit done + 1 is that far through its rounds
        notice("fit %d of %d (%s): round %d of %d, %.1f s elapsed, about %.1f s left"
               % (done + 1, total, algorithm, rounds[0], rounds[1], elapsed, elapsed / finished * (total - finished)))

    started = time.perf_counter()
    best, estimator, search_results = search.run(
        task, algorithm, dataset.X_train, dataset.y_train, candidates, cv, n_threads=n_threads,
        check_for_interrupts=check_for_interrupts, progress=fit_progress,
        X_test=dataset.X_test, y_test=dataset.y_test)
    fit_time = time.perf_counter() - started
    cancel_point = check_for_interrupts or (lambda: None)  # serializing 100,000 trees takes seconds
    cancel_point()
    notice("computing metrics on %d test rows" % len(dataset.X_test))
    model_metrics = test_metrics(task, estimator, dataset)
    model_metrics["fit_time"] = fit_time
    if search_results is not None:
        model_metrics["search_results"] = search_results

    snapshot.save_columns(db, snapshot_id, dataset)
    cancel_point()
    files = storage.dump(estimator)
    cancel_point()
    files.append((COLUMNS_FILE, json.dumps([c for c in dataset.columns if not c["label"]]).encode()))
    if label_classes is not None:
        files.append((LABELS_FILE, json.dumps(label_classes).encode()))
    catalog.store_files(db, model_id, files)
    catalog.finish_model(db, model_id, model_metrics, hyperparams=best)
    deployed = False
    if automatic_deploy is None or automatic_deploy:
        deployed = deploy.automatic(db, project_id, task, model_id, model_metrics)
    return [(project_name, task.replace("_", "-"), algorithm, deployed)]
