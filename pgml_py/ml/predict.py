"""pgml.predict and friends for models made by pgml.train: the estimator from
pgml.files with its task, labels and preprocessing. model_loader caches it per connection;
catalog.deployed_model_id says which model a statement predicts with."""
import functools
import json

import numpy as np

from .. import catalog, errors
from . import single_row, storage

LABELS_FILE = "labels.json"  # the original label values of a classification model, in code order
COLUMNS_FILE = "columns.json"  # the snapshot's feature columns with their fitted preprocessing

class Deployed:
    """A loaded model: the estimator, its task, feature count and original class values."""

    def __init__(self, estimator, task, num_features, classes, columns=None):
        self.estimator, self.task, self.num_features, self.classes = estimator, task, num_features, classes
        self.columns = columns  # the snapshot's feature columns with their fitted preprocessing
        self.one_row = (single_row.predictor(estimator, num_features)
                        if task in ("regression", "classification") else None)

    def rows(self, features):
        """features as a float32 matrix of num_features columns (row-major, flattened input)."""
        if any(v is None for v in features):
            raise errors.NullValueNotAllowed("features must not contain NULL elements",
                                             hint="Replace NULLs first, e.g. with COALESCE.")
        values = np.asarray(features, dtype=np.float32).reshape(-1)
        if values.size == 0 or values.size % self.num_features:
            raise errors.InvalidParameter(
                "the model expects %d features per row. Got %d values instead." % (self.num_features, values.size),
                hint="Pass the features in the order of the training relation's columns.")
        return values.reshape(-1, self.num_features)

    def predict(self, features):
        return self.predict_matrix(self.rows(features))

    def predict_first(self, features, fast=lambda: True):
        """The first row's prediction: one row through the library's fast path when it has one
        and `fast()` (pgml.predict_fast_path, asked only then) allows it."""
        if self.one_row is None or len(features) != self.num_features or None in features or not fast():
            # decomposition gives a row of components: the first one, as PostgresML
            return float(np.asarray(self.predict(features)).reshape(-1)[0])
        y = self.one_row(features)
        return float(self.class_values[int(y)]) if self.class_values is not None else float(y)

    def predict_matrix(self, X):
        if self.task == "decomposition":
            return self._estimate(self.estimator.transform, X)
        y = np.asarray(self._estimate(self.estimator.predict, X), dtype=np.float64)
        if self.task == "classification":
            y = y.reshape(len(X), -1)[:, 0]
            if self.class_values is not None:
                y = self.class_values[y.astype(int)]
        return y

    @functools.cached_property
    def class_values(self):
        """The original labels by class code, when they are numbers (else predict gives the code)."""
        if self.task != "classification" or self.classes is None or \
                not all(isinstance(c, (int, float)) for c in self.classes):
            return None
        return np.asarray(self.classes, dtype=np.float64)

    def predict_proba(self, features):
        if self.task != "classification":
            raise errors.InvalidParameter("You can't predict probabilities for a regression model"
                                          if self.task == "regression" else
                                          "You can't predict probabilities for a %s model" % self.task,
                                          hint="Use pgml.predict for this project.")
        if not hasattr(self.estimator, "predict_proba"):
            raise errors.FeatureNotSupported("this classifier has no probabilities",
                                             hint="Train with an algorithm that has predict_proba.")
        return self._estimate(self.estimator.predict_proba, self.rows(features))

    @staticmethod
    def _estimate(method, X):
        """method(X); NaN features for a model that takes no missing values are 22023 naming
        them (scikit-learn raises ValueError), not an internal error."""
        try:
            return method(X)
        except ValueError:
            if np.isnan(X).any():
                raise errors.InvalidParameter(
                    "features must not be NaN for this model: it takes no missing values",
                    hint="Replace NaN first, or train with preprocess => '{\"column\": {\"impute\": \"mean\"}}', "
                         "or with an algorithm that takes missing values (xgboost, lightgbm, catboost).") from None
            raise


def classic(db, model_id, row):
    """The Deployed model of a pgml.train model from its pgml.files (model_loader caches it);
    row: catalog.successful_model's."""
    files = catalog.model_files(db, model_id)
    size = sum(len(data) for data in files.values())  # pgml.cached_models().bytes: its pgml.files
    try:
        classes = json.loads(files.pop(LABELS_FILE)) if LABELS_FILE in files else None
        columns = json.loads(files.pop(COLUMNS_FILE)) if COLUMNS_FILE in files else None
    except ValueError as exc:  # a files row altered by SQL
        raise storage._corrupted(model_id, "%s: %s" % (type(exc).__name__, exc)) from exc
    estimator = storage.load(sorted(files.items()), model_id=model_id)
    deployed = Deployed(estimator, row["task"], row["num_features"], classes, columns)
    deployed.size_bytes = size
    return deployed


# ---- row form ----------------------------------------------------------------

def snapshot_columns(db, model_id):
    """The feature columns of the model's snapshot (models stored before columns.json)."""
    columns = catalog.snapshot_feature_columns(db, model_id)
    if not columns:
        raise errors.FeatureNotSupported("model %d has no snapshot columns to read a row with" % model_id,
                                         hint="Pass the features as an array instead.")
    return columns


def raw_row(columns, fields):
    """The row's fields [(name, JSON value)] → the raw feature vector snapshot.load would make:
    numbers as float (NULL → NaN), text as category codes (NULL → 0, unseen → NaN), arrays flat."""
    if len(fields) != len(columns):
        raise errors.InvalidParameter(
            "the row has %d fields, the model expects %d columns: %s"
            % (len(fields), len(columns), ", ".join(c["name"] for c in columns)),
            hint="Pass a ROW(...) of the training relation's feature columns, in their order.")
    out = []
    for column, (field, value) in zip(columns, fields):
        stats = column.get("statistics") or {}
        if "categories" in stats:
            if value is None:
                out.append(0.0)
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            category = stats["categories"].get(value if isinstance(value, str) else json.dumps(value))
            out.append(float("nan") if category is None or value == "__NULL__" else float(category["value"]))
        elif column.get("array"):
            flat = np.asarray(value if value is not None else [None] * column.get("size", 1), dtype=object).ravel()
            if flat.size != column.get("size", 1):
                raise errors.DataError('Mismatched array length for feature "%s": expected %d values, got %d'
                                       % (column["name"], column.get("size", 1), flat.size),
                                       hint="Pass the array with the width the model was trained on.")
            out += [_number(column, v) for v in flat]
        else:
            out.append(_number(column, value))
    return np.asarray(out, dtype=np.float64).reshape(1, -1)


def _number(column, value):
    if value is None:
        return float("nan")
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)  # also the strings "NaN" and "Infinity" of float columns
    except (TypeError, ValueError):
        raise errors.InvalidParameter(
            'field for column "%s" must be a number, got %s' % (column["name"], json.dumps(value)),
            hint="Cast it to the column's type, e.g. ROW(..., 1.5::REAL).") from None


def predict_row(db, model, model_id, row_json):
    """pgml.predict(project|model, ROW(...)): encode, impute, one-hot and scale the row exactly
    as training did (the model's fitted columns), then predict."""
    from . import preprocess
    columns = model.columns if model.columns is not None else snapshot_columns(db, model_id)
    fields = json.loads(row_json, object_pairs_hook=list)
    if not isinstance(fields, list):
        raise errors.InvalidParameter("pgml.predict expects a row of features",
                                      hint="Pass ROW(a, b, ...) with typed fields, or an array.")
    X = preprocess.transform(columns, raw_row(columns, fields), check_missing=True)
    return float(np.asarray(model.predict_matrix(X)).reshape(-1)[0])
