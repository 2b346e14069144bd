"""Pipelines: which document keys are split, embedded and indexed for full text search.

A Pipeline's schema is {key: {"splitter": {...}, "semantic_search": {...},
"full_text_search": {...}}}, stored as JSON in <collection>.pipelines as PostgresML's SDK stores
it; its tables live in the schema <collection>_<pipeline>.
"""
import copy
import json

from psycopg.sql import SQL, Identifier, Literal

from . import _sql
from .errors import NotFoundError, invalid

FIELD_KEYS = {"splitter": {"model", "parameters"},
              "semantic_search": {"model", "source", "parameters", "hnsw"},
              "full_text_search": {"configuration"}}
SCHEMA_HINT = ('A schema looks like {"text": {"splitter": {"model": "recursive_character"}, '
               '"semantic_search": {"model": "..."}, "full_text_search": {"configuration": "english"}}}.')


class Model:
    """An embedding model: hub name, source ("pgml" runs it in the database) and kwargs."""

    def __init__(self, name=None, source=None, parameters=None):
        self.name = name or "Alibaba-NLP/gte-base-en-v1.5"
        self.source = source or "pgml"
        if self.source not in ("pgml", "python", "openai"):
            raise invalid("unknown model source %r" % self.source, 'Use "pgml" or "openai".')
        self.parameters = dict(parameters or {})

    @property
    def runtime(self):
        return "openai" if self.source == "openai" else "python"

    def __repr__(self):
        return "Model(%r, %r, %r)" % (self.name, self.source, self.parameters)


class Splitter:
    """A text splitter of pgml.chunk (LangChain names) with its options."""

    def __init__(self, name=None, parameters=None):
        self.name = name or "recursive_character"
        self.parameters = dict(parameters or {})

    def __repr__(self):
        return "Splitter(%r, %r)" % (self.name, self.parameters)


class Field:
    """What a pipeline does with one document key."""

    def __init__(self, key, spec):
        if not isinstance(spec, dict):
            raise invalid("pipeline key %r must map to an object" % key, SCHEMA_HINT)
        for action, value in spec.items():
            if action not in FIELD_KEYS:
                raise invalid("unknown pipeline action %r for key %r" % (action, key), SCHEMA_HINT)
            if value is not None and (not isinstance(value, dict) or set(value) - FIELD_KEYS[action]):
                raise invalid("invalid %s for key %r: %s" % (action, key, json.dumps(value)), SCHEMA_HINT)
        self.key = key
        splitter, semantic, fts = spec.get("splitter"), spec.get("semantic_search"), spec.get("full_text_search")
        self.splitter = Splitter(splitter.get("model"), splitter.get("parameters")) if splitter else None
        self.model = self.hnsw = None
        if semantic:
            if not isinstance(semantic.get("model"), str):
                raise invalid("semantic_search of key %r needs a model name" % key, SCHEMA_HINT)
            self.model = Model(semantic["model"], semantic.get("source"), semantic.get("parameters"))
            self.hnsw = _hnsw(semantic.get("hnsw"))
        self.fts_configuration = None
        if fts:
            if not isinstance(fts.get("configuration"), str):
                raise invalid("full_text_search of key %r needs a configuration" % key, SCHEMA_HINT)
            self.fts_configuration = fts["configuration"]


def _hnsw(value):
    value = value or {}
    out = {}
    for name, default in (("m", 16), ("ef_construction", 64)):
        got = value.get(name, default)
        try:
            out[name] = int(got)
        except (TypeError, ValueError):
            raise invalid("hnsw.%s must be an integer. Got %r instead." % (name, got)) from None
    return out


def parse_schema(schema):
    if not isinstance(schema, dict):
        raise invalid("a pipeline schema must be an object. Got %s instead." % json.dumps(schema), SCHEMA_HINT)
    for key in schema:
        _check_name(key, "a document key in a pipeline")
    return {key: Field(key, spec) for key, spec in schema.items()}


def _check_name(name, what):
    """Names become parts of table names: no '%' (psycopg's placeholder) and no NUL."""
    if not isinstance(name, str) or not name or "%" in name or "\x00" in name or len(name) > 50:
        raise invalid("invalid %s %r" % (what, name), "Use up to 50 characters, without '%'.")


