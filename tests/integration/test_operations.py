"""Operations (issue 12): every long call stops on cancel, statement_timeout and
pg_terminate_backend within about one batch; each statement predicts with the deployment
committed before it started (prepared statements, query strings of several statements, DO
blocks); a killed pgml.tune leaves no temporary directory behind for long.

The bounds on elapsed time are hang guards a fixed factor below what the uncancelled work takes
(tens of seconds or more), not speed measurements."""
import glob
import os
import threading
import time
import uuid

import psycopg
import pytest

from fixtures import tiny_pipelines as tiny
from tests.conftest import STOPPED_PROMPTLY, assert_stopped_promptly, connect_with_store

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
TEXTS = "ARRAY(SELECT 'short text number ' || i FROM generate_series(1, %d) i)"


@pytest.fixture(scope="module")
def store(server, public_dir):
    root = public_dir / "ops-store"
    tiny.cross_encoder(root / "t" / "cross")
    tiny.text_classifier(root / "t" / "classifier")
    for d in (root, root / "t"):
        d.chmod(0o755)
    return root


def connect(server, store=None):
    return server.connect() if store is None else connect_with_store(server, store)


def timed_out(conn, query, timeout="1s"):
    """Seconds until `query` failed with statement_timeout (it must fail that way, 57014); the
    session stays usable. The calls below take a minute or more uncancelled."""
    conn.execute("SET statement_timeout = %s" % psycopg.sql.quote(timeout))
    started = time.monotonic()
    with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout") as cancelled:
        conn.execute(query)
    elapsed = time.monotonic() - started
    assert cancelled.value.sqlstate == "57014"
    conn.execute("RESET statement_timeout")
    assert conn.execute("SELECT 1").fetchone() == (1,)
    return elapsed


def test_statement_timeout_stops_a_large_embed_batch(server):
    with connect(server) as c:
        c.execute("SELECT pgml.embed(%s, 'warm up')", (MINILM,))
        started = time.monotonic()
        timed_out(c, "SELECT count(*) FROM pgml.embed('%s', %s)" % (MINILM, TEXTS % 20000))
        assert_stopped_promptly(started, after=1)
        # the connection and the cached model still work
        assert len(c.execute("SELECT pgml.embed(%s, 'after')", (MINILM,)).fetchone()[0]) == 384


def test_pg_terminate_backend_ends_an_embed_batch(server):
    victim = connect(server)
    victim.execute("SELECT pgml.embed(%s, 'warm up')", (MINILM,))
    pid = victim.info.backend_pid
    outcome = []

    def run():
        started = time.monotonic()
        try:
            victim.execute("SELECT count(*) FROM pgml.embed('%s', %s)" % (MINILM, TEXTS % 20000))
            outcome.append(("finished", time.monotonic() - started))
        except psycopg.OperationalError as e:
            outcome.append((type(e).__name__, time.monotonic() - started))
    thread = threading.Thread(target=run)
    thread.start()
    with server.connect() as admin:
        time.sleep(1.5)
        terminated_at = time.monotonic()
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
        thread.join(120)
        assert outcome and outcome[0][0] != "finished", outcome
        assert_stopped_promptly(terminated_at, what="the terminated backend")
        gone = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0]
        assert gone == 0
    victim.close()


def test_a_timeout_during_the_first_import_acts_right_after_the_load(server):
    """A new backend imports torch and sentence-transformers and loads the model (seconds);
    a statement_timeout that fires meanwhile stops the call as soon as the load is done, not
    after 20,000 texts."""
    with connect(server) as cold:
        started = time.monotonic()
        cold.execute("SELECT pgml.embed(%s, 'first')", (MINILM,))
        first_call = time.monotonic() - started
    with connect(server) as c:
        elapsed = timed_out(c, "SELECT count(*) FROM pgml.embed('%s', %s)" % (MINILM, TEXTS % 20000), "300ms")
        assert elapsed < 2 * first_call + STOPPED_PROMPTLY, (elapsed, first_call)


def test_statement_timeout_stops_rank_over_many_documents(server, store):
    with connect(server, store) as c:
        c.execute("SELECT count(*) FROM pgml.rank('t/cross', 'q', ARRAY['a', 'b'])")
        docs = "ARRAY(SELECT repeat('word ' || i || ' ', 100) FROM generate_series(1, 20000) i)"  # ~40 s
        started = time.monotonic()
        timed_out(c, "SELECT count(*) FROM pgml.rank('t/cross', 'what is it', %s)" % docs)
        assert_stopped_promptly(started, after=1)


