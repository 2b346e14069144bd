"""pgml_py.ml.metrics: the metrics (docs/reference.md, Classic ML) equal scikit-learn's, undefined metrics are
left out instead of failing, TARGETS directions, and every branch of the auto-deploy rule."""
import json
import math

import numpy as np
import pytest
from sklearn import datasets, metrics as sk
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression, LogisticRegression

from pgml_py import errors
from pgml_py.ml import metrics


def approx(value):
    return pytest.approx(value, rel=1e-12, abs=1e-12)


def assert_plain_floats(result):
    assert all(type(v) is float and math.isfinite(v) for v in result.values()), result
    json.dumps(result, allow_nan=False)


# ---- regression --------------------------------------------------------------------------

def test_regression_hand_made():
    y, p = [3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0]
    result = metrics.compute("regression", y, p)
    assert set(result) == {"r2", "mean_absolute_error", "mean_squared_error"}
    assert result["r2"] == approx(sk.r2_score(y, p))
    assert result["mean_absolute_error"] == approx(0.5)
    assert result["mean_squared_error"] == approx(0.375)
    assert_plain_floats(result)


def test_regression_on_diabetes():
    X, y = datasets.load_diabetes(return_X_y=True)
    model = LinearRegression().fit(X[:300], y[:300])
    p = model.predict(X[300:]).astype(np.float32)
    result = metrics.compute("regression", y[300:].astype(np.float32), p, X=X[300:], model=model)
    assert result["r2"] == approx(sk.r2_score(y[300:].astype(np.float32), p))
    assert result["mean_absolute_error"] == approx(sk.mean_absolute_error(y[300:].astype(np.float32), p))
    assert result["mean_squared_error"] == approx(sk.mean_squared_error(y[300:].astype(np.float32), p))
    assert_plain_floats(result)


def test_regression_single_row_leaves_out_r2():
    result = metrics.compute("regression", [1.0], [1.5])
    assert "r2" not in result and result["mean_squared_error"] == approx(0.25)


def test_joint_regression():
    y, p = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0]]), np.array([[1.1, 2.0], [1.9, 3.5], [3.2, 4.0]])
    assert metrics.compute("regression", y, p)["r2"] == approx(sk.r2_score(y, p))


# ---- classification ----------------------------------------------------------------------

BINARY_TRUE = [0, 1, 1, 0, 1, 0, 1, 1]
BINARY_PRED = [0, 1, 0, 0, 1, 1, 1, 1]
BINARY_PROBA = [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1], [0.2, 0.8], [0.45, 0.55], [0.1, 0.9], [0.35, 0.65]]


def test_binary_hand_made():
    result = metrics.compute("classification", BINARY_TRUE, BINARY_PRED, y_proba=BINARY_PROBA, classes=[0, 1])
    assert set(result) == {"f1", "precision", "recall", "accuracy", "mcc", "roc_auc", "log_loss"}
    assert result["f1"] == approx(sk.f1_score(BINARY_TRUE, BINARY_PRED))
    assert result["precision"] == approx(sk.precision_score(BINARY_TRUE, BINARY_PRED))
    assert result["recall"] == approx(sk.recall_score(BINARY_TRUE, BINARY_PRED))
    assert result["accuracy"] == approx(sk.accuracy_score(BINARY_TRUE, BINARY_PRED))
    assert result["mcc"] == approx(sk.matthews_corrcoef(BINARY_TRUE, BINARY_PRED))
    positive = [row[1] for row in BINARY_PROBA]
    assert result["roc_auc"] == approx(sk.roc_auc_score(BINARY_TRUE, positive))
    assert result["log_loss"] == approx(sk.log_loss(BINARY_TRUE, BINARY_PROBA))
    assert_plain_floats(result)


def test_binary_proba_as_a_vector_and_labels_without_1():
    """A 1-D y_proba is the positive class's probability; labels {2, 5}: 5 is positive."""
    y = [2 if v == 0 else 5 for v in BINARY_TRUE]
    p = [2 if v == 0 else 5 for v in BINARY_PRED]
    positive = [row[1] for row in BINARY_PROBA]
    result = metrics.compute("classification", y, p, y_proba=positive)
    assert result["f1"] == approx(sk.f1_score(y, p, pos_label=5))
    assert result["roc_auc"] == approx(sk.roc_auc_score(y, positive))
    assert result["log_loss"] == approx(sk.log_loss(y, BINARY_PROBA, labels=[2, 5]))


