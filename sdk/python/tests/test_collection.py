"""Collections and documents through the async API, against a real server and role that has
nothing but pgml.grant_usage."""
import psycopg
import pytest

import pgml
from conftest import documents



async def test_exists_is_false_on_a_fresh_database(admin, app_url):
    """A database where pgml was never installed has no pgml.collections: False, not an error."""
    admin.execute("DROP DATABASE IF EXISTS sdk_fresh")
    admin.execute("CREATE DATABASE sdk_fresh")
    url = app_url.rsplit("/", 1)[0] + "/sdk_fresh"
    collection = pgml.Collection("never_made", url)
    assert await collection.exists() is False
    assert await collection.get_documents() == []


async def test_upsert_get_and_page_documents(name):
    collection = pgml.Collection(name)
    assert await collection.exists() is False
    await collection.upsert_documents(documents(), {"batch_size": 4})
    assert await collection.exists() is True
    got = await collection.get_documents()
    assert [d["document"] for d in got] == documents()
    assert set(got[0]) == {"row_id", "created_at", "source_uuid", "document"}
    page = await collection.get_documents({"limit": 2, "offset": 1})
    assert [d["document"]["id"] for d in page] == ["postgres", "ocean"]
    rest = await collection.get_documents({"last_row_id": page[-1]["row_id"], "limit": 10})
    assert [d["document"]["id"] for d in rest] == ["bread", "airship", "dogs"]
    ordered = await collection.get_documents({"order_by": {"rank": "desc"}, "keys": ["id", "rank"]})
    assert [d["document"] for d in ordered][:2] == [{"id": "dogs", "rank": 6}, {"id": "airship", "rank": 5}]
    nested = await collection.get_documents({"order_by": {"meta": {"color": "asc"}}, "keys": ["id"]})
    assert [d["document"]["id"] for d in nested][:3] == ["cats", "postgres", "ocean"]  # black < blue


async def test_source_uuid_matches_postgresml(name):
    """The document key is the UUID of the MD5 of the id's JSON text, as PostgresML's SDK."""
    import hashlib
    import uuid
    collection = pgml.Collection(name)
    await collection.upsert_documents([{"id": 7, "text": "a"}, {"id": "x", "text": "b"}])
    got = {d["document"]["id"]: d["source_uuid"] for d in await collection.get_documents()}
    assert got == {7: str(uuid.UUID(bytes=hashlib.md5(b"7").digest())),
                   "x": str(uuid.UUID(bytes=hashlib.md5(b'"x"').digest()))}


async def test_merge_replace_and_duplicate_ids(name):
    collection = pgml.Collection(name)
    await collection.upsert_documents([{"id": 1, "a": 1, "b": 1}])
    await collection.upsert_documents([{"id": 1, "b": 2}], {"merge": True})
    assert [d["document"] for d in await collection.get_documents()] == [{"id": 1, "a": 1, "b": 2}]
    await collection.upsert_documents([{"id": 1, "c": 3}])
    assert [d["document"] for d in await collection.get_documents()] == [{"id": 1, "c": 3}]
    # The same id twice in one batch: the last wins (PostgresML's SDK fails on this).
    await collection.upsert_documents([{"id": 2, "v": 1}, {"id": 2, "v": 2}])
    assert [d["document"] for d in await collection.get_documents()][1] == {"id": 2, "v": 2}


async def test_parallel_batches(name):
    collection = pgml.Collection(name)
    docs = [{"id": i, "text": "document number %d" % i} for i in range(250)]
    await collection.upsert_documents(docs, {"batch_size": 20, "parallel_batches": 4})
    got = await collection.get_documents({"limit": 1000})
    assert sorted(d["document"]["id"] for d in got) == list(range(250))