def test_statement_timeout_stops_a_classifier_over_many_inputs(server, store):
    with connect(server, store) as c:
        task = '{"task": "text-classification", "model": "t/classifier"}'
        c.execute("SELECT pgml.transform(%s::jsonb, '{}'::jsonb, ARRAY['warm up'])", (task,))
        inputs = "ARRAY(SELECT repeat('word ' || i || ' ', 100) FROM generate_series(1, 5000) i)"  # ~45 s
        started = time.monotonic()
        timed_out(c, "SELECT pgml.transform('%s'::jsonb, '{\"truncation\": true}'::jsonb, %s)" % (task, inputs))
        assert_stopped_promptly(started, after=1)


# ---- the deployment each statement sees ---------------------------------------------------

@pytest.fixture(scope="module")
def two_models(server):
    """A regression project with two models that predict clearly different values, and a
    function that deploys either one."""
    name = "ops_%s" % uuid.uuid4().hex[:8]
    with server.connect() as c:
        c.execute("SET client_min_messages = warning")
        c.execute("CREATE TABLE %s AS SELECT i::real AS x, (3 * i + 1)::real AS y FROM generate_series(1, 60) i" % name)
        c.execute("SELECT * FROM pgml.train(%s, 'regression', %s, 'y', algorithm => 'linear')", (name, name))
        c.execute("SELECT * FROM pgml.train(%s, algorithm => 'ridge', hyperparams => '{\"alpha\": 100000}', "
                  "automatic_deploy => false)", (name,))
        ids = [r[0] for r in c.execute("SELECT m.id FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id "
                                       "WHERE p.name = %s ORDER BY m.id", (name,))]
        c.execute("SELECT pgml.deploy(%s::bigint)", (ids[0],))
        values = [c.execute("SELECT pgml.predict(%s::bigint, ARRAY[50]::real[])", (i,)).fetchone()[0] for i in ids]
    assert abs(values[0] - values[1]) > 10, values

    def deploy(which):
        with server.connect() as other:
            other.execute("SELECT pgml.deploy(%s::bigint)", (ids[which],))
    deploy.name, deploy.values = name, values
    yield deploy
    with server.connect() as c:
        c.execute("DROP TABLE %s" % name)


def test_a_prepared_statement_predicts_with_the_new_deployment(server, two_models):
    with server.connect() as c:
        two_models(0)
        c.execute("PREPARE p AS SELECT pgml.predict('%s', ARRAY[50]::real[])" % two_models.name)
        for _ in range(6):  # past the plan cache's switch to a generic plan
            assert c.execute("EXECUTE p").fetchone()[0] == pytest.approx(two_models.values[0])
        two_models(1)
        assert c.execute("EXECUTE p").fetchone()[0] == pytest.approx(two_models.values[1])
        # the extended protocol's prepared statements too (what drivers prepare)
        query = "SELECT pgml.predict(%s, ARRAY[50]::real[])"
        for _ in range(6):
            assert c.execute(query, (two_models.name,), prepare=True).fetchone()[0] == pytest.approx(two_models.values[1])
        two_models(0)
        assert c.execute(query, (two_models.name,), prepare=True).fetchone()[0] == pytest.approx(two_models.values[0])


def blocked_on(server, lock, statement_in):
    """Runs statement_in(conn) in a thread while this holds advisory lock `lock`; returns
    (thread, results, release) once the thread waits on the lock."""
    holder = server.connect()
    holder.execute("SELECT pg_advisory_lock(%s)", (lock,))
    worker = server.connect()
    results = []
    thread = threading.Thread(target=lambda: results.append(statement_in(worker)))
    thread.start()
    with server.connect() as watch:
        for _ in range(600):
            waiting = watch.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
                                    (worker.info.backend_pid,)).fetchone()[0]
            if waiting:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the statement never waited on the advisory lock")

    def release():
        holder.execute("SELECT pg_advisory_unlock(%s)", (lock,))
        thread.join(60)
        holder.close()
        worker.close()
        return results[0]
    return release


def test_each_statement_of_a_query_string_sees_the_deployment_committed_before_it(server, two_models):
    two_models(0)
    query = ("SELECT pgml.predict('{p}', ARRAY[50]::real[]); SELECT pg_advisory_lock(71); "
             "SELECT pg_advisory_unlock(71); SELECT pgml.predict('{p}', ARRAY[50]::real[])").format(p=two_models.name)

    def run(conn):
        cur = conn.execute(query)  # no parameters: one simple-protocol query string
        values = [cur.fetchone()[0]]
        while cur.nextset():
            values.append(cur.fetchone()[0])
        return values
    release = blocked_on(server, 71, run)
    two_models(1)  # committed while the string waits between its statements
    values = release()
    assert values[0] == pytest.approx(two_models.values[0])
    assert values[3] == pytest.approx(two_models.values[1])


