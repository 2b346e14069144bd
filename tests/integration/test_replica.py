"""Inference on a streaming hot standby (issue 12): a primary and a `pg_basebackup -R` standby
of it, on ports of their own (clusters.extra_port 1 and 2), each in its own run directory under /var/tmp, started
and removed by this module. Models, tables and a vector index are made on the primary and
reach the standby by WAL replay only; the standby must answer every read-only pgml call
(predict in all forms, a tuned model, embed, transform, transform_stream, rank, chunk, a
vector search, cached_models) exactly as the primary does, follow a deploy on the primary in
an already-warm connection once replayed, and refuse the catalog writes with 25006 and a hint."""
import json
import os
import shutil
from pathlib import Path

import psycopg
import pytest

from tests.fixtures import tiny_models, tiny_pipelines
from tests.conftest import connect_with_store
from tests.integration import clusters

PRIMARY_PORT, STANDBY_PORT = clusters.extra_port(1), clusters.extra_port(2)
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
DOCS = ["postgres is a database", "the cat sat on the mat", "paris is in france", "coffee and data"]
CLS = {"task": "text-classification", "model": "t/cls"}
GEN = {"task": "text-generation", "model": "t/gpt2"}


@pytest.fixture(scope="module")
def store():
    root = Path("/var/tmp/pgml-replica-store")
    shutil.rmtree(root, ignore_errors=True)
    tiny_pipelines.text_classifier(root / "t" / "cls")
    tiny_pipelines.gpt2(root / "t" / "gpt2")
    tiny_pipelines.cross_encoder(root / "t" / "cross")
    tiny_models._readable(root)
    # The packaged MiniLM too, as in the default store: sessions here point pgml.model_store at root.
    (root / "sentence-transformers").symlink_to(Path(os.environ.get("PGML_MODEL_STORE", "/var/lib/pgml/models"), "sentence-transformers"))
    for d in (root, root / "t"):
        d.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def pair(store):
    """(primary, standby, a connection to the primary that made everything): the standby is made
    first, so all of it reaches the standby by replay."""
    primary = clusters.start_primary(PRIMARY_PORT, "/var/tmp/pgml-replica-%d" % PRIMARY_PORT)
    standby = c = None
    try:
        standby = clusters.start_standby(primary, STANDBY_PORT, "/var/tmp/pgml-replica-%d" % STANDBY_PORT)
        c = connect_with_store(primary, store)
        c.execute("""
            CREATE TABLE rep_points AS SELECT i::real AS x1, (i % 7)::real AS x2, (3 * i + (i % 7))::real AS y
                                       FROM generate_series(1, 80) i;
            CREATE TABLE rep_classes AS SELECT x1, x2, (x1 > 40)::int AS high FROM rep_points;
            CREATE TABLE rep_up AS SELECT i::real AS x, (10 * i)::real AS y FROM generate_series(1, 30) i;
            CREATE TABLE rep_down AS SELECT i::real AS x, (-10 * i)::real AS y FROM generate_series(1, 30) i;
            CREATE TABLE rep_reviews AS
            SELECT CASE WHEN i % 2 = 0 THEN 'the cat is good data' ELSE 'the dog is sql' END AS text,
                   CASE WHEN i % 2 = 0 THEN 'positive' ELSE 'negative' END AS class
            FROM generate_series(1, 24) i;
            CREATE TABLE rep_docs (id int PRIMARY KEY, body text, embedding vector(384));
        """)
        c.execute("SELECT * FROM pgml.train('rep_reg', 'regression', 'rep_points', 'y')")
        c.execute("SELECT * FROM pgml.train('rep_cls', 'classification', 'rep_classes', 'high', algorithm => 'random_forest', "
                  "hyperparams => '{\"n_estimators\": 5, \"random_state\": 0}')")
        up = c.execute("SELECT * FROM pgml.train('rep_switch', 'regression', 'rep_up', 'y')").fetchone()
        down = c.execute("SELECT * FROM pgml.train('rep_switch', 'regression', 'rep_down', 'y', automatic_deploy => false)").fetchone()
        assert up[3] is True and down[3] is False
        c.execute("SELECT * FROM pgml.tune('rep_tuned', task => 'text-classification', relation_name => 'rep_reviews', "
                  "y_column_name => 'class', model_name => 't/cls', test_sampling => 'last', "
                  "hyperparams => '{\"training_args\": {\"num_train_epochs\": 1, \"per_device_train_batch_size\": 8}}')")
        c.execute("INSERT INTO rep_docs SELECT i, d, pgml.embed(%s, d)::vector(384) FROM unnest(%s::text[]) WITH ORDINALITY u(d, i)",
                  (MINILM, DOCS))
        c.execute("CREATE INDEX ON rep_docs USING hnsw (embedding vector_cosine_ops)")
        clusters.wait_replayed(primary, standby)
        yield primary, standby, c
    finally:
        if c is not None:
            c.close()
        if standby is not None:
            standby.destroy()
        primary.destroy()


