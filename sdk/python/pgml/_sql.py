"""Every SQL statement the SDK sends, in one place. Identifiers ({docs}, {chunks}, ...) are
filled with psycopg.sql.Identifier, values are always bound parameters (%s).

The layout (pgml.collections, schema <collection> with documents and pipelines, schema
<collection>_<pipeline> with <key>_chunks, <key>_embeddings, <key>_tsvectors, searches,
search_results, search_events) is PostgresML's SDK's, so either SDK reads the other's data.
"""
from psycopg.sql import SQL

# Connection set-up and capabilities
HAS_SCHEMA_FUNCTION = SQL(
    "SELECT pg_catalog.to_regprocedure('pgml.create_collection_schema(text,text)') IS NOT NULL")
CREATE_COLLECTION_SCHEMA = SQL("SELECT pgml.create_collection_schema(%s, %s)")
CREATE_SCHEMA = SQL("CREATE SCHEMA IF NOT EXISTS {schema}")
PGML_VERSION = SQL("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pgml'")

# Collections
SELECT_COLLECTION = SQL(
    "SELECT id, project_id, created_at FROM pgml.collections WHERE name = %s")
COLLECTION_EXISTS = SQL(
    "SELECT EXISTS (SELECT 1 FROM pgml.collections WHERE name = %s AND active = TRUE)")
UPSERT_PROJECT = SQL(
    "INSERT INTO pgml.projects (name, task) VALUES (%s, 'embedding'::pgml.task) "
    "ON CONFLICT (name) DO UPDATE SET task = EXCLUDED.task RETURNING id")
INSERT_COLLECTION = SQL(
    "INSERT INTO pgml.collections (name, project_id, sdk_version) VALUES (%s, %s, %s) "
    "ON CONFLICT (name) DO NOTHING RETURNING id, project_id, created_at")
ARCHIVE_COLLECTION = SQL(
    "UPDATE pgml.collections SET name = %s, active = FALSE WHERE name = %s")
RENAME_SCHEMA = SQL("ALTER SCHEMA {old} RENAME TO {new}")
# pgml >= 1.3: the collection row and its schemas renamed by pgml for the collection's owner.
ARCHIVE_COLLECTION_BY_PGML = SQL("SELECT pgml.archive_collection(%s)")
CREATE_DOCUMENTS_TABLE = SQL("""
CREATE TABLE IF NOT EXISTS {docs} (
  id serial8 PRIMARY KEY,
  created_at timestamp NOT NULL DEFAULT now(),
  source_uuid uuid NOT NULL,
  version jsonb NOT NULL DEFAULT '{{}}'::jsonb,
  document jsonb NOT NULL,
  UNIQUE (source_uuid)
)""")
CREATE_DOCUMENTS_INDEX = SQL(
    "CREATE INDEX IF NOT EXISTS documents_document_index ON {docs} USING GIN (document jsonb_path_ops)")
CREATE_PIPELINES_TABLE = SQL("""
CREATE TABLE IF NOT EXISTS {pipelines} (
  id serial8 PRIMARY KEY,
  name text NOT NULL,
  created_at timestamp NOT NULL DEFAULT now(),
  active BOOLEAN NOT NULL DEFAULT TRUE,
  schema jsonb NOT NULL,
  UNIQUE (name)
)""")
CREATE_PIPELINES_INDEX = SQL("CREATE INDEX IF NOT EXISTS pipeline_name_index ON {pipelines} (name)")

# Pipelines
SELECT_PIPELINE = SQL("SELECT id, name, schema, active FROM {pipelines} WHERE name = %s")
SELECT_ACTIVE_PIPELINES = SQL(
    "SELECT id, name, schema, active FROM {pipelines} WHERE active = TRUE ORDER BY id")
PIPELINE_IS_ACTIVE = SQL("SELECT EXISTS (SELECT 1 FROM {pipelines} WHERE name = %s AND active = TRUE)")
INSERT_PIPELINE = SQL("INSERT INTO {pipelines} (name, schema) VALUES (%s, %s) RETURNING id")
SET_PIPELINE_ACTIVE = SQL("UPDATE {pipelines} SET active = %s WHERE name = %s")
DELETE_PIPELINE = SQL("DELETE FROM {pipelines} WHERE name = %s")
DROP_SCHEMA = SQL("DROP SCHEMA IF EXISTS {schema} CASCADE")
CREATE_SEARCHES_TABLE = SQL("""
CREATE TABLE IF NOT EXISTS {searches} (
  id serial8 PRIMARY KEY,
  created_at timestamp NOT NULL DEFAULT now(),
  query jsonb
)""")
CREATE_SEARCH_RESULTS_TABLE = SQL("""
CREATE TABLE IF NOT EXISTS {search_results} (
  id serial8 PRIMARY KEY,
  search_id int8 NOT NULL REFERENCES {searches} ON DELETE CASCADE,
  document_id int8 NOT NULL REFERENCES {docs} ON DELETE CASCADE,
  scores jsonb NOT NULL,
  rank integer NOT NULL
)""")
CREATE_SEARCH_RESULTS_INDEX = SQL(
    "CREATE INDEX IF NOT EXISTS search_results_search_id_rank_index ON {search_results} (search_id, rank)")
