"""Pipelines, vector search, hybrid search, search logging, RAG and archive (async API), and the
same calls through the sync twin."""
import math

import psycopg
import pytest

import pgml
import pgml.sync
from conftest import MODEL, documents, pipeline_schema



@pytest.fixture
async def loaded(name):
    collection = pgml.Collection(name)
    pipeline = pgml.Pipeline("p1", pipeline_schema())
    await collection.upsert_documents(documents())
    await collection.add_pipeline(pipeline)  # syncs the documents already there
    return collection, pipeline


async def test_pipelines_and_status(loaded):
    collection, pipeline = loaded
    assert [p.name for p in await collection.get_pipelines()] == ["p1"]
    assert (await collection.get_pipeline("p1")).schema == pipeline_schema()
    n = len(documents())
    status = await collection.get_pipeline_status(pgml.Pipeline("p1"))
    assert status["text"]["chunks"] == {"synced": n, "not_synced": 0, "total": n}
    assert status["text"]["embeddings"]["not_synced"] == 0 == status["text"]["tsvectors"]["not_synced"]
    await collection.add_pipeline(pipeline)  # already there: a warning, nothing else
    await collection.disable_pipeline(pipeline)
    assert await collection.get_pipelines() == []
    await collection.upsert_documents([{"id": "late", "text": "added while the pipeline was off"}])
    await collection.enable_pipeline(pipeline)  # resyncs
    status = await collection.get_pipeline_status(pipeline)
    assert status["text"]["chunks"]["synced"] == n + 1
    await collection.remove_pipeline(pipeline)
    assert await collection.get_pipelines() == []


async def test_vector_search(loaded, admin):
    collection, pipeline = loaded
    results = await collection.vector_search(
        {"query": {"fields": {"text": {"query": "Which open source database should I use for SQL?"}}}, "limit": 3}, pipeline)
    assert [r["document"]["id"] for r in results][0] == "postgres"
    assert set(results[0]) == {"document", "chunk", "score", "rerank_score"} and results[0]["rerank_score"] is None
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True) and len(results) == 3
    cosine = admin.execute("SELECT 1 - (pgml.embed(%s, %s)::vector <=> pgml.embed(%s, %s)::vector)",
                           (MODEL, "Which open source database should I use for SQL?", MODEL, results[0]["chunk"])).fetchone()[0]
    assert math.isclose(results[0]["score"], cosine, abs_tol=1e-4)
    filtered = await collection.vector_search(
        {"query": {"fields": {"text": {"query": "a pet", "boost": 2.0}}, "filter": {"category": {"$eq": "animals"}}},
         "document": {"keys": ["id"]}, "limit": 10}, pipeline)
    assert sorted(r["document"]["id"] for r in filtered) == ["cats", "dogs"]
    assert all(r["document"].keys() == {"id"} for r in filtered)
    plain = await collection.vector_search(
        {"query": {"fields": {"text": {"query": "a pet"}}, "filter": {"category": {"$eq": "animals"}}}}, pipeline)
    assert [round(r["score"] * 2, 5) for r in plain] == [round(r["score"], 5) for r in filtered]  # boost
    fts = await collection.vector_search(
        {"query": {"fields": {"text": {"query": "animals", "full_text_filter": "zeppelin"}}}}, pipeline)
    assert [r["document"]["id"] for r in fts] == ["airship"]


async def test_vector_search_rerank(loaded):
    collection, pipeline = loaded
    results = await collection.vector_search(
        {"query": {"fields": {"text": {"query": "pets"}}}, "limit": 2,
         "rerank": {"model": "pgml-tiny/cross-encoder", "query": "pets", "num_documents_to_rerank": 5}}, pipeline)
    assert len(results) == 2 and all(isinstance(r["rerank_score"], float) for r in results)
    assert results[0]["rerank_score"] >= results[1]["rerank_score"]


async def test_hybrid_search_and_logging(loaded, admin):
    collection, pipeline = loaded
    semantic = await collection.search(
        {"query": {"semantic_search": {"text": {"query": "how do I make a loaf with yeast"}}}, "limit": 3}, pipeline)
    assert semantic["results"][0]["document"]["id"] == "bread" and len(semantic["results"]) == 3
    both = await collection.search(
        {"query": {"full_text_search": {"text": {"query": "ocean", "boost": 1.5}},
                   "semantic_search": {"text": {"query": "the deepest sea on Earth"}},
                   "filter": {"rank": {"$gte": 2}}}, "limit": 5}, pipeline)
    ids = [r["document"]["id"] for r in both["results"]]
    assert ids[0] == "ocean" and "cats" not in ids and len(ids) == 5
    assert set(both["results"][0]) == {"id", "score", "document"}
    assert both["search_id"] > semantic["search_id"]
    schema = collection.name + "_p1"
    logged = admin.execute(psycopg.sql.SQL("SELECT rank, scores FROM {} WHERE search_id = %s ORDER BY rank").format(
        psycopg.sql.Identifier(schema, "search_results")), (both["search_id"],)).fetchall()
    assert [r[0] for r in logged] == [1, 2, 3, 4, 5]
    assert set(logged[0][1]) == {"total", "text_embedding_score", "text_tsvectors_score"}
    await collection.add_search_event(both["search_id"], 1, {"clicked": True}, pipeline)
    events = admin.execute(psycopg.sql.SQL("SELECT event FROM {}").format(
        psycopg.sql.Identifier(schema, "search_events"))).fetchall()
    assert events == [({"clicked": True},)]
    none = await collection.search({"query": {"full_text_search": {"text": {"query": "xylophone"}}}}, pipeline)
    assert none["results"] == []


