"""What every supported PostgreSQL major must run (make test-pg MAJOR=18 runs this file with
test_regress, test_upgrade, test_replica and test_security_roles against that major; make test
runs it on the host's server). Each case is a short end-to-end check of one thing pgml takes from
the server: its ctypes bindings (pgml_native), PL/Python, pgvector, cancel and timeouts, plan
caching across a deploy."""
import math
import subprocess
import time

import psycopg
import pytest

from fixtures import tiny_pipelines as tiny


def server_major(conn):
    return int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000


def test_the_server_is_the_one_pg_config_names(conn):
    """make test-pg points PG_CONFIG and PATH at the other major: the tests must run there."""
    wanted = subprocess.run(["pg_config", "--version"], capture_output=True, text=True, check=True).stdout
    assert wanted.split()[1].split(".")[0] == str(server_major(conn))


def test_native_bindings_are_trusted_on_this_major(conn):
    conn.execute("SELECT pgml.version()")  # boots pgml in this backend
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    conn.execute("""DO $$
        import pgml_native
        s = pgml_native.server()
        plpy.notice("%d %s %s %s" % (s.major, s.trusted, s.refused, s._interrupt is not None))
    $$ LANGUAGE plpython3u""")
    assert notices == ["%d True None True" % server_major(conn)]


def test_extensions_and_vector_search(conn):
    versions = dict(conn.execute("SELECT extname, extversion FROM pg_extension").fetchall())
    assert {"plpython3u", "vector", "pgml"} <= set(versions)
    conn.execute("DROP TABLE IF EXISTS majors_docs")
    conn.execute("CREATE TABLE majors_docs (body text, v vector(384))")
    conn.execute("""INSERT INTO majors_docs SELECT b, pgml.embed('sentence-transformers/all-MiniLM-L6-v2', b)::vector(384)
                    FROM unnest(ARRAY['a cat sat on the mat', 'stock markets fell', 'kittens purr']) b""")
    conn.execute("CREATE INDEX ON majors_docs USING hnsw (v vector_cosine_ops)")
    conn.execute("SET enable_seqscan = off")
    nearest = conn.execute("""SELECT body FROM majors_docs ORDER BY v <=> pgml.embed(
        'sentence-transformers/all-MiniLM-L6-v2', 'a small cat')::vector(384) LIMIT 1""").fetchone()[0]
    assert nearest in ("a cat sat on the mat", "kittens purr")


def test_transform_on_a_tiny_model(server, public_dir):
    store = public_dir / "majors-store"
    tiny.text_classifier(store / "t" / "cls")
    for d in (store, store / "t"):
        d.chmod(0o755)
    with server.connect() as c:
        c.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(store)))
        out = c.execute("""SELECT pgml.transform(task => '{"task": "text-classification", "model": "t/cls"}'::jsonb,
                                                 inputs => ARRAY['good data', 'bad cat'])""").fetchone()[0]
    assert len(out) == 2 and all(set(o) == {"label", "score"} and 0 <= o["score"] <= 1 for o in out)


@pytest.fixture(scope="module")
def trained(server):
    with server.connect() as c:
        c.execute("SELECT * FROM pgml.load_dataset('diabetes')")
        c.execute("SELECT * FROM pgml.train('majors_diabetes', 'regression', 'pgml.diabetes', 'target')")
        yield c


def test_train_with_search_deploy_predict(trained):
    features = trained.execute("SELECT ARRAY[age, sex, bmi, bp, s1, s2, s3, s4, s5, s6] FROM pgml.diabetes LIMIT 1").fetchone()[0]
    value = trained.execute("SELECT pgml.predict('majors_diabetes', %s::real[])", (features,)).fetchone()[0]
    assert math.isfinite(value) and 20 < value < 400
    trained.execute("""SELECT * FROM pgml.train('majors_diabetes', algorithm => 'ridge', search => 'grid',
                       search_params => '{"alpha": [0.1, 10]}')""")
    assert trained.execute("""SELECT count(*) FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id
                              WHERE p.name = 'majors_diabetes' AND m.search = 'grid'""").fetchone()[0] == 1


def test_tune_a_tiny_text_classifier(server, public_dir):
    bert = tiny.text_classifier(public_dir / "majors-bert")
    with server.connect() as c:
        c.execute("DROP TABLE IF EXISTS majors_reviews")
        c.execute("""CREATE TABLE majors_reviews AS
                     SELECT CASE WHEN i % 2 = 0 THEN 'the cat is good' ELSE 'the dog is bad' END AS text,
                            CASE WHEN i % 2 = 0 THEN 'positive' ELSE 'negative' END AS class
                     FROM generate_series(1, 24) i""")
        row = c.execute("""SELECT * FROM pgml.tune('majors_tuned', task => 'text-classification',
                           relation_name => 'majors_reviews', y_column_name => 'class', model_name => %s,
                           test_sampling => 'last', hyperparams => '{"training_args": {"num_train_epochs": 1,
                           "per_device_train_batch_size": 8}}')""", (str(bert),)).fetchone()
        assert row[0] == "majors_tuned"
        label = c.execute("SELECT pgml.predict('majors_tuned', 'the cat is good'::text)").fetchone()[0]
    assert label in (0.0, 1.0)  # the class index: negative 0, positive 1


def test_prepared_predict_follows_a_deploy(trained):
    """A prepared statement past the generic-plan switch (6 executions) predicts with the model
    deployed after it was prepared."""
    trained.execute("SELECT * FROM pgml.train('majors_diabetes', algorithm => 'lasso', hyperparams => '{\"alpha\": 1000}')")
    trained.execute("SELECT * FROM pgml.deploy('majors_diabetes', 'most_recent', 'linear')")
    trained.execute("PREPARE majors_p(real[]) AS SELECT pgml.predict('majors_diabetes', $1)")
    # EXECUTE takes no bind parameters: the row is a literal
    execute = "EXECUTE majors_p('{0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.0, 0.02, -0.02}'::real[])"
    linear = [trained.execute(execute).fetchone()[0] for _ in range(7)]
    assert len(set(linear)) == 1
    trained.execute("SELECT * FROM pgml.deploy('majors_diabetes', 'most_recent', 'lasso')")
    lasso = trained.execute(execute).fetchone()[0]
    trained.execute("DEALLOCATE majors_p")
    assert lasso != linear[0]  # alpha 1000 predicts the mean: not the linear model's value


def test_statement_timeout_and_cancel_stop_a_long_call(server):
    with server.connect() as c:
        c.execute("SELECT * FROM pgml.load_dataset('diabetes')")
        c.execute("SET statement_timeout = '2s'")
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            c.execute("""SELECT * FROM pgml.train('majors_slow', 'regression', 'pgml.diabetes', 'target',
                         algorithm => 'xgboost', hyperparams => '{"n_estimators": 1000000}')""")
        assert time.monotonic() - started < 8
        c.execute("SET statement_timeout = 0")
        assert c.execute("SELECT 1").fetchone() == (1,)
