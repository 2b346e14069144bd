"""pgml.sklearn_* metric functions on the real server: results equal scikit-learn's
computed here on the same REAL values, exact return types and labels, named-argument calls,
and errors with SQLSTATE, message and hint."""
import re

import numpy as np
import pytest
from sklearn import datasets, metrics as sk
from sklearn.linear_model import LinearRegression, LogisticRegression

BINARY_TRUE = [0, 1, 1, 0, 1, 0, 1, 1]
BINARY_PRED = [0, 1, 0, 0, 1, 1, 1, 1]
Y = [3.1, -0.5, 2.0, 7.3, 0.1]
P = [2.5, 0.0, 2.1, 8.0, 0.3]


def real(values):
    """The values as the server holds REAL: rounded to float32."""
    return np.asarray(values, dtype=np.float32).astype(np.float64)


def call(conn, expr, params=None):
    """(value, pg_typeof) of a single expression."""
    return conn.execute("SELECT r, pg_typeof(r)::text FROM (SELECT %s AS r) s" % expr, params).fetchone()


def close(expected, rel=1e-9):
    return pytest.approx(expected, rel=rel, abs=rel)


def assert_error(error, sqlstate, *substrings):
    assert error.sqlstate == sqlstate, (error.sqlstate, str(error))
    for s in substrings:
        assert s in error.diag.message_primary, (s, error.diag.message_primary)
    assert error.diag.message_hint, "no hint on: %s" % error.diag.message_primary


@pytest.fixture(scope="module")
def breast_cancer_predictions():
    X, y = datasets.load_breast_cancer(return_X_y=True)
    p = LogisticRegression(max_iter=5000).fit(X[:400], y[:400]).predict(X[400:])
    return y[400:].astype(float).tolist(), p.astype(float).tolist()


@pytest.fixture(scope="module")
def diabetes_predictions():
    X, y = datasets.load_diabetes(return_X_y=True)
    p = LinearRegression().fit(X[:300], y[:300]).predict(X[300:])
    return y[300:].tolist(), p.tolist()


# ---- values and types --------------------------------------------------------------------

def test_r2_score(shared_conn, diabetes_predictions):
    y, p = diabetes_predictions
    value, typ = call(shared_conn, "pgml.sklearn_r2_score(%s::real[], %s::real[])", (y, p))
    assert typ == "real"
    assert value == close(sk.r2_score(real(y), real(p)), 1e-6)


def test_f1_score_binary(shared_conn, breast_cancer_predictions):
    y, p = breast_cancer_predictions
    value, typ = call(shared_conn, "pgml.sklearn_f1_score(%s::real[], %s::real[])", (y, p))
    assert typ == "real"
    assert value == close(sk.f1_score(y, p), 1e-6)


def test_f1_score_multiclass_is_macro(shared_conn):
    y, p = [0, 1, 2, 2, 1, 0], [0, 2, 2, 2, 1, 1]
    value, _ = call(shared_conn, "pgml.sklearn_f1_score(%s::real[], %s::real[])", (y, p))
    assert value == close(sk.f1_score(y, p, average="macro"), 1e-6)


def test_regression_metrics(shared_conn, diabetes_predictions):
    for y, p in [(Y, P), diabetes_predictions]:
        value, typ = call(shared_conn, "pgml.sklearn_regression_metrics(%s::real[], %s::real[])", (y, p))
        assert typ == "jsonb"
        y32, p32 = real(y), real(p)
        assert value == {"r2": close(sk.r2_score(y32, p32)), "mse": close(sk.mean_squared_error(y32, p32)),
                         "mae": close(sk.mean_absolute_error(y32, p32))}


def test_classification_metrics_binary(shared_conn, breast_cancer_predictions):
    for y, p in [(BINARY_TRUE, BINARY_PRED), breast_cancer_predictions]:
        value, typ = call(shared_conn, "pgml.sklearn_classification_metrics(%s::real[], %s::real[], 2)", (y, p))
        assert typ == "jsonb"
        assert value == {"f1": close(sk.f1_score(y, p)), "f1_micro": close(sk.f1_score(y, p, average="micro")),
                         "precision": close(sk.precision_score(y, p)), "recall": close(sk.recall_score(y, p)),
                         "accuracy": close(sk.accuracy_score(y, p)), "mcc": close(sk.matthews_corrcoef(y, p)),
                         "roc_auc": close(sk.roc_auc_score(y, p))}


def test_classification_metrics_multiclass(shared_conn):
    X, y = datasets.load_iris(return_X_y=True)
    order = np.random.RandomState(0).permutation(len(y))
    X, y = X[order], y[order]
    p = LogisticRegression(max_iter=1000).fit(X[:100], y[:100]).predict(X[100:])
    y, p = y[100:].astype(float).tolist(), p.astype(float).tolist()
    value, _ = call(shared_conn, "pgml.sklearn_classification_metrics(%s::real[], %s::real[], 3)", (y, p))
    assert value == {"f1": close(sk.f1_score(y, p, average="macro")),
                     "f1_micro": close(sk.f1_score(y, p, average="micro")),
                     "precision": close(sk.precision_score(y, p, average="macro")),
                     "recall": close(sk.recall_score(y, p, average="macro")),
                     "accuracy": close(sk.accuracy_score(y, p)), "mcc": close(sk.matthews_corrcoef(y, p))}


def test_classification_metrics_with_a_class_missing(shared_conn):
    """num_classes 3 with two classes in the data: macro averaging, no failure."""
    y, p = [0, 1, 1, 0], [0, 1, 0, 0]
    value, _ = call(shared_conn, "pgml.sklearn_classification_metrics(%s::real[], %s::real[], 3)", (y, p))
    assert value["f1"] == close(sk.f1_score(y, p, average="macro"))
    assert value["recall"] == close(sk.recall_score(y, p, average="macro"))
    assert "roc_auc" not in value


