------------------------------------------------------------------------------------------
-- pgml 1.1: catalog changes since 1.0 (run once: by CREATE EXTENSION after 1.0's catalog,
-- and by ALTER EXTENSION pgml UPDATE from 1.0). Functions and views are in sql/functions/.
------------------------------------------------------------------------------------------

------------------------------------------------------------------------------------------
-- Roles are isolated (README "Security model"). A project belongs to the role that created
-- it; members of that role share it. Snapshots carry their own owner (they exist before any
-- model). Models, files, deployments, logs and the SDK's collections and splitters are
-- visible exactly when their project is. Superusers, and roles listed in
-- pgml.administrators (pgml.grant_usage(role, admin => true)), see everything.
-- Rows made before 1.1 belong to the role that ran ALTER EXTENSION pgml UPDATE.
------------------------------------------------------------------------------------------

-- Roles that may manage every project. Written only by superusers through pgml.grant_usage.
CREATE TABLE pgml.administrators (
    role REGROLE PRIMARY KEY
);
SELECT pg_catalog.pg_extension_config_dump('pgml.administrators', '');

-- True when the current role may see and change rows owned by owner (a dropped owner: no one).
CREATE FUNCTION pgml.may_manage(owner REGROLE) RETURNS BOOLEAN AS $$
SELECT pg_catalog.pg_has_role(owner::pg_catalog.oid, 'MEMBER')
$$ LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp;

-- True when the current role is a member of a role listed in pgml.administrators.
CREATE FUNCTION pgml.may_manage_all() RETURNS BOOLEAN AS $$
SELECT EXISTS (SELECT 1 FROM pgml.administrators a WHERE pg_catalog.pg_has_role(a.role::pg_catalog.oid, 'MEMBER'))
$$ LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp;

ALTER TABLE pgml.projects
    ADD COLUMN owner REGROLE NOT NULL DEFAULT pg_catalog.to_regrole(pg_catalog.quote_ident(CURRENT_USER));
ALTER TABLE pgml.snapshots
    ADD COLUMN owner REGROLE NOT NULL DEFAULT pg_catalog.to_regrole(pg_catalog.quote_ident(CURRENT_USER));

-- PostgresML's client SDK creates these two tables on first use; made here (same columns)
-- so they belong to the extension and obey the same rules, and no role can plant its own.
-- A 1.0 database that ran the SDK has them already: the update adopts them.
DO $do$
BEGIN
    IF pg_catalog.to_regclass('pgml.collections') IS NULL THEN
        CREATE TABLE pgml.collections (
            id BIGSERIAL PRIMARY KEY,
            created_at TIMESTAMP NOT NULL DEFAULT pg_catalog.now(),
            name TEXT NOT NULL,
            active BOOLEAN DEFAULT TRUE,
            project_id BIGINT NOT NULL REFERENCES pgml.projects ON DELETE CASCADE ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED,
            sdk_version TEXT,
            UNIQUE (name)
        );
    ELSE
        ALTER EXTENSION pgml ADD TABLE pgml.collections;
        ALTER EXTENSION pgml ADD SEQUENCE pgml.collections_id_seq;
        ALTER TABLE pgml.collections OWNER TO CURRENT_USER;
    END IF;
    IF pg_catalog.to_regclass('pgml.splitters') IS NULL THEN
        CREATE TABLE pgml.splitters (
            id BIGSERIAL PRIMARY KEY,
            created_at TIMESTAMP NOT NULL DEFAULT pg_catalog.now(),
            name TEXT NOT NULL,
            parameters JSONB NOT NULL DEFAULT '{}',
            project_id BIGINT NOT NULL REFERENCES pgml.projects ON DELETE CASCADE ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED
        );
    ELSE
        ALTER EXTENSION pgml ADD TABLE pgml.splitters;
        ALTER EXTENSION pgml ADD SEQUENCE pgml.splitters_id_seq;
        ALTER TABLE pgml.splitters OWNER TO CURRENT_USER;
    END IF;
END
$do$;
SELECT pg_catalog.pg_extension_config_dump('pgml.collections', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.collections_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.splitters', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.splitters_id_seq', '');

ALTER TABLE pgml.projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgml.snapshots ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgml.models ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgml.files ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgml.deployments ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgml.logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgml.collections ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgml.splitters ENABLE ROW LEVEL SECURITY;

-- A row is the caller's when it owns it, or when an administrator calls.
CREATE POLICY owner_or_admin ON pgml.projects
    USING (pgml.may_manage(owner) OR pgml.may_manage_all())
    WITH CHECK (pgml.may_manage(owner) OR pgml.may_manage_all());
CREATE POLICY owner_or_admin ON pgml.snapshots
    USING (pgml.may_manage(owner) OR pgml.may_manage_all())
    WITH CHECK (pgml.may_manage(owner) OR pgml.may_manage_all());
-- The rest follow their project, which the projects policy already filters.
CREATE POLICY of_visible_project ON pgml.models
    USING (EXISTS (SELECT 1 FROM pgml.projects p WHERE p.id OPERATOR(pg_catalog.=) project_id));
CREATE POLICY of_visible_project ON pgml.deployments
    USING (EXISTS (SELECT 1 FROM pgml.projects p WHERE p.id OPERATOR(pg_catalog.=) project_id));
CREATE POLICY of_visible_project ON pgml.collections
    USING (EXISTS (SELECT 1 FROM pgml.projects p WHERE p.id OPERATOR(pg_catalog.=) project_id));
CREATE POLICY of_visible_project ON pgml.splitters
    USING (EXISTS (SELECT 1 FROM pgml.projects p WHERE p.id OPERATOR(pg_catalog.=) project_id));
CREATE POLICY of_visible_model ON pgml.files
    USING (EXISTS (SELECT 1 FROM pgml.models m WHERE m.id OPERATOR(pg_catalog.=) model_id));
CREATE POLICY of_visible_project_or_model ON pgml.logs
    USING (EXISTS (SELECT 1 FROM pgml.projects p WHERE p.id OPERATOR(pg_catalog.=) project_id)
           OR EXISTS (SELECT 1 FROM pgml.models m WHERE m.id OPERATOR(pg_catalog.=) model_id));

-- 1.0's trigger helpers, with their search_path pinned like every other function.
ALTER FUNCTION pgml.set_updated_at() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pgml.auto_updated_at(regclass) SET search_path = pg_catalog, pg_temp;

-- 1.0's pgml._row_json("row") is recreated as _row_json(features): "row" as a PL/pgSQL
-- variable name defeats pgspot's analysis, and a parameter cannot be renamed in place.
DROP FUNCTION IF EXISTS pgml._row_json(ANYELEMENT);