class Pipeline:
    """A named pipeline; the schema may be left out to use one already in a collection."""

    def __init__(self, name, schema=None):
        _check_name(name, "pipeline name")
        self.name = name
        self.schema = copy.deepcopy(schema) if schema is not None else None
        self.fields = parse_schema(self.schema) if schema is not None else None

    def __repr__(self):
        return "Pipeline(%r, %r)" % (self.name, self.schema)


def SingleFieldPipeline(name, model=None, splitter=None, parameters=None):  # noqa: N802 - official name
    """The pre-1.0 pipeline shape: one "text" key with a model, a splitter and full text
    search when parameters say {"full_text_search": {"active": true}}."""
    parameters = parameters or {}
    if model is None:
        return Pipeline(name)
    schema = {"text": {"semantic_search": {"model": model.name, "parameters": model.parameters,
                                           "hnsw": parameters.get("hnsw")}}}
    if model.source != "pgml":
        schema["text"]["semantic_search"]["source"] = model.source
    if splitter is not None:
        schema["text"]["splitter"] = {"model": splitter.name, "parameters": splitter.parameters}
    fts = parameters.get("full_text_search") or {}
    if fts.get("active"):
        schema["text"]["full_text_search"] = {"configuration": fts.get("configuration") or "english"}
    return Pipeline(name, schema)


class Tables:
    """Identifiers of one collection's and one pipeline's tables."""

    def __init__(self, collection, pipeline=None):
        self.collection = collection
        self.docs = Identifier(collection, "documents")
        self.pipelines = Identifier(collection, "pipelines")
        if pipeline is not None:
            self.schema = "%s_%s" % (collection, pipeline)
            for name in ("searches", "search_results", "search_events"):
                setattr(self, name, Identifier(self.schema, name))

    def chunks(self, key):
        return Identifier(self.schema, key + "_chunks")

    def embeddings(self, key):
        return Identifier(self.schema, key + "_embeddings")

    def tsvectors(self, key):
        return Identifier(self.schema, key + "_tsvectors")


def load_row(pipeline, row):
    """Fills a Pipeline from its row in <collection>.pipelines (the stored schema wins)."""
    pipeline.id, pipeline.schema = row[0], row[2]
    pipeline.fields = parse_schema(row[2])
    return pipeline


def missing(pipeline, collection):
    return NotFoundError('pipeline "%s" does not exist in collection "%s"' % (pipeline, collection),
                         hint="Add it with collection.add_pipeline(pipeline).")


async def register_models(conn, project_id, fields):
    """Rows in pgml.models and pgml.splitters for the pipeline's models (as PostgresML's SDK)."""
    for field in fields.values():
        if field.splitter is not None:
            params = (project_id, field.splitter.name, _json(field.splitter.parameters))
            if not await (await conn.execute(_sql.SELECT_SPLITTER, params)).fetchone():
                await conn.execute(_sql.INSERT_SPLITTER, params)
        if field.model is not None:
            hyper = dict(field.model.parameters, name=field.model.name)
            params = (project_id, field.model.runtime, _json(hyper))
            if not await (await conn.execute(_sql.SELECT_MODEL, params)).fetchone():
                await conn.execute(_sql.INSERT_MODEL, params)


