"""PostgresML's examples and the calls users make around them (issue 13): load_dataset twice
with views on the table, predict on a decomposition project, decompose on the wrong task, a
reused snapshot's test_size, every failing call leaving the catalog as it was, the
pgml.settings view, pgml.device values, and what pgml.cached_models() says."""
import psycopg
import pytest


def test_load_dataset_twice_with_a_view_on_the_table(conn):
    """PostgresML's example files create views on pgml.<dataset> and load it again: the table
    is dropped with CASCADE (the view goes, with PostgreSQL's NOTICE), as PostgresML does."""
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    conn.execute("SELECT pgml.load_dataset('iris')")
    for _ in range(2):
        conn.execute("CREATE VIEW public.iris_view_13 AS SELECT sepal_length, target FROM pgml.iris")
        conn.execute("CREATE VIEW public.iris_view_13b AS SELECT * FROM public.iris_view_13")
        assert conn.execute("SELECT * FROM pgml.load_dataset('iris')").fetchone() == ("pgml.iris", 150)
        assert conn.execute("SELECT to_regclass('public.iris_view_13'), to_regclass('public.iris_view_13b')"
                            ).fetchone() == (None, None)
    assert any("drop cascades to" in n for n in notices), notices


@pytest.fixture(scope="module")
def digits(shared_conn):
    c = shared_conn
    c.execute("SELECT pgml.load_dataset('digits')")
    c.execute("CREATE OR REPLACE VIEW public.digit_vectors_13 AS SELECT image FROM pgml.digits")
    c.execute("SELECT * FROM pgml.train('Digits Reduction 13', 'decomposition', 'public.digit_vectors_13', "
              "hyperparams => '{\"n_components\": 3}')")
    yield c


def test_predict_on_a_decomposition_project_is_the_first_component(digits):
    rows = digits.execute("""SELECT pgml.predict('Digits Reduction 13', image),
                                    pgml.decompose('Digits Reduction 13', image), pg_typeof(pgml.predict('Digits Reduction 13', image))
                             FROM pgml.digits LIMIT 5""").fetchall()
    for prediction, components, kind in rows:
        assert kind == "real" and len(components) == 3
        assert prediction == pytest.approx(components[0], rel=1e-6)
    assert len({round(r[0], 3) for r in rows}) > 1  # a real projection, not a constant


def test_decompose_on_a_classification_project_is_an_error(shared_conn, expect_error):
    shared_conn.execute("SELECT pgml.load_dataset('iris')")
    shared_conn.execute("SELECT * FROM pgml.train('iris 13', 'classification', 'pgml.iris', 'target')")
    error = expect_error(shared_conn, "SELECT pgml.decompose('iris 13', ARRAY[5.1, 3.5, 1.4, 0.2]::real[])")
    assert error.sqlstate == "22023"
    assert "pgml.decompose is for decomposition models, not classification" in error.diag.message_primary
    assert "pgml.predict" in error.diag.message_hint


def pgml_table_counts(conn):
    """Rows of every table in schema pgml (the catalog, snapshots, datasets), and the tables."""
    tables = [r[0] for r in conn.execute(
        "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'pgml' AND c.relkind IN ('r', 'v', 'm') ORDER BY 1")]
    counts = {t: conn.execute("SELECT count(*) FROM %s" % t).fetchone()[0] for t in tables}
    counts["sequences"] = conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'pgml' AND c.relkind = 'S'").fetchone()[0]
    return counts


