"""pgml.train / deploy / predict on the builtin datasets, against the real server."""
import math

import psycopg
import pytest


@pytest.fixture(scope="module")
def ml(server):
    with server.connect() as c:
        for name in ("diabetes", "breast_cancer", "iris"):
            c.execute("SELECT * FROM pgml.load_dataset(%s)", (name,))
        yield c


def catalog_counts(conn):
    return conn.execute("""SELECT (SELECT count(*) FROM pgml.projects), (SELECT count(*) FROM pgml.models),
                                  (SELECT count(*) FROM pgml.snapshots), (SELECT count(*) FROM pgml.files),
                                  (SELECT count(*) FROM pgml.deployments)""").fetchone()


def test_regression_train_deploy_predict(ml):
    row = ml.execute("SELECT * FROM pgml.train('t_diabetes', 'regression', 'pgml.diabetes', 'target')").fetchone()
    assert row == ("t_diabetes", "regression", "linear", True)
    model_id, metrics, status, num_features = ml.execute("""
        SELECT m.id, m.metrics, m.status, m.num_features FROM pgml.models m
        JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = 't_diabetes'""").fetchone()
    assert status == "successful" and num_features == 10
    assert metrics["r2"] > 0.3 and {"mean_absolute_error", "mean_squared_error", "fit_time", "score_time"} <= set(metrics)
    assert ml.execute("SELECT count(*) FROM pgml.files WHERE model_id = %s", (model_id,)).fetchone()[0] >= 1
    assert ml.execute("SELECT strategy::text FROM pgml.deployments WHERE model_id = %s", (model_id,)).fetchone() == ("new_score",)
    features = ml.execute("SELECT ARRAY[age, sex, bmi, bp, s1, s2, s3, s4, s5, s6] FROM pgml.diabetes LIMIT 3").fetchall()
    value = ml.execute("SELECT pgml.predict('t_diabetes', %s::real[])", (features[0][0],)).fetchone()[0]
    assert math.isfinite(value) and 20 < value < 400
    batch = ml.execute("SELECT pgml.predict_batch('t_diabetes', %s::real[])",
                       ([v for f in features for v in f[0]],)).fetchall()
    assert len(batch) == 3 and batch[0][0] == pytest.approx(value, rel=1e-5)
    assert ml.execute("SELECT pgml.predict(%s, %s::real[])", (model_id, features[0][0])).fetchone()[0] == pytest.approx(value)
    assert ml.execute("SELECT pgml.predict('t_diabetes', ARRAY[0.1, 0.0, 0.0, 0.0, 0, 0, 0, 0, 0, 0])").fetchone()[0]


def test_classification_with_xgboost_and_probabilities(ml):
    row = ml.execute("""SELECT * FROM pgml.train('t_cancer', 'classification', 'pgml.breast_cancer', 'malignant',
                        algorithm => 'xgboost', hyperparams => '{"n_estimators": 20}')""").fetchone()
    assert row == ("t_cancer", "classification", "xgboost", True)
    metrics = ml.execute("""SELECT metrics FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id
                            WHERE p.name = 't_cancer'""").fetchone()[0]
    assert metrics["accuracy"] > 0.9 and {"f1", "precision", "recall", "mcc", "roc_auc", "log_loss"} <= set(metrics)
    cols = [r[0] for r in ml.execute("""SELECT column_name FROM information_schema.columns WHERE table_schema = 'pgml'
                                         AND table_name = 'breast_cancer' AND column_name <> 'malignant' ORDER BY ordinal_position""")]
    assert len(cols) == 30
    features = psycopg.sql.SQL(", ").join(psycopg.sql.Identifier(c) for c in cols)
    rows = ml.execute(psycopg.sql.SQL("SELECT ARRAY[{}]::real[], malignant FROM pgml.breast_cancer LIMIT 20")
                      .format(features)).fetchall()
    predictions = [ml.execute("SELECT pgml.predict('t_cancer', %s::real[])", (r[0],)).fetchone()[0] for r in rows]
    assert set(predictions) <= {0.0, 1.0}
    assert sum(p == float(m) for p, (_, m) in zip(predictions, rows)) >= 17
    proba = ml.execute("SELECT pgml.predict_proba('t_cancer', %s::real[])", (rows[0][0],)).fetchone()[0]
    assert len(proba) == 2 and sum(proba) == pytest.approx(1.0, abs=1e-5)