def test_binary_positive_class_is_1_with_labels_1_and_2():
    y, p = [1, 2, 2, 1, 2], [1, 2, 1, 1, 2]
    proba = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3], [0.4, 0.6]]  # columns: 1, 2
    result = metrics.compute("classification", y, p, y_proba=proba, classes=[1, 2])
    assert result["f1"] == approx(sk.f1_score(y, p, pos_label=1))
    assert result["roc_auc"] == approx(sk.roc_auc_score([v == 1 for v in y], [r[0] for r in proba]))
    assert result["log_loss"] == approx(sk.log_loss(y, proba, labels=[1, 2]))


def test_binary_without_proba_scores_the_predictions():
    result = metrics.compute("classification", BINARY_TRUE, BINARY_PRED)
    assert result["roc_auc"] == approx(sk.roc_auc_score(BINARY_TRUE, BINARY_PRED))
    assert "log_loss" not in result


def test_binary_with_one_class_in_y_true_leaves_out_roc_auc():
    result = metrics.compute("classification", [1, 1, 1], [1, 0, 1], y_proba=[[0.2, 0.8], [0.7, 0.3], [0.4, 0.6]],
                             classes=[0, 1])
    assert "roc_auc" not in result
    assert result["accuracy"] == approx(2 / 3)
    assert result["log_loss"] == approx(sk.log_loss([1, 1, 1], [[0.2, 0.8], [0.7, 0.3], [0.4, 0.6]], labels=[0, 1]))
    assert_plain_floats(result)


def test_binary_on_breast_cancer_with_the_model_classes():
    X, y = datasets.load_breast_cancer(return_X_y=True)
    model = LogisticRegression(max_iter=5000).fit(X[:400], y[:400])
    p, proba = model.predict(X[400:]), model.predict_proba(X[400:])
    result = metrics.compute("classification", y[400:], p, y_proba=proba, model=model)
    assert result["f1"] == approx(sk.f1_score(y[400:], p))
    assert result["precision"] == approx(sk.precision_score(y[400:], p))
    assert result["recall"] == approx(sk.recall_score(y[400:], p))
    assert result["mcc"] == approx(sk.matthews_corrcoef(y[400:], p))
    assert result["roc_auc"] == approx(sk.roc_auc_score(y[400:], proba[:, 1]))
    assert result["log_loss"] == approx(sk.log_loss(y[400:], proba))


def test_multiclass_on_iris_is_macro():
    X, y = datasets.load_iris(return_X_y=True)
    order = np.random.RandomState(0).permutation(len(y))
    X, y = X[order], y[order]
    model = LogisticRegression(max_iter=1000).fit(X[:100], y[:100])
    p = model.predict(X[100:])
    result = metrics.compute("classification", y[100:], p, y_proba=model.predict_proba(X[100:]), model=model)
    assert set(result) == {"f1", "precision", "recall", "accuracy", "mcc"}
    for key, fn in [("f1", sk.f1_score), ("precision", sk.precision_score), ("recall", sk.recall_score)]:
        assert result[key] == approx(fn(y[100:], p, average="macro"))
    assert result["accuracy"] == approx(sk.accuracy_score(y[100:], p))
    assert result["mcc"] == approx(sk.matthews_corrcoef(y[100:], p))


def test_multiclass_precision_and_recall_are_not_swapped():
    y, p = [0, 0, 0, 1, 1, 2], [0, 1, 2, 1, 1, 1]
    result = metrics.compute("classification", y, p)
    assert result["precision"] == approx(sk.precision_score(y, p, average="macro"))
    assert result["recall"] == approx(sk.recall_score(y, p, average="macro"))
    assert result["precision"] != approx(result["recall"])


def test_multiclass_with_a_class_missing_from_the_test_rows():
    """Class 3 was seen in training but is in neither y_true nor y_pred: no failure, macro
    averaging over every training class (the missing one scores 0)."""
    y, p = [0, 1, 2, 0, 1, 2], [0, 2, 2, 0, 1, 1]
    result = metrics.compute("classification", y, p, classes=[0, 1, 2, 3])
    for key, fn in [("f1", sk.f1_score), ("precision", sk.precision_score), ("recall", sk.recall_score)]:
        assert result[key] == approx(fn(y, p, average="macro", labels=[0, 1, 2, 3], zero_division=0))
    assert result["f1"] < sk.f1_score(y, p, average="macro")
    assert_plain_floats(result)