async def create_tables(conn, tables, fields, embedding_size):
    """The pipeline's tables and indexes (names as PostgresML's SDK makes them)."""
    t = tables
    await conn.execute(_sql.CREATE_SEARCHES_TABLE.format(searches=t.searches))
    await conn.execute(_sql.CREATE_SEARCH_RESULTS_TABLE.format(
        search_results=t.search_results, searches=t.searches, docs=t.docs))
    await conn.execute(_sql.CREATE_SEARCH_RESULTS_INDEX.format(search_results=t.search_results))
    await conn.execute(_sql.CREATE_SEARCH_EVENTS_TABLE.format(
        search_events=t.search_events, search_results=t.search_results))
    for key, field in fields.items():
        chunks = t.chunks(key)
        await conn.execute(_sql.CREATE_CHUNKS_TABLE.format(chunks=chunks, docs=t.docs))
        await conn.execute(_sql.CREATE_CHUNKS_INDEX.format(
            name=Identifier(key + "_pipeline_chunk_document_id_index"), chunks=chunks))
        if field.model is not None:
            emb = t.embeddings(key)
            dims = await embedding_size(conn, field.model)
            await conn.execute(_sql.CREATE_EMBEDDINGS_TABLE.format(embeddings=emb, chunks=chunks, dims=Literal(dims)))
            await conn.execute(_sql.CREATE_EMBEDDINGS_INDEX.format(
                name=Identifier(key + "_pipeline_embedding_chunk_id_index"), embeddings=emb))
            await conn.execute(_sql.CREATE_HNSW_INDEX.format(
                name=Identifier(key + "_pipeline_embedding_hnsw_vector_index"), embeddings=emb,
                m=Literal(field.hnsw["m"]), ef=Literal(field.hnsw["ef_construction"])))
        if field.fts_configuration is not None:
            ts = t.tsvectors(key)
            await conn.execute(_sql.CREATE_TSVECTORS_TABLE.format(tsvectors=ts, chunks=chunks))
            await conn.execute(_sql.CREATE_TSVECTORS_INDEX.format(
                name=Identifier(key + "_pipeline_tsvector_chunk_id_index"), tsvectors=ts))
            await conn.execute(_sql.CREATE_TSVECTORS_GIN.format(
                name=Identifier(key + "_pipeline_tsvector_index"), tsvectors=ts))


def _json(value):
    from psycopg.types.json import Jsonb
    return Jsonb(value)


async def sync_documents(conn, tables, fields, document_ids, embed_remote=None):
    """Chunks, embeddings and tsvectors for the given documents, in the caller's transaction.
    One statement per key and step whatever the number of documents: the round trips and the
    model calls do not grow with the batch."""
    for key, field in fields.items():
        chunks = tables.chunks(key)
        if field.splitter is not None:
            cur = await conn.execute(_sql.SYNC_CHUNKS_WITH_SPLITTER.format(docs=tables.docs, chunks=chunks), (
                field.splitter.name, key, _json(field.splitter.parameters), document_ids, key, document_ids))
        else:
            cur = await conn.execute(_sql.SYNC_CHUNKS_WHOLE_FIELD.format(docs=tables.docs, chunks=chunks),
                                     (key, document_ids))
        chunk_ids = [row[0] for row in await cur.fetchall()]
        if not chunk_ids:
            continue
        if field.model is not None:
            if field.model.runtime == "python":
                await conn.execute(_sql.SYNC_EMBEDDINGS.format(embeddings=tables.embeddings(key), chunks=chunks),
                                   (chunk_ids, field.model.name, _json(field.model.parameters)))
            else:
                await embed_remote(conn, field.model, tables.embeddings(key), chunks, chunk_ids)
        if field.fts_configuration is not None:
            await conn.execute(_sql.SYNC_TSVECTORS.format(tsvectors=tables.tsvectors(key), chunks=chunks),
                               (field.fts_configuration, chunk_ids))


async def status(conn, tables, fields):
    """{key: {"chunks"|"embeddings"|"tsvectors": {"synced", "not_synced", "total"}}}."""
    out = {}
    for key, field in fields.items():
        chunks, out[key] = tables.chunks(key), {}
        if field.splitter is not None:
            synced, total = await (await conn.execute(
                _sql.PIPELINE_STATUS_CHUNKS.format(chunks=chunks, docs=tables.docs))).fetchone()
            out[key]["chunks"] = _counts(synced, total)
        for name, present, table in (("embeddings", field.model is not None, tables.embeddings(key)),
                                     ("tsvectors", field.fts_configuration is not None, tables.tsvectors(key))):
            if present:
                synced, total = await (await conn.execute(
                    _sql.PIPELINE_STATUS_DERIVED.format(derived=table, chunks=chunks))).fetchone()
                out[key][name] = _counts(synced, total)
    return out


def _counts(synced, total):
    synced, total = synced or 0, total or 0
    return {"synced": synced, "not_synced": total - synced, "total": total}


__all__ = ["Model", "Splitter", "Pipeline", "SingleFieldPipeline", "SQL"]