FILTERS = [
    ({"category": {"$eq": "animals"}}, ["cats", "dogs"]),
    ({"category": {"$ne": "animals"}}, ["postgres", "ocean", "bread", "airship"]),
    ({"rank": {"$gt": 4}}, ["airship", "dogs"]),
    ({"rank": {"$gte": 4}}, ["bread", "airship", "dogs"]),
    ({"rank": {"$lt": 2}}, ["cats"]),
    ({"rank": {"$lte": 2}}, ["cats", "postgres"]),
    ({"rank": {"$gt": 1, "$lt": 4}}, ["postgres", "ocean"]),
    ({"category": {"$in": ["food", "nature"]}}, ["ocean", "bread"]),
    ({"category": {"$nin": ["food", "nature", "animals"]}}, ["postgres", "airship"]),
    ({"meta": {"color": {"$eq": "blue"}}}, ["postgres", "ocean"]),
    ({"meta": {"tags": {"$in": ["pet"]}}}, ["cats", "dogs"]),
    ({"rank": {"$in": [1, 6]}}, ["cats", "dogs"]),
    ({"$or": [{"rank": {"$lt": 2}}, {"category": {"$eq": "food"}}]}, ["cats", "bread"]),
    ({"$and": [{"category": {"$eq": "animals"}}, {"meta": {"color": {"$eq": "brown"}}}]}, ["dogs"]),
    ({"$not": {"category": {"$eq": "animals"}}}, ["postgres", "ocean", "bread", "airship"]),
]


async def test_filters(name):
    collection = pgml.Collection(name)
    await collection.upsert_documents(documents())
    for filter, expected in FILTERS:
        got = await collection.get_documents({"filter": filter})
        assert [d["document"]["id"] for d in got] == expected, filter


async def test_delete_documents(name):
    collection = pgml.Collection(name)
    await collection.upsert_documents(documents())
    await collection.delete_documents({"category": {"$eq": "animals"}})
    assert [d["document"]["id"] for d in await collection.get_documents()] == ["postgres", "ocean", "bread", "airship"]


async def test_bad_input_raises_typed_errors(name):
    collection = pgml.Collection(name)
    await collection.upsert_documents(documents())
    with pytest.raises(pgml.InvalidArgumentError) as info:
        await collection.get_documents({"filter": {"rank": {"$near": 3}}})
    assert isinstance(info.value, Exception) and info.value.sqlstate == "22023"
    assert "$near" in str(info.value) and info.value.hint
    with pytest.raises(pgml.InvalidArgumentError):
        await collection.upsert_documents([{"text": "no id"}])
    with pytest.raises(pgml.InvalidArgumentError):
        pgml.Collection("bad;name")
    with pytest.raises(pgml.NotFoundError) as info:
        await collection.vector_search({"query": {"fields": {"text": {"query": "x"}}}}, pgml.Pipeline("nope"))
    assert info.value.sqlstate == "42704"


async def test_server_errors_carry_the_sqlstate(name, app_url):
    """Another role's collection: the server refuses (42501), raised as PermissionDeniedError."""
    collection = pgml.Collection(name)
    await collection.upsert_documents(documents()[:1])
    with psycopg.connect(app_url.replace("sdk_app@", "postgres@"), autocommit=True) as c:
        c.execute("DROP ROLE IF EXISTS sdk_other")
        c.execute("CREATE ROLE sdk_other LOGIN")
        c.execute("SELECT pgml.grant_usage('sdk_other')")
    other = pgml.Collection(name, app_url.replace("sdk_app@", "sdk_other@"))
    with pytest.raises(pgml.PgmlError) as info:
        await other.get_documents()
    assert info.value.sqlstate == "42501" and isinstance(info.value, pgml.PermissionDeniedError)


async def test_upsert_file_and_directory(name, tmp_path):
    (tmp_path / "a.md").write_text("# Cats\nCats purr.")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("Dogs bark.")
    (tmp_path / "sub" / "c.py").write_text("print('skip me')")
    collection = pgml.Collection(name)
    await collection.upsert_directory(str(tmp_path), {"file_types": ["md", "txt"]})
    got = sorted((d["document"]["id"], d["document"]["text"]) for d in await collection.get_documents())
    assert got == [(str(tmp_path / "a.md"), "# Cats\nCats purr."), (str(tmp_path / "sub" / "b.txt"), "Dogs bark.")]
    await collection.upsert_file(str(tmp_path / "sub" / "c.py"))
    assert len(await collection.get_documents()) == 3
    with pytest.raises(pgml.NotFoundError):
        await collection.upsert_file(str(tmp_path / "missing.txt"))
