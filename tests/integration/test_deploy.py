"""pgml.deploy on catalog rows inserted directly, as PostgresML's client SDK does:
each test builds its own project (a unique name) with models whose metrics and created_at it
controls, and most run inside a transaction that is rolled back."""
import json
import uuid

import pytest

DEPLOYMENTS = """
SELECT m.metrics ->> 'tag', d.strategy::text FROM pgml.deployments d
JOIN pgml.models m ON m.id = d.model_id JOIN pgml.projects p ON p.id = d.project_id
WHERE p.name = %s ORDER BY d.created_at, d.id"""


def project(conn, task="regression"):
    name = "deploy_%s" % uuid.uuid4().hex[:10]
    conn.execute("INSERT INTO pgml.projects (name, task) VALUES (%s, %s)", (name, task))
    return name


def model(conn, name, tag, algorithm="linear", age_days=0, status="successful", **metrics):
    """A model row; metrics carries `tag` so a test can tell models apart."""
    metrics["tag"] = tag
    return conn.execute("""
        INSERT INTO pgml.models (project_id, num_features, algorithm, runtime, hyperparams, status,
                                 metrics, search_params, search_args, created_at)
        SELECT id, 1, %s, 'python', '{}', %s, %s, '{}', '{}',
               pg_catalog.clock_timestamp() - pg_catalog.make_interval(days => %s)
        FROM pgml.projects WHERE name = %s RETURNING id""",
        (algorithm, status, json.dumps(metrics), age_days, name)).fetchone()[0]


def deployed(conn, name):
    return conn.execute("""
        SELECT m.metrics ->> 'tag' FROM pgml.deployed_models v JOIN pgml.models m ON m.id = v.id
        WHERE v.name = %s""", (name,)).fetchone()[0]


def test_best_score_compares_numbers_not_text(conn):
    with conn.transaction(force_rollback=True):
        name = project(conn)
        model(conn, name, "a", r2=9.1)
        model(conn, name, "b", r2=10.5)   # text comparison would pick "9.1"
        model(conn, name, "c", r2=-20.0)  # and rank "-20" above "-3"
        assert conn.execute("SELECT * FROM pgml.deploy(%s, 'best_score')", (name,)).fetchall() == [
            (name, "best_score", "linear")]
        assert deployed(conn, name) == "b"


def test_best_score_negatives(conn):
    with conn.transaction(force_rollback=True):
        name = project(conn)
        model(conn, name, "worse", r2=-20.0)
        model(conn, name, "better", r2=-3.0)
        conn.execute("SELECT pgml.deploy(%s, 'best_score')", (name,))
        assert deployed(conn, name) == "better"


def test_deploy_with_the_project_name_alone_is_best_score(conn):
    """(+) deploy('p') resolves to the text form with strategy best_score."""
    with conn.transaction(force_rollback=True):
        name = project(conn, "classification")
        model(conn, name, "low", f1=0.5)
        model(conn, name, "high", f1=0.75, algorithm="xgboost")
        assert conn.execute("SELECT * FROM pgml.deploy(%s)", (name,)).fetchall() == [
            (name, "best_score", "xgboost")]
        assert deployed(conn, name) == "high"
        assert conn.execute("SELECT * FROM pgml.deploy(project_name => %s)", (name,)).fetchall() == [
            (name, "best_score", "xgboost")]


def test_best_score_is_ascending_for_perplexity(conn):
    with conn.transaction(force_rollback=True):
        name = project(conn, "text_generation")
        model(conn, name, "high", algorithm="transformers", perplexity=12.5)
        model(conn, name, "low", algorithm="transformers", perplexity=3.25)
        model(conn, name, "none", algorithm="transformers")
        conn.execute("SELECT pgml.deploy(%s, 'best_score')", (name,))
        assert deployed(conn, name) == "low"


def test_best_score_puts_missing_and_non_numeric_metrics_last(conn):
    with conn.transaction(force_rollback=True):
        name = project(conn)
        model(conn, name, "missing")
        model(conn, name, "text", r2="high")
        model(conn, name, "null", r2=None)
        model(conn, name, "scored", r2=-100.0, age_days=10)
        conn.execute("SELECT pgml.deploy(%s, 'best_score')", (name,))
        assert deployed(conn, name) == "scored"


def test_best_score_skips_models_that_did_not_succeed(conn):
    with conn.transaction(force_rollback=True):
        name = project(conn)
        model(conn, name, "ok", r2=0.5)
        model(conn, name, "failed", r2=0.99, status="failed")
        model(conn, name, "running", r2=0.98, status="in_progress")
        conn.execute("SELECT pgml.deploy(%s, 'best_score')", (name,))
        assert deployed(conn, name) == "ok"


