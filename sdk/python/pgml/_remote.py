"""Embeddings from OpenAI's API for pipelines with "source": "openai" (as PostgresML's SDK).
OPENAI_API_KEY authenticates; OPENAI_BASE_URL (the openai library's variable) points elsewhere,
e.g. at any server speaking the same /embeddings API."""
import asyncio
import json
import os
import urllib.request

from psycopg.sql import SQL

from .errors import DatabaseError, invalid

BATCH = 100


def _request(model, texts):
    base = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
    key = os.environ.get("OPENAI_API_KEY")
    if not key:
        raise invalid("OPENAI_API_KEY is not set", "Set it to embed with a model whose source is openai.")
    body = json.dumps({"input": texts, "model": model.name}).encode()
    req = urllib.request.Request(base + "/embeddings", data=body, headers={
        "Authorization": "Bearer " + key, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            data = json.load(response)["data"]
    except OSError as e:
        raise DatabaseError("OpenAI embeddings request failed: %s" % e, sqlstate="08006") from e
    return [d["embedding"] for d in sorted(data, key=lambda d: d.get("index", 0))]


async def embed(model, texts, parameters=None):
    """Embeds texts (in batches of 100) without blocking the SDK's loop."""
    out = []
    for start in range(0, len(texts), BATCH):
        out.extend(await asyncio.to_thread(_request, model, texts[start:start + BATCH]))
    return out


async def embed_into(conn, model, embeddings_table, chunks_table, chunk_ids):
    rows = await (await conn.execute(SQL("SELECT id, chunk FROM {} WHERE id = ANY(%s) ORDER BY id").format(
        chunks_table), (chunk_ids,))).fetchall()
    vectors = await embed(model, [r[1] for r in rows])
    await conn.execute(SQL(
        "INSERT INTO {} (chunk_id, embedding) SELECT * FROM unnest(%s::int8[], %s::text[]::vector[]) "
        "ON CONFLICT (chunk_id) DO UPDATE SET embedding = EXCLUDED.embedding").format(embeddings_table),
        ([r[0] for r in rows], [str(list(v)) for v in vectors]))
