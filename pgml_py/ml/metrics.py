"""Model metrics, the auto-deploy comparison and the core of the
pgml.sklearn_* SQL functions. Pure: numbers in, plain Python floats out (JSON-ready).
sklearn is imported inside the functions, so importing this module stays cheap."""
import json
import math
import warnings

import numpy as np

from .. import errors, vectors

# task -> (target metric, higher is better). Task names use underscores (enum labels).
TARGETS = {
    "regression": ("r2", True),
    "classification": ("f1", True),
    "clustering": ("silhouette", True),
    "decomposition": ("cumulative_explained_variance", True),
    "text_classification": ("f1", True),
    "text_pair_classification": ("f1", True),
    "conversation": ("bleu", True),  # tune never reports it: every new model is deployed
    "text_generation": ("perplexity", False),
    "text2text": ("perplexity", False),
    # PostgresML's targets, so a lookup never fails.
    "question_answering": ("f1", True),
    "summarization": ("rouge_ngram_f1", True),
    "translation": ("bleu", True),
}


def target(task):
    """(metric, higher_is_better) of a task given with dashes or underscores."""
    return TARGETS[str(task).replace("-", "_")]


def _value(metrics, name):
    """The metric as a float, or None when missing, null, not a number or NaN."""
    if not metrics:
        return None
    value = metrics.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def is_better(task, new_metrics, old_metrics):
    """Whether a new model should replace the deployed one: no deployed model,
    or neither has the target metric -> yes; only the new one lacks it -> no; both have it ->
    yes unless the deployed one is strictly better in the metric's direction. Metrics may be
    dicts or JSON text; a null or NaN value counts as missing."""
    if old_metrics is None:
        return True
    if isinstance(new_metrics, str):
        new_metrics = json.loads(new_metrics)
    if isinstance(old_metrics, str):
        old_metrics = json.loads(old_metrics)
    metric, higher = target(task)
    new, old = _value(new_metrics, metric), _value(old_metrics, metric)
    if new is None:
        return old is None
    if old is None:
        return True
    return not (old > new if higher else old < new)


# ---- metrics of a trained model ----------------------------------------------------------