async def test_rag_and_rag_stream(loaded):
    collection, pipeline = loaded
    query = {"CONTEXT": {"vector_search": {"query": {"fields": {"text": {"query": "pets"}}}, "limit": 2,
                                           "document": {"keys": ["id"]}},
                         "aggregate": {"join": "\n"}},
             "completion": {"model": "meta-llama/Meta-Llama-3-8B-Instruct", "prompt": "Context: {CONTEXT}. Pets:",
                            "max_tokens": 4}}
    result = await collection.rag(query, pipeline)
    assert len(result["rag"]) == 1 and result["rag"][0]  # pgml.transform's text-generation result
    assert sorted(s["document"]["id"] for s in result["sources"]["CONTEXT"]) == ["cats", "dogs"]
    stream = await collection.rag_stream(query, pipeline)
    assert stream.sources() == result["sources"] and stream.n == 1
    pieces = [p async for p in stream.stream()]
    assert pieces and all(isinstance(p, list) for p in pieces)
    with pytest.raises(pgml.InvalidArgumentError):
        stream.stream()


async def test_query_builder(loaded):
    collection, pipeline = loaded
    results = await collection.query().vector_recall("cats purring", pipeline).limit(2).fetch_all()
    assert len(results) == 2 and results[0][2]["id"] == "cats" and isinstance(results[0][0], float)


async def test_archive(loaded, admin):
    collection, _ = loaded
    await collection.archive()
    assert await collection.exists() is False
    rows = admin.execute("SELECT name, active FROM pgml.collections WHERE name LIKE %s", (collection.name + "%",)).fetchall()
    assert len(rows) == 1 and rows[0][0].startswith(collection.name + "_archive_") and rows[0][1] is False
    assert admin.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE %s",
                         (collection.name + "_archive_%",)).fetchone()[0] == 2
    fresh = pgml.Collection(collection.name)
    await fresh.upsert_documents(documents()[:1])
    assert len(await fresh.get_documents()) == 1


def test_sync_twin(name):
    collection = pgml.sync.Collection(name)
    pipeline = pgml.sync.Pipeline("p1", pipeline_schema())
    collection.add_pipeline(pipeline)
    collection.upsert_documents(documents())
    assert collection.exists() is True
    results = collection.vector_search({"query": {"fields": {"text": {"query": "a purring pet"}}}, "limit": 1}, pipeline)
    assert results[0]["document"]["id"] == "cats"
    assert collection.search({"query": {"semantic_search": {"text": {"query": "yeast"}}}, "limit": 1},
                             pipeline)["results"][0]["document"]["id"] == "bread"
    assert len(collection.query().vector_recall("dogs", pipeline).limit(3).fetch_all()) == 3
    builtins = pgml.sync.Builtins()
    assert len(builtins.embed(MODEL, "hello")) == 384
    assert len(builtins.embed_batch(MODEL, ["a", "b"])) == 2
    assert builtins.query("SELECT $1::int AS x").bind_int(5).fetch_all() == [{"x": 5}]
    t = pgml.sync.TransformerPipeline("text-generation", "meta-llama/Meta-Llama-3-8B-Instruct")
    assert len(list(t.transform_stream("AI is", {"max_tokens": 3}))) > 0
    collection.archive()
    assert collection.exists() is False


def test_open_source_ai_sync_and_stream():
    client = pgml.OpenSourceAI()
    messages = [{"role": "user", "content": "Hello there"}]
    result = client.chat_completions_create("meta-llama/Meta-Llama-3-8B-Instruct", messages, max_tokens=4)
    assert result["object"] == "chat.completion" and result["choices"][0]["message"]["role"] == "assistant"
    chunks = list(client.chat_completions_create_stream("meta-llama/Meta-Llama-3-8B-Instruct", messages,
                                                        max_tokens=20, temperature=0.85))
    assert chunks and chunks[0]["object"] == "chat.completion.chunk"
    with pytest.raises(pgml.InvalidArgumentError):
        client.chat_completions_create("no/such-model", messages)
