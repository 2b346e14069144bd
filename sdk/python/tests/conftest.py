"""Fixtures: a real pgml server prepared by tests/setup_server.py (run-tests.sh starts it).
PGML_DATABASE_URL is a role with nothing but pgml.grant_usage; PGML_SDK_ADMIN_URL a superuser."""
import os
import uuid

import psycopg
import pytest

MODEL = "sentence-transformers/all-MiniLM-L6-v2"

collect_ignore = ["official.py", "setup_server.py", "offline"]


def pytest_collection_modifyitems(config, items):
    if not os.environ.get("PGML_DATABASE_URL"):
        skip = pytest.mark.skip(reason="PGML_DATABASE_URL is not set: run sdk/python/run-tests.sh")
        for item in items:
            if item.module.__name__ != "test_unit":
                item.add_marker(skip)


@pytest.fixture
def name():
    return "sdk_" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def admin():
    with psycopg.connect(os.environ["PGML_SDK_ADMIN_URL"], autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def app_url():
    return os.environ["PGML_DATABASE_URL"]


def documents():
    return [
        {"id": "cats", "category": "animals", "rank": 1, "meta": {"color": "black", "tags": ["pet", "small"]},
         "text": "Cats are small domesticated felines that purr, chase mice and love to nap in the sun."},
        {"id": "postgres", "category": "software", "rank": 2, "meta": {"color": "blue", "tags": ["db"]},
         "text": "PostgreSQL is a powerful open source relational database management system with SQL."},
        {"id": "ocean", "category": "nature", "rank": 3, "meta": {"color": "blue", "tags": []},
         "text": "The Pacific Ocean is the largest and deepest of the oceans on planet Earth."},
        {"id": "bread", "category": "food", "rank": 4, "meta": {"color": "brown", "tags": ["baking"]},
         "text": "To bake bread, mix flour, water, yeast and salt, knead the dough and let it rise."},
        {"id": "airship", "category": "history", "rank": 5, "meta": {"color": "grey", "tags": ["flight"]},
         "text": "The Hindenburg was a German zeppelin that caught fire while landing in New Jersey in 1937."},
        {"id": "dogs", "category": "animals", "rank": 6, "meta": {"color": "brown", "tags": ["pet", "loyal"]},
         "text": "Dogs are loyal domesticated canines that bark, fetch sticks and guard the house."},
    ]


def pipeline_schema(splitter_params=None):
    return {"text": {"splitter": {"model": "recursive_character", "parameters": splitter_params or {"chunk_size": 120, "chunk_overlap": 0}},
                     "semantic_search": {"model": MODEL},
                     "full_text_search": {"configuration": "english"}}}
