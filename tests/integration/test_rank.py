"""pgml.rank with a tiny cross-encoder (on the runtime measured for it), and
pgml.clear_gpu_cache on a machine without a GPU."""
import psycopg
import pytest

from fixtures import tiny_pipelines as tiny

DOCS = ["postgres is a database", "the cat sat", "paris is in france", "coffee and data"]


@pytest.fixture(scope="module")
def rconn(server, public_dir):
    root = public_dir / "rank-store"
    tiny.cross_encoder(root / "t" / "cross")
    for d in (root, root / "t"):
        d.chmod(0o755)
    with server.connect() as c:
        c.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(root)))
        yield c, root


def test_rank_orders_by_score_and_matches_the_library(rconn):
    from sentence_transformers import CrossEncoder
    conn, root = rconn
    rows = conn.execute("SELECT corpus_id, score, text, pg_typeof(corpus_id)::text, pg_typeof(score)::text "
                        "FROM pgml.rank('t/cross', 'what is postgres', %s)", (DOCS,)).fetchall()
    assert sorted(r[0] for r in rows) == [0, 1, 2, 3]
    assert [r[1] for r in rows] == sorted((r[1] for r in rows), reverse=True)
    assert all(r[2] is None for r in rows) and rows[0][3:] == ("bigint", "double precision")
    expected = CrossEncoder(str(root / "t" / "cross"), device="cpu").rank("what is postgres", DOCS)
    assert [r[0] for r in rows] == [e["corpus_id"] for e in expected]
    assert [r[1] for r in rows] == pytest.approx([float(e["score"]) for e in expected], abs=1e-5)


def test_rank_top_k_and_documents(rconn):
    conn, _ = rconn
    rows = conn.execute("SELECT corpus_id, text FROM pgml.rank('t/cross', 'q', %s, "
                        "'{\"top_k\": 2, \"return_documents\": true}')", (DOCS,)).fetchall()
    assert len(rows) == 2 and all(text == DOCS[cid] for cid, text in rows)


def test_rank_errors(rconn, expect_error):
    conn, _ = rconn
    error = expect_error(conn, "SELECT * FROM pgml.rank('t/cross', 'q', %s, '{\"bogus\": 1}')", (DOCS,))
    assert error.sqlstate == "22023" and error.diag.message_hint
    error = expect_error(conn, "SELECT * FROM pgml.rank('t/nothing', 'q', %s)", (DOCS,))
    assert error.sqlstate == "42704" and "t/nothing" in error.diag.message_primary


RANK_RUNTIME = """CREATE OR REPLACE FUNCTION pg_temp.rank_runtime() RETURNS TEXT AS $$
from pgml_py import cache
entry = next(e for e in cache.models.entries() if e.kind == "rank")
return " ".join(filter(None, entry.value.pgml_backend[:2]))
$$ LANGUAGE plpython3u"""


def ranked_on(server, root, setting=None):
    """(rows, the runtime rank ran on, the NOTICEs, pgml.embed_choices()'s rows for the model)."""
    with server.connect() as c:
        notices = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        c.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(root)))
        if setting:
            c.execute("SET pgml.embed_backend = %s" % setting)
        rows = c.execute("SELECT corpus_id, score FROM pgml.rank('t/measured', 'what is postgres', %s)",
                         (DOCS,)).fetchall()
        c.execute(RANK_RUNTIME)
        runtime = c.execute("SELECT pg_temp.rank_runtime()").fetchone()[0]
        choices = c.execute("SELECT chosen, reason, candidates FROM pgml.embed_choices() "
                            "WHERE model = 't/measured'").fetchall()
    return rows, runtime, [n for n in notices if n.startswith("pgml.rank")], choices


def test_rank_runs_on_the_runtime_measured_for_it(server, public_dir):
    """pgml.embed_backend auto: the first connection measures the cross-encoder on torch, ONNX
    Runtime and OpenVINO once (NOTICEs), runs the one embed_choices() names, ranking as the library
    does; the next connection reuses the measurement; embed_backend torch keeps rank on torch."""
    from sentence_transformers import CrossEncoder
    root = public_dir / "rank-measured"
    tiny.cross_encoder(root / "t" / "measured")
    for d in (root, root / "t"):
        d.chmod(0o755)
    rows, runtime, said, choices = ranked_on(server, root)
    assert len(said) == 2 and "measuring" in said[0] and "pairs/s" in said[1], said
    assert len(choices) == 1 and choices[0][0] == runtime and choices[0][1].startswith("pgml.rank: "), choices
    assert {c["backend"] for c in choices[0][2]} >= {"torch", "onnx", "openvino"}
    chosen = next(c for c in choices[0][2] if " ".join(filter(None, (c["backend"], c["quantize"]))) == runtime)
    assert chosen["order_kept"] and chosen["max_diff"] <= 1e-5, choices
    expected = CrossEncoder(str(root / "t" / "measured"), device="cpu").rank("what is postgres", DOCS)
    assert [r[0] for r in rows] == [e["corpus_id"] for e in expected]
    assert [r[1] for r in rows] == pytest.approx([float(e["score"]) for e in expected], abs=1e-5)
    again, runtime_again, said_again, _ = ranked_on(server, root)
    assert said_again == [] and runtime_again == runtime and [r[0] for r in again] == [r[0] for r in rows]
    _, on_torch, said_torch, _ = ranked_on(server, root, "torch")
    assert on_torch == "torch" and said_torch == []


def test_clear_gpu_cache_without_gpu(conn, expect_error):
    import torch
    if torch.cuda.is_available():
        assert conn.execute("SELECT pgml.clear_gpu_cache()").fetchone()[0] is True
    else:
        error = expect_error(conn, "SELECT pgml.clear_gpu_cache()")
        assert error.sqlstate == "0A000" and "No GPU available" in error.diag.message_primary
