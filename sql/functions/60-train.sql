------------------------------------------------------------------------------------------
-- train / train_joint: fit on a table or view, record the model in the catalog,
-- deploy it when it beats the deployed one. Runs in the caller's transaction: an ERROR
-- leaves the catalog as it was.
-- Every other shim pins search_path to pg_catalog, pg_temp, so no role's objects can capture a
-- call. train, train_joint, snapshot, tune and load_dataset keep the caller's: a relation name
-- resolves exactly as the caller's own SELECT would; their queries name every object's schema.
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
@BOOT@
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
@BOOT@
return GD["pgml_api"].train(project_name=project_name, task=task, relation_name=relation_name,
    y_column_name=y_column_name, algorithm=algorithm, hyperparams=hyperparams, search=search,
    search_params=search_params, search_args=search_args, test_size=test_size, test_sampling=test_sampling,
    runtime=runtime, automatic_deploy=automatic_deploy, materialize_snapshot=materialize_snapshot,
    preprocess=preprocess)
$$ LANGUAGE plpython3u VOLATILE;


------------------------------------------------------------------------------------------
-- snapshot: a materialized copy of a relation for later use (pgml.snapshot_<id>),
-- its columns analysed as train does: statistics and the preprocessors in pgml.snapshots.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.snapshot(
    relation_name TEXT,                             -- table or view
    y_column_name TEXT,                             -- the label column
    test_size REAL DEFAULT 0.25,                    -- fraction (or count) of rows held out
    test_sampling pgml.sampling DEFAULT 'stratified', -- random, last, stratified
    preprocess JSONB DEFAULT '{}'                   -- per-column encode/impute/scale
) RETURNS TABLE (relation TEXT, y_column_name TEXT) AS $$
@BOOT@
return GD["pgml_api"].snapshot(relation_name, y_column_name, test_size, test_sampling, preprocess)
$$ LANGUAGE plpython3u VOLATILE STRICT;
