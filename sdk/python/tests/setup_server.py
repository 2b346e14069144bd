"""Prepares a pgml server for the SDK tests: the role `sdk_app` with nothing but
pgml.grant_usage, and a model store with the offline substitutes for the models the official
SDK's tests name (they cannot be downloaded here):

    intfloat/e5-small-v2, Alibaba-NLP/gte-base-en-v1.5  -> sentence-transformers/all-MiniLM-L6-v2
    meta-llama/Meta-Llama-3*-8B-Instruct                -> a tiny GPT-2 (tests/fixtures/tiny_pipelines)
    pgml-tiny/cross-encoder                             -> a tiny cross-encoder (for rerank)

    /var/lib/pgml/venv/bin/python setup_server.py store STORE       (needs transformers)
    sdk/python/.venv/bin/python setup_server.py database ADMIN_URL STORE
The second prints the superuser's and sdk_app's URLs of the database pgml_sdk.
"""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MINILM = Path("/var/lib/pgml/models/sentence-transformers/all-MiniLM-L6-v2")
EMBEDDING_STANDINS = ["intfloat/e5-small-v2", "Alibaba-NLP/gte-base-en-v1.5",
                      "sentence-transformers/all-MiniLM-L6-v2"]
CHAT_STANDINS = ["meta-llama/Meta-Llama-3-8B-Instruct", "meta-llama/Meta-Llama-3.1-8B-Instruct"]


def build_store(store):
    sys.path.insert(0, str(ROOT / "tests"))
    from fixtures import tiny_pipelines
    store.mkdir(parents=True, exist_ok=True)
    for name in EMBEDDING_STANDINS:
        link = store / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(MINILM)
    gpt2 = store / "pgml-tiny" / "gpt2"
    if not (gpt2 / "config.json").exists():
        tiny_pipelines.gpt2(gpt2)
    cross = store / "pgml-tiny" / "cross-encoder"
    if not (cross / "config.json").exists():
        tiny_pipelines.cross_encoder(cross)
    for name in CHAT_STANDINS:
        link = store / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(gpt2)
    subprocess.run(["chmod", "-R", "a+rX", str(store)], check=True)
    os.chmod(store, 0o755)


def setup_database(admin_url, store):
    import psycopg
    """A database of its own (pgml_sdk: the model store setting stays out of others' tests),
    the role sdk_app with nothing but pgml.grant_usage; returns sdk_app's URL."""
    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute("DROP DATABASE IF EXISTS pgml_sdk WITH (FORCE)")
        c.execute("CREATE DATABASE pgml_sdk")
        c.execute("ALTER DATABASE pgml_sdk SET pgml.model_store = %s" % psycopg.sql.quote(str(store)))
        if not c.execute("SELECT 1 FROM pg_roles WHERE rolname = 'sdk_app'").fetchone():
            c.execute("CREATE ROLE sdk_app LOGIN")
    admin_sdk = admin_url.rsplit("/", 1)[0] + "/pgml_sdk"
    with psycopg.connect(admin_sdk, autocommit=True) as c:
        c.execute("SET client_min_messages = warning")
        c.execute("CREATE EXTENSION pgml CASCADE")
        c.execute("SELECT pgml.grant_usage('sdk_app')")
    return admin_sdk, admin_sdk.replace("://postgres@", "://sdk_app@")


if __name__ == "__main__":
    if sys.argv[1] == "store":  # with the pgml venv's python (transformers)
        build_store(Path(sys.argv[2]))
    else:  # "database ADMIN_URL STORE", with the SDK venv's python (psycopg)
        print(" ".join(setup_database(sys.argv[2], Path(sys.argv[3]))))