# Each must fail with this SQLSTATE and change nothing in schema pgml. 'iris 13' exists (above).
FAILING = [
    ("SELECT * FROM pgml.train('iris 13', test_size => -0.5)", "22023"),
    ("SELECT * FROM pgml.train('iris 13', test_size => 100000)", "22023"),
    ("SELECT * FROM pgml.train('iris 13', test_size => 'NaN')", "22023"),
    ("SELECT * FROM pgml.train('new 13', 'classification', 'pgml.iris', 'target', test_size => 100000)", "22023"),
    ("SELECT * FROM pgml.train('new 13', 'classification', 'pgml.iris', 'target', test_size => 150)", "22023"),
    ("SELECT * FROM pgml.train('new 13', 'classification', 'pgml.iris', 'target', test_size => -1)", "22023"),
    ("SELECT * FROM pgml.train('new 13', 'classification', 'pgml.iris', 'no_such_column')", "42703"),
    ("SELECT * FROM pgml.train('new 13', 'classification', 'pgml.no_such_table', 'target')", "42P01"),
    ("SELECT * FROM pgml.train('new 13', 'classification', 'pgml.iris', 'target', 'lasso')", "22023"),
    ("SELECT * FROM pgml.train('new 13', 'classification', 'pgml.iris', 'target', "
     "hyperparams => '{\"no_such_param\": 1}')", "22023"),
    ("SELECT * FROM pgml.train('new 13', 'classification', 'pgml.iris', 'target', "
     "materialize_snapshot => true, hyperparams => '{\"C\": -1}')", "22023"),
    ("SELECT * FROM pgml.train('new 13', 'classification', 'pgml.iris', 'target', search => 'grid', "
     "search_params => '{\"C\": [1]}', hyperparams => '{\"C\": 2}')", "22023"),
    ("SELECT * FROM pgml.train('new 13', 'classification', 'pgml.iris', 'target', search => 'grid', "
     "search_params => '{\"C\": [1, 2]}', search_args => '{\"bogus\": 1}')", "22023"),
    ("SELECT * FROM pgml.train('new 13', 'nonsense', 'pgml.iris', 'target')", "22023"),
    ("SELECT * FROM pgml.train('new 13')", "22023"),
    ("SELECT * FROM pgml.train('iris 13', 'regression')", "22023"),
    ("SELECT * FROM pgml.train('new 13', 'regression', 'pgml.iris', 'target', test_sampling => 'last', "
     "algorithm => 'xgboost', hyperparams => '{\"max_depth\": \"deep\"}')", "22023"),
    ("SELECT * FROM pgml.snapshot('pgml.iris', 'no_such_column')", "42703"),
    ("SELECT * FROM pgml.deploy('iris 13', 'best_score', 'svm')", "55000"),
    ("SELECT * FROM pgml.deploy('no project 13', 'best_score')", "42704"),
    ("SELECT pgml.decompose('iris 13', ARRAY[1, 2, 3, 4]::real[])", "22023"),
    ("SELECT pgml.predict('iris 13', ARRAY[1, 2]::real[])", "22023"),
    ("SELECT * FROM pgml.load_dataset('iris', \"limit\" => 0)", "22023"),
    ("SELECT * FROM pgml.tune('new 13', 'text-classification', 'pgml.iris', 'target', 'no/model')", "42703"),
]


def test_every_failing_call_leaves_the_catalog_as_it_was(shared_conn):
    shared_conn.execute("SELECT pgml.load_dataset('iris')")
    shared_conn.execute("SELECT * FROM pgml.train('iris 13', 'classification', 'pgml.iris', 'target')")
    before = pgml_table_counts(shared_conn)
    wrong = []
    for query, sqlstate in FAILING:
        try:
            shared_conn.execute(query)
            wrong.append((query, "succeeded"))
        except psycopg.Error as e:
            if e.sqlstate != sqlstate or not e.diag.message_hint:
                wrong.append((query, e.sqlstate, e.diag.message_primary, e.diag.message_hint))
        after = pgml_table_counts(shared_conn)
        if after != before:
            wrong.append((query, "changed", {k: (before.get(k), after.get(k)) for k in set(before) | set(after)
                                             if before.get(k) != after.get(k)}))
            before = after
    assert not wrong, "\n".join(map(str, wrong))


def test_a_reused_snapshot_says_its_test_size_is_not_used(shared_conn):
    shared_conn.execute("SELECT pgml.load_dataset('iris')")
    shared_conn.execute("SELECT * FROM pgml.train('iris 13', 'classification', 'pgml.iris', 'target')")
    notices = []
    shared_conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    shared_conn.execute("SELECT * FROM pgml.train('iris 13', test_size => 0.5)")
    assert any("test_size 0.5 is not used" in n and "keeps its test_size 0.25" in n for n in notices), notices


def test_settings_view_and_show_before_any_pgml_call(server):
    """make install puts pgml.conf (every setting at its default) where the server's
    postgresql.conf includes it: SHOW works in a session that has not called pgml yet."""
    with server.connect() as c:
        assert c.execute("SHOW pgml.device").fetchone()[0] == "auto"
        assert c.execute("SHOW pgml.cache_max_models").fetchone()[0] == "8"
        assert c.execute("SHOW pgml.huggingface_offline").fetchone()[0] == "on"  # the server's own line
    with server.connect() as c:
        c.execute("SET pgml.cache_max_models = 3")
        rows = {r[0]: r[1:] for r in c.execute(
            "SELECT name, setting, default_value, source, description FROM pgml.settings")}
        from pgml_py import settings
        assert sorted(rows) == sorted(settings.SETTINGS)
        for name, kind, default, description, _ in settings.definitions():
            assert rows[name][1] == str(default if kind != "bool" else ("on" if default else "off")), name
            assert rows[name][3] == description
        assert rows["pgml.cache_max_models"][0::2] == ("3", "session")
        assert rows["pgml.device"] == ("auto", "auto", "configuration file", rows["pgml.device"][3])
        assert rows["pgml.huggingface_offline"][:3] == ("on", "off", "configuration file")
        # the same values SHOW gives
        for name, (setting, *_rest) in rows.items():
            assert c.execute("SELECT current_setting(%s)", (name,)).fetchone()[0] == setting


