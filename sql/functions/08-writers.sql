------------------------------------------------------------------------------------------
-- The catalog's writers (docs/security.md). Granted roles cannot write what pgml trusts; pgml's
-- own Python code, running a call as the calling role, writes through these SECURITY DEFINER
-- functions, owned by the extension's owner. Each one first asks pgml._caller which role pgml
-- is acting for: pgml's Python code records it (and the operation) right before it calls the
-- writer, and only then, so a role that calls a writer itself gets 42501. Every writer checks
-- that the calling role may act on the rows it touches, pins search_path and names every
-- object with its schema.
------------------------------------------------------------------------------------------

-- The role pgml's running call acts for, when pgml's own code is calling the writer of
-- operation right now; else 42501. Executed by the writers only (as the extension's owner).
CREATE OR REPLACE FUNCTION pgml._caller(
    operation TEXT -- the writer's operation, as pgml's code announced it
) RETURNS REGROLE AS $$
@BOOT@
return GD["pgml_api"].catalog_caller(operation)
$$ LANGUAGE plpython3u VOLATILE STRICT SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION pgml._caller(TEXT) FROM PUBLIC;

-- Raises 42501 unless role may act on project_id (one message whether it exists or not).
CREATE OR REPLACE FUNCTION pgml._check_project(
    "role" REGROLE,     -- the calling role
    project_id BIGINT   -- the project it writes to
) RETURNS VOID AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pgml.projects p WHERE p.id OPERATOR(pg_catalog.=) project_id
                                                   AND pgml._manages("role", p.owner)) THEN
        RAISE EXCEPTION 'project % does not exist or belongs to another role', project_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$ LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION pgml._check_project(REGROLE, BIGINT) FROM PUBLIC;

-- Raises 42501 unless model_id is in project_id (when given) and role may act on it.
CREATE OR REPLACE FUNCTION pgml._check_model(
    "role" REGROLE,     -- the calling role
    model_id BIGINT,    -- the model it writes for
    project_id BIGINT   -- its project, or NULL for any
) RETURNS pgml.models AS $$
DECLARE
    model pgml.models;
BEGIN
    SELECT m.* INTO model FROM pgml.models m JOIN pgml.projects p ON p.id OPERATOR(pg_catalog.=) m.project_id
    WHERE m.id OPERATOR(pg_catalog.=) model_id AND pgml._manages("role", p.owner)
      AND (_check_model.project_id IS NULL OR m.project_id OPERATOR(pg_catalog.=) _check_model.project_id);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'model % does not exist or belongs to another role', model_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN model;
END
$$ LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION pgml._check_model(REGROLE, BIGINT, BIGINT) FROM PUBLIC;

-- Raises 42501 unless snapshot_id (NULL too) was taken by role or, unless taker_only, by a role
-- it manages.
CREATE OR REPLACE FUNCTION pgml._check_snapshot(
    "role" REGROLE,      -- the calling role
    snapshot_id BIGINT,  -- the snapshot it writes for
    taker_only BOOLEAN   -- true: only the role that took it, not one that manages that role
) RETURNS VOID AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pgml.snapshots s WHERE s.id OPERATOR(pg_catalog.=) snapshot_id
                   AND CASE WHEN taker_only THEN s.owner OPERATOR(pg_catalog.=) "role"
                            ELSE pgml._manages("role", s.owner) END) THEN
        RAISE EXCEPTION 'snapshot % does not exist or belongs to another role', snapshot_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$ LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION pgml._check_snapshot(REGROLE, BIGINT, BOOLEAN) FROM PUBLIC;

-- A project owned by the calling role (nothing when the name is taken: the caller looks again).
CREATE OR REPLACE FUNCTION pgml._write_project(
    project_name TEXT,  -- its unique name
    project_task TEXT   -- a pgml.task label
) RETURNS VOID AS $$
INSERT INTO pgml.projects (name, task, owner)
VALUES (project_name, project_task::pgml.task, pgml._caller('project'))
ON CONFLICT (name) DO NOTHING
$$ LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- A snapshot row owned by the calling role; returns its id.
CREATE OR REPLACE FUNCTION pgml._write_snapshot(
    relation_name TEXT,      -- the relation as the caller resolved it (schema-qualified)
    y_column_name TEXT[],    -- label columns, or NULL
    test_size REAL,          -- fraction or row count
    test_sampling TEXT,      -- a pgml.sampling label
    materialized BOOLEAN     -- whether pgml.snapshot_<id> holds its rows
) RETURNS BIGINT AS $$
INSERT INTO pgml.snapshots (relation_name, y_column_name, test_size, test_sampling, status, materialized, owner)
VALUES (relation_name, y_column_name, test_size, test_sampling::pgml.sampling, 'in_progress', materialized,
        pgml._caller('snapshot'))