def test_multiclass_with_two_classes_in_the_test_rows_stays_macro():
    y, p = [0, 1, 1, 0], [0, 1, 0, 0]
    result = metrics.compute("classification", y, p, classes=[0, 1, 2])
    assert result["f1"] == approx(sk.f1_score(y, p, average="macro", labels=[0, 1, 2], zero_division=0))
    assert "roc_auc" not in result and "log_loss" not in result


def test_classification_labels_from_the_data_without_classes():
    y, p = [0, 1, 2, 2], [0, 1, 1, 2]
    assert metrics.compute("classification", y, p)["f1"] == approx(sk.f1_score(y, p, average="macro"))


# ---- clustering and decomposition --------------------------------------------------------

def test_silhouette():
    X, _ = datasets.make_blobs(n_samples=60, centers=3, random_state=0)
    labels = KMeans(n_clusters=3, n_init=3, random_state=0).fit_predict(X)
    result = metrics.compute("clustering", None, labels, X=X)
    assert result == {"silhouette": approx(sk.silhouette_score(X, labels))}
    assert_plain_floats(result)


def test_silhouette_undefined_is_left_out():
    X = np.arange(8.0).reshape(4, 2)
    assert metrics.compute("clustering", None, [0, 0, 0, 0], X=X) == {}
    assert metrics.compute("clustering", None, [0, 1, 2, 3], X=X) == {}
    assert metrics.compute("clustering", None, [0, 1, 0, 1]) == {}


def test_cumulative_explained_variance():
    X, _ = datasets.load_iris(return_X_y=True)
    pca = PCA(n_components=2).fit(X)
    result = metrics.compute("decomposition", None, pca.transform(X), X=X, model=pca)
    assert result == {"cumulative_explained_variance": approx(pca.explained_variance_ratio_.sum())}
    assert_plain_floats(result)
    assert metrics.compute("decomposition", None, None) == {}


def test_unknown_task():
    with pytest.raises(ValueError):
        metrics.compute("embedding", [1], [1])


# ---- targets and auto-deploy -------------------------------------------------------------

def test_targets():
    assert metrics.TARGETS["regression"] == ("r2", True)
    assert metrics.TARGETS["classification"] == ("f1", True)
    assert metrics.TARGETS["clustering"] == ("silhouette", True)
    assert metrics.TARGETS["decomposition"] == ("cumulative_explained_variance", True)
    assert metrics.TARGETS["text_classification"] == ("f1", True)
    assert metrics.TARGETS["text_pair_classification"] == ("f1", True)
    assert metrics.TARGETS["conversation"] == ("bleu", True)
    assert metrics.TARGETS["text_generation"] == ("perplexity", False)
    assert metrics.TARGETS["text2text"] == ("perplexity", False)
    assert metrics.target("text-generation") == ("perplexity", False)


def test_is_better_without_a_deployed_model():
    assert metrics.is_better("regression", {"r2": 0.1}, None)
    assert metrics.is_better("regression", {}, None)


@pytest.mark.parametrize("new, old, expected", [
    (0.9, 0.5, True), (0.5, 0.5, True), (0.4, 0.5, False)])
def test_is_better_higher(new, old, expected):
    assert metrics.is_better("classification", {"f1": new}, {"f1": old}) is expected


@pytest.mark.parametrize("new, old, expected", [
    (3.0, 5.0, True), (5.0, 5.0, True), (6.0, 5.0, False)])
def test_is_better_lower(new, old, expected):
    assert metrics.is_better("text-generation", {"perplexity": new}, {"perplexity": old}) is expected
    assert metrics.is_better("text2text", {"perplexity": new}, {"perplexity": old}) is expected


def test_is_better_when_only_the_new_lacks_the_metric():
    assert metrics.is_better("regression", {"mean_squared_error": 1.0}, {"r2": 0.5}) is False
    assert metrics.is_better("regression", {"r2": None}, {"r2": 0.5}) is False
    assert metrics.is_better("regression", {"r2": float("nan")}, {"r2": 0.5}) is False