def test_pgml_conf_agrees_with_the_definitions():
    import subprocess
    import sys
    from pathlib import Path
    from pgml_py import settings
    root = Path(__file__).resolve().parents[2]
    text = subprocess.run([sys.executable, str(root / "scripts" / "pgml-conf.py"), "/srv/store"],
                          capture_output=True, text=True, check=True).stdout
    lines = {line.split(" = ")[0]: line.split(" = ", 1)[1].split("  #")[0]
             for line in text.splitlines() if line and not line.startswith("#")}
    assert sorted(lines) == sorted(settings.SETTINGS)
    assert lines["pgml.model_store"] == "'/srv/store'" and lines["pgml.device"] == "'auto'"
    assert lines["pgml.huggingface_offline"] == "off" and lines["pgml.cache_max_models"] == "8"


def test_device_setting_values(conn, expect_error):
    conn.execute("SELECT pgml.version()")
    error = expect_error(conn, "SET pgml.device = 'bogus'")
    assert error.sqlstate == "22023" and '"pgml.device"' in error.diag.message_primary
    assert "cuda:N" in error.diag.message_hint
    assert conn.execute("SHOW pgml.device").fetchone()[0] == "auto"
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: cuda:0 is a valid device here")
    conn.execute("SET pgml.device = 'cuda:0'")
    error = expect_error(conn, "SELECT pgml.embed('sentence-transformers/all-MiniLM-L6-v2', 'hi')")
    assert error.sqlstate == "0A000" and "No GPU available" in error.diag.message_primary
    assert error.diag.message_hint
    error = expect_error(conn, """SELECT pgml.embed('sentence-transformers/all-MiniLM-L6-v2', 'hi', '{"device": "cuda"}')""")
    assert error.sqlstate == "0A000"
    conn.execute("RESET pgml.device")


def test_a_bad_device_set_before_pgml_ran_is_dropped_with_a_warning(server):
    with server.connect(options="-c pgml.device=bogus") as c:
        notices = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        assert c.execute("SELECT pgml.norm_l2(ARRAY[3, 4]::real[])").fetchone()[0] == 5
        assert 'invalid value for parameter "pgml.device": "bogus"' in notices
        assert c.execute("SHOW pgml.device").fetchone()[0] == "auto"


def test_cached_models_columns_are_true(shared_conn, server):
    shared_conn.execute("SELECT pgml.load_dataset('iris')")
    shared_conn.execute("SELECT * FROM pgml.train('iris xgb 13', 'classification', 'pgml.iris', 'target', 'xgboost')")
    model_id, stored = shared_conn.execute(
        "SELECT m.id, sum(length(f.data)) FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id "
        "JOIN pgml.files f ON f.model_id = m.id WHERE p.name = 'iris xgb 13' GROUP BY m.id").fetchone()
    with server.connect() as c:
        for _ in range(4):
            c.execute("SELECT pgml.predict('iris xgb 13', ARRAY[5.1, 3.5, 1.4, 0.2]::real[])")
        c.execute("SELECT pgml.embed('sentence-transformers/all-MiniLM-L6-v2', 'a')")
        c.execute("SELECT pgml.embed('sentence-transformers/all-MiniLM-L6-v2', 'b')")
        rows = {r[0]: r[1:] for r in c.execute("SELECT model, kind, device, bytes, hits FROM pgml.cached_models()")}
        assert rows["model %d" % model_id] == ("predict", "cpu", stored, 3)
        kind, device, size, hits = rows["sentence-transformers/all-MiniLM-L6-v2"]
        assert (kind, device, hits) == ("embed", "cpu", 1) and size > 80_000_000
        c.execute("SELECT pgml.predict('iris xgb 13', ARRAY[5.1, 3.5, 1.4, 0.2]::real[])")
        assert c.execute("SELECT hits FROM pgml.cached_models() WHERE model = %s",
                         ("model %d" % model_id,)).fetchone()[0] == 4


@pytest.fixture(scope="module")
def store(public_dir):
    from fixtures import tiny_models, tiny_pipelines as tiny
    root = public_dir / "compat-store"
    tiny.text_classifier(root / "t" / "cls")
    tiny.gpt2(root / "t" / "gpt2")
    tiny.masked_lm(root / "t" / "mlm")
    tiny_models.t5_seq2seq(root / "t" / "t5")
    tiny_models.bert_encoder(root / "t" / "encoder")
    (root / "t" / "odd").mkdir(parents=True)
    (root / "t" / "odd" / "config.json").write_text('{"architectures": ["BertForMultipleChoice"]}')
    for d in (root, root / "t", root / "t" / "odd"):
        d.chmod(0o755)
    (root / "t" / "odd" / "config.json").chmod(0o644)
    return root


