"""pgml.rank with a tiny cross-encoder, and pgml.clear_gpu_cache on a machine without a GPU."""
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


def test_clear_gpu_cache_without_gpu(conn, expect_error):
    import torch
    if torch.cuda.is_available():
        assert conn.execute("SELECT pgml.clear_gpu_cache()").fetchone()[0] is True
    else:
        error = expect_error(conn, "SELECT pgml.clear_gpu_cache()")
        assert error.sqlstate == "0A000" and "No GPU available" in error.diag.message_primary