@pytest.fixture(scope="module")
def both(pair, store):
    """A warm connection on each server (the primary's made the models): models load once per
    server for the whole module."""
    _, standby, p = pair
    s = connect_with_store(standby, store)
    yield p, s
    s.close()


def same(both, query, params=None):
    """The query's rows on the standby, after checking that they equal the primary's."""
    p, s = both
    on_standby = s.execute(query, params).fetchall()
    assert on_standby == p.execute(query, params).fetchall()
    return on_standby


def test_standby_is_in_recovery(both):
    p, s = both
    assert p.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
    assert s.execute("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')").fetchone() == (True, "on")


def test_predict_on_the_standby(both):
    table = same(both, "SELECT pgml.predict('rep_reg', ARRAY[x1, x2]) FROM rep_points ORDER BY x1")
    assert len(table) == 80 and table[9][0] == pytest.approx(33.0, abs=0.5)  # y = 3·10 + 10 % 7
    assert same(both, "SELECT pgml.predict('rep_reg', ARRAY[10, 3]::real[])")[0][0] == pytest.approx(33.0, abs=0.5)
    batch = same(both, "SELECT array_agg(p) FROM pgml.predict_batch('rep_reg', ARRAY[1, 1, 2, 2, 3, 3]::real[]) p")[0][0]
    assert batch == pytest.approx([4.0, 8.0, 12.0], abs=0.5)
    assert same(both, "SELECT pgml.predict('rep_reg', ROW(10::real, 3::real))")[0][0] == pytest.approx(33.0, abs=0.5)
    classes = same(both, "SELECT pgml.predict('rep_cls', ARRAY[x1, x2]) FROM rep_classes ORDER BY x1")
    assert {c for (c,) in classes} == {0.0, 1.0}
    proba = same(both, "SELECT pgml.predict_proba('rep_cls', ARRAY[4, 4]::real[])")[0][0]
    assert len(proba) == 2 and sum(proba) == pytest.approx(1.0)


def test_tuned_model_predicts_on_the_standby(both):
    rows = same(both, "SELECT t, pgml.predict('rep_tuned', t) FROM unnest(ARRAY['the cat is good data', 'the dog is sql']) t")
    assert len(rows) == 2 and all(r[1] is not None for r in rows), rows


def test_embed_and_vector_search_on_the_standby(both):
    vector = same(both, "SELECT pgml.embed(%s, 'a city in france')", (MINILM,))[0][0]
    assert len(vector) == 384
    _, s = both
    s.execute("SET enable_seqscan = off")
    try:
        plan = "\n".join(r[0] for r in s.execute(
            "EXPLAIN SELECT id FROM rep_docs ORDER BY embedding <=> %s::real[]::vector(384) LIMIT 2", (vector,)))
        assert "rep_docs_embedding_idx" in plan, plan
        hits = s.execute("SELECT id FROM rep_docs ORDER BY embedding <=> pgml.embed(%s, 'Which city is in France?')::vector(384) "
                         "LIMIT 2", (MINILM,)).fetchall()
    finally:
        s.execute("RESET enable_seqscan")
    assert hits[0] == (3,), hits  # "paris is in france"