@pytest.fixture
def tconn(server, store):
    with server.connect() as c:
        c.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(store)))
        yield c


def transform(conn, task, args=None, inputs=("good data",)):
    import json
    return conn.execute("SELECT pgml.transform(task => %s::jsonb, args => %s::jsonb, inputs => %s::text[])",
                        (json.dumps(task), json.dumps(args or {}), list(inputs))).fetchone()[0]


def test_a_task_object_without_task_infers_it_from_the_saved_architectures(tconn):
    assert transform(tconn, {"model": "t/cls"}) == transform(tconn, {"task": "text-classification", "model": "t/cls"})
    assert transform(tconn, {"model": "t/mlm"}, inputs=["a [MASK] b"]) == \
        transform(tconn, {"task": "fill-mask", "model": "t/mlm"}, inputs=["a [MASK] b"])
    generated = transform(tconn, {"model": "t/gpt2"}, {"max_new_tokens": 2, "do_sample": False})
    assert generated == transform(tconn, {"task": "text-generation", "model": "t/gpt2"},
                                  {"max_new_tokens": 2, "do_sample": False})
    assert "generated_text" in generated[0][0]
    assert transform(tconn, {"model": "t/t5"}, {"max_new_tokens": 3}) == \
        transform(tconn, {"task": "text2text-generation", "model": "t/t5"}, {"max_new_tokens": 3})
    # transform_stream too (a causal LM streams)
    chunks = tconn.execute("""SELECT count(*) FROM pgml.transform_stream('{"model": "t/gpt2"}'::jsonb,
                              '{"max_new_tokens": 3}'::jsonb, 'hello')""").fetchone()[0]
    assert chunks >= 1


def test_a_task_that_cannot_be_inferred_is_22023_with_a_hint(tconn, expect_error):
    cases = [({"model": "t/odd"}, "cannot be inferred from its architectures"),
             ({"model": "t/encoder"}, "cannot be inferred from its architectures"),
             ({"model": "roberta-large-mnli"}, "cannot be inferred offline"),
             ({"model": "t/no-such"}, "cannot be inferred offline")]
    for task, message in cases:
        import json
        error = expect_error(tconn, "SELECT pgml.transform(%s::jsonb, inputs => ARRAY['x'])", (json.dumps(task),))
        assert error.sqlstate == "22023" and message in error.diag.message_primary, error.diag.message_primary
        assert '"task"' in error.diag.message_hint
    error = expect_error(tconn, "SELECT pgml.transform('{\"cache\": false}'::jsonb, inputs => ARRAY['x'])")
    assert error.sqlstate == "22023" and 'has no "task"' in error.diag.message_primary


def test_model_type_is_absorbed_not_passed_to_generate(tconn):
    args = {"max_new_tokens": 2, "do_sample": False}
    with_type = transform(tconn, {"task": "text-generation", "model": "t/gpt2", "model_type": "gpt2"}, args)
    assert with_type == transform(tconn, {"task": "text-generation", "model": "t/gpt2"}, args)


def test_transform_cache_says_where_the_pipeline_runs(tconn):
    transform(tconn, {"task": "text-classification", "model": "t/cls"})
    transform(tconn, {"task": "text-classification", "model": "t/cls"})
    transform(tconn, {"task": "text-classification", "model": "t/cls"})
    kind, device, size, hits = tconn.execute(
        "SELECT kind, device, bytes, hits FROM pgml.cached_models() WHERE model = 't/cls'").fetchone()
    assert (kind, device, hits) == ("transform", "cpu", 2) and size > 0


def test_encode_kwargs_a_model_does_not_use_are_dropped_with_a_notice(conn, expect_error):
    """The official SDK's stress test sends {"instruction": ...} to every model."""
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    model = "sentence-transformers/all-MiniLM-L6-v2"
    plain = conn.execute("SELECT pgml.embed(%s, 'hello')", (model,)).fetchone()[0]
    kwargs = '{"instruction": "Represent the sentence:", "bogus_key": 1, "normalize_embeddings": true}'
    dropped = conn.execute("SELECT pgml.embed(%s, 'hello', %s::jsonb)", (model, kwargs)).fetchone()[0]
    assert dropped == pytest.approx(plain, abs=1e-5)  # MiniLM's vectors are normalized already
    assert any("bogus_key, instruction" in n and model in n for n in notices), notices
    batch = conn.execute("SELECT pgml.embed(%s, ARRAY['hello', 'x'], %s::jsonb)", (model, kwargs)).fetchall()
    assert batch[0][0] == pytest.approx(plain, abs=1e-5)
    error = expect_error(conn, "SELECT pgml.embed(%s, 'hello', '{\"batch_size\": \"many\"}'::jsonb)", (model,))
    assert error.sqlstate == "22023"
