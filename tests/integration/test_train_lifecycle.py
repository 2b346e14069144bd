"""Train's transaction behaviour: a cancelled train leaves nothing behind, and pg_dump keeps
models (the catalog tables are extension configuration tables)."""
import subprocess
import time

import psycopg
import pytest

from tests.conftest import assert_cancelled_cleanly, assert_stopped_promptly, catalog_counts


def bindir():
    return subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()


def test_statement_timeout_stops_a_search_and_leaves_the_catalog_as_it_was(server):
    with server.connect() as c:
        c.execute("SELECT * FROM pgml.load_dataset('diabetes')")
        before = catalog_counts(c)
        c.execute("SET statement_timeout = '2s'")
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled) as cancelled:  # 20 fits of 3,000+ trees: minutes
            c.execute("""SELECT * FROM pgml.train('lifecycle_cancel', 'regression', 'pgml.diabetes', 'target',
                         algorithm => 'random_forest', search => 'grid',
                         search_params => '{"n_estimators": [3000, 4000, 5000, 6000]}', search_args => '{"cv": 5}')""")
        assert_stopped_promptly(started, after=2)
        assert_cancelled_cleanly(c, cancelled.value, before)
        assert c.execute("SELECT count(*) FROM pgml.projects WHERE name = 'lifecycle_cancel'").fetchone()[0] == 0


@pytest.mark.parametrize("algorithm, hyperparams", [
    ("xgboost", '{"n_estimators": 1000000}'),
    ("lightgbm", '{"n_estimators": 1000000, "learning_rate": 0.0001}'),
    ("catboost", '{"iterations": 1000000}'),
])
def test_statement_timeout_stops_one_long_boosted_fit(server, algorithm, hyperparams):
    """No search: the cancel lands between the boosting rounds of the one fit, which also
    reports its rounds in a NOTICE. The library is imported before the timer (an import is no
    point where a cancel lands), and the fit must outlast the timeout: 100,000 xgboost rounds
    on diabetes took 4-11 s here, and one that ended before the 4 s timeout left the cancel to
    land after the model was stored (fresh-clone CI: 6.07 s and 6.13 s)."""
    with server.connect() as c:
        c.execute("SELECT * FROM pgml.load_dataset('diabetes')")  # also puts pgml's venv on the path
        c.execute("DO $$ import %s $$ LANGUAGE plpython3u" % algorithm)
        before = catalog_counts(c)
        notices = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        c.execute("SET statement_timeout = '4s'")
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled) as cancelled:
            c.execute("SELECT * FROM pgml.train('lifecycle_rounds', 'regression', 'pgml.diabetes', 'target', "
                      "algorithm => %s, hyperparams => %s)", (algorithm, hyperparams))
        assert_stopped_promptly(started, after=4)
        assert any(("fit 1 of 1 (%s): round" % algorithm) in n and "left" in n for n in notices), notices
        assert_cancelled_cleanly(c, cancelled.value, before)


def test_dump_and_restore_keeps_models_and_predictions(server):
    with server.connect() as admin:
        for name in ("dump_src", "dump_dst"):
            admin.execute("DROP DATABASE IF EXISTS %s" % name)
        admin.execute("CREATE DATABASE dump_src")
        admin.execute("CREATE DATABASE dump_dst")
    src, dst = server.url.replace("/pgml", "/dump_src"), server.url.replace("/pgml", "/dump_dst")
    x = [5.9, 3.0, 5.1, 1.8]
    with psycopg.connect(src, autocommit=True) as c:
        c.execute("SET client_min_messages = warning")
        c.execute("CREATE EXTENSION pgml CASCADE")
        c.execute("SELECT * FROM pgml.load_dataset('iris')")
        c.execute("SELECT * FROM pgml.train('dumped', 'classification', 'pgml.iris', 'target', algorithm => 'xgboost', "
                  "hyperparams => '{\"n_estimators\": 10}')")
        expected = c.execute("SELECT pgml.predict('dumped', %s::real[]), pgml.predict_proba('dumped', %s::real[])",
                             (x, x)).fetchone()
    dump = subprocess.run([bindir() + "/pg_dump", "--no-owner", src], capture_output=True, text=True, timeout=120)
    assert dump.returncode == 0, dump.stderr
    restore = subprocess.run([bindir() + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", dst],
                             input=dump.stdout, capture_output=True, text=True, timeout=120)
    assert restore.returncode == 0, restore.stderr
    with psycopg.connect(dst, autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM pgml.models").fetchone()[0] == 1
        assert c.execute("SELECT pgml.predict('dumped', %s::real[]), pgml.predict_proba('dumped', %s::real[])",
                         (x, x)).fetchone() == expected
        # The sequences came along: a new train gets a new id, not a conflict.
        c.execute("SELECT * FROM pgml.train('dumped', algorithm => 'linear')")
        assert c.execute("SELECT count(*) FROM pgml.models").fetchone()[0] == 2


def test_pg_stat_activity_shows_train_progress_and_pg_cancel_backend_stops_it(server):
    import threading
    with server.connect() as c, server.connect() as watcher:
        c.execute("SELECT * FROM pgml.load_dataset('diabetes')")
        c.execute("SET application_name = 'my app'")
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        before = catalog_counts(c)
        outcome = []

        def train():
            try:
                c.execute("""SELECT * FROM pgml.train('lifecycle_watch', 'regression', 'pgml.diabetes', 'target',
                             algorithm => 'random_forest', search => 'grid',
                             search_params => '{"n_estimators": [300, 400, 500, 600]}', search_args => '{"cv": 5}')""")
                outcome.append("finished")
            except psycopg.errors.QueryCanceled:
                outcome.append("cancelled")
        thread = threading.Thread(target=train)
        thread.start()
        seen = None
        for _ in range(200):
            name = watcher.execute("SELECT application_name FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0]
            if name.startswith("pgml.train: fit"):
                seen = name
                break
            time.sleep(0.05)
        started = time.monotonic()
        watcher.execute("SELECT pg_cancel_backend(%s)", (pid,))
        thread.join(120)
        assert seen and " of " in seen, seen  # e.g. "pgml.train: fit 5 of 21 (random_forest), ..."
        assert outcome == ["cancelled"]
        assert_stopped_promptly(started)
        assert c.execute("SHOW application_name").fetchone()[0] == "my app"
        assert catalog_counts(c) == before


def test_concurrent_trains_of_one_new_project_take_turns(server):
    import threading
    with server.connect() as c:
        c.execute("SELECT * FROM pgml.load_dataset('iris')")
    errors_seen, results = [], []

    def train(algorithm):
        try:
            with server.connect() as c:
                results.append(c.execute("SELECT * FROM pgml.train('lifecycle_race', 'classification', 'pgml.iris', "
                                         "'target', algorithm => %s::pgml.algorithm)", (algorithm,)).fetchone())
        except Exception as e:  # any failure fails the test below
            errors_seen.append(e)
    threads = [threading.Thread(target=train, args=(a,)) for a in ("linear", "random_forest", "xgboost")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors_seen and len(results) == 3
    with server.connect() as c:
        assert c.execute("SELECT count(*) FROM pgml.projects WHERE name = 'lifecycle_race'").fetchone()[0] == 1
        assert c.execute("SELECT count(*) FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id "
                         "WHERE p.name = 'lifecycle_race' AND m.status = 'successful'").fetchone()[0] == 3
        assert c.execute("SELECT count(*) FROM pgml.deployed_models WHERE name = 'lifecycle_race'").fetchone()[0] == 1