def test_undefined_values_are_null(shared_conn):
    value, _ = call(shared_conn, "pgml.sklearn_classification_metrics(ARRAY[1, 1]::real[], ARRAY[0, 1]::real[], 2)")
    assert value["roc_auc"] is None and value["accuracy"] == 0.5
    value, _ = call(shared_conn, "pgml.sklearn_regression_metrics(ARRAY[1]::real[], ARRAY[2]::real[])")
    assert value == {"r2": None, "mse": 1.0, "mae": 1.0}


def test_named_arguments(shared_conn):
    value, _ = call(shared_conn, "pgml.sklearn_classification_metrics(ground_truth => %s::real[], "
                                 "y_hat => %s::real[], num_classes => 2)", (BINARY_TRUE, BINARY_PRED))
    assert value["f1"] == close(sk.f1_score(BINARY_TRUE, BINARY_PRED))
    for name in ("r2_score", "f1_score", "regression_metrics"):
        value, _ = call(shared_conn, "pgml.sklearn_%s(ground_truth => %%s::real[], y_hat => %%s::real[])" % name,
                        (BINARY_TRUE, BINARY_PRED))
        assert value is not None


def test_strict_immutable_parallel_unsafe(shared_conn):
    rows = shared_conn.execute(
        "SELECT proname, provolatile, proparallel, proisstrict, pg_get_function_identity_arguments(oid) "
        "FROM pg_proc WHERE pronamespace = 'pgml'::regnamespace AND proname LIKE 'sklearn\\_%%' "
        "ORDER BY proname").fetchall()
    assert [(r[0], r[4]) for r in rows] == [
        ("sklearn_classification_metrics", "ground_truth real[], y_hat real[], num_classes bigint"),
        ("sklearn_f1_score", "ground_truth real[], y_hat real[]"),
        ("sklearn_r2_score", "ground_truth real[], y_hat real[]"),
        ("sklearn_regression_metrics", "ground_truth real[], y_hat real[]")]
    assert all(r[1:4] == ("i", "u", True) for r in rows), rows  # PostgresML: PARALLEL SAFE
    assert call(shared_conn, "pgml.sklearn_r2_score(NULL, ARRAY[1]::real[])")[0] is None


# ---- errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("expr", [
    "pgml.sklearn_f1_score(ARRAY[1, 0, 1]::real[], ARRAY[1, 0, 1, 1, 0]::real[])",
    "pgml.sklearn_r2_score(ARRAY[1, 0, 1]::real[], ARRAY[1, 0, 1, 1, 0]::real[])",
    "pgml.sklearn_regression_metrics(ARRAY[1, 0, 1]::real[], ARRAY[1, 0, 1, 1, 0]::real[])",
    "pgml.sklearn_classification_metrics(ARRAY[1, 0, 1]::real[], ARRAY[1, 0, 1, 1, 0]::real[], 2)"])
def test_mismatched_lengths(conn, expect_error, expr):
    error = expect_error(conn, "SELECT " + expr)
    assert_error(error, "22000", "different lengths")
    message = error.diag.message_primary
    assert re.search(r"\b3\b", message) and re.search(r"\b5\b", message), message


@pytest.mark.parametrize("expr, name", [
    ("pgml.sklearn_f1_score(ARRAY[1, NULL, 0]::real[], ARRAY[1, 0, 0]::real[])", "ground_truth"),
    ("pgml.sklearn_r2_score(ARRAY[1, 2, 0]::real[], ARRAY[1, NULL, 0]::real[])", "y_hat"),
    ("pgml.sklearn_regression_metrics(ARRAY[NULL, 2]::real[], ARRAY[1, 2]::real[])", "ground_truth"),
    ("pgml.sklearn_classification_metrics(ARRAY[1, 0]::real[], ARRAY[NULL, 0]::real[], 2)", "y_hat")])
def test_null_elements(conn, expect_error, expr, name):
    assert_error(expect_error(conn, "SELECT " + expr), "22004", name, "NULL")


@pytest.mark.parametrize("num_classes", [1, 0, -2])
def test_num_classes_below_2(conn, expect_error, num_classes):
    error = expect_error(conn, "SELECT pgml.sklearn_classification_metrics(ARRAY[1, 0]::real[], "
                               "ARRAY[1, 0]::real[], %s)", (num_classes,))
    assert_error(error, "22023", "num_classes must be at least 2. Got %d instead." % num_classes)


def test_more_labels_than_two_classes(conn, expect_error):
    error = expect_error(conn, "SELECT pgml.sklearn_classification_metrics(ARRAY[0, 1, 2]::real[], "
                               "ARRAY[0, 1, 1]::real[], 2)")
    assert_error(error, "22023", "num_classes is 2", "3 distinct labels")


def test_empty_arrays(conn, expect_error):
    error = expect_error(conn, "SELECT pgml.sklearn_r2_score('{}'::real[], '{}'::real[])")
    assert_error(error, "22023", "ground_truth must be a non-empty array")


def test_multi_dimensional_arrays(conn, expect_error):
    value, _ = call(conn, "pgml.sklearn_r2_score(ARRAY[[1, 2], [3, 4]]::real[], ARRAY[[1, 2], [3, 5]]::real[])")
    assert value == close(sk.r2_score([1, 2, 3, 4], [1, 2, 3, 5]), 1e-6)
    error = expect_error(conn, "SELECT pgml.sklearn_r2_score(ARRAY[[1, NULL], [3, 4]]::real[], "
                               "ARRAY[[1, 2], [3, 5]]::real[])")
    assert_error(error, "22004", "ground_truth", "NULL")