def test_each_statement_of_a_do_block_sees_the_deployment_committed_before_it(server, two_models):
    two_models(0)
    block = """
        DO $$
        DECLARE before REAL; after REAL;
        BEGIN
            before := pgml.predict('{p}', ARRAY[50]::real[]);
            PERFORM pg_advisory_lock(72);
            PERFORM pg_advisory_unlock(72);
            after := pgml.predict('{p}', ARRAY[50]::real[]);
            RAISE NOTICE 'predictions %,%', before, after;
        END $$""".replace("{p}", two_models.name)

    def run(conn):
        notices = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        conn.execute(block)
        return [float(v) for v in notices[-1].split(" ")[1].split(",")]
    release = blocked_on(server, 72, run)
    two_models(1)
    before, after = release()
    assert before == pytest.approx(two_models.values[0], rel=1e-5)
    assert after == pytest.approx(two_models.values[1], rel=1e-5)


def test_a_statement_keeps_its_deployment_while_another_connection_deploys(server, two_models):
    """Rows of one statement share its snapshot: a deploy committed mid-statement is not used."""
    two_models(0)
    query = ("SELECT pgml.predict('{p}', ARRAY[50]::real[]) AS v, "
             "CASE WHEN i = 2 THEN pg_advisory_lock(73)::text END FROM generate_series(1, 3) i").format(p=two_models.name)
    release = blocked_on(server, 73, lambda conn: [r[0] for r in conn.execute(query)])
    two_models(1)
    values = release()
    assert values == pytest.approx([two_models.values[0]] * 3)


def test_a_deploy_in_a_rolled_back_transaction_is_not_used_afterwards(server, two_models):
    two_models(0)
    with server.connect() as c:
        c.execute("BEGIN")
        c.execute("SELECT pgml.deploy(%s, 'most_recent')", (two_models.name,))
        inside = c.execute("SELECT pgml.predict(%s, ARRAY[50]::real[])", (two_models.name,)).fetchone()[0]
        c.execute("ROLLBACK")
        after = c.execute("SELECT pgml.predict(%s, ARRAY[50]::real[])", (two_models.name,)).fetchone()[0]
    assert inside == pytest.approx(two_models.values[1]) and after == pytest.approx(two_models.values[0])


# ---- tune's temporary directory -----------------------------------------------------------

def tune_dirs():
    return set(glob.glob("/tmp/pgml-tune-*"))


def test_a_terminated_tune_leaves_no_directory_after_the_next_tune(server, store):
    with server.connect() as c:
        c.execute("CREATE TABLE IF NOT EXISTS ops_reviews AS SELECT 'text ' || i AS text, "
                  "CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END AS class FROM generate_series(1, 40) i")
    before = tune_dirs()
    victim = connect(server)
    args = ("ops_tune", "text-classification", "ops_reviews", str(store / "t" / "classifier"))
    tune = "SELECT * FROM pgml.tune(%s, task => %s, relation_name => %s, model_name => %s, hyperparams => %s)"
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(
        _swallow(lambda: victim.execute(tune, args + ('{"training_args": {"num_train_epochs": 5000}}',)))))
    thread.start()
    left = set()
    for _ in range(1200):
        left = tune_dirs() - before
        if left:
            break
        time.sleep(0.1)
    assert left, "the tune never made its directory"
    with server.connect() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (victim.info.backend_pid,))
    thread.join(120)
    victim.close()
    # the backend died without running Python's cleanup: the next tune (any backend) removes it
    with connect(server) as c:
        c.execute("SET client_min_messages = warning")
        c.execute(tune, args + ('{"training_args": {"max_steps": 1}}',))
        c.execute("DROP TABLE ops_reviews")
    assert not (left & tune_dirs()), left


def _swallow(call):
    try:
        call()
        return "finished"
    except psycopg.Error as e:
        return type(e).__name__


def test_predict_fast_path_can_be_turned_off_and_gives_the_same_value(server):
    """(issue 14) pgml.predict_fast_path = off: one-row predict through the estimator's own
    predict instead of the library's C API, taking effect at once."""
    name = "ops_fast_%s" % uuid.uuid4().hex[:8]
    with server.connect() as c:
        c.execute("SET client_min_messages = warning")
        c.execute("CREATE TABLE %s AS SELECT i::real AS x, (i %% 7)::real AS z, (2 * i + (i %% 7))::real AS y "
                  "FROM generate_series(1, 80) i" % name)
        c.execute("SELECT * FROM pgml.train(%s, 'regression', %s, 'y', algorithm => 'xgboost', "
                  "hyperparams => '{\"n_estimators\": 10}')", (name, name))
        query = "SELECT pgml.predict(%s, ARRAY[%s, 3]::real[])"
        fast = [c.execute(query, (name, x)).fetchone()[0] for x in (5, 40)]
        assert c.execute("SHOW pgml.predict_fast_path").fetchone()[0] == "on"
        c.execute("SET pgml.predict_fast_path = off")
        slow = [c.execute(query, (name, x)).fetchone()[0] for x in (5, 40)]
        assert slow == pytest.approx(fast, rel=1e-6) and fast[0] != fast[1]
        c.execute("DROP TABLE %s" % name)
