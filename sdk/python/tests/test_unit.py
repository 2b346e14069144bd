"""What needs no server: filter and order_by SQL, document keys, argument checks, the event
loop bridge and the sync wrappers."""
import asyncio
import hashlib
import threading
import uuid

import pytest

import pgml
import pgml.sync
from pgml import _runtime, filters
from pgml.collection import source_uuid


def sql(composed):
    return composed.as_string(None)


def test_filter_sql():
    assert sql(filters.where({"a": {"$eq": 1}})) == '("documents".document @> \'{"a": 1}\'::jsonb)'
    assert sql(filters.where({"a": {"b": {"$gt": 2.5}}})) == \
        '(("documents".document #> \'{a,b}\'::text[]) > \'2.5\'::jsonb)'
    assert "NOT" in sql(filters.where({"$not": {"a": {"$ne": "x"}}}))
    assert sql(filters.where({"a": {"$in": ["x", 1]}})).count("jsonb_path_query_array") == 1
    assert " OR " in sql(filters.where({"$or": [{"a": {"$lt": 1}}, {"b": {"$lte": 2}}]}))
    assert sql(filters.where(None)) == "TRUE"


def test_filter_values_are_quoted():
    text = sql(filters.where({"a'; DROP TABLE x; --": {"$eq": "'); DROP TABLE y; --"}}))
    assert "''" in text and "DROP TABLE" in text and text.count("'") % 2 == 0


@pytest.mark.parametrize("bad", [{"a": {"$near": 1}}, {"$or": {"a": {"$eq": 1}}}, {"a": 1}, [1], {"a": {"$in": 3}},
                                 {"$foo": []}])
def test_bad_filters_raise_invalid_argument(bad):
    with pytest.raises(pgml.InvalidArgumentError) as info:
        filters.where(bad)
    assert info.value.sqlstate == "22023" and info.value.hint and isinstance(info.value, Exception)


def test_order_by_sql():
    assert sql(filters.order_by({"a": {"b": "desc"}})) == \
        '("documents".document #> \'{a,b}\'::text[]) DESC NULLS LAST, "documents"."id" ASC'
    with pytest.raises(pgml.InvalidArgumentError):
        filters.order_by({"a": "sideways"})
    with pytest.raises(pgml.InvalidArgumentError):
        filters.order_by({"COLUMN_pg_sleep(1)": "asc"})


def test_source_uuid_is_md5_of_the_id_json():
    assert source_uuid(1) == uuid.UUID(bytes=hashlib.md5(b"1").digest())
    assert source_uuid("a") == uuid.UUID(bytes=hashlib.md5(b'"a"').digest())
    assert source_uuid("é") == uuid.UUID(bytes=hashlib.md5('"é"'.encode()).digest())


def test_constructors_check_their_arguments():
    with pytest.raises(pgml.InvalidArgumentError):
        pgml.Collection("x; DROP")
    with pytest.raises(pgml.InvalidArgumentError):
        pgml.Pipeline("p", {"text": {"semantic_search": {"modle": "x"}}})
    with pytest.raises(pgml.InvalidArgumentError):
        pgml.Pipeline("p", {"text": {"semantic_search": {"model": "m", "hnsw": {"m": "many"}}}})
    p = pgml.SingleFieldPipeline("p", pgml.Model("m", "pgml", {"prompt": "q: "}), pgml.Splitter(),
                                 {"full_text_search": {"active": True}})
    assert p.schema["text"]["full_text_search"] == {"configuration": "english"}
    assert p.schema["text"]["semantic_search"]["parameters"] == {"prompt": "q: "}


def test_bridge_runs_coroutines_on_the_sdk_loop_from_any_loop():
    seen = []

    @_runtime.bridged
    async def where():
        seen.append(threading.current_thread().name)
        return 42

    assert asyncio.run(where()) == 42
    assert asyncio.run(where()) == 42  # a second, different event loop
    assert _runtime.run_sync(where()) == 42
    assert seen == ["pgml-sdk"] * 3


def test_sync_twin_has_the_async_methods():
    for name in ("Collection", "Builtins", "TransformerPipeline", "OpenSourceAI"):
        async_cls, sync_cls = getattr(pgml, name), getattr(pgml.sync, name)
        methods = [m for m in dir(async_cls) if not m.startswith("_")]
        obj = sync_cls("x") if name == "Collection" else sync_cls(*(["text-generation"] if name == "TransformerPipeline" else []))
        assert all(callable(getattr(obj, m)) or not callable(getattr(async_cls, m)) for m in methods)


def test_a_server_that_is_down_is_a_connection_error_at_once():
    import time
    start = time.monotonic()
    with pytest.raises(pgml.ConnectionError) as info:
        pgml.sync.Collection("x", "postgresql://nobody@127.0.0.1:1/none").exists()
    assert info.value.sqlstate.startswith("08") and "refused" in str(info.value)
    assert time.monotonic() - start < 10


def test_no_url_says_what_to_set(monkeypatch):
    monkeypatch.delenv("PGML_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(pgml.InvalidArgumentError) as info:
        pgml.sync.Builtins().embed("m", "t")
    assert "PGML_DATABASE_URL" in info.value.hint