CREATE_SEARCH_EVENTS_TABLE = SQL("""
CREATE TABLE IF NOT EXISTS {search_events} (
  id serial8 PRIMARY KEY,
  created_at timestamp NOT NULL DEFAULT now(),
  search_result int8 NOT NULL REFERENCES {search_results} ON DELETE CASCADE,
  event jsonb NOT NULL
)""")
CREATE_CHUNKS_TABLE = SQL("""
CREATE TABLE IF NOT EXISTS {chunks} (
  id serial8 PRIMARY KEY,
  created_at timestamp NOT NULL DEFAULT now(),
  document_id int8 NOT NULL REFERENCES {docs} ON DELETE CASCADE ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED,
  chunk_index int8 NOT NULL,
  chunk text NOT NULL,
  UNIQUE (document_id, chunk_index)
)""")
CREATE_CHUNKS_INDEX = SQL("CREATE INDEX IF NOT EXISTS {name} ON {chunks} (document_id)")
CREATE_EMBEDDINGS_TABLE = SQL("""
CREATE TABLE IF NOT EXISTS {embeddings} (
  id serial8 PRIMARY KEY,
  created_at timestamp NOT NULL DEFAULT now(),
  chunk_id int8 NOT NULL REFERENCES {chunks} ON DELETE CASCADE ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED,
  embedding vector({dims}) NOT NULL,
  UNIQUE (chunk_id)
)""")
CREATE_EMBEDDINGS_INDEX = SQL("CREATE INDEX IF NOT EXISTS {name} ON {embeddings} (chunk_id)")
CREATE_HNSW_INDEX = SQL(
    "CREATE INDEX IF NOT EXISTS {name} ON {embeddings} USING hnsw (embedding vector_cosine_ops) "
    "WITH (m = {m}, ef_construction = {ef})")
CREATE_TSVECTORS_TABLE = SQL("""
CREATE TABLE IF NOT EXISTS {tsvectors} (
  id serial8 PRIMARY KEY,
  created_at timestamp NOT NULL DEFAULT now(),
  chunk_id int8 NOT NULL REFERENCES {chunks} ON DELETE CASCADE ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED,
  ts tsvector,
  UNIQUE (chunk_id)
)""")
CREATE_TSVECTORS_INDEX = SQL("CREATE INDEX IF NOT EXISTS {name} ON {tsvectors} (chunk_id)")
CREATE_TSVECTORS_GIN = SQL("CREATE INDEX IF NOT EXISTS {name} ON {tsvectors} USING GIN (ts)")
EMBEDDING_DIMENSIONS = SQL(
    "SELECT array_length(pgml.embed(transformer => %s, text => 'Hello, World!', kwargs => %s), 1)")
PIPELINE_STATUS_CHUNKS = SQL(
    "SELECT (SELECT count(DISTINCT document_id) FROM {chunks}), (SELECT count(*) FROM {docs})")
PIPELINE_STATUS_DERIVED = SQL("SELECT (SELECT count(*) FROM {derived}), (SELECT count(*) FROM {chunks})")

# Models and splitters (rows in pgml's catalog, as PostgresML's SDK writes them)
SELECT_MODEL = SQL(
    "SELECT id FROM pgml.models WHERE project_id = %s AND runtime = %s::pgml.runtime AND hyperparams = %s")
INSERT_MODEL = SQL(
    "INSERT INTO pgml.models (project_id, num_features, algorithm, runtime, hyperparams, status, "
    "search_params, search_args) VALUES (%s, 1, 'transformers', %s::pgml.runtime, %s, 'successful', "
    "'{}', '{}') RETURNING id")
SELECT_SPLITTER = SQL(
    "SELECT id FROM pgml.splitters WHERE project_id = %s AND name = %s AND parameters = %s")
INSERT_SPLITTER = SQL(
    "INSERT INTO pgml.splitters (project_id, name, parameters) VALUES (%s, %s, %s) RETURNING id")

# Documents
UPSERT_DOCUMENTS = SQL("""
WITH new AS (
  SELECT * FROM unnest(%s::uuid[], %s::jsonb[], %s::jsonb[]) AS n(source_uuid, document, version)
), prev AS (
  SELECT d.id, d.source_uuid, d.document FROM {docs} d JOIN new USING (source_uuid)
), ins AS (
  INSERT INTO {docs} AS d (source_uuid, document, version)
  SELECT source_uuid, document, version FROM new
  ON CONFLICT (source_uuid) DO UPDATE SET document = {merge}, version = EXCLUDED.version
  RETURNING d.id, d.source_uuid
)
SELECT ins.id, ins.source_uuid, prev.document FROM ins LEFT JOIN prev USING (source_uuid)""")
MERGE_DOCUMENT = SQL("d.document || EXCLUDED.document")
REPLACE_DOCUMENT = SQL("EXCLUDED.document")
SELECT_DOCUMENT_IDS = SQL("SELECT id FROM {docs} ORDER BY id")
DELETE_DOCUMENTS = SQL("DELETE FROM {docs} AS documents WHERE {where}")
GET_DOCUMENTS = SQL(
    "SELECT documents.id, documents.created_at, documents.source_uuid, {document} AS document "
    "FROM {docs} AS documents WHERE {where} ORDER BY {order} LIMIT {limit} OFFSET {offset}")

