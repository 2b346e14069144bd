-- pgml 1.0: PostgresML's SQL API as a PL/Python extension.
-- Built from sql/*.sql by the Makefile; install with CREATE EXTENSION pgml CASCADE.
\echo Use "CREATE EXTENSION pgml CASCADE" to load this file. \quit

------------------------------------------------------------------------------------------
-- Bootstrap. Every shim starts with the same line: the first call in a backend imports
-- pgml_bootstrap (installed beside this file), which activates the venv and leaves
-- pgml_py.api in GD["pgml_api"]. See bootstrap/pgml_bootstrap.py.
------------------------------------------------------------------------------------------

-- Activates a venv (stdlib venv or virtualenv) in this backend; false when it does not exist.
-- Superuser only: a venv's code runs as the server.
CREATE OR REPLACE FUNCTION pgml.activate_venv(
    venv TEXT -- the venv's directory
) RETURNS BOOLEAN AS $$
import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap
return pgml_bootstrap.activate(venv, plpy)
$$ LANGUAGE plpython3u VOLATILE STRICT;
REVOKE ALL ON FUNCTION pgml.activate_venv(TEXT) FROM PUBLIC;

------------------------------------------------------------------------------------------
-- Catalog (api.md §1-§2): enums, projects, snapshots, models, deployments, files, logs.
-- PostgresML's client SDK inserts into projects and models itself: keep the column types.
------------------------------------------------------------------------------------------

CREATE TYPE pgml.task AS ENUM (
    'regression', 'classification', 'decomposition', 'clustering', 'question_answering',
    'summarization', 'translation', 'text_classification', 'text_generation', 'text2text',
    'embedding', 'text_pair_classification', 'conversation'
);
CREATE TYPE pgml.algorithm AS ENUM (
    'linear', 'xgboost', 'xgboost_random_forest', 'svm', 'lasso', 'elastic_net', 'ridge',
    'kmeans', 'dbscan', 'knn', 'random_forest', 'least_angle', 'lasso_least_angle',
    'orthogonal_matching_pursuit', 'bayesian_ridge', 'automatic_relevance_determination',
    'stochastic_gradient_descent', 'perceptron', 'passive_aggressive', 'ransac', 'theil_sen',
    'huber', 'quantile', 'kernel_ridge', 'gaussian_process', 'nu_svm', 'ada_boost', 'bagging',
    'extra_trees', 'gradient_boosting_trees', 'hist_gradient_boosting', 'linear_svm',
    'lightgbm', 'transformers', 'affinity_propagation', 'birch', 'feature_agglomeration',
    'mini_batch_kmeans', 'mean_shift', 'optics', 'spectral', 'spectral_bi', 'spectral_co',
    'catboost', 'pca'
);
CREATE TYPE pgml.sampling AS ENUM ('random', 'last', 'stratified');
CREATE TYPE pgml.search AS ENUM ('grid', 'random');
CREATE TYPE pgml.strategy AS ENUM ('new_score', 'best_score', 'most_recent', 'rollback', 'specific');
CREATE TYPE pgml.runtime AS ENUM ('python', 'rust', 'openai');
CREATE TYPE pgml.status AS ENUM ('in_progress', 'successful', 'failed');

-- Keeps updated_at current on every UPDATE.
CREATE OR REPLACE FUNCTION pgml.set_updated_at() RETURNS TRIGGER AS $$
BEGIN
    IF (NEW.* IS DISTINCT FROM OLD.*) THEN
        NEW.updated_at := clock_timestamp();
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- Attaches set_updated_at to a table.
CREATE OR REPLACE FUNCTION pgml.auto_updated_at(tbl regclass) RETURNS VOID AS $$
DECLARE
    name TEXT := pg_catalog.format('%s_auto_updated_at', pg_catalog.replace(tbl::TEXT, '.', '_'));
BEGIN
    EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', name, tbl);
    EXECUTE pg_catalog.format(
        'CREATE TRIGGER %I BEFORE UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION pgml.set_updated_at()',
        name, tbl);
END;
$$ LANGUAGE plpgsql;

CREATE TABLE pgml.projects (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    task pgml.task NOT NULL,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT clock_timestamp(),
    updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT projects_name_key UNIQUE (name)
);
SELECT pgml.auto_updated_at('pgml.projects');

CREATE TABLE pgml.snapshots (
    id BIGSERIAL PRIMARY KEY,
    relation_name TEXT NOT NULL,
    y_column_name TEXT[],
    test_size FLOAT4 NOT NULL,
    test_sampling pgml.sampling NOT NULL,
    status TEXT NOT NULL,
    columns JSONB,
    analysis JSONB,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT clock_timestamp(),
    updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT clock_timestamp(),
    materialized BOOLEAN DEFAULT false
);
SELECT pgml.auto_updated_at('pgml.snapshots');

CREATE TABLE pgml.models (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES pgml.projects(id) ON DELETE CASCADE,
    snapshot_id BIGINT REFERENCES pgml.snapshots(id) ON DELETE SET NULL,
    num_features INT NOT NULL,
    algorithm TEXT NOT NULL,
    runtime pgml.runtime DEFAULT 'python'::pgml.runtime,
    hyperparams JSONB NOT NULL,
    status TEXT NOT NULL,
    metrics JSONB,
    search TEXT,
    search_params JSONB NOT NULL,
    search_args JSONB NOT NULL,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT clock_timestamp(),
    updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX models_project_id_idx ON pgml.models (project_id);
CREATE INDEX models_snapshot_id_idx ON pgml.models (snapshot_id);
SELECT pgml.auto_updated_at('pgml.models');

CREATE TABLE pgml.deployments (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES pgml.projects(id) ON DELETE CASCADE,
    model_id BIGINT NOT NULL REFERENCES pgml.models(id) ON DELETE CASCADE,
    strategy pgml.strategy NOT NULL,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX deployments_project_id_idx ON pgml.deployments (project_id);
CREATE INDEX deployments_model_id_idx ON pgml.deployments (model_id);

CREATE TABLE pgml.files (
    id BIGSERIAL PRIMARY KEY,
    model_id BIGINT NOT NULL REFERENCES pgml.models(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    part INTEGER NOT NULL,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT clock_timestamp(),
    updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT clock_timestamp(),
    data BYTEA NOT NULL,
    CONSTRAINT files_model_id_path_part_key UNIQUE (model_id, path, part)
);
SELECT pgml.auto_updated_at('pgml.files');

CREATE TABLE pgml.logs (
    id SERIAL PRIMARY KEY,
    model_id BIGINT,
    project_id BIGINT,
    created_at TIMESTAMP WITHOUT TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    logs JSONB
);

-- pg_dump keeps what users trained (PostgresML issue 1277 shows the pain without this).
SELECT pg_catalog.pg_extension_config_dump('pgml.projects', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.projects_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.snapshots', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.snapshots_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.models', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.models_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.deployments', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.deployments_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.files', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.files_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.logs', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.logs_id_seq', '');

-- Every deployment, newest first.
CREATE VIEW pgml.overview AS
SELECT p.name, d.created_at AS deployed_at, p.task, m.algorithm, m.runtime, s.relation_name,
       s.y_column_name, s.test_sampling, s.test_size
FROM pgml.projects p
JOIN pgml.models m ON p.id = m.project_id
JOIN pgml.deployments d ON d.model_id = m.id
LEFT JOIN pgml.snapshots s ON s.id = m.snapshot_id
ORDER BY d.created_at DESC;

-- Every model; deployed = it is its project's newest deployment.
CREATE VIEW pgml.trained_models AS
SELECT m.id, p.name, p.task, m.algorithm, m.runtime, m.created_at, s.test_sampling, s.test_size,
       d.model_id IS NOT NULL AS deployed
FROM pgml.projects p
JOIN pgml.models m ON p.id = m.project_id
LEFT JOIN pgml.snapshots s ON s.id = m.snapshot_id
LEFT JOIN (
    SELECT DISTINCT ON (project_id) project_id, model_id
    FROM pgml.deployments
    ORDER BY project_id, created_at DESC, id DESC
) d ON d.model_id = m.id
ORDER BY m.created_at DESC;

-- The current model of each project.
CREATE VIEW pgml.deployed_models AS
SELECT m.id, p.name, p.task, m.algorithm, m.runtime, d.deployed_at
FROM pgml.projects p
JOIN (
    SELECT DISTINCT ON (project_id) project_id, model_id, created_at AS deployed_at
    FROM pgml.deployments
    ORDER BY project_id, created_at DESC, id DESC
) d ON d.project_id = p.id
JOIN pgml.models m ON m.id = d.model_id
ORDER BY p.name ASC;

------------------------------------------------------------------------------------------
-- Utility functions (api.md §3).
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.version() RETURNS TEXT AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].version()
$$ LANGUAGE plpython3u IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml.python_version() RETURNS TEXT AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].python_version()
$$ LANGUAGE plpython3u VOLATILE;

CREATE OR REPLACE FUNCTION pgml.python_package_version(
    name TEXT -- the distribution's name on PyPI, e.g. 'scikit-learn'
) RETURNS TEXT AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].python_package_version(name=name)
$$ LANGUAGE plpython3u VOLATILE STRICT;

CREATE OR REPLACE FUNCTION pgml.python_pip_freeze() RETURNS TABLE (package TEXT) AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].python_pip_freeze()
$$ LANGUAGE plpython3u VOLATILE;

CREATE OR REPLACE FUNCTION pgml.validate_python_dependencies() RETURNS BOOLEAN AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].validate_python_dependencies()
$$ LANGUAGE plpython3u IMMUTABLE PARALLEL SAFE;

-- PostgresML checks its Rust shared library here; this build has none.
CREATE OR REPLACE FUNCTION pgml.validate_shared_library() RETURNS VOID AS $$
SELECT NULL::VOID
$$ LANGUAGE sql VOLATILE;

CREATE OR REPLACE FUNCTION pgml.xgboost_version() RETURNS TEXT AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].xgboost_version()
$$ LANGUAGE plpython3u VOLATILE;

------------------------------------------------------------------------------------------
-- The per-connection model cache (+): what is loaded in this backend, and emptying it.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.cached_models()
RETURNS TABLE (kind TEXT, model TEXT, device TEXT, bytes BIGINT, loaded_at TIMESTAMPTZ,
               last_used TIMESTAMPTZ, hits BIGINT) AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].cached_models()
$$ LANGUAGE plpython3u VOLATILE;

CREATE OR REPLACE FUNCTION pgml.clear_model_cache() RETURNS INTEGER AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].clear_model_cache()
$$ LANGUAGE plpython3u VOLATILE;

------------------------------------------------------------------------------------------
-- Embeddings (api.md §6). IMMUTABLE so they can back GENERATED columns and indexes.
-- The Python side returns each vector as REAL[] text ('%.9g' round-trips float32 exactly):
-- PL/Python would otherwise repr() and re-parse every float, about 6% of a batch's time.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml._embed_text(transformer TEXT, "text" TEXT, kwargs JSONB)
RETURNS TEXT AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].embed(transformer=transformer, text=text, kwargs=kwargs)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml._embed_batch_text(transformer TEXT, inputs TEXT[], kwargs JSONB)
RETURNS SETOF TEXT AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].embed_batch(transformer=transformer, inputs=inputs, kwargs=kwargs)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml.embed(
    transformer TEXT,          -- model: hub name (looked up in pgml.model_store first) or path
    "text" TEXT,               -- the text to embed
    kwargs JSONB DEFAULT '{}'  -- constructor keys (device, revision, ...) and encode() keys
) RETURNS REAL[] AS $$
SELECT pgml._embed_text(transformer, "text", kwargs)::REAL[]
$$ LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml.embed(
    transformer TEXT,          -- model: hub name (looked up in pgml.model_store first) or path
    inputs TEXT[],             -- texts to embed in one batch; one row each, in input order
    kwargs JSONB DEFAULT '{}'  -- constructor keys (device, revision, ...) and encode() keys
) RETURNS SETOF REAL[] AS $$
SELECT e::REAL[] FROM pgml._embed_batch_text(transformer, inputs, kwargs) AS e
$$ LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE;

------------------------------------------------------------------------------------------
-- Chunking with LangChain's text splitters (api.md §6).
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.chunk(
    splitter TEXT,             -- character, latex, markdown, nltk, python, recursive_character, spacy
    "text" TEXT,               -- the text to split
    kwargs JSONB DEFAULT '{}'  -- the splitter's options: chunk_size, chunk_overlap, separator(s) ...
) RETURNS TABLE (chunk_index BIGINT, chunk TEXT) AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].chunk(splitter=splitter, text=text, kwargs=kwargs)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

------------------------------------------------------------------------------------------
-- Vector math (api.md §3), for REAL[] and DOUBLE PRECISION[]: the result follows the input.
-- Generated in loops because every function exists once per element type.
------------------------------------------------------------------------------------------
DO $do$
DECLARE
    t TEXT;
    f RECORD;
    shim CONSTANT TEXT := $shim$
CREATE OR REPLACE FUNCTION pgml.%1$I(%2$s) RETURNS %3$s AS $py$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].%4$s
$py$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE$shim$;
BEGIN
FOREACH t IN ARRAY ARRAY['REAL', 'DOUBLE PRECISION'] LOOP
    -- add(vector, addend) ... with a scalar or an array of the same length
    FOR f IN SELECT * FROM (VALUES ('add', 'addend'), ('subtract', 'subtahend'),
                                   ('multiply', 'multiplicand'), ('divide', 'dividend')) v(name, arg)
    LOOP
        EXECUTE format(shim, f.name, format('vector %s[], %I %s', t, f.arg, t), t || '[]',
                       format('vector_elementwise(%L, vector, %s)', f.name, f.arg));
        EXECUTE format(shim, f.name, format('vector %s[], %I %s[]', t, f.arg, t), t || '[]',
                       format('vector_elementwise(%L, vector, %s)', f.name, f.arg));
    END LOOP;
    FOR f IN SELECT * FROM (VALUES ('l0'), ('l1'), ('l2'), ('max')) v(kind) LOOP
        EXECUTE format(shim, 'norm_' || f.kind, format('vector %s[]', t), t,
                       format('vector_norm(%L, vector)', f.kind));
    END LOOP;
    FOR f IN SELECT * FROM (VALUES ('l1'), ('l2'), ('max')) v(kind) LOOP
        EXECUTE format(shim, 'normalize_' || f.kind, format('vector %s[]', t), t || '[]',
                       format('vector_normalize(%L, vector)', f.kind));
    END LOOP;
    FOR f IN SELECT * FROM (VALUES ('distance_l1', 'l1'), ('distance_l2', 'l2'),
                                   ('dot_product', 'dot'), ('cosine_similarity', 'cosine')) v(name, kind)
    LOOP
        EXECUTE format(shim, f.name, format('vector %s[], other %s[]', t, t), t,
                       format('vector_distance(%L, vector, other)', f.kind));
    END LOOP;
    -- Element-wise aggregates: NULL rows skipped (strict step), no rows -> '{}'.
    FOR f IN SELECT * FROM (VALUES ('sum'), ('min'), ('max'), ('min_abs'), ('max_abs')) v(kind) LOOP
        EXECUTE format(shim, '_' || f.kind || '_step', format('state %s[], value %s[]', t, t), t || '[]',
                       format('vector_aggregate(%L, state, value)', f.kind));
        EXECUTE format('CREATE AGGREGATE pgml.%I(%s[]) (SFUNC = pgml.%I, STYPE = %s[], '
                       'COMBINEFUNC = pgml.%I, INITCOND = ''{}'', PARALLEL = SAFE)',
                       f.kind, t, '_' || f.kind || '_step', t, '_' || f.kind || '_step');
    END LOOP;
END LOOP;
END
$do$;

------------------------------------------------------------------------------------------
-- transform / transform_stream (api.md §3-§5): Hugging Face pipelines from SQL. The four
-- overloads of each are PostgresML's: task TEXT or JSONB, inputs TEXT[] or chat JSONB[].
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.transform(
    task JSONB,                               -- {"task": ..., "model": ..., pipeline kwargs}
    args JSONB DEFAULT '{}',                  -- kwargs of the pipeline call
    inputs TEXT[] DEFAULT ARRAY[]::TEXT[],    -- one item per input
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].transform(task=task, args=args[1], inputs=inputs, task_is_json=True)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml.transform(
    task TEXT,                                -- a task name, or a task object as JSON text
    args JSONB DEFAULT '{}',                  -- kwargs of the pipeline call
    inputs TEXT[] DEFAULT ARRAY[]::TEXT[],    -- one item per input
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].transform(task=task, args=args[1], inputs=inputs, task_is_json=False)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml.transform(
    task JSONB,                               -- {"task": "conversational", "model": ...}
    args JSONB DEFAULT '{}',                  -- generate() kwargs (max_tokens accepted)
    inputs JSONB[] DEFAULT ARRAY[]::JSONB[],  -- chat messages {"role", "content"}
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].transform_chat(task=task, args=args[1], inputs=inputs, task_is_json=True)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml.transform(
    task TEXT,                                -- "conversational", or a task object as JSON text
    args JSONB DEFAULT '{}',                  -- generate() kwargs (max_tokens accepted)
    inputs JSONB[] DEFAULT ARRAY[]::JSONB[],  -- chat messages {"role", "content"}
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].transform_chat(task=task, args=args[1], inputs=inputs, task_is_json=False)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

-- (+) BYTEA[] inputs: audio (WAV, FLAC, OGG ...) and image (PNG, JPEG ...) files for the audio
-- and vision pipelines. Calls that resolved before resolve the same way (api.md §4).
CREATE OR REPLACE FUNCTION pgml.transform(
    task JSONB,                               -- {"task": "automatic-speech-recognition", "model": ...}
    args JSONB DEFAULT '{}',                  -- kwargs of the pipeline call
    inputs BYTEA[] DEFAULT ARRAY[]::BYTEA[],  -- one file per input
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].transform_bytes(task=task, args=args[1], inputs=inputs, task_is_json=True)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml.transform(
    task TEXT,                                -- a task name, or a task object as JSON text
    args JSONB DEFAULT '{}',                  -- kwargs of the pipeline call
    inputs BYTEA[] DEFAULT ARRAY[]::BYTEA[],  -- one file per input
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].transform_bytes(task=task, args=args[1], inputs=inputs, task_is_json=False)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml.transform_stream(
    task JSONB,                               -- {"task": "text-generation", "model": ...}
    args JSONB DEFAULT '{}',                  -- generate() kwargs (max_tokens accepted)
    input TEXT DEFAULT '',                    -- the prompt
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS SETOF JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].transform_stream(task=task, args=args[1], input=input, task_is_json=True)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml.transform_stream(
    task TEXT,                                -- a task name, or a task object as JSON text
    args JSONB DEFAULT '{}',                  -- generate() kwargs (max_tokens accepted)
    input TEXT DEFAULT '',                    -- the prompt
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS SETOF JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].transform_stream(task=task, args=args[1], input=input, task_is_json=False)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml.transform_stream(
    task JSONB,                               -- {"task": "conversational", "model": ...}
    args JSONB DEFAULT '{}',                  -- generate() kwargs (max_tokens accepted)
    inputs JSONB[] DEFAULT ARRAY[]::JSONB[],  -- chat messages {"role", "content"}
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS SETOF JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].transform_stream_chat(task=task, args=args[1], inputs=inputs, task_is_json=True)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml.transform_stream(
    task TEXT,                                -- "conversational", or a task object as JSON text
    args JSONB DEFAULT '{}',                  -- generate() kwargs (max_tokens accepted)
    inputs JSONB[] DEFAULT ARRAY[]::JSONB[],  -- chat messages {"role", "content"}
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS SETOF JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].transform_stream_chat(task=task, args=args[1], inputs=inputs, task_is_json=False)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

------------------------------------------------------------------------------------------
-- rank and clear_gpu_cache (api.md §6).
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.rank(
    transformer TEXT,          -- a cross-encoder: hub name (model store first) or path
    query TEXT,                -- the query
    documents TEXT[],          -- the documents to rank
    kwargs JSONB DEFAULT '{}'  -- top_k, return_documents, batch_size; constructor keys as embed
) RETURNS TABLE (corpus_id BIGINT, score DOUBLE PRECISION, "text" TEXT) AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].rank(transformer=transformer, query=query, documents=documents, kwargs=kwargs)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml.clear_gpu_cache(
    memory_usage REAL DEFAULT NULL  -- clear only when GPU memory use is at least this fraction
) RETURNS BOOLEAN AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].clear_gpu_cache(memory_usage=memory_usage)
$$ LANGUAGE plpython3u IMMUTABLE PARALLEL SAFE;

------------------------------------------------------------------------------------------
-- Metrics with scikit-learn (api.md §3). Pure functions of their arguments.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.sklearn_f1_score(
    ground_truth REAL[], -- the true labels
    y_hat REAL[]         -- the predicted labels, one per true label
) RETURNS REAL AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].sklearn_f1_score(ground_truth=ground_truth, y_hat=y_hat)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml.sklearn_r2_score(
    ground_truth REAL[], -- the true values
    y_hat REAL[]         -- the predicted values, one per true value
) RETURNS REAL AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].sklearn_r2_score(ground_truth=ground_truth, y_hat=y_hat)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml.sklearn_regression_metrics(
    ground_truth REAL[], -- the true values
    y_hat REAL[]         -- the predicted values, one per true value
) RETURNS JSONB AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].sklearn_regression_metrics(ground_truth=ground_truth, y_hat=y_hat)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml.sklearn_classification_metrics(
    ground_truth REAL[], -- the true labels
    y_hat REAL[],        -- the predicted labels, one per true label
    num_classes BIGINT   -- the number of classes (2: binary metrics and roc_auc)
) RETURNS JSONB AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].sklearn_classification_metrics(ground_truth=ground_truth, y_hat=y_hat, num_classes=num_classes)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;
------------------------------------------------------------------------------------------
-- load_dataset (api.md §11): a builtin toy dataset (breast_cancer, diabetes, digits, iris,
-- linnerud, wine) or a Hugging Face dataset into table pgml."<source>", replacing it.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.load_dataset(
    source TEXT,                -- a builtin name, or a Hugging Face dataset name or path
    subset TEXT DEFAULT NULL,   -- the Hugging Face configuration (datasets' `name`)
    "limit" BIGINT DEFAULT NULL, -- at most this many rows; NULL = all
    kwargs JSONB DEFAULT '{}'   -- more keyword arguments of datasets.load_dataset
) RETURNS TABLE (table_name TEXT, rows BIGINT) AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].load_dataset(source=source, subset=subset, limit=limit, kwargs=kwargs)
$$ LANGUAGE plpython3u VOLATILE;
------------------------------------------------------------------------------------------
-- deploy (api.md §9): make a model its project's live model (a pgml.deployments row).
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.deploy(
    model_id BIGINT -- the pgml.models id to deploy (strategy specific)
) RETURNS TABLE (project TEXT, strategy TEXT, algorithm TEXT) AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].deploy_model(model_id=model_id)
$$ LANGUAGE plpython3u VOLATILE STRICT;

-- (+) strategy defaults to best_score (api.md §4), so deploy('p') reaches this form.
CREATE OR REPLACE FUNCTION pgml.deploy(
    project_name TEXT,                           -- the project whose live model changes
    strategy pgml.strategy DEFAULT 'best_score', -- best_score, most_recent or rollback
    algorithm pgml.algorithm DEFAULT NULL        -- only this algorithm's models; NULL = all
) RETURNS TABLE (project TEXT, strategy TEXT, algorithm TEXT) AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].deploy(project_name=project_name, strategy=strategy, algorithm=algorithm)
$$ LANGUAGE plpython3u VOLATILE;
------------------------------------------------------------------------------------------
-- train / train_joint (api.md §7): fit on a table or view, record the model in the catalog,
-- deploy it when it beats the deployed one. Runs in the caller's transaction: an ERROR
-- leaves the catalog as it was.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.train(
    project_name TEXT,                              -- the project, created on first use
    task TEXT DEFAULT NULL,                         -- regression, classification, clustering, decomposition
    relation_name TEXT DEFAULT NULL,                -- table or view; NULL reuses the last snapshot
    y_column_name TEXT DEFAULT NULL,                -- the label column (supervised tasks)
    algorithm pgml.algorithm DEFAULT 'linear',      -- see pgml.algorithm
    hyperparams JSONB DEFAULT '{}',                 -- the estimator's constructor arguments
    search pgml.search DEFAULT NULL,                -- grid or random hyperparameter search
    search_params JSONB DEFAULT '{}',               -- {"param": [values ...]}
    search_args JSONB DEFAULT '{}',                 -- {"n_iter": 10, "cv": 5}
    test_size REAL DEFAULT 0.25,                    -- fraction (or count) of rows held out
    test_sampling pgml.sampling DEFAULT 'stratified', -- random, last, stratified
    runtime pgml.runtime DEFAULT NULL,              -- recorded; models run in Python
    automatic_deploy BOOLEAN DEFAULT true,          -- deploy when better than the deployed model
    materialize_snapshot BOOLEAN DEFAULT false,     -- keep the training rows in pgml.snapshot_<id>
    preprocess JSONB DEFAULT '{}'                   -- per-column encode/impute/scale
) RETURNS TABLE (project TEXT, task TEXT, algorithm TEXT, deployed BOOLEAN) AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].train(project_name=project_name, task=task, relation_name=relation_name,
    y_column_name=y_column_name, algorithm=algorithm, hyperparams=hyperparams, search=search,
    search_params=search_params, search_args=search_args, test_size=test_size, test_sampling=test_sampling,
    runtime=runtime, automatic_deploy=automatic_deploy, materialize_snapshot=materialize_snapshot,
    preprocess=preprocess)
$$ LANGUAGE plpython3u VOLATILE;

CREATE OR REPLACE FUNCTION pgml.train_joint(
    project_name TEXT,                              -- the project, created on first use
    task TEXT DEFAULT NULL,                         -- regression (several labels)
    relation_name TEXT DEFAULT NULL,                -- table or view; NULL reuses the last snapshot
    y_column_name TEXT[] DEFAULT NULL,              -- the label columns
    algorithm pgml.algorithm DEFAULT 'linear',      -- see pgml.algorithm
    hyperparams JSONB DEFAULT '{}',                 -- the estimator's constructor arguments
    search pgml.search DEFAULT NULL,                -- grid or random hyperparameter search
    search_params JSONB DEFAULT '{}',               -- {"param": [values ...]}
    search_args JSONB DEFAULT '{}',                 -- {"n_iter": 10, "cv": 5}
    test_size REAL DEFAULT 0.25,                    -- fraction (or count) of rows held out
    test_sampling pgml.sampling DEFAULT 'stratified', -- random, last, stratified
    runtime pgml.runtime DEFAULT NULL,              -- recorded; models run in Python
    automatic_deploy BOOLEAN DEFAULT true,          -- deploy when better than the deployed model
    materialize_snapshot BOOLEAN DEFAULT false,     -- keep the training rows in pgml.snapshot_<id>
    preprocess JSONB DEFAULT '{}'                   -- per-column encode/impute/scale
) RETURNS TABLE (project TEXT, task TEXT, algorithm TEXT, deployed BOOLEAN) AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].train(project_name=project_name, task=task, relation_name=relation_name,
    y_column_name=y_column_name, algorithm=algorithm, hyperparams=hyperparams, search=search,
    search_params=search_params, search_args=search_args, test_size=test_size, test_sampling=test_sampling,
    runtime=runtime, automatic_deploy=automatic_deploy, materialize_snapshot=materialize_snapshot,
    preprocess=preprocess)
$$ LANGUAGE plpython3u VOLATILE;


------------------------------------------------------------------------------------------
-- snapshot (api.md §3): a materialized copy of a relation for later use (pgml.snapshot_<id>),
-- its columns analysed as train does: statistics and the preprocessors in pgml.snapshots.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.snapshot(
    relation_name TEXT,                             -- table or view
    y_column_name TEXT,                             -- the label column
    test_size REAL DEFAULT 0.25,                    -- fraction (or count) of rows held out
    test_sampling pgml.sampling DEFAULT 'stratified', -- random, last, stratified
    preprocess JSONB DEFAULT '{}'                   -- per-column encode/impute/scale
) RETURNS TABLE (relation TEXT, y_column_name TEXT) AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].snapshot(relation_name, y_column_name, test_size, test_sampling, preprocess)
$$ LANGUAGE plpython3u VOLATILE STRICT;
------------------------------------------------------------------------------------------
-- predict and friends (api.md §9), array forms: raw features, row-major. PARALLEL UNSAFE,
-- unlike PostgresML: they read the catalog, and PL/Python cannot query inside a parallel
-- plan (every query is a subtransaction), so a parallel plan would fail.
------------------------------------------------------------------------------------------
DO $do$
DECLARE
    t TEXT;
    shim CONSTANT TEXT := $shim$
CREATE OR REPLACE FUNCTION pgml.%1$I(%2$s) RETURNS %3$s AS $py$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].%4$s
$py$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE$shim$;
BEGIN
    -- predict(project_name, features) for each array type PostgresML takes, plus (+) NUMERIC[]
    FOREACH t IN ARRAY ARRAY['REAL', 'DOUBLE PRECISION', 'SMALLINT', 'INT', 'BIGINT', 'BOOLEAN', 'NUMERIC'] LOOP
        EXECUTE format(shim, 'predict', format('project_name TEXT, features %s[]', t), 'REAL',
                       'predict(project_name, None, features, "predict")');
    END LOOP;
    EXECUTE format(shim, 'predict', 'model_id BIGINT, features REAL[]', 'REAL',
                   'predict(None, model_id, features, "predict")');
    EXECUTE format(shim, 'predict_proba', 'project_name TEXT, features REAL[]', 'REAL[]',
                   'predict(project_name, None, features, "predict_proba")');
    EXECUTE format(shim, 'predict_proba', 'model_id BIGINT, features REAL[]', 'REAL[]',
                   'predict(None, model_id, features, "predict_proba")');
    EXECUTE format(shim, 'predict_joint', 'project_name TEXT, features REAL[]', 'REAL[]',
                   'predict(project_name, None, features, "predict_joint")');
    EXECUTE format(shim, 'predict_joint', 'model_id BIGINT, features REAL[]', 'REAL[]',
                   'predict(None, model_id, features, "predict_joint")');
    EXECUTE format(shim, 'predict_batch', 'project_name TEXT, features REAL[]', 'SETOF REAL',
                   'predict(project_name, None, features, "predict_batch")');
    EXECUTE format(shim, 'predict_batch', 'model_id BIGINT, features REAL[]', 'REAL[]',
                   'predict(None, model_id, features, "predict_batch")');
    EXECUTE format(shim, 'decompose', 'project_name TEXT, vector REAL[]', 'REAL[]',
                   'predict(project_name, None, vector, "decompose")');
END
$do$;


------------------------------------------------------------------------------------------
-- predict, row form (api.md §9): a record of the snapshot's feature columns, in order,
-- preprocessed as in training. PL/Python cannot take ANYELEMENT (nor see a record's field
-- types), so SQL/PL/pgSQL shims check the record and hand it over as JSON, which keeps the
-- field order.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml._row_json("row" ANYELEMENT) RETURNS JSON AS $$
DECLARE
    t CONSTANT pg_catalog.regtype := pg_catalog.pg_typeof("row");
BEGIN
    IF t OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.text', 'pg_catalog.varchar', 'pg_catalog.bpchar']::pg_catalog.regtype[]) THEN
        RETURN pg_catalog.to_json("row");  -- the text for a classifier made by pgml.tune
    END IF;
    IF t OPERATOR(pg_catalog.<>) 'pg_catalog.record'::pg_catalog.regtype AND NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_type WHERE oid OPERATOR(pg_catalog.=) t AND typtype OPERATOR(pg_catalog.=) 'c') THEN
        RAISE EXCEPTION 'pgml.predict expects a row of features or an array, got %', t
            USING ERRCODE = 'datatype_mismatch',
                  HINT = 'Pass ROW(a, b, ...) with the feature columns in order, or the features as an array.';
    END IF;
    BEGIN
        -- A field of type unknown (a quoted literal or NULL in ROW(...)) has no equality operator.
        PERFORM "row" IS NOT DISTINCT FROM "row";
    EXCEPTION WHEN undefined_function THEN
        RAISE EXCEPTION 'Type information missing for column of the row: a quoted literal or NULL in ROW(...) has no type'
            USING ERRCODE = 'indeterminate_datatype',
                  HINT = 'CAST every literal field, e.g. ROW(''red''::TEXT, 1.5::REAL, NULL::INT).';
    END;
    RETURN pg_catalog.row_to_json("row");
END
$$ LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL UNSAFE;

CREATE OR REPLACE FUNCTION pgml._predict_row(project_name TEXT, model_id BIGINT, "row" JSON) RETURNS REAL AS $py$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].predict_row(project_name, model_id, row)
$py$ LANGUAGE plpython3u IMMUTABLE PARALLEL UNSAFE;

CREATE OR REPLACE FUNCTION pgml.predict(project_name TEXT, "row" ANYELEMENT) RETURNS REAL AS $$
SELECT pgml._predict_row(project_name, NULL, pgml._row_json("row"))
$$ LANGUAGE sql IMMUTABLE STRICT PARALLEL UNSAFE;

CREATE OR REPLACE FUNCTION pgml.predict(model_id BIGINT, "row" ANYELEMENT) RETURNS REAL AS $$
SELECT pgml._predict_row(NULL, model_id, pgml._row_json("row"))
$$ LANGUAGE sql IMMUTABLE STRICT PARALLEL UNSAFE;
------------------------------------------------------------------------------------------
-- tune / generate (api.md §10): fine-tune a Hugging Face model on a table (LoRA adapters by
-- default), keep it in the catalog like a trained model, and generate with it. Runs in the
-- caller's transaction: an ERROR or a cancel leaves the catalog as it was.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.tune(
    project_name TEXT,                              -- the project, created on first use
    task TEXT DEFAULT NULL,                         -- text-classification, text-pair-classification,
                                                    -- conversation, translation, summarization, text2text
    relation_name TEXT DEFAULT NULL,                -- table or view; NULL reuses the last snapshot
    y_column_name TEXT DEFAULT NULL,                -- default class/target column (else dataset_args)
    model_name TEXT DEFAULT NULL,                   -- hub name or model store name; NULL = the last one
    hyperparams JSONB DEFAULT '{}',                 -- dataset_args, training_args, lora_config, ...
    test_size REAL DEFAULT 0.25,                    -- fraction (or count) of rows held out
    test_sampling pgml.sampling DEFAULT 'stratified', -- random, last, stratified (by class)
    automatic_deploy BOOLEAN DEFAULT true,          -- deploy when better than the deployed model
    materialize_snapshot BOOLEAN DEFAULT false      -- keep the training rows in pgml.snapshot_<id>
) RETURNS TABLE (status TEXT, task TEXT, algorithm TEXT, deployed BOOLEAN) AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].tune(project_name=project_name, task=task, relation_name=relation_name,
    y_column_name=y_column_name, model_name=model_name, hyperparams=hyperparams, test_size=test_size,
    test_sampling=test_sampling, automatic_deploy=automatic_deploy, materialize_snapshot=materialize_snapshot)
$$ LANGUAGE plpython3u VOLATILE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml.generate(
    project_name TEXT,                              -- a tuned generation project (its deployed model)
    inputs TEXT,                                    -- the prompt (a conversation model: the user turn)
    config JSONB DEFAULT '{}'                       -- generate() options: max_new_tokens, do_sample, ...
) RETURNS TEXT AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].generate(project_name, [inputs], config)[0]
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml.generate(
    project_name TEXT,                              -- a tuned generation project (its deployed model)
    inputs TEXT[],                                  -- prompts, one output each, in order
    config JSONB DEFAULT '{}'                       -- generate() options: max_new_tokens, do_sample, ...
) RETURNS TEXT[] AS $$
if "pgml_api" not in GD: import sys; sys.path.append("/usr/share/postgresql/15/extension"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].generate(project_name, inputs, config)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

-- (+) pgml.predict(project, 'some text') for a classifier made by pgml.tune: the class (its value
-- when the class column is numeric, else its index in the sorted classes). Without this overload
-- an untyped literal is ambiguous among predict's array and row forms.
CREATE OR REPLACE FUNCTION pgml.predict(project_name TEXT, "text" TEXT) RETURNS REAL AS $$
SELECT pgml._predict_row(project_name, NULL, pg_catalog.to_json("text"))
$$ LANGUAGE sql IMMUTABLE STRICT PARALLEL UNSAFE;