RETURNING id
$$ LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- A snapshot's column statistics, by the role that took it (or one that manages it).
CREATE OR REPLACE FUNCTION pgml._write_snapshot_columns(
    snapshot_id BIGINT,  -- the snapshot
    columns JSONB,       -- each column's type, statistics and preprocessor
    analysis JSONB       -- {"samples": n}
) RETURNS VOID AS $$
DECLARE
    caller pg_catalog.regrole := pgml._caller('snapshot_columns');
BEGIN
    PERFORM pgml._check_snapshot(caller, snapshot_id, false);
    UPDATE pgml.snapshots s SET columns = _write_snapshot_columns.columns, analysis = _write_snapshot_columns.analysis
    WHERE s.id OPERATOR(pg_catalog.=) snapshot_id;
END
$$ LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- pgml.snapshot_<id>, empty, with relation's columns: owned by the extension (no role can
-- rename it or add a trigger); the snapshot's role gets SELECT and INSERT and fills it itself,
-- so the relation is read with that role's privileges only.
CREATE OR REPLACE FUNCTION pgml._write_snapshot_table(
    snapshot_id BIGINT,  -- the snapshot, taken by the calling role
    relation REGCLASS    -- the relation the caller resolved
) RETURNS VOID AS $$
DECLARE
    caller pg_catalog.regrole := pgml._caller('snapshot_table');
BEGIN
    PERFORM pgml._check_snapshot(caller, snapshot_id, true);
    EXECUTE pg_catalog.format('CREATE TABLE pgml.%I (LIKE %s)', 'snapshot_' || snapshot_id, relation);
    EXECUTE pg_catalog.format('GRANT SELECT, INSERT ON pgml.%I TO %s', 'snapshot_' || snapshot_id, caller);
END
$$ LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- A model in_progress in a project of the calling role, from one of its snapshots.
CREATE OR REPLACE FUNCTION pgml._write_model(
    project_id BIGINT, snapshot_id BIGINT, num_features INT, algorithm TEXT, runtime TEXT,
    hyperparams JSONB, search TEXT, search_params JSONB, search_args JSONB
) RETURNS BIGINT AS $$
DECLARE
    caller pg_catalog.regrole := pgml._caller('model');
    new_id BIGINT;
BEGIN
    PERFORM pgml._check_project(caller, project_id);
    IF snapshot_id IS NOT NULL THEN
        PERFORM pgml._check_snapshot(caller, snapshot_id, false);
    END IF;
    INSERT INTO pgml.models (project_id, snapshot_id, num_features, algorithm, runtime, hyperparams, status,
                             search, search_params, search_args)
    VALUES (project_id, snapshot_id, num_features, algorithm, COALESCE(runtime, 'python')::pgml.runtime, hyperparams,
            'in_progress', search, COALESCE(search_params, '{}'), COALESCE(search_args, '{}'))
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$ LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- The model's training succeeded: its metrics (and the hyperparams a search chose).
CREATE OR REPLACE FUNCTION pgml._write_model_finished(
    model_id BIGINT,     -- a model in_progress of the calling role
    metrics JSONB,       -- its scores
    hyperparams JSONB    -- the search's choice, or NULL to keep them
) RETURNS VOID AS $$
DECLARE
    caller pg_catalog.regrole := pgml._caller('model_finished');
BEGIN
    PERFORM pgml._check_model(caller, model_id, NULL);
    UPDATE pgml.models m SET status = 'successful', metrics = _write_model_finished.metrics,
                             hyperparams = COALESCE(_write_model_finished.hyperparams, m.hyperparams)
    WHERE m.id OPERATOR(pg_catalog.=) model_id AND m.status OPERATOR(pg_catalog.=) 'in_progress';
