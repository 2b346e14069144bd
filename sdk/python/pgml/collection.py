"""Collection: documents, pipelines, searches and RAG (PostgresML SDK's API, async).

Every public coroutine runs on the SDK's loop (see _runtime); the sync twin in pgml.sync wraps
this class. SQL lives in _sql, query building for searches in _search.
"""
import asyncio
import hashlib
import json
import logging
import os
import re
import time
import uuid

from psycopg.sql import SQL, Identifier

from . import _db, _progress, _remote, _search, _sql, filters, transform
from ._runtime import AsyncStream, bridged
from .errors import InvalidArgumentError, NotFoundError, PgmlError, invalid
from .pipeline import Pipeline, Tables, create_tables, load_row, missing, register_models, status, sync_documents

log = logging.getLogger("pgml")
SDK_VERSION = "1.1.1"
NAME_RE = re.compile(r"^[\w\s-]+$")


def source_uuid(document_id):
    """PostgresML's SDK's key: the UUID made of the MD5 of the id's JSON text."""
    return uuid.UUID(bytes=hashlib.md5(_json_text(document_id).encode()).digest())


def _json_text(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _versions(document, now_ms):
    return {key: {"last_updated": now_ms, "md5": hashlib.md5(_json_text(value).encode()).hexdigest()}
            for key, value in document.items()}


def _int_arg(args, name, default):
    value = args.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or int(value) != value:
        raise invalid("%s must be a non-negative integer. Got %s instead." % (name, json.dumps(value)))
    return int(value)


def _object(value, what):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid("%s must be an object. Got %s instead." % (what, json.dumps(value, default=str)))
    return value


class Collection:
    """A named set of JSON documents (schema <name> in the database) and its pipelines."""

    def __init__(self, name, database_url=None):
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise invalid("invalid collection name %r" % (name,),
                          "Use letters, numbers, white space, '-' and '_'.")
        self.name = name
        self.database_url = database_url
        self._id = self._project_id = None
        self._pipelines = {}

    def __repr__(self):
        return "Collection(%r)" % self.name

    @property
    def _tables(self):
        return Tables(self.name)

    async def _db(self):
        return await _db.get(self.database_url)

    async def _verify(self, create=True):
        """Creates the collection on first use (project, schema, tables), as PostgresML's SDK;
        with create=False (searches) a missing collection is an error instead."""
        if self._id is not None:
            return
        db = await self._db()
        async with db.transaction() as conn:
            row = await (await conn.execute(_sql.SELECT_COLLECTION, (self.name,))).fetchone()
            if row is None and not create:
                raise NotFoundError('collection "%s" does not exist' % self.name,
                                    hint="Create it with upsert_documents or add_pipeline.")
            if row is None:
                project_id = (await (await conn.execute(_sql.UPSERT_PROJECT, (self.name,))).fetchone())[0]
                await db.ensure_schema(conn, self.name)
                row = await (await conn.execute(_sql.INSERT_COLLECTION, (self.name, project_id, SDK_VERSION))).fetchone()
                t = self._tables
                await conn.execute(_sql.CREATE_DOCUMENTS_TABLE.format(docs=t.docs))
                await conn.execute(_sql.CREATE_DOCUMENTS_INDEX.format(docs=t.docs))
                await conn.execute(_sql.CREATE_PIPELINES_TABLE.format(pipelines=t.pipelines))
                await conn.execute(_sql.CREATE_PIPELINES_INDEX.format(pipelines=t.pipelines))
        if row is None:  # created concurrently by another client
            row = await db.fetch(_sql.SELECT_COLLECTION, (self.name,))
            row = row[0]
        self._id, self._project_id = row[0], row[1]

    # ---- pipelines -------------------------------------------------------------------------
    async def _load_pipeline(self, conn, pipeline, must_exist=True):
        """Reads the pipeline's stored schema (cached per collection object)."""
        cached = self._pipelines.get(pipeline.name)
        if cached is not None:
            pipeline.schema, pipeline.fields = cached.schema, cached.fields
            return pipeline
        row = await (await conn.execute(_sql.SELECT_PIPELINE.format(pipelines=self._tables.pipelines),
                                        (pipeline.name,))).fetchone()
        if row is None:
            if must_exist:
                raise missing(pipeline.name, self.name)
            return None
        load_row(pipeline, row)
        self._pipelines[pipeline.name] = Pipeline(pipeline.name, pipeline.schema)
        return pipeline

    async def _embedding_size(self, conn, model):
        if model.runtime == "python":
            row = await (await conn.execute(_sql.EMBEDDING_DIMENSIONS,
                                            (model.name, _db.jsonb(model.parameters)))).fetchone()
            return row[0]
        return len((await _remote.embed(model, ["Hello, World!"]))[0])

    @bridged
    async def add_pipeline(self, pipeline):
        """Stores the pipeline, creates its tables and processes the existing documents."""
        await self._verify()
        db = await self._db()
        async with db.transaction() as conn:
            active = await (await conn.execute(_sql.PIPELINE_IS_ACTIVE.format(pipelines=self._tables.pipelines),
                                               (pipeline.name,))).fetchone()
            if active[0]:
                log.warning("Pipeline %s already exists not adding", pipeline.name)
                return
            if await self._load_pipeline(conn, Pipeline(pipeline.name), must_exist=False):
                raise InvalidArgumentError('pipeline "%s" already exists in collection "%s"' % (pipeline.name, self.name),
                                           sqlstate="42710", hint="Enable it with collection.enable_pipeline(pipeline).")
            if pipeline.fields is None:
                raise invalid('pipeline "%s" has no schema' % pipeline.name,
                              "Pass a schema to pgml.Pipeline(name, schema) to add it.")
            await register_models(conn, self._project_id, pipeline.fields)
            await conn.execute(_sql.INSERT_PIPELINE.format(pipelines=self._tables.pipelines),
                               (pipeline.name, _db.jsonb(pipeline.schema)))
            await db.ensure_schema(conn, self.name, pipeline.name)
            await create_tables(conn, Tables(self.name, pipeline.name), pipeline.fields, self._embedding_size)
        self._pipelines.pop(pipeline.name, None)
        log.info("Added Pipeline %s, Now Syncing...", pipeline.name)
        await self._resync(pipeline)

    async def _resync(self, pipeline):
        """Rebuilds a pipeline's chunks, embeddings and tsvectors from all documents."""
        db = await self._db()
        async with db.transaction() as conn:
            await self._load_pipeline(conn, pipeline)
            tables = Tables(self.name, pipeline.name)
            for key in pipeline.fields:
                await conn.execute(_sql.CLEAR_CHUNKS.format(chunks=tables.chunks(key)))
            ids = [r[0] for r in await (await conn.execute(_sql.SELECT_DOCUMENT_IDS.format(docs=tables.docs))).fetchall()]
        for start in range(0, len(ids), 500):
            async with db.transaction() as conn:
                await sync_documents(conn, tables, pipeline.fields, ids[start:start + 500], _remote.embed_into)

    @bridged
    async def remove_pipeline(self, pipeline):
        await self._verify()
        db = await self._db()
        async with db.transaction() as conn:
            await conn.execute(_sql.DROP_SCHEMA.format(schema=Identifier("%s_%s" % (self.name, pipeline.name))))
            await conn.execute(_sql.DELETE_PIPELINE.format(pipelines=self._tables.pipelines), (pipeline.name,))
        self._pipelines.pop(pipeline.name, None)

    @bridged
    async def enable_pipeline(self, pipeline):
        await self._verify()
        db = await self._db()
        async with db.transaction() as conn:
            await conn.execute(_sql.SET_PIPELINE_ACTIVE.format(pipelines=self._tables.pipelines), (True, pipeline.name))
        await self._resync(pipeline)

    @bridged
    async def disable_pipeline(self, pipeline):
        await self._verify()
        db = await self._db()
        async with db.transaction() as conn:
            await conn.execute(_sql.SET_PIPELINE_ACTIVE.format(pipelines=self._tables.pipelines), (False, pipeline.name))

    @bridged
    async def get_pipelines(self):
        await self._verify()
        rows = await (await self._db()).fetch(_sql.SELECT_ACTIVE_PIPELINES.format(pipelines=self._tables.pipelines))
        return [load_row(Pipeline(row[1]), row) for row in rows]

    @bridged
    async def get_pipeline(self, name):
        for pipeline in await self.get_pipelines():
            if pipeline.name == name:
                return pipeline
        raise missing(name, self.name)

    @bridged
    async def get_pipeline_status(self, pipeline):
        await self._verify()
        db = await self._db()
        async with db.transaction() as conn:
            await self._load_pipeline(conn, pipeline)
            return await status(conn, Tables(self.name, pipeline.name), pipeline.fields)

    # ---- documents -------------------------------------------------------------------------
    @bridged
    async def upsert_documents(self, documents, args=None):
        """Inserts or replaces documents (by their "id") and runs every active pipeline on the
        ones whose pipeline keys changed. args: batch_size (100), merge (false: replace the
        document; true: merge keys into it), parallel_batches (1)."""
        args = _object(args, "args")
        if not isinstance(documents, (list, tuple)):
            raise invalid("documents must be a list of objects")
        batch_size = max(1, _int_arg(args, "batch_size", 100))
        parallel = max(1, _int_arg(args, "parallel_batches", 1))
        merge = bool(args.get("merge", False))
        for i, doc in enumerate(documents):
            if not isinstance(doc, dict) or "id" not in doc:
                raise invalid("document %d must be an object with an \"id\" key. Got %s instead."
                              % (i, json.dumps(doc, default=str)[:200]))
        await self._verify()
        pipelines = await self.get_pipelines()
        batches = [documents[i:i + batch_size] for i in range(0, len(documents), batch_size)]
        progress = _progress.bar(len(documents), "Upserting Documents")
        semaphore = asyncio.Semaphore(parallel)

        async def run(batch):
            async with semaphore:
                await self._upsert_batch(batch, merge, pipelines)
                progress.update(len(batch))
        try:
            await asyncio.gather(*(run(b) for b in batches))
        finally:
            progress.close()

    async def _upsert_batch(self, batch, merge, pipelines):
        now_ms = int(time.time() * 1000)
        unique = {}
        for doc in batch:  # the same id twice in a batch: the last one wins (merged if asked)
            key = source_uuid(doc["id"])
            unique[key] = dict(unique[key], **doc) if merge and key in unique else doc
        uuids = list(unique)
        docs = [_db.jsonb(d) for d in unique.values()]
        versions = [_db.jsonb(_versions(d, now_ms)) for d in unique.values()]
        db = await self._db()
        async with db.transaction() as conn:
            query = _sql.UPSERT_DOCUMENTS.format(docs=self._tables.docs,
                                                 merge=_sql.MERGE_DOCUMENT if merge else _sql.REPLACE_DOCUMENT)
            rows = await (await conn.execute(query, (uuids, docs, versions))).fetchall()
            by_uuid = {row[1]: (row[0], row[2]) for row in rows}
            for pipeline in pipelines:
                ids = [by_uuid[u][0] for u, doc in unique.items()
                       if _changed(pipeline.fields, doc, by_uuid[u][1], merge)]
                if ids:
                    await sync_documents(conn, Tables(self.name, pipeline.name), pipeline.fields, ids,
                                         _remote.embed_into)

    @bridged
    async def get_documents(self, args=None):
        """Documents as {"row_id", "created_at", "source_uuid", "document"}; args: limit (1000),
        offset, last_row_id, filter, order_by, keys."""
        args = dict(_object(args, "args"))
        limit = _int_arg(args, "limit", 1000)
        offset = _int_arg(args, "offset", 0)
        where = filters.where(args.get("filter"))
        if args.get("last_row_id") is not None:
            where = SQL("{} AND documents.id > {}").format(where, _int_literal(_int_arg(args, "last_row_id", 0)))
        document = filters.keys_object(args["keys"]) if args.get("keys") is not None else SQL("documents.document")
        query = _sql.GET_DOCUMENTS.format(document=document, docs=self._tables.docs, where=where,
                                          order=filters.order_by(args.get("order_by")),
                                          limit=_int_literal(limit), offset=_int_literal(offset))
        rows = await self._fetch_missing_ok(query)
        return [{"row_id": r[0], "created_at": r[1].isoformat(), "source_uuid": str(r[2]), "document": r[3]}
                for r in rows]

    async def _fetch_missing_ok(self, query, params=None):
        """Runs a read; a collection that was never created reads as empty."""
        try:
            return await (await self._db()).fetch(query, params)
        except PgmlError as e:
            if e.sqlstate in ("42P01", "3F000"):
                return []
            raise

    @bridged
    async def delete_documents(self, filter):
        if not isinstance(filter, dict) or not filter:
            raise invalid("delete_documents needs a non-empty filter object",
                          'To delete everything, pass a filter that matches all, e.g. {"id": {"$ne": null}}.')
        await self._verify()
        await (await self._db()).fetch(SQL("{} RETURNING 1").format(
            _sql.DELETE_DOCUMENTS.format(docs=self._tables.docs, where=filters.where(filter))))

    # ---- searches --------------------------------------------------------------------------
    async def _search_context(self, pipeline):
        """The database and the pipeline's stored schema (one pooled connection per search)."""
        await self._verify(create=False)
        db = await self._db()
        if pipeline.name not in self._pipelines:
            async with db.transaction() as conn:
                await self._load_pipeline(conn, pipeline)
        else:
            cached = self._pipelines[pipeline.name]
            pipeline.schema, pipeline.fields = cached.schema, cached.fields
        return db

    @bridged
    async def vector_search(self, query, pipeline):
        """Chunks nearest to the query: [{"document", "chunk", "score", "rerank_score"}]."""
        db = await self._search_context(pipeline)
        built, params = await _search.vector_search(self.name, pipeline, _object(query, "query"))
        rows = await db.fetch(built, params)
        return [{"document": r[0], "chunk": r[1], "score": r[2], "rerank_score": r[3]} for r in rows]

    @bridged
    async def search(self, query, pipeline):
        """Documents ranked by the sum of their best semantic and full text scores (boosted);
        logged in the pipeline's searches tables: {"search_id", "results": [...]}."""
        db = await self._search_context(pipeline)
        built, params = await _search.document_search(self.name, pipeline, _object(query, "query"))
        result = await db.fetchval(built, params)
        if result.get("results") is None:
            result["results"] = []
        return result

    @bridged
    async def add_search_event(self, search_id, search_result, event, pipeline):
        t = Tables(self.name, pipeline.name)
        await (await self._db()).fetch(SQL("{} RETURNING id").format(_sql.INSERT_SEARCH_EVENT.format(
            search_events=t.search_events, search_results=t.search_results)),
            (search_id, search_result, _db.jsonb(event)))

    async def _rag_plan(self, query, pipeline):
        db = await self._search_context(pipeline)
        plan = await _search.rag(self.name, pipeline, _object(query, "query"), stream=False)
        context = await db.fetchval(plan.context_sql)
        return db, plan, context

    @bridged
    async def rag(self, query, pipeline):
        """Vector searches fill the prompt's {VARIABLES}; the model completes it:
        {"rag": [generated text], "sources": {VARIABLE: [search results]}}."""
        db, plan, context = await self._rag_plan(query, pipeline)
        inputs = plan.inputs(context)
        result = await transform.run(db, plan.task, inputs if not plan.is_completion else [inputs], plan.args)
        return {"rag": result, "sources": plan.sources(context)}

    @bridged
    async def rag_stream(self, query, pipeline):
        """A RAGStream: .stream() yields the generated text in pieces, .sources() the context."""
        db, plan, context = await self._rag_plan(query, pipeline)
        agen = transform.stream(db, plan.task, plan.inputs(context), plan.args, 1)
        return RAGStream(agen, plan.sources(context), plan.args.get("n", 1))

    def query(self):
        """The pre-1.0 query builder (vector_recall, filter, limit, fetch_all)."""
        from .query_builder import QueryBuilder
        return QueryBuilder(self)

    # ---- lifecycle -------------------------------------------------------------------------
    @bridged
    async def exists(self):
        rows = await self._fetch_missing_ok(_sql.COLLECTION_EXISTS, (self.name,))
        return bool(rows and rows[0][0])

    @bridged
    async def archive(self):
        """Renames the collection to <name>_archive_<unix time> and deactivates it: by pgml's own
        pgml.archive_collection where the server has it (pgml >= 1.3, whose granted roles have no
        CREATE on the database that renaming a schema takes), else as PostgresML's SDK does."""
        await self._verify()
        db = await self._db()
        async with db.transaction() as conn:
            if await db.has_schema_function(conn):
                await conn.execute(_sql.ARCHIVE_COLLECTION_BY_PGML, (self.name,))
            else:
                pipelines = await self.get_pipelines()
                archive = "%s_archive_%d" % (self.name, int(time.time()))
                await conn.execute(_sql.ARCHIVE_COLLECTION, (archive, self.name))
                for p in [None] + [p.name for p in pipelines]:
                    old, new = [n if p is None else "%s_%s" % (n, p) for n in (self.name, archive)]
                    await conn.execute(_sql.RENAME_SCHEMA.format(old=Identifier(old), new=Identifier(new)))
        self._id = self._project_id = None
        self._pipelines.clear()

    @bridged
    async def upsert_file(self, path):
        text = _read_file(path)
        await self.upsert_documents([{"id": str(path), "text": text}])

    @bridged
    async def upsert_directory(self, path, args):
        """Upserts every file under `path` whose extension is in args["file_types"]."""
        args = _object(args, "args")
        types = args.get("file_types")
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise invalid("file_types must be an array of valid file types. E.G. ['md', 'txt']")
        batch_size = max(1, _int_arg(args, "file_batch_size", 10))
        ignore = [re.compile(p) for p in args.get("ignore_paths") or []]
        if not os.path.isdir(path):
            raise NotFoundError("directory %r does not exist" % path)
        batch = []
        for root, dirs, files in os.walk(path, followlinks=bool(args.get("follow_links", False))):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                ext = os.path.splitext(name)[1][1:]
                if ext not in types or any(r.search(full) for r in ignore):
                    continue
                batch.append({"id": full, "file_type": ext, "text": _read_file(full)})
                if len(batch) == batch_size:
                    await self.upsert_documents(batch)
                    batch = []
        if batch:
            await self.upsert_documents(batch)


def _int_literal(value):
    from psycopg.sql import Literal
    return Literal(int(value))


def _changed(fields, document, previous, merge):
    if previous is None:
        return True
    if merge:
        document = dict(previous, **document)
    return any(document.get(key) != previous.get(key) for key in fields)


def _read_file(path):
    if not os.path.isfile(path):
        raise NotFoundError("file %r does not exist" % str(path))
    if str(path).lower().endswith(".pdf"):
        try:
            from pypdf import PdfReader
        except ImportError:
            raise invalid("reading PDF files needs the pypdf package", "pip install pypdf") from None
        return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


class RAGStream:
    """What rag_stream returns: the text stream and the sources it was built from."""

    def __init__(self, agen, sources, n=1):
        self._agen = agen
        self._sources = sources
        self.n = n

    def stream(self):
        if self._agen is None:
            raise InvalidArgumentError("stream() can be called only once")
        agen, self._agen = self._agen, None
        return AsyncStream(agen)

    def sources(self):
        return self._sources