def test_is_better_when_only_the_old_lacks_the_metric():
    assert metrics.is_better("regression", {"r2": -3.0}, {"mean_squared_error": 1.0}) is True
    assert metrics.is_better("regression", {"r2": -3.0}, {}) is True


def test_is_better_when_neither_has_the_metric():
    assert metrics.is_better("regression", {}, {}) is True
    assert metrics.is_better("conversation", {"loss": 1.0}, {"loss": 0.5}) is True


def test_is_better_reads_json_text():
    assert metrics.is_better("regression", '{"r2": 0.4}', '{"r2": 0.5}') is False
    assert metrics.is_better("regression", '{"r2": 0.6}', '{"r2": 0.5}') is True


# ---- the pgml.sklearn_* cores ------------------------------------------------------------

def test_sklearn_functions_match_sklearn():
    y, p = [3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0]
    assert metrics.r2_score(y, p) == approx(sk.r2_score(y, p))
    assert metrics.regression_metrics(y, p) == {"r2": approx(sk.r2_score(y, p)),
                                                "mse": approx(sk.mean_squared_error(y, p)),
                                                "mae": approx(sk.mean_absolute_error(y, p))}
    assert metrics.f1_score(BINARY_TRUE, BINARY_PRED) == approx(sk.f1_score(BINARY_TRUE, BINARY_PRED))
    y3, p3 = [0, 1, 2, 2, 1], [0, 2, 2, 2, 1]
    assert metrics.f1_score(y3, p3) == approx(sk.f1_score(y3, p3, average="macro"))


def test_sklearn_classification_metrics():
    result = metrics.classification_metrics(BINARY_TRUE, BINARY_PRED, 2)
    assert result == {"f1": approx(sk.f1_score(BINARY_TRUE, BINARY_PRED)),
                      "f1_micro": approx(sk.f1_score(BINARY_TRUE, BINARY_PRED, average="micro")),
                      "precision": approx(sk.precision_score(BINARY_TRUE, BINARY_PRED)),
                      "recall": approx(sk.recall_score(BINARY_TRUE, BINARY_PRED)),
                      "accuracy": approx(sk.accuracy_score(BINARY_TRUE, BINARY_PRED)),
                      "mcc": approx(sk.matthews_corrcoef(BINARY_TRUE, BINARY_PRED)),
                      "roc_auc": approx(sk.roc_auc_score(BINARY_TRUE, BINARY_PRED))}
    y3, p3 = [0, 1, 2, 2, 1, 0], [0, 2, 2, 2, 1, 1]
    result = metrics.classification_metrics(y3, p3, 3)
    assert "roc_auc" not in result
    assert result["precision"] == approx(sk.precision_score(y3, p3, average="macro"))
    assert result["recall"] == approx(sk.recall_score(y3, p3, average="macro"))


def test_sklearn_undefined_values_are_null():
    assert metrics.regression_metrics([1.0], [2.0])["r2"] is None
    assert metrics.classification_metrics([1, 1], [0, 1], 2)["roc_auc"] is None
    assert math.isnan(metrics.r2_score([1.0], [2.0]))


def test_sklearn_argument_errors():
    with pytest.raises(errors.DataError, match="different lengths: 3 and 2") as info:
        metrics.r2_score([1, 2, 3], [1, 2])
    assert info.value.hint
    with pytest.raises(errors.NullValueNotAllowed, match="y_hat"):
        metrics.f1_score([1, 0], [1, None])
    with pytest.raises(errors.InvalidParameter, match="num_classes must be at least 2. Got 1 instead."):
        metrics.classification_metrics([1, 0], [1, 0], 1)
    with pytest.raises(errors.InvalidParameter, match="num_classes is 2 but .* 3 distinct labels"):
        metrics.classification_metrics([0, 1, 2], [0, 1, 1], 2)
    with pytest.raises(errors.InvalidParameter, match="non-empty"):
        metrics.regression_metrics([], [])


def test_sklearn_multi_dimensional_arrays_are_flattened():
    assert metrics.r2_score([[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 5.0]]) == approx(
        sk.r2_score([1, 2, 3, 4], [1, 2, 3, 5]))
    with pytest.raises(errors.NullValueNotAllowed, match="ground_truth"):
        metrics.r2_score([[1.0, None], [3.0, 4.0]], [[1.0, 2.0], [3.0, 5.0]])
