"""SQL for vector_search, search (hybrid documents search) and RAG.

Values are embedded with psycopg.sql.Literal (quoted by psycopg), so one statement carries
the whole query: one round trip per search, the query embedding computed inside it.
"""
import json

from psycopg.sql import SQL, Identifier, Literal

from . import _remote, filters
from .errors import invalid
from .pipeline import Tables

VECTOR_FIELD_KEYS = {"query", "parameters", "full_text_filter", "boost"}
RERANK_KEYS = {"query", "model", "num_documents_to_rerank", "parameters"}


def _jsonb(value):
    return SQL("{}::jsonb").format(Literal(json.dumps(value)))


def _check_keys(obj, allowed, what):
    if not isinstance(obj, dict):
        raise invalid("%s must be an object. Got %s instead." % (what, json.dumps(obj, default=str)))
    unknown = set(obj) - set(allowed)
    if unknown:
        raise invalid("unknown key(s) %s in %s" % (", ".join(sorted(unknown)), what),
                      "Allowed keys: %s." % ", ".join(sorted(allowed)))


def _limit(query, default=10):
    value = query.get("limit", default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise invalid("limit must be a non-negative integer. Got %s instead." % json.dumps(value))
    return value


def _field(pipeline, key, action):
    field = pipeline.fields.get(key)
    if field is None:
        raise invalid("Bad query - %s does not exist in schema" % key,
                      "Keys of pipeline %s: %s." % (pipeline.name, ", ".join(sorted(pipeline.fields))))
    if action == "semantic_search" and field.model is None or action == "full_text_search" and field.fts_configuration is None:
        raise invalid("Bad query - %s does not have any directive to %s" % (key, action))
    return field


def _boost(spec):
    boost = spec.get("boost", 1.0)
    if isinstance(boost, bool) or not isinstance(boost, (int, float)):
        raise invalid("boost must be a number. Got %s instead." % json.dumps(boost))
    return Literal(float(boost))


async def _query_embedding(field, spec):
    """SQL for the query's embedding: pgml.embed in the statement, or a remote API's vector."""
    params = spec.get("parameters") or {}
    if not isinstance(params, dict):
        raise invalid("parameters must be an object")
    if field.model.runtime == "python":
        return SQL("pgml.embed(transformer => {}, text => {}, kwargs => {})::vector").format(
            Literal(field.model.name), Literal(spec["query"]), _jsonb(params))
    vector = (await _remote.embed(field.model, [spec["query"]], params))[0]
    return SQL("{}::vector").format(Literal(str(list(vector))))


async def vector_search_parts(collection, pipeline, query, prefix=""):
    """(ctes, select) for a vector search: the select returns document, chunk, score,
    rerank_score, best first."""
    _check_keys(query, {"query", "limit", "document", "rerank"}, "the vector search")
    actions = query.get("query")
    _check_keys(actions, {"fields", "filter"}, "query")
    fields = actions.get("fields") or {}
    if not isinstance(fields, dict) or not fields:
        raise invalid("at least one field is required to search over",
                      'Give {"query": {"fields": {"<key>": {"query": "..."}}}}.')
    limit = _limit(query)
    rerank = query.get("rerank")
    if rerank is not None:
        _check_keys(rerank, RERANK_KEYS, "rerank")
    search_limit = rerank.get("num_documents_to_rerank", 10) if rerank else limit
    document = query.get("document") or {}
    _check_keys(document, {"keys"}, "document")
    doc_expr = filters.keys_object(document["keys"]) if document.get("keys") is not None else SQL("documents.document")
    where = filters.where(actions.get("filter"))
    tables, ctes, branches = Tables(collection, pipeline.name), [], []
    for key, spec in fields.items():
        _check_keys(spec, VECTOR_FIELD_KEYS, "field %s" % key)
        if not isinstance(spec.get("query"), str):
            raise invalid("field %s needs a \"query\" string" % key)
        field = _field(pipeline, key, "semantic_search")
        emb_name = Identifier(prefix + key + "_embedding")
        ctes.append(SQL("{} AS MATERIALIZED (SELECT {} AS embedding)").format(emb_name, await _query_embedding(field, spec)))
        distance = SQL("embeddings.embedding <=> (SELECT embedding FROM {})").format(emb_name)
        join_ts, cond = SQL(""), where
        if spec.get("full_text_filter") is not None:
            _field(pipeline, key, "full_text_search")
            join_ts = SQL(" JOIN {} tsvectors ON tsvectors.chunk_id = embeddings.chunk_id").format(tables.tsvectors(key))
            cond = SQL("{} AND tsvectors.ts @@ plainto_tsquery({}::regconfig, {})").format(
                where, Literal(field.fts_configuration), Literal(str(spec["full_text_filter"])))
        branches.append(SQL(
            "(SELECT {doc} AS document, chunks.chunk, ((1 - ({distance})) * {boost})::float8 AS score "
            "FROM {emb} embeddings JOIN {chunks} chunks ON chunks.id = embeddings.chunk_id "
            "JOIN {docs} documents ON documents.id = chunks.document_id{join_ts} WHERE {cond} "
            "ORDER BY {distance} LIMIT {limit})").format(
                doc=doc_expr, distance=distance, boost=_boost(spec), emb=tables.embeddings(key),
                chunks=tables.chunks(key), docs=tables.docs, join_ts=join_ts, cond=cond, limit=Literal(search_limit)))
    vs = Identifier(prefix + "_vector_search")
    ctes.append(SQL("{} AS (SELECT * FROM ({}) u ORDER BY score DESC LIMIT {})").format(
        vs, SQL(" UNION ALL ").join(branches), Literal(search_limit)))
    if not rerank:
        return ctes, SQL("SELECT document, chunk, score, NULL::float8 AS rerank_score FROM {}").format(vs)
    rn = Identifier(prefix + "_row_number_vector_search")
    ctes.append(SQL("{} AS (SELECT *, row_number() OVER (ORDER BY score DESC) AS rn FROM {})").format(rn, vs))
    kwargs = dict(rerank.get("parameters") or {})
    kwargs = dict({"return_documents": False, "top_k": limit}, **kwargs)
    select = SQL(
        "SELECT v.document, v.chunk, v.score, r.score AS rerank_score FROM {rn} v "
        "JOIN pgml.rank(transformer => {model}, query => {query}, "
        "documents => (SELECT coalesce(array_agg(chunk ORDER BY rn), '{{}}') FROM {rn}), kwargs => {kwargs}) r "
        "ON r.corpus_id + 1 = v.rn ORDER BY r.score DESC").format(
            rn=rn, model=Literal(rerank.get("model")), query=Literal(rerank.get("query")), kwargs=_jsonb(kwargs))
    return ctes, select


def _with(ctes, select):
    if not ctes:
        return select
    return SQL("WITH {} {}").format(SQL(", ").join(ctes), select)


async def vector_search(collection, pipeline, query):
    ctes, select = await vector_search_parts(collection, pipeline, query)
    return _with(ctes, select), None


SEARCH_KEYS = {"query", "limit"}


async def document_search(collection, pipeline, query):
    """Hybrid search: per document, the best chunk's boosted cosine similarity for each semantic
    key plus the best ts_rank for each full text key, summed; documents sorted by the sum.
    Exact (every chunk is scored), where PostgresML's SDK walks an HNSW scan per document."""
    _check_keys(query, SEARCH_KEYS, "the search")
    actions = query.get("query")
    _check_keys(actions, {"semantic_search", "full_text_search", "filter"}, "query")
    limit = _limit(query)
    where = filters.where(actions.get("filter"))
    tables, ctes, scores = Tables(collection, pipeline.name), [], []
    for key, spec in (actions.get("semantic_search") or {}).items():
        _check_keys(spec, {"query", "parameters", "boost"}, "semantic_search.%s" % key)
        field = _field(pipeline, key, "semantic_search")
        emb, name = Identifier(key + "_embedding"), key + "_embedding_score"
        ctes.append(SQL("{} AS MATERIALIZED (SELECT {} AS embedding)").format(emb, await _query_embedding(field, spec)))
        ctes.append(SQL(
            "{name} AS (SELECT documents.id, max((1 - (embeddings.embedding <=> (SELECT embedding FROM {emb}))) * {boost})::float8 AS score "
            "FROM {embeddings} embeddings JOIN {chunks} chunks ON chunks.id = embeddings.chunk_id "
            "JOIN {docs} documents ON documents.id = chunks.document_id WHERE {where} GROUP BY documents.id)").format(
                name=Identifier(name), emb=emb, boost=_boost(spec), embeddings=tables.embeddings(key),
                chunks=tables.chunks(key), docs=tables.docs, where=where))
        scores.append(name)
    for key, spec in (actions.get("full_text_search") or {}).items():
        _check_keys(spec, {"query", "boost"}, "full_text_search.%s" % key)
        field = _field(pipeline, key, "full_text_search")
        tsquery = SQL("plainto_tsquery({}::regconfig, {})").format(Literal(field.fts_configuration), Literal(spec.get("query", "")))
        name = key + "_tsvectors_score"
        ctes.append(SQL(
            "{name} AS (SELECT documents.id, max(ts_rank(tsvectors.ts, {q}, 32) * {boost})::float8 AS score "
            "FROM {ts} tsvectors JOIN {chunks} chunks ON chunks.id = tsvectors.chunk_id "
            "JOIN {docs} documents ON documents.id = chunks.document_id WHERE tsvectors.ts @@ {q} AND {where} "
            "GROUP BY documents.id)").format(name=Identifier(name), q=tsquery, boost=_boost(spec),
                                             ts=tables.tsvectors(key), chunks=tables.chunks(key),
                                             docs=tables.docs, where=where))
        scores.append(name)
    if not scores:
        raise invalid("a search needs semantic_search or full_text_search",
                      "To only filter documents, use collection.get_documents({\"filter\": ...}).")
    ids = [SQL("{}.id").format(Identifier(s)) for s in scores]
    joins = SQL("").join(SQL(" FULL OUTER JOIN {} ON {}.id = coalesce({})").format(
        Identifier(s), Identifier(s), SQL(", ").join(ids[:i])) for i, s in enumerate(scores) if i)
    total = SQL(" + ").join(SQL("coalesce({}.score, 0.0)").format(Identifier(s)) for s in scores)
    ctes.append(SQL(
        "main AS (SELECT documents.id, {total} AS score, documents.document FROM {first}{joins} "
        "JOIN {docs} documents ON documents.id = coalesce({ids}) ORDER BY score DESC, documents.id LIMIT {limit})").format(
            total=total, first=Identifier(scores[0]), joins=joins, docs=tables.docs, ids=SQL(", ").join(ids),
            limit=Literal(limit)))
    ctes.append(SQL("searches_insert AS (INSERT INTO {} (query) VALUES ({}) RETURNING id)").format(
        tables.searches, _jsonb(query)))
    per_key = SQL("").join(SQL(", {}, (SELECT score FROM {} s WHERE s.id = main.id)").format(Literal(s), Identifier(s))
                           for s in scores)
    ctes.append(SQL(
        "search_results_insert AS (INSERT INTO {} (search_id, document_id, scores, rank) "
        "SELECT (SELECT id FROM searches_insert), id, jsonb_build_object('total', score{}), "
        "row_number() OVER (ORDER BY score DESC, id) FROM main)").format(tables.search_results, per_key))
    select = SQL("SELECT jsonb_build_object('search_id', (SELECT id FROM searches_insert), "
                 "'results', json_agg(main.* ORDER BY score DESC, id)) FROM main")
    return _with(ctes, select), None


RAG_COMPLETION_KEYS = {"model", "prompt", "temperature", "max_tokens", "top_p", "presence_penalty", "n"}
RAG_CHAT_KEYS = {"model", "messages", "temperature", "max_tokens", "top_p", "presence_penalty", "n"}


async def _rag_context(collection, pipeline, variables):
    """SQL returning {VAR: {"sources": [...], "text": "..."}} for the RAG variables."""
    ctes, items = [], []
    for name, spec in variables.items():
        if name.upper() != name:
            raise invalid("All variables in RAG query must be uppercase. Got %s instead." % name)
        if isinstance(spec, dict) and "sql" in spec:
            _check_keys(spec, {"sql"}, name)
            raw = SQL(spec["sql"])
            items.append(SQL("{}, jsonb_build_object('sources', to_jsonb(({})), 'text', ({})::text)").format(
                Literal(name), raw, raw))
            continue
        _check_keys(spec, {"vector_search", "aggregate"}, name)
        aggregate = spec.get("aggregate") or {}
        _check_keys(aggregate, {"join"}, "%s.aggregate" % name)
        sub, select = await vector_search_parts(collection, pipeline, spec.get("vector_search"), prefix=name)
        ctes.extend(sub)
        ctes.append(SQL("{} AS ({})").format(Identifier(name), select))
        items.append(SQL(
            "{name}, jsonb_build_object('sources', (SELECT coalesce(json_agg(j), '[]') FROM {ident} j), "
            "'text', (SELECT string_agg(chunk, {sep}) FROM {ident}))").format(
                name=Literal(name), ident=Identifier(name), sep=Literal(aggregate.get("join", "\n"))))
    select = SQL("SELECT jsonb_build_object({})").format(SQL(", ").join(items)) if items else SQL("SELECT '{}'::jsonb")
    return _with(ctes, select)


def _fill(template, context):
    for name, value in context.items():
        template = template.replace("{%s}" % name, value.get("text") or "")
    return template


async def rag(collection, pipeline, query, stream):
    """(context SQL, task, inputs, args) pieces assembled by Collection.rag / rag_stream."""
    completion, chat = query.get("completion"), query.get("chat")
    if (completion is None) == (chat is None):
        raise invalid("Must provide either `completion` or `chat` (not both)")
    variables = {k: v for k, v in query.items() if k not in ("completion", "chat")}
    context_sql = await _rag_context(collection, pipeline, variables)
    spec = completion if completion is not None else chat
    _check_keys(spec, RAG_COMPLETION_KEYS if completion is not None else RAG_CHAT_KEYS,
                "completion" if completion is not None else "chat")
    args = {k: v for k, v in spec.items() if k not in ("model", "prompt", "messages")}
    if completion is not None:
        task = {"task": "text-generation", "model": spec["model"]}
    else:
        task = {"task": "conversational", "model": spec["model"]}
    return RagPlan(context_sql, task, spec, args, completion is not None)


class RagPlan:
    """The context query and how to build the generation inputs from its result."""

    def __init__(self, context_sql, task, spec, args, is_completion):
        self.context_sql, self.task, self.spec, self.args = context_sql, task, spec, args
        self.is_completion = is_completion

    def inputs(self, context):
        if self.is_completion:
            return _fill(self.spec["prompt"], context)
        return [{"role": m["role"], "content": _fill(m["content"], context)} for m in self.spec["messages"]]

    @staticmethod
    def sources(context):
        return {name: value.get("sources") for name, value in context.items()}
