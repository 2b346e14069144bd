------------------------------------------------------------------------------------------
-- Granting pgml to a role (README "Security model"). The one documented way: a superuser runs
-- pgml.grant_usage('app'). Row-level security on the catalog keeps each role to its own
-- projects; admin => true lets a role manage every project.
------------------------------------------------------------------------------------------

-- What a granted role needs, and nothing more: the schema (CREATE for load_dataset's tables and
-- the SDK's CREATE TABLE IF NOT EXISTS), the catalog tables and their sequences (row-level
-- security applies), the views, and CREATE on the database for the SDK's collection schemas.
CREATE OR REPLACE FUNCTION pgml.grant_usage(
    "role" REGROLE,              -- the role to grant pgml to (members inherit it)
    admin BOOLEAN DEFAULT false  -- true: it may also see and manage every role's projects
) RETURNS VOID AS $$
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER) THEN
        RAISE EXCEPTION 'only a superuser may grant pgml'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Ask a superuser to run SELECT pgml.grant_usage(''' || "role"::pg_catalog.text || ''').';
    END IF;
    EXECUTE pg_catalog.format('GRANT USAGE, CREATE ON SCHEMA pgml TO %s', "role");
    EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE, DELETE ON pgml.projects, pgml.snapshots, pgml.models, '
                              'pgml.deployments, pgml.files, pgml.logs, pgml.collections, pgml.splitters TO %s', "role");
    EXECUTE pg_catalog.format('GRANT USAGE, SELECT ON SEQUENCE pgml.projects_id_seq, pgml.snapshots_id_seq, '
                              'pgml.models_id_seq, pgml.deployments_id_seq, pgml.files_id_seq, pgml.logs_id_seq, '
                              'pgml.collections_id_seq, pgml.splitters_id_seq TO %s', "role");
    EXECUTE pg_catalog.format('GRANT SELECT ON pgml.administrators, pgml.overview, pgml.trained_models, '
                              'pgml.deployed_models, pgml.settings TO %s', "role");
    EXECUTE pg_catalog.format('GRANT CREATE ON DATABASE %I TO %s', pg_catalog.current_database(), "role");
    IF admin THEN
        INSERT INTO pgml.administrators ("role") VALUES ("role") ON CONFLICT DO NOTHING;
    END IF;
END
$$ LANGUAGE plpgsql VOLATILE STRICT SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION pgml.grant_usage(REGROLE, BOOLEAN) FROM PUBLIC;

-- Takes back what grant_usage gave (the role's projects stay, owned by it).
CREATE OR REPLACE FUNCTION pgml.revoke_usage(
    "role" REGROLE  -- the role to take pgml from
) RETURNS VOID AS $$
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER) THEN
        RAISE EXCEPTION 'only a superuser may revoke pgml'
            USING ERRCODE = 'insufficient_privilege', HINT = 'Ask a superuser to run it.';
    END IF;
    DELETE FROM pgml.administrators a WHERE a."role" OPERATOR(pg_catalog.=) revoke_usage."role";
    EXECUTE pg_catalog.format('REVOKE ALL ON SCHEMA pgml FROM %s', "role");
    EXECUTE pg_catalog.format('REVOKE ALL ON pgml.projects, pgml.snapshots, pgml.models, pgml.deployments, '
                              'pgml.files, pgml.logs, pgml.collections, pgml.splitters, pgml.administrators, '
                              'pgml.overview, pgml.trained_models, pgml.deployed_models, pgml.settings FROM %s', "role");
    EXECUTE pg_catalog.format('REVOKE ALL ON SEQUENCE pgml.projects_id_seq, pgml.snapshots_id_seq, '
                              'pgml.models_id_seq, pgml.deployments_id_seq, pgml.files_id_seq, pgml.logs_id_seq, '
                              'pgml.collections_id_seq, pgml.splitters_id_seq FROM %s', "role");
    EXECUTE pg_catalog.format('REVOKE CREATE ON DATABASE %I FROM %s', pg_catalog.current_database(), "role");
END
$$ LANGUAGE plpgsql VOLATILE STRICT SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION pgml.revoke_usage(REGROLE) FROM PUBLIC;