def test_integer_labels_come_back_as_themselves(ml):
    ml.execute("SELECT * FROM pgml.train('t_iris', 'classification', 'pgml.iris', 'target', algorithm => 'random_forest', "
               "hyperparams => '{\"n_estimators\": 10}')")
    rows = ml.execute("SELECT ARRAY[sepal_length, sepal_width, petal_length, petal_width], target FROM pgml.iris").fetchall()
    got = [ml.execute("SELECT pgml.predict('t_iris', %s::real[])", (r[0],)).fetchone()[0] for r in rows[::10]]
    assert set(got) <= {0.0, 1.0, 2.0}
    assert sum(g == t for g, (_, t) in zip(got, rows[::10])) >= 13


def test_reuse_snapshot_and_automatic_deploy_keeps_the_better_model(ml):
    ml.execute("SELECT * FROM pgml.train('t_auto', 'regression', 'pgml.diabetes', 'target', algorithm => 'ridge')")
    first = ml.execute("SELECT model_id FROM pgml.deployed_models d JOIN pgml.deployments x ON x.model_id = d.id "
                       "WHERE d.name = 't_auto'").fetchone()[0]
    # A much worse model on the same snapshot (relation omitted): not deployed.
    row = ml.execute("""SELECT * FROM pgml.train('t_auto', algorithm => 'lasso', hyperparams => '{"alpha": 1000}')""").fetchone()
    assert row == ("t_auto", "regression", "lasso", False)
    assert ml.execute("SELECT count(DISTINCT snapshot_id) FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id "
                      "WHERE p.name = 't_auto'").fetchone()[0] == 1
    assert ml.execute("SELECT id FROM pgml.deployed_models WHERE name = 't_auto'").fetchone()[0] == first


def test_joint_regression(ml):
    ml.execute("SELECT * FROM pgml.load_dataset('linnerud')")
    row = ml.execute("SELECT * FROM pgml.train_joint('t_joint', 'regression', 'pgml.linnerud', "
                     "ARRAY['weight', 'waist', 'pulse'], test_size => 0.2)").fetchone()
    assert row[:3] == ("t_joint", "regression", "linear")
    out = ml.execute("SELECT pgml.predict_joint('t_joint', ARRAY[5, 162, 60]::real[])").fetchone()[0]
    assert len(out) == 3 and all(math.isfinite(v) for v in out)


def test_clustering_and_decomposition(ml):
    # Without labels every column is a feature: the four measurements and target.
    assert ml.execute("SELECT * FROM pgml.train('t_clusters', 'clustering', 'pgml.iris', hyperparams => '{\"n_clusters\": 3}')"
                      ).fetchone()[2] == "kmeans"
    assert ml.execute("SELECT pgml.predict('t_clusters', ARRAY[5.1, 3.5, 1.4, 0.2, 0]::real[])").fetchone()[0] in (0, 1, 2)
    assert ml.execute("SELECT * FROM pgml.train('t_pca', 'decomposition', 'pgml.iris', hyperparams => '{\"n_components\": 2}')"
                      ).fetchone()[2] == "pca"
    assert len(ml.execute("SELECT pgml.decompose('t_pca', ARRAY[5.1, 3.5, 1.4, 0.2, 0]::real[])").fetchone()[0]) == 2


def test_a_deploy_in_another_connection_is_used_by_the_next_predict(server, ml):
    ml.execute("SELECT * FROM pgml.train('t_switch', 'regression', 'pgml.diabetes', 'target')")
    ml.execute("SELECT * FROM pgml.train('t_switch', algorithm => 'lasso', hyperparams => '{\"alpha\": 1000}', "
               "automatic_deploy => false)")
    lasso = ml.execute("SELECT m.id FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id "
                       "WHERE p.name = 't_switch' AND m.algorithm = 'lasso'").fetchone()[0]
    x = [0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.0, 0.02, -0.02]
    with server.connect() as reader:
        before = reader.execute("SELECT pgml.predict('t_switch', %s::real[])", (x,)).fetchone()[0]
        ml.execute("SELECT * FROM pgml.deploy(%s)", (lasso,))
        after = reader.execute("SELECT pgml.predict('t_switch', %s::real[])", (x,)).fetchone()[0]
        assert after != pytest.approx(before)
        assert reader.execute("""CREATE OR REPLACE FUNCTION pg_temp.torch_loaded() RETURNS boolean AS $$
import sys
return "torch" in sys.modules
$$ LANGUAGE plpython3u""") is not None
        assert reader.execute("SELECT pg_temp.torch_loaded()").fetchone()[0] is False  # predict never imports torch