def test_algorithm_filter(conn):
    with conn.transaction(force_rollback=True):
        name = project(conn)
        model(conn, name, "linear", r2=0.9)
        model(conn, name, "xgb_old", algorithm="xgboost", r2=0.5, age_days=2)
        model(conn, name, "xgb_new", algorithm="xgboost", r2=0.4, age_days=1)
        assert conn.execute("SELECT * FROM pgml.deploy(%s, 'best_score', 'xgboost')", (name,)).fetchall() == [
            (name, "best_score", "xgboost")]
        assert deployed(conn, name) == "xgb_old"
        conn.execute("SELECT pgml.deploy(%s, 'most_recent', algorithm => 'linear')", (name,))
        assert deployed(conn, name) == "linear"


def test_most_recent(conn):
    with conn.transaction(force_rollback=True):
        name = project(conn)
        model(conn, name, "new", r2=0.1, age_days=1, algorithm="ridge")
        model(conn, name, "old", r2=0.9, age_days=5)
        assert conn.execute("SELECT * FROM pgml.deploy(%s, 'most_recent')", (name,)).fetchall() == [
            (name, "most_recent", "ridge")]
        assert deployed(conn, name) == "new"


def test_rollback_twice_alternates_between_the_last_two(conn):
    with conn.transaction(force_rollback=True):
        name = project(conn)
        a = model(conn, name, "a", r2=0.1)
        b = model(conn, name, "b", r2=0.2)
        c = model(conn, name, "c", r2=0.3)
        for model_id in (a, b, c):
            conn.execute("SELECT pgml.deploy(%s::bigint)", (model_id,))
        assert deployed(conn, name) == "c"
        assert conn.execute("SELECT * FROM pgml.deploy(%s, 'rollback')", (name,)).fetchall() == [
            (name, "rollback", "linear")]
        assert deployed(conn, name) == "b"
        conn.execute("SELECT pgml.deploy(%s, 'rollback')", (name,))
        assert deployed(conn, name) == "c"
        conn.execute("SELECT pgml.deploy(%s, 'rollback')", (name,))
        assert deployed(conn, name) == "b"
        assert [r[1] for r in conn.execute(DEPLOYMENTS, (name,))] == [
            "specific", "specific", "specific", "rollback", "rollback", "rollback"]


def test_rollback_needs_an_earlier_deployment(conn, expect_error):
    with conn.transaction():
        name = project(conn)
        a = model(conn, name, "a", r2=0.1)
    try:
        err = expect_error(conn, "SELECT pgml.deploy(%s, 'rollback')", (name,))
        assert err.sqlstate == "55000" and "No qualified models exist for this deployment." in str(err)
        conn.execute("SELECT pgml.deploy(%s::bigint)", (a,))
        err = expect_error(conn, "SELECT pgml.deploy(%s, 'rollback')", (name,))
        assert err.sqlstate == "55000"
    finally:
        conn.execute("DELETE FROM pgml.projects WHERE name = %s", (name,))


def test_deploy_model_id_is_specific_and_views_follow(conn):
    with conn.transaction(force_rollback=True):
        name = project(conn)
        best = model(conn, name, "best", r2=0.9)
        other = model(conn, name, "other", algorithm="lasso", r2=0.1)
        assert conn.execute("SELECT * FROM pgml.deploy(%s)", (other,)).fetchall() == [
            (name, "specific", "lasso")]
        assert conn.execute("SELECT id, algorithm FROM pgml.deployed_models WHERE name = %s",
                            (name,)).fetchall() == [(other, "lasso")]
        assert dict(conn.execute("SELECT id, deployed FROM pgml.trained_models WHERE name = %s",
                                 (name,)).fetchall()) == {best: False, other: True}
        conn.execute("SELECT pgml.deploy(%s)", (name,))
        assert conn.execute("SELECT id FROM pgml.deployed_models WHERE name = %s", (name,)).fetchall() == [(best,)]
        assert dict(conn.execute("SELECT id, deployed FROM pgml.trained_models WHERE name = %s",
                                 (name,)).fetchall()) == {best: True, other: False}
        assert conn.execute("SELECT count(*) FROM pgml.overview WHERE name = %s", (name,)).fetchone()[0] == 2
        assert conn.execute(DEPLOYMENTS, (name,)).fetchall() == [("other", "specific"), ("best", "best_score")]


@pytest.mark.parametrize("strategy", ["new_score", "specific"])
def test_invalid_strategy(conn, expect_error, strategy):
    with conn.transaction():
        name = project(conn)
        model(conn, name, "a", r2=0.1)
    try:
        err = expect_error(conn, "SELECT pgml.deploy(%s, %s::pgml.strategy)", (name, strategy))
        assert err.sqlstate == "22023" and "invalid strategy" in str(err) and err.diag.message_hint
        assert conn.execute(DEPLOYMENTS, (name,)).fetchall() == []
    finally:
        conn.execute("DELETE FROM pgml.projects WHERE name = %s", (name,))


