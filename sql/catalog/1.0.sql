------------------------------------------------------------------------------------------
-- Catalog: enums, projects, snapshots, models, deployments, files, logs.
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
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT pg_catalog.clock_timestamp(),
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
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT pg_catalog.clock_timestamp(),
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
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX models_project_id_idx ON pgml.models (project_id);
CREATE INDEX models_snapshot_id_idx ON pgml.models (snapshot_id);
SELECT pgml.auto_updated_at('pgml.models');

CREATE TABLE pgml.deployments (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES pgml.projects(id) ON DELETE CASCADE,
    model_id BIGINT NOT NULL REFERENCES pgml.models(id) ON DELETE CASCADE,
    strategy pgml.strategy NOT NULL,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX deployments_project_id_idx ON pgml.deployments (project_id);
CREATE INDEX deployments_model_id_idx ON pgml.deployments (model_id);

CREATE TABLE pgml.files (
    id BIGSERIAL PRIMARY KEY,
    model_id BIGINT NOT NULL REFERENCES pgml.models(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    part INTEGER NOT NULL,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT pg_catalog.clock_timestamp(),
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