END
$$ LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- One part of a model's file, with the sha256 of its bytes (checked at every load), for a
-- model still in training: files of a finished model never change.
CREATE OR REPLACE FUNCTION pgml._write_file(
    model_id BIGINT,  -- a model in_progress of the calling role
    path TEXT,        -- the file's name
    part INT,         -- its part number, from 0
    data BYTEA        -- the part's bytes
) RETURNS VOID AS $$
DECLARE
    caller pg_catalog.regrole := pgml._caller('file');
BEGIN
    IF (pgml._check_model(caller, model_id, NULL)).status OPERATOR(pg_catalog.<>) 'in_progress' THEN
        RAISE EXCEPTION 'model % has finished training: its files do not change', model_id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    INSERT INTO pgml.files (model_id, path, part, data, digest)
    VALUES (model_id, path, part, data, pg_catalog.sha256(data));
END
$$ LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- A deployment of one of the project's successful models.
CREATE OR REPLACE FUNCTION pgml._write_deployment(
    project_id BIGINT,  -- a project of the calling role
    model_id BIGINT,    -- a successful model of that project
    strategy TEXT       -- a pgml.strategy label
) RETURNS VOID AS $$
DECLARE
    caller pg_catalog.regrole := pgml._caller('deployment');
BEGIN
    IF (pgml._check_model(caller, model_id, project_id)).status OPERATOR(pg_catalog.<>) 'successful' THEN
        RAISE EXCEPTION 'model % did not finish training', model_id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    INSERT INTO pgml.deployments (project_id, model_id, strategy) VALUES (project_id, model_id, strategy::pgml.strategy);
END
$$ LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- A training log line of one of the calling role's models.
CREATE OR REPLACE FUNCTION pgml._write_log(
    model_id BIGINT,    -- the model
    project_id BIGINT,  -- its project
    logs JSONB          -- the record
) RETURNS VOID AS $$
DECLARE
    caller pg_catalog.regrole := pgml._caller('log');
BEGIN
    PERFORM pgml._check_model(caller, model_id, project_id);
    INSERT INTO pgml.logs (model_id, project_id, logs) VALUES (model_id, project_id, logs);
END
$$ LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- load_dataset's table pgml.<name>, replaced (CASCADE, as PostgresML) and empty: owned by the
-- extension, recorded in pgml.datasets for the calling role, which gets SELECT, INSERT, UPDATE
-- and DELETE on it and fills it. A name another role loaded is refused.
CREATE OR REPLACE FUNCTION pgml._write_dataset_table(
    name TEXT,        -- the table's name in schema pgml
    columns TEXT[],   -- its column names
    types TEXT[]      -- their SQL types
) RETURNS VOID AS $$
DECLARE
    caller pg_catalog.regrole := pgml._caller('dataset_table');
    previous pg_catalog.regrole;
BEGIN
    SELECT d.owner INTO previous FROM pgml.datasets d WHERE d.name OPERATOR(pg_catalog.=) _write_dataset_table.name;
    IF FOUND AND NOT pgml._manages(caller, previous) THEN
        RAISE EXCEPTION 'dataset table pgml.% belongs to another role', name USING ERRCODE = 'insufficient_privilege',
            HINT = 'Only the role that loaded it, or a pgml admin, can load it again.';
    END IF;
    IF NOT FOUND AND pg_catalog.to_regclass(pg_catalog.format('pgml.%I', name)) IS NOT NULL THEN
        RAISE EXCEPTION 'relation pgml.% exists and is not a dataset table', name USING ERRCODE = 'duplicate_table',
            HINT = 'Choose another dataset name.';
    END IF;
    IF pg_catalog.to_regclass(pg_catalog.format('pgml.%I', name)) IS NOT NULL THEN
        EXECUTE pg_catalog.format('DROP TABLE pgml.%I CASCADE', name);
    END IF;
    EXECUTE pg_catalog.format('CREATE TABLE pgml.%I (%s)', name,
        (SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', c, t::pg_catalog.regtype), ', ' ORDER BY n)
         FROM ROWS FROM (pg_catalog.unnest(columns), pg_catalog.unnest(types)) WITH ORDINALITY AS u(c, t, n)));
    EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE, DELETE ON pgml.%I TO %s', name, caller);
    INSERT INTO pgml.datasets (name, owner) VALUES (name, caller)
        ON CONFLICT ON CONSTRAINT datasets_pkey DO UPDATE SET owner = EXCLUDED.owner, loaded_at = pg_catalog.now();
END
$$ LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