def test_unknown_project(conn, expect_error):
    err = expect_error(conn, "SELECT pgml.deploy('no_such_project_xyz', 'best_score')")
    assert err.sqlstate == "42704"
    assert "Project named `no_such_project_xyz` does not exist." in str(err)
    assert "pgml.train('no_such_project_xyz'" in err.diag.message_hint


def test_unknown_model_id(conn, expect_error):
    err = expect_error(conn, "SELECT pgml.deploy(-1::bigint)")
    assert err.sqlstate == "42704" and "model -1 does not exist" in str(err) and err.diag.message_hint


def test_model_id_that_did_not_succeed(conn, expect_error):
    with conn.transaction():
        name = project(conn)
        failed = model(conn, name, "failed", status="failed")
    try:
        err = expect_error(conn, "SELECT pgml.deploy(%s::bigint)", (failed,))
        assert err.sqlstate == "55000" and err.diag.message_hint
    finally:
        conn.execute("DELETE FROM pgml.projects WHERE name = %s", (name,))


def test_no_candidate_for_the_algorithm(conn, expect_error):
    with conn.transaction():
        name = project(conn)
        model(conn, name, "a", r2=0.1)
    try:
        for strategy in ("best_score", "most_recent"):
            err = expect_error(conn, "SELECT pgml.deploy(%s, %s::pgml.strategy, 'xgboost')", (name, strategy))
            assert err.sqlstate == "55000"
            assert "No qualified models exist for this deployment." in str(err) and err.diag.message_hint
        assert conn.execute(DEPLOYMENTS, (name,)).fetchall() == []
    finally:
        conn.execute("DELETE FROM pgml.projects WHERE name = %s", (name,))


def test_a_committed_deploy_is_seen_by_another_connection(server):
    with server.connect() as one, server.connect() as two:
        with one.transaction():
            name = project(one)
            a = model(one, name, "a", r2=0.9)
            b = model(one, name, "b", r2=0.1)
        try:
            one.execute("SELECT pgml.deploy(%s)", (name,))
            assert deployed(two, name) == "a"
            with one.transaction():
                one.execute("SELECT pgml.deploy(%s::bigint)", (b,))
                assert deployed(two, name) == "a"  # not committed yet
            assert deployed(two, name) == "b"
        finally:
            one.execute("DELETE FROM pgml.projects WHERE name = %s", (name,))


def test_concurrent_deploys_serialize_on_the_project(server):
    """The second deploy waits for the first one's lock, then sees its deployment: a rollback
    after a committed specific deploy goes back to the model deployed before it."""
    import psycopg
    with server.connect() as one, server.connect() as two:
        with one.transaction():
            name = project(one)
            a = model(one, name, "a", r2=0.9)
            b = model(one, name, "b", r2=0.1)
        try:
            one.execute("SELECT pgml.deploy(%s::bigint)", (a,))
            two.execute("SET lock_timeout = '200ms'")
            with one.transaction():
                one.execute("SELECT pgml.deploy(%s::bigint)", (b,))
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    two.execute("SELECT pgml.deploy(%s, 'rollback')", (name,))
            two.execute("SELECT pgml.deploy(%s, 'rollback')", (name,))
            assert deployed(one, name) == "a"
        finally:
            one.execute("DELETE FROM pgml.projects WHERE name = %s", (name,))


def test_null_arguments(conn, expect_error):
    assert conn.execute("SELECT * FROM pgml.deploy(NULL::bigint)").fetchall() == []  # STRICT
    err = expect_error(conn, "SELECT pgml.deploy(NULL::text)")
    assert err.sqlstate == "22004" and err.diag.message_hint
    err = expect_error(conn, "SELECT pgml.deploy('x', NULL)")
    assert err.sqlstate == "22023" and "invalid strategy" in str(err)


def test_best_score_of_a_task_without_a_target_metric(conn, expect_error):
    """The client SDK makes embedding projects; they have no target metric to compare."""
    with conn.transaction():
        name = project(conn, "embedding")
        model(conn, name, "a", algorithm="transformers")
    try:
        err = expect_error(conn, "SELECT pgml.deploy(%s)", (name,))
        assert err.sqlstate == "22023" and "most_recent" in err.diag.message_hint
        conn.execute("SELECT pgml.deploy(%s, 'most_recent')", (name,))
        assert deployed(conn, name) == "a"
    finally:
        conn.execute("DELETE FROM pgml.projects WHERE name = %s", (name,))
