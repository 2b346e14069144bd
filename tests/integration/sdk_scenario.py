"""Drives PostgresML's official Python client SDK (PyPI `pgml` 1.1.1, used as shipped) against a
server with our extension. Run by tests/integration/test_sdk.py with the SDK's own venv
(.venv-sdk); the server URL comes in PGML_DATABASE_URL, which the SDK reads itself.

    python sdk_scenario.py run COLLECTION       add a pipeline, upsert, search, update, delete
    python sdk_scenario.py search COLLECTION    vector_search on an existing collection
    python sdk_scenario.py upsert COLLECTION    upsert one document, then vector_search
    python sdk_scenario.py archive COLLECTION   archive the collection

Prints one JSON object on stdout (the last line) with what the SDK calls returned; the test
asserts on it. Any SDK exception propagates (non-zero exit, traceback on stderr).
"""
import asyncio
import json
import os
import sys

import pgml

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
PIPELINE = "sdk_test_pipeline"
SPLITTER_PARAMETERS = {"chunk_size": 120, "chunk_overlap": 0}

# A long document that the recursive_character splitter (chunk_size 120) cuts into several chunks.
LONG_TEXT = (
    "The Sun is the star at the center of the Solar System. "
    "It is a nearly perfect ball of hot plasma, heated by nuclear fusion in its core.\n\n"
    "Jupiter is the fifth planet from the Sun and the largest in the Solar System. "
    "It is a gas giant with a mass more than two and a half times that of all the other planets.\n\n"
    "Mars is the fourth planet from the Sun. Its surface is covered in iron oxide dust, "
    "which gives it a reddish colour, and it has two small moons named Phobos and Deimos."
)

DOCUMENTS = [
    {"id": "cats", "category": "animals", "rank": 1,
     "text": "Cats are small domesticated felines that purr, chase mice and love to nap in the sun."},
    {"id": "postgres", "category": "software", "rank": 2,
     "text": "PostgreSQL is a powerful open source relational database management system with SQL."},
    {"id": "ocean", "category": "nature", "rank": 3,
     "text": "The Pacific Ocean is the largest and deepest of the oceans on planet Earth."},
    {"id": "bread", "category": "food", "rank": 4,
     "text": "To bake bread, mix flour, water, yeast and salt, knead the dough and let it rise."},
    {"id": "airship", "category": "history", "rank": 5,
     "text": "The Hindenburg was a German zeppelin that caught fire while landing in New Jersey in 1937."},
    {"id": "dogs", "category": "animals", "rank": 6,
     "text": "Dogs are loyal domesticated canines that bark, fetch sticks and guard the house."},
    {"id": "space", "category": "science", "rank": 7, "text": LONG_TEXT},
]


def ids_of_vector_results(results):
    return [r["document"]["id"] for r in results]


UPDATED_DOCUMENT = {
    "id": "bread", "category": "food", "rank": 4,
    "text": "Espresso is a concentrated coffee brewed by forcing hot water through ground beans."}