def test_predict_over_a_table_looks_the_deployment_up_once(ml):
    """One indexed query per statement, not per row; a deploy in this connection is used by its
    next query, also inside the same statement."""
    ml.execute("SELECT * FROM pgml.train('t_once', 'regression', 'pgml.diabetes', 'target')")
    ml.execute("SELECT * FROM pgml.train('t_once', algorithm => 'lasso', hyperparams => '{\"alpha\": 1000}', "
               "automatic_deploy => false)")

    def deployments_read():
        ml.execute("SELECT pg_stat_force_next_flush()")
        ml.execute("SELECT pg_stat_clear_snapshot()")
        return ml.execute("SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables "
                          "WHERE relid = 'pgml.deployments'::regclass").fetchone()[0]
    ml.execute("SELECT pgml.predict('t_once', ARRAY[age, sex, bmi, bp, s1, s2, s3, s4, s5, s6]) FROM pgml.diabetes")
    before = deployments_read()
    n = ml.execute("SELECT count(pgml.predict('t_once', ARRAY[age, sex, bmi, bp, s1, s2, s3, s4, s5, s6])) "
                   "FROM pgml.diabetes").fetchone()[0]
    assert n == 442 and deployments_read() - before <= 2
    # In one statement: a DO block's queries read the features from a table (an IMMUTABLE call on
    # constants would be folded when the query is planned, with the snapshot from before the deploy).
    ml.execute("""CREATE TEMP TABLE t_once_x AS SELECT ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.0,
                                                              0.02, -0.02]::real[] AS f;
        CREATE TEMP TABLE t_once_out (step INT, y REAL);
        DO $$
        BEGIN
            INSERT INTO t_once_out SELECT 1, pgml.predict('t_once', f) FROM t_once_x;
            PERFORM pgml.deploy('t_once', 'most_recent');
            INSERT INTO t_once_out SELECT 2, pgml.predict('t_once', f) FROM t_once_x;
            PERFORM pgml.deploy('t_once', 'rollback');
            INSERT INTO t_once_out SELECT 3, pgml.predict('t_once', f) FROM t_once_x;
        END $$""")
    y = dict(ml.execute("SELECT step, y FROM t_once_out").fetchall())
    assert y[1] == y[3] and y[2] != pytest.approx(y[1])


@pytest.mark.parametrize("query,sqlstate,text", [
    ("SELECT * FROM pgml.train('t_new', relation_name => 'pgml.iris', y_column_name => 'target')", "22023",
     "To create a new project, you must specify a `task`"),
    ("SELECT * FROM pgml.train('t_diabetes', 'classification', 'pgml.diabetes', 'target')", "22023",
     "already exists with a different task"),
    ("SELECT * FROM pgml.train('t_bad', 'regression', 'pgml.diabetes', 'target', algorithm => 'random_forest', "
     "hyperparams => '{\"n_estimators\": \"many\"}')", "22023", "random_forest"),
    ("SELECT * FROM pgml.train('t_bad', 'classification', 'pgml.iris', 'target', algorithm => 'lasso')", "22023",
     "lasso does not support classification"),
    ("SELECT * FROM pgml.train('t_bad', 'regression', 'pgml.diabetes')", "22023", "You must pass a `y_column_name`"),
    ("SELECT * FROM pgml.train('t_bad', 'regression')", "22023", "You must pass a `relation_name`"),
    ("SELECT pgml.predict('no_such_project', ARRAY[1, 2]::real[])", "42704", "No deployed model exists for the project named"),
    ("SELECT pgml.predict('t_diabetes', ARRAY[1, 2]::real[])", "22023", "expects 10 features"),
    ("SELECT pgml.predict_proba('t_diabetes', ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]::real[])", "22023",
     "You can't predict probabilities for a regression model"),
])
def test_bad_input_leaves_the_catalog_unchanged(ml, expect_error, query, sqlstate, text):
    before = catalog_counts(ml)
    error = expect_error(ml, query)
    assert error.sqlstate == sqlstate, str(error)
    assert text in error.diag.message_primary
    assert error.diag.message_hint
    assert catalog_counts(ml) == before
