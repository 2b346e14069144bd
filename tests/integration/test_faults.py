"""A backend ended in the middle of pgml.train (a grid search) or pgml.tune (issue 12):
by pg_terminate_backend, and by kill -9 (the postmaster then restarts every backend and runs
crash recovery). Afterwards the catalog holds exactly what it held before (projects,
snapshots, models, files, deployments, logs: no partial rows) and predict answers.
Runs on its own server (clusters.extra_port(3), /var/tmp/pgml-faults-<port>): kill -9 would break every
other test's connections on the session server."""
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import psycopg
import pytest

from tests.fixtures import tiny_pipelines
from tests.integration import clusters

PORT = clusters.extra_port(3)
HANG_GUARD = 300  # seconds; only against a hang, never a timing assertion

# Every catalog row that train and tune write, by identity.
CATALOG = {
    "projects": "SELECT id, name, task::text FROM pgml.projects ORDER BY id",
    "snapshots": "SELECT id, relation_name, status FROM pgml.snapshots ORDER BY id",
    "models": "SELECT id, project_id, snapshot_id, algorithm::text, status FROM pgml.models ORDER BY id",
    "files": "SELECT id, model_id, path, part, md5(data) FROM pgml.files ORDER BY id",
    "deployments": "SELECT id, project_id, model_id FROM pgml.deployments ORDER BY id",
    "logs": "SELECT id, model_id FROM pgml.logs ORDER BY id",
}

TRAIN = """SELECT * FROM pgml.train('fault_search', 'classification', 'fault_points', 'label',
                                    algorithm => 'random_forest', search => 'grid',
                                    search_params => '{"n_estimators": [60, 120], "max_depth": [6, 12, 18]}',
                                    search_args => '{"cv": 3}')"""
TUNE = """SELECT * FROM pgml.tune('fault_tuned', task => 'text-classification', relation_name => 'fault_reviews',
                                  y_column_name => 'class', model_name => %s, test_sampling => 'last',
                                  hyperparams => '{"training_args": {"max_steps": 5000, "logging_steps": 1000,
                                                                     "per_device_train_batch_size": 8}}')"""


@pytest.fixture(scope="module")
def bert():
    root = Path("/var/tmp/pgml-faults-models")
    shutil.rmtree(root, ignore_errors=True)
    path = tiny_pipelines.text_classifier(root / "bert")
    root.chmod(0o755)
    yield str(path)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    """The server, with a deployed model (the state every fault must leave as it was)."""
    server = clusters.start_primary(PORT, "/var/tmp/pgml-faults-%d" % PORT)
    try:
        with server.connect() as c:
            c.execute("""
                CREATE TABLE fault_points AS
                SELECT i, (i % 2) AS label, random() + (i % 2) AS f1, random() AS f2, random() AS f3, random() AS f4,
                       random() AS f5, random() AS f6
                FROM generate_series(1, 3000) i;
                CREATE TABLE fault_reviews AS
                SELECT CASE WHEN i % 2 = 0 THEN 'the cat is good data' ELSE 'the dog is sql' END AS text,
                       CASE WHEN i % 2 = 0 THEN 'positive' ELSE 'negative' END AS class
                FROM generate_series(1, 24) i;
                CREATE TABLE fault_line AS SELECT i::real AS x, (2 * i)::real AS y FROM generate_series(1, 20) i;
            """)
            c.execute("SELECT * FROM pgml.train('fault_line', 'regression', 'fault_line', 'y')")
        yield server
    finally:
        server.destroy()


def catalog(server):
    with server.connect() as c:
        return {name: c.execute(query).fetchall() for name, query in CATALOG.items()}


def assert_predicts(server):
    with server.connect() as c:
        assert c.execute("SELECT pgml.predict('fault_line', ARRAY[10]::real[])").fetchone()[0] == pytest.approx(20.0, abs=0.1)


def interrupted(server, query, params, progress, end):
    """Runs query in a backend of its own; once pg_stat_activity shows it at `progress` (the
    application_name pgml's progress lines set, e.g. 'pgml.train: fit %'), calls end(pid).
    Returns the error the query got."""
    conn = server.connect()
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    outcome = {}

    def run():
        try:
            outcome["rows"] = conn.execute(query, params).fetchall()
        except psycopg.Error as e:
            outcome["error"] = e

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    deadline = time.monotonic() + HANG_GUARD
    with server.connect() as monitor:
        while not monitor.execute("SELECT application_name LIKE %s FROM pg_stat_activity WHERE pid = %s",
                                  (progress, pid)).fetchone()[0]:
            assert worker.is_alive(), "the query ended before reaching %r: %r" % (progress, outcome)
            assert time.monotonic() < deadline, "no %r after %d s:\n%s" % (progress, HANG_GUARD, server.log_tail())
            time.sleep(0.05)
        assert worker.is_alive()
        end(pid, monitor)
    worker.join(HANG_GUARD)
    assert not worker.is_alive(), "the ended backend's query did not return:\n" + server.log_tail()
    conn.close()
    assert "error" in outcome, "the query finished before it was ended: %r" % outcome
    return outcome["error"]


def terminate(pid, monitor):
    assert monitor.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)


def kill9(pid, monitor):
    """SIGKILL, then until the postmaster's crash restart has ended the other backends too
    (the monitor's among them): a connection made before that would see the old server."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + HANG_GUARD
    try:
        while time.monotonic() < deadline:
            monitor.execute("SELECT 1")
            time.sleep(0.05)
    except psycopg.OperationalError:
        return
    raise AssertionError("the postmaster did not restart after kill -9")


@pytest.mark.parametrize("how", ["terminate", "kill9"])
@pytest.mark.parametrize("what", ["train", "tune"])
def test_an_ended_backend_leaves_no_partial_catalog_rows(cluster, bert, what, how):
    before = catalog(cluster)
    query, params, progress = ((TRAIN, None, "pgml.train: fit %") if what == "train" else
                               (TUNE, (bert,), "pgml.tune: step %"))
    error = interrupted(cluster, query, params, progress, terminate if how == "terminate" else kill9)
    if how == "terminate":
        assert error.sqlstate == "57P01", (error.sqlstate, str(error))  # admin_shutdown
    else:
        assert isinstance(error, psycopg.OperationalError), repr(error)
        # Crash recovery: every backend was restarted; wait until the server accepts again.
        cluster.wait_ready(HANG_GUARD)
    after = catalog(cluster)
    for table in CATALOG:
        assert after[table] == before[table], "%s changed by the ended %s" % (table, what)
    assert_predicts(cluster)


def test_the_catalog_takes_new_models_after_the_faults(cluster):
    """Sequences and indexes are sound after the crashes: a train completes and deploys."""
    with cluster.connect() as c:
        assert c.execute("SELECT * FROM pgml.train('fault_line', 'regression', 'fault_line', 'y', algorithm => 'ridge')"
                         ).fetchone()[0] == "fault_line"
        assert c.execute("SELECT count(*) FROM pgml.models m LEFT JOIN pgml.files f ON f.model_id = m.id "
                         "WHERE f.id IS NULL").fetchone() == (0,)
    assert_predicts(cluster)