async def run(name):
    out = {"collection": name, "pipeline": PIPELINE, "model": MODEL,
           "splitter_parameters": SPLITTER_PARAMETERS, "input_documents": DOCUMENTS,
           "updated_document": UPDATED_DOCUMENT}

    collection = pgml.Collection(name)
    pipeline = pgml.Pipeline(
        PIPELINE,
        {
            "text": {
                "splitter": {"model": "recursive_character", "parameters": SPLITTER_PARAMETERS},
                "semantic_search": {"model": MODEL},
                "full_text_search": {"configuration": "english"},
            }
        },
    )
    await collection.add_pipeline(pipeline)
    out["exists"] = await collection.exists()
    out["pipeline_count"] = len(await collection.get_pipelines())

    await collection.upsert_documents(DOCUMENTS)
    documents = await collection.get_documents({"limit": 100})
    out["documents"] = [d["document"] for d in documents]
    out["pipeline_status"] = await collection.get_pipeline_status(pipeline)

    # Semantic vector search over chunks.
    results = await collection.vector_search(
        {"query": {"fields": {"text": {"query": "Which open source database should I use for SQL?"}}},
         "limit": 3},
        pipeline,
    )
    out["vector_search_db"] = results

    results = await collection.vector_search(
        {"query": {"fields": {"text": {"query": "a pet that purrs and sleeps in the sunshine"}}},
         "limit": 10},
        pipeline,
    )
    out["vector_search_cat"] = results

    # Chunk-level: the question about the red planet must hit the Mars chunk of the long document.
    out["vector_search_mars"] = await collection.vector_search(
        {"query": {"fields": {"text": {"query": "Which planet looks red because of rusty dust?"}}},
         "limit": 1},
        pipeline,
    )

    # Full text filter inside vector search: only chunks containing the keyword qualify.
    out["vector_search_fts_filter"] = await collection.vector_search(
        {"query": {"fields": {"text": {"query": "animals", "full_text_filter": "zeppelin"}}},
         "limit": 10},
        pipeline,
    )

    # Metadata filter.
    out["vector_search_filter"] = await collection.vector_search(
        {"query": {"fields": {"text": {"query": "domesticated animal"}},
                   "filter": {"category": {"$eq": "animals"}}},
         "document": {"keys": ["id", "category"]},
         "limit": 10},
        pipeline,
    )

    # Document search: semantic only, full text only, and both.
    out["search_semantic"] = await collection.search(
        {"query": {"semantic_search": {"text": {"query": "how do I make a loaf with yeast"}}},
         "limit": 3},
        pipeline,
    )
    out["search_full_text"] = await collection.search(
        {"query": {"full_text_search": {"text": {"query": "zeppelin"}}}, "limit": 10},
        pipeline,
    )
    out["search_both"] = await collection.search(
        {"query": {"full_text_search": {"text": {"query": "ocean", "boost": 1.5}},
                   "semantic_search": {"text": {"query": "the deepest sea on Earth", "boost": 1.0}},
                   "filter": {"rank": {"$gte": 2}}},
         "limit": 5},
        pipeline,
    )

    # Re-upserting a document replaces its chunks; deleting removes it from the results.
    await collection.upsert_documents([UPDATED_DOCUMENT])
    out["search_after_update"] = await collection.search(
        {"query": {"semantic_search": {"text": {"query": "a strong cup of coffee"}}}, "limit": 1},
        pipeline,
    )
    await collection.delete_documents({"id": {"$eq": "dogs"}})
    out["documents_after_delete"] = [d["document"]["id"] for d in await collection.get_documents({"limit": 100})]
    out["vector_search_after_delete"] = await collection.vector_search(
        {"query": {"fields": {"text": {"query": "a loyal canine that barks"}}}, "limit": 20},
        pipeline,
    )
    out["pipeline_status_after"] = await collection.get_pipeline_status(pipeline)
    return out


QUERY_CAT = {"query": {"fields": {"text": {"query": "a pet that purrs and sleeps in the sunshine"}}}, "limit": 10}


async def search(name):
    """What a client does with a collection that already exists (e.g. across an upgrade)."""
    collection = pgml.Collection(name)
    pipeline = pgml.Pipeline(PIPELINE)
    return {"vector_search_cat": await collection.vector_search(QUERY_CAT, pipeline)}


async def upsert(name):
    collection = pgml.Collection(name)
    pipeline = pgml.Pipeline(PIPELINE)
    await collection.upsert_documents([{"id": "upgrade", "text": "Cats purr and sleep in the warm sun all day."}])
    return {"vector_search_cat": await collection.vector_search(QUERY_CAT, pipeline)}


async def archive(name):
    collection = pgml.Collection(name)
    before = await collection.exists()
    await collection.archive()
    # A fresh handle must not see the archived collection. Keep the handle in a variable: the
    # SDK's futures borrow the object, and awaiting a method of a temporary segfaults pgml 1.1.1
    # (`await pgml.Collection(n).exists()` crashes the client, whatever the server).
    fresh = pgml.Collection(name)
    return {"exists_before": before, "exists_after": await fresh.exists()}


if __name__ == "__main__":
    if not os.environ.get("PGML_DATABASE_URL"):
        sys.exit("PGML_DATABASE_URL is not set")
    mode, name = sys.argv[1], sys.argv[2]
    result = asyncio.run({"run": run, "search": search, "upsert": upsert, "archive": archive}[mode](name))
    print(json.dumps(result, default=str), flush=True)
    # Skip interpreter finalization: pgml 1.1.1's runtime threads were seen to abort it
    # ("PyGILState_Release: thread state ... must be current"), after all the work was done.
    sys.stderr.flush()
    os._exit(0)