def test_transform_rank_chunk_on_the_standby(both):
    out = same(both, "SELECT pgml.transform(%s::jsonb, inputs => ARRAY['good data', 'bad cat'])", (json.dumps(CLS),))[0][0]
    assert len(out) == 2 and {"label", "score"} <= set(out[0])
    stream = same(both, "SELECT pgml.transform_stream(%s::jsonb, '{\"max_new_tokens\": 3}'::jsonb, 'the cat')",
                  (json.dumps(GEN),))
    assert stream and all(isinstance(r[0], list) for r in stream), stream
    ranked = same(both, "SELECT corpus_id, score FROM pgml.rank('t/cross', 'what is postgres', %s)", (DOCS,))
    assert sorted(r[0] for r in ranked) == [0, 1, 2, 3]
    chunks = same(both, "SELECT chunk_index, chunk FROM pgml.chunk('recursive_character', %s, "
                        "'{\"chunk_size\": 12, \"chunk_overlap\": 0}')", (" ".join(DOCS),))
    assert len(chunks) > 2 and chunks[0][0] == 1


def test_cached_models_on_the_standby(both):
    _, s = both
    s.execute("SELECT pgml.predict('rep_reg', ARRAY[1, 1]::real[]), pgml.embed(%s, 'x')", (MINILM,))
    rows = s.execute("SELECT kind, model, bytes, hits FROM pgml.cached_models()").fetchall()
    models = " ".join(str(r[1]) for r in rows)
    assert MINILM in models and "t/cls" in models, rows
    assert all(r[2] is None or r[2] >= 0 for r in rows)


def predicted(conn):
    return conn.execute("SELECT pgml.predict('rep_switch', ARRAY[1]::real[])").fetchone()[0]


def test_a_deploy_on_the_primary_reaches_a_warm_standby_connection(pair, both):
    """The same standby connection, warm with the deployed model, follows each deploy once the
    primary's WAL is replayed: rep_up predicts +10 at x = 1, rep_down −10."""
    primary, standby, _ = pair
    p, s = both
    up, down = [r[0] for r in p.execute(
        "SELECT m.id FROM pgml.models m JOIN pgml.projects j ON j.id = m.project_id WHERE j.name = 'rep_switch' ORDER BY m.id")]
    assert predicted(s) == pytest.approx(10.0, abs=0.5)
    for model_id, expected in ((down, -10.0), (up, 10.0), (down, -10.0)):
        p.execute("SELECT * FROM pgml.deploy(%s::bigint)", (model_id,))
        clusters.wait_replayed(primary, standby)
        assert predicted(s) == pytest.approx(expected, abs=0.5), "standby kept the previous deployment"
        assert s.execute("SELECT id FROM pgml.deployed_models WHERE name = 'rep_switch'").fetchone() == (model_id,)


WRITES = {
    "train": "SELECT * FROM pgml.train('rep_reg', 'regression', 'rep_points', 'y')",
    "train_again": "SELECT * FROM pgml.train('rep_reg')",
    "deploy": "SELECT * FROM pgml.deploy('rep_reg', 'most_recent')",
    "deploy_id": "SELECT * FROM pgml.deploy(1::bigint)",
    "tune": "SELECT * FROM pgml.tune('rep_tuned2', task => 'text-classification', relation_name => 'rep_reviews', "
            "y_column_name => 'class', model_name => 't/cls')",
    "load_dataset": "SELECT * FROM pgml.load_dataset('iris')",
}


@pytest.mark.parametrize("name", sorted(WRITES))
def test_catalog_writes_on_the_standby_say_run_them_on_the_primary(both, name):
    _, s = both
    with pytest.raises(psycopg.Error) as info:
        s.execute(WRITES[name])
    e = info.value
    function = "pgml." + name.split("_again")[0].split("_id")[0]
    assert e.sqlstate == "25006", (e.sqlstate, str(e))
    assert function + " writes the catalog and must run on the primary" in e.diag.message_primary, e.diag.message_primary
    assert "spiexceptions" not in e.diag.message_primary
    assert "primary" in (e.diag.message_hint or ""), e.diag.message_hint
    assert s.execute("SELECT 1").fetchone() == (1,)