def compute(task, y_true, y_pred, y_proba=None, X=None, model=None, classes=None):
    """The metrics of docs/reference.md (Classic ML) on the test rows. Metrics that are undefined (roc_auc with
    one class in y_true, silhouette with one cluster, r2 of a single row ...) are left out.
    classes: every class seen in training (default: model.classes_); the columns of a 2-D
    y_proba follow its order. y_proba may also be 1-D: the positive class's probability."""
    task = str(task).replace("-", "_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "regression":
            result = _regression(y_true, y_pred)
        elif task == "classification":
            if classes is None:
                classes = getattr(model, "classes_", None)
            result = _classification(y_true, y_pred, y_proba, classes)
        elif task == "clustering":
            result = _clustering(X, y_pred)
        elif task == "decomposition":
            ratios = getattr(model, "explained_variance_ratio_", None)
            result = {} if ratios is None else {"cumulative_explained_variance": np.sum(ratios)}
        else:
            raise ValueError("no metrics are computed for task %s" % task)
    return {k: float(v) for k, v in result.items() if v is not None and math.isfinite(float(v))}


def _regression(y_true, y_pred):
    from sklearn import metrics as m
    return {"r2": _or_none(m.r2_score, y_true, y_pred),
            "mean_absolute_error": m.mean_absolute_error(y_true, y_pred),
            "mean_squared_error": m.mean_squared_error(y_true, y_pred)}


def _or_none(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ValueError:
        return None


def _positive(labels):
    """PostgresML's positive class is 1 (sklearn's default); other label pairs use the larger."""
    return 1 if 1 in labels else labels[-1]


def _classification(y_true, y_pred, y_proba, classes):
    from sklearn import metrics as m
    y_true, y_pred = np.ravel(y_true), np.ravel(y_pred)
    order = np.ravel(classes).tolist() if classes is not None else None
    labels = sorted(set(order or []) | set(y_true.tolist()) | set(y_pred.tolist()))
    if len(labels) <= 2:
        averaging = dict(average="binary", pos_label=_positive(labels))
    else:
        averaging = dict(average="macro", labels=labels)
    result = {
        "f1": m.f1_score(y_true, y_pred, zero_division=0, **averaging),
        "precision": m.precision_score(y_true, y_pred, zero_division=0, **averaging),
        "recall": m.recall_score(y_true, y_pred, zero_division=0, **averaging),
        "accuracy": m.accuracy_score(y_true, y_pred),
        "mcc": m.matthews_corrcoef(y_true, y_pred),
    }
    if len(labels) == 2:
        positive = _positive(labels)
        score = y_pred == positive
        if y_proba is not None:
            proba = np.asarray(y_proba, dtype=np.float64)
            if proba.ndim == 2:
                columns = order if order and len(order) == proba.shape[1] else labels
                score = proba[:, columns.index(positive)]
            else:
                score = proba.ravel()
            if np.all((score >= 0) & (score <= 1)):
                two = np.column_stack([1 - score, score])  # columns in `labels` order
                if positive != labels[1]:
                    two = two[:, ::-1]
                result["log_loss"] = _or_none(m.log_loss, y_true, two, labels=labels)
        if len(np.unique(y_true)) == 2:
            result["roc_auc"] = m.roc_auc_score(y_true == positive, score)
    return result


def _clustering(X, labels):
    from sklearn import metrics as m
    if X is None:
        return {}
    X = np.asarray(X)
    labels = np.ravel(labels)
    clusters = len(np.unique(labels))
    if not 2 <= clusters < len(labels):
        return {}
    return {"silhouette": m.silhouette_score(X.reshape(len(labels), -1), labels)}


# ---- pgml.sklearn_* ----------------------------------------------------------

def _flat(values):
    """A multi-dimensional SQL array (nested lists) flattened row-major."""
    return [x for v in values for x in _flat(v)] if values and isinstance(values[0], list) else values


def _pair(ground_truth, y_hat):
    """The two SQL arrays as float64 vectors of the same, non-zero length."""
    truth = vectors.as_array(_flat(ground_truth), "ground_truth")
    hat = vectors.as_array(_flat(y_hat), "y_hat")
    if truth.size != hat.size:
        raise errors.DataError(
            "ground_truth and y_hat have different lengths: %d and %d" % (truth.size, hat.size),
            hint="Pass one prediction in y_hat for each value in ground_truth.")
    if truth.size == 0:
        raise errors.bad_argument("ground_truth", "a non-empty array", "an empty array",
                                  hint="Pass at least one value and its prediction.")
    return truth, hat


def finite_or_none(value):
    """value as a float; None for None, NaN and the infinities, which JSON cannot hold
    (PostgresML's serde_json wrote them as null too)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _json_ready(metrics):
    """NaN (e.g. r2 of one row) becomes JSON null, as PostgresML's serde_json wrote it."""
    return {k: finite_or_none(v) for k, v in metrics.items()}


def f1_score(ground_truth, y_hat):
    """Binary F1 (positive class 1) for at most 2 labels, macro F1 above (PostgresML errors)."""
    from sklearn import metrics as m
    truth, hat = _pair(ground_truth, y_hat)
    labels = sorted(set(truth.tolist()) | set(hat.tolist()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if len(labels) <= 2:
            return float(m.f1_score(truth, hat, average="binary", pos_label=_positive(labels),
                                    zero_division=0))
        return float(m.f1_score(truth, hat, average="macro", zero_division=0))


def r2_score(ground_truth, y_hat):
    from sklearn import metrics as m
    truth, hat = _pair(ground_truth, y_hat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(m.r2_score(truth, hat))


def regression_metrics(ground_truth, y_hat):
    from sklearn import metrics as m
    truth, hat = _pair(ground_truth, y_hat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _json_ready({"r2": m.r2_score(truth, hat), "mse": m.mean_squared_error(truth, hat),
                            "mae": m.mean_absolute_error(truth, hat)})


def classification_metrics(ground_truth, y_hat, num_classes):
    """PostgresML's keys; averaging is macro when num_classes or the labels exceed 2. roc_auc
    (num_classes = 2) scores y_hat as given and is null when ground_truth has one class; more
    than 2 labels with num_classes = 2 is an error (PostgresML failed in roc_auc)."""
    from sklearn import metrics as m
    if num_classes < 2:
        raise errors.bad_argument("num_classes", "at least 2", num_classes,
                                  hint="Pass the number of distinct classes, e.g. 2 for a binary classifier.")
    truth, hat = _pair(ground_truth, y_hat)
    labels = sorted(set(truth.tolist()) | set(hat.tolist()))
    if num_classes == 2 and len(labels) > 2:
        raise errors.InvalidParameter(
            "num_classes is %d but ground_truth and y_hat hold %d distinct labels" % (num_classes, len(labels)),
            hint="Pass the number of classes the labels come from as num_classes.")
    if num_classes > 2 or len(labels) > 2:
        averaging = dict(average="macro")
    else:
        averaging = dict(average="binary", pos_label=_positive(labels))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = {
            "f1": m.f1_score(truth, hat, zero_division=0, **averaging),
            "f1_micro": m.f1_score(truth, hat, average="micro", zero_division=0),
            "precision": m.precision_score(truth, hat, zero_division=0, **averaging),
            "recall": m.recall_score(truth, hat, zero_division=0, **averaging),
            "accuracy": m.accuracy_score(truth, hat),
            "mcc": m.matthews_corrcoef(truth, hat),
        }
        if num_classes == 2:
            result["roc_auc"] = _or_none(m.roc_auc_score, truth, hat)
    return _json_ready(result)