# Pipeline sync: chunks, embeddings and tsvectors of given documents / chunks
SYNC_CHUNKS_WITH_SPLITTER = SQL("""
WITH new AS (
  SELECT d.id AS document_id, c.chunk_index, c.chunk
  FROM {docs} d, LATERAL pgml.chunk(splitter => %s, text => d.document->>%s, kwargs => %s) c
  WHERE d.id = ANY(%s) AND d.document->>%s IS NOT NULL
), del AS (
  DELETE FROM {chunks} ch WHERE ch.document_id = ANY(%s)
    AND NOT EXISTS (SELECT 1 FROM new WHERE new.document_id = ch.document_id AND new.chunk_index = ch.chunk_index)
)
INSERT INTO {chunks} (document_id, chunk_index, chunk)
SELECT new.document_id, new.chunk_index, new.chunk FROM new
LEFT JOIN {chunks} old ON old.document_id = new.document_id AND old.chunk_index = new.chunk_index
WHERE old.chunk IS DISTINCT FROM new.chunk
ON CONFLICT (document_id, chunk_index) DO UPDATE SET chunk = EXCLUDED.chunk
RETURNING id""")
SYNC_CHUNKS_WHOLE_FIELD = SQL("""
WITH new AS (
  SELECT d.id AS document_id, d.document->>%s AS chunk FROM {docs} d WHERE d.id = ANY(%s)
), del AS (
  DELETE FROM {chunks} ch USING new WHERE ch.document_id = new.document_id AND new.chunk IS NULL
)
INSERT INTO {chunks} (document_id, chunk_index, chunk)
SELECT new.document_id, 1, new.chunk FROM new
LEFT JOIN {chunks} old ON old.document_id = new.document_id AND old.chunk_index = 1
WHERE new.chunk IS NOT NULL AND old.chunk IS DISTINCT FROM new.chunk
ON CONFLICT (document_id, chunk_index) DO UPDATE SET chunk = EXCLUDED.chunk
RETURNING id""")
SYNC_EMBEDDINGS = SQL("""
INSERT INTO {embeddings} (chunk_id, embedding)
SELECT c.ids[e.n], e.embedding::vector
FROM (SELECT array_agg(id ORDER BY id) AS ids, array_agg(chunk ORDER BY id) AS texts
      FROM {chunks} WHERE id = ANY(%s)) c,
     LATERAL pgml.embed(transformer => %s, inputs => c.texts, kwargs => %s) WITH ORDINALITY AS e(embedding, n)
ON CONFLICT (chunk_id) DO UPDATE SET embedding = EXCLUDED.embedding""")
SYNC_TSVECTORS = SQL("""
INSERT INTO {tsvectors} (chunk_id, ts)
SELECT id, to_tsvector(%s::regconfig, chunk) FROM {chunks} WHERE id = ANY(%s)
ON CONFLICT (chunk_id) DO UPDATE SET ts = EXCLUDED.ts""")
CLEAR_CHUNKS = SQL("DELETE FROM {chunks}")

# Search logging
INSERT_SEARCH_EVENT = SQL(
    "INSERT INTO {search_events} (search_result, event) "
    "VALUES ((SELECT id FROM {search_results} WHERE search_id = %s AND rank = %s), %s)")

# Builtins and transformers
EMBED = SQL("SELECT pgml.embed(transformer => %s, text => %s, kwargs => %s)")
EMBED_BATCH = SQL("SELECT pgml.embed(transformer => %s, inputs => %s::text[], kwargs => %s)")
TRANSFORM = SQL("SELECT pgml.transform(task => %s, inputs => %s::text[], args => %s)")
TRANSFORM_CONVERSATION = SQL("SELECT pgml.transform(task => %s, inputs => %s::jsonb[], args => %s)")
DECLARE_TRANSFORM_STREAM = SQL(
    "DECLARE pgml_stream CURSOR FOR SELECT pgml.transform_stream(task => %s, input => %s, args => %s)")
DECLARE_TRANSFORM_STREAM_CONVERSATION = SQL(
    "DECLARE pgml_stream CURSOR FOR SELECT pgml.transform_stream(task => %s, inputs => %s::jsonb[], args => %s)")
FETCH_STREAM = SQL("FETCH {n} FROM pgml_stream")
QUERY_RUNNER = SQL("SELECT json_agg(j) FROM ({query}) j")

