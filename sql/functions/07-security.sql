------------------------------------------------------------------------------------------
-- Granting pgml to a role (docs/security.md). The one documented way: a superuser runs
-- pgml.grant_usage('app'). A granted role reads the catalog under row-level security and
-- writes what pgml trusts only through pgml's functions (the writers in 08-writers.sql).
------------------------------------------------------------------------------------------

-- True when role may act on rows owned by owner: a member of it (superusers are members of
-- every role), or a member of a role listed in pgml.administrators.
CREATE OR REPLACE FUNCTION pgml._manages(
    "role" REGROLE, -- the acting role
    owner REGROLE   -- the owner of the row
) RETURNS BOOLEAN AS $$
SELECT pg_catalog.pg_has_role(_manages."role"::pg_catalog.oid, _manages.owner::pg_catalog.oid, 'MEMBER')
    OR EXISTS (SELECT 1 FROM pgml.administrators a
               WHERE pg_catalog.pg_has_role(_manages."role"::pg_catalog.oid, a."role"::pg_catalog.oid, 'MEMBER'))
$$ LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION pgml._manages(REGROLE, REGROLE) FROM PUBLIC;

-- Applies the current grant model's privileges to one role; run by grant_usage and, for every
-- role in pgml.grantees, by each upgrade (so a release that adds a table grants it too).
-- What a role gets: USAGE on schema pgml (never CREATE), SELECT on the catalog (row-level
-- security) and views, INSERT of the rows PostgresML's SDK writes itself (policies limit their
-- shape) and the sequences those need, column UPDATEs the SDK's upserts and archive need (no
-- table-level UPDATE or DELETE: those would let it LOCK the catalog). With official_sdk, also
-- CREATE on the database and on schema pgml, which the pgml_guard_ddl event trigger watches.
CREATE OR REPLACE FUNCTION pgml._apply_grants(
    "role" REGROLE,        -- the role
    official_sdk BOOLEAN   -- the opt-in for PostgresML's own SDK
) RETURNS VOID AS $$
BEGIN
    EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA pgml TO %s', "role");
    EXECUTE pg_catalog.format('GRANT SELECT ON pgml.projects, pgml.snapshots, pgml.models, pgml.deployments, '
                              'pgml.files, pgml.logs, pgml.collections, pgml.splitters, pgml.datasets, '
                              'pgml.administrators, pgml.overview, pgml.trained_models, pgml.deployed_models, '
                              'pgml.settings TO %s', "role");
    EXECUTE pg_catalog.format('GRANT INSERT ON pgml.projects, pgml.models, pgml.collections, pgml.splitters TO %s', "role");
    EXECUTE pg_catalog.format('GRANT UPDATE (task) ON pgml.projects TO %s', "role");
    EXECUTE pg_catalog.format('GRANT UPDATE (name, active) ON pgml.collections TO %s', "role");
    EXECUTE pg_catalog.format('GRANT USAGE ON SEQUENCE pgml.projects_id_seq, pgml.models_id_seq, '
                              'pgml.collections_id_seq, pgml.splitters_id_seq TO %s', "role");
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION pgml._collection_schema_check(TEXT, REGROLE) TO %s', "role");
    IF official_sdk THEN
        EXECUTE pg_catalog.format('GRANT CREATE ON SCHEMA pgml TO %s', "role");
        EXECUTE pg_catalog.format('GRANT CREATE ON DATABASE %I TO %s', pg_catalog.current_database(), "role");
    ELSE
        EXECUTE pg_catalog.format('REVOKE CREATE ON SCHEMA pgml FROM %s', "role");
        EXECUTE pg_catalog.format('REVOKE CREATE ON DATABASE %I FROM %s', pg_catalog.current_database(), "role");
    END IF;
END
$$ LANGUAGE plpgsql VOLATILE STRICT SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION pgml._apply_grants(REGROLE, BOOLEAN) FROM PUBLIC;

-- Raises 42501 unless a superuser calls.
CREATE OR REPLACE FUNCTION pgml._require_superuser(
    action TEXT -- what the caller tried, for the message
) RETURNS VOID AS $$
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER) THEN
        RAISE EXCEPTION 'only a superuser may %', action
            USING ERRCODE = 'insufficient_privilege', HINT = 'Ask a superuser to run it.';
    END IF;
END
$$ LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.grant_usage(
    "role" REGROLE,               -- the role to grant pgml to (members inherit it)
    admin BOOLEAN DEFAULT false,  -- true: it may also see and manage every role's projects
    official_sdk BOOLEAN DEFAULT false -- true: it may run PostgresML's own client SDK, which creates
                                       -- schemas itself (CREATE on the database; see docs/security.md)
) RETURNS VOID AS $$
BEGIN
    PERFORM pgml._require_superuser('grant pgml');
    INSERT INTO pgml.grantees ("role", official_sdk) VALUES (grant_usage."role", grant_usage.official_sdk)
        ON CONFLICT ON CONSTRAINT grantees_pkey DO UPDATE SET official_sdk = EXCLUDED.official_sdk;
    PERFORM pgml._apply_grants(grant_usage."role", grant_usage.official_sdk);
    IF admin THEN
        INSERT INTO pgml.administrators ("role") VALUES (grant_usage."role") ON CONFLICT DO NOTHING;
    END IF;
END
$$ LANGUAGE plpgsql VOLATILE STRICT SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION pgml.grant_usage(REGROLE, BOOLEAN, BOOLEAN) FROM PUBLIC;

-- Takes back what grant_usage gave (the role's projects stay, owned by it).
CREATE OR REPLACE FUNCTION pgml.revoke_usage(
    "role" REGROLE  -- the role to take pgml from
) RETURNS VOID AS $$
BEGIN
    PERFORM pgml._require_superuser('revoke pgml');
    DELETE FROM pgml.administrators a WHERE a."role" OPERATOR(pg_catalog.=) revoke_usage."role";
    DELETE FROM pgml.grantees g WHERE g."role" OPERATOR(pg_catalog.=) revoke_usage."role";
    EXECUTE pg_catalog.format('REVOKE ALL ON SCHEMA pgml FROM %s', "role");
    EXECUTE pg_catalog.format('REVOKE ALL ON pgml.projects, pgml.snapshots, pgml.models, pgml.deployments, '
                              'pgml.files, pgml.logs, pgml.collections, pgml.splitters, pgml.datasets, '
                              'pgml.administrators, pgml.overview, pgml.trained_models, pgml.deployed_models, '
                              'pgml.settings FROM %s', "role");
    EXECUTE pg_catalog.format('REVOKE ALL ON SEQUENCE pgml.projects_id_seq, pgml.snapshots_id_seq, '
                              'pgml.models_id_seq, pgml.deployments_id_seq, pgml.files_id_seq, pgml.logs_id_seq, '
                              'pgml.collections_id_seq, pgml.splitters_id_seq FROM %s', "role");
    EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION pgml._collection_schema_check(TEXT, REGROLE) FROM %s', "role");
    EXECUTE pg_catalog.format('REVOKE CREATE ON DATABASE %I FROM %s', pg_catalog.current_database(), "role");
END
$$ LANGUAGE plpgsql VOLATILE STRICT SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION pgml.revoke_usage(REGROLE) FROM PUBLIC;
