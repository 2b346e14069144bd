------------------------------------------------------------------------------------------
-- pgml 1.3: the grant model (docs/security.md). Run once: by a fresh install after the
-- earlier catalog parts, and by ALTER EXTENSION pgml UPDATE from 1.2.
--
-- Granted roles read the catalog under row-level security and write what pgml trusts only
-- through pgml's own functions: the SECURITY DEFINER writers in sql/functions/07-security.sql,
-- which act only for a call pgml's Python code is making (pgml._caller). What a role may still
-- INSERT itself is what PostgresML's client SDK writes, constrained by policies to exactly that
-- shape, and pgml loads no code or model bytes from such rows.
------------------------------------------------------------------------------------------

-- Every role pgml.grant_usage granted: grant_usage and the upgrades (re)apply the privileges
-- of the current grant model to each (pgml._apply_grants). official_sdk: the DBA's opt-in for
-- PostgresML's own SDK, which creates schemas itself (CREATE on the database and on pgml,
-- watched by the pgml_guard_ddl event trigger).
CREATE TABLE pgml.grantees (
    role REGROLE PRIMARY KEY,
    official_sdk BOOLEAN NOT NULL DEFAULT false
);
SELECT pg_catalog.pg_extension_config_dump('pgml.grantees', '');

-- 1.1/1.2 granted by giving the role INSERT (and UPDATE, DELETE) on the catalog tables: those
-- roles move to the new model. Their direct writes and CREATE privileges are taken back here;
-- sql/functions/07-security.sql then grants what 1.3 gives (pgml._apply_grants). CREATE on the
-- database is taken back too: a role that runs PostgresML's own SDK needs
-- pgml.grant_usage(role, official_sdk => true) again (a WARNING names the roles: extension
-- scripts run with client_min_messages = warning).
INSERT INTO pgml.grantees (role)
SELECT DISTINCT a.grantee::pg_catalog.regrole
FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
WHERE c.oid OPERATOR(pg_catalog.=) 'pgml.snapshots'::pg_catalog.regclass
  AND a.privilege_type OPERATOR(pg_catalog.=) 'INSERT'
  AND a.grantee OPERATOR(pg_catalog.<>) 0
  AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
ON CONFLICT DO NOTHING;

DO $do$
DECLARE
    grantee pg_catalog.regrole;
BEGIN
    FOR grantee IN SELECT g.role FROM pgml.grantees g LOOP
        EXECUTE pg_catalog.format('REVOKE CREATE ON SCHEMA pgml FROM %s', grantee);
        EXECUTE pg_catalog.format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON pgml.projects, pgml.snapshots, pgml.models, '
                                  'pgml.deployments, pgml.files, pgml.logs, pgml.collections, pgml.splitters FROM %s', grantee);
        EXECUTE pg_catalog.format('REVOKE ALL ON SEQUENCE pgml.snapshots_id_seq, pgml.deployments_id_seq, '
                                  'pgml.files_id_seq, pgml.logs_id_seq FROM %s', grantee);
        EXECUTE pg_catalog.format('REVOKE CREATE ON DATABASE %I FROM %s', pg_catalog.current_database(), grantee);
        RAISE WARNING 'pgml 1.3: role % now writes the catalog through pgml''s functions only and no longer has CREATE on the database or on schema pgml', grantee
            USING HINT = pg_catalog.format('If it runs PostgresML''s own client SDK, run SELECT pgml.grant_usage(%L, official_sdk => true).', grantee::pg_catalog.text);
    END LOOP;
END
$do$;

-- 2^31 ids were a lasting denial of service (a role could use them up with nextval).
ALTER TABLE pgml.logs ALTER COLUMN id TYPE BIGINT;
ALTER SEQUENCE pgml.logs_id_seq AS BIGINT;

-- Each stored file part carries the sha256 of its bytes, written by pgml's writer in the same
-- statement; a load compares it before any library parses the bytes (XX001 on a mismatch).
-- Rows of earlier releases are digested as they are now.
ALTER TABLE pgml.files ADD COLUMN digest BYTEA;
UPDATE pgml.files SET digest = pg_catalog.sha256(data);
ALTER TABLE pgml.files ALTER COLUMN digest SET NOT NULL;

-- Tables pgml.load_dataset made, and for which role: a dataset table belongs to the extension
-- (no role can rename it, add a trigger or take its name), the role that loaded it gets
-- SELECT, INSERT, UPDATE and DELETE on it, and only that role (or an admin) loads it again.
CREATE TABLE pgml.datasets (
    name TEXT PRIMARY KEY,
    owner REGROLE NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('pgml.datasets', '');
ALTER TABLE pgml.datasets ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_or_admin ON pgml.datasets
    USING (pgml.may_manage(owner) OR pgml.may_manage_all());

-- Tables made in schema pgml under 1.0-1.2 (load_dataset's and materialized snapshots'): those a
-- role made pass to the extension's owner, the role keeping its row privileges; dataset tables
-- are recorded in pgml.datasets for the role that made them.
DO $do$
DECLARE
    t RECORD;
BEGIN
    FOR t IN
        SELECT c.oid::pg_catalog.regclass AS rel, c.relname::pg_catalog.text AS name, c.relowner::pg_catalog.regrole AS owner,
               r.rolsuper
        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) c.relowner
        WHERE c.relnamespace OPERATOR(pg_catalog.=) 'pgml'::pg_catalog.regnamespace AND c.relkind OPERATOR(pg_catalog.=) 'r'
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                          WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                            AND d.objid OPERATOR(pg_catalog.=) c.oid AND d.deptype OPERATOR(pg_catalog.=) 'e')
    LOOP
        IF NOT t.rolsuper THEN
            EXECUTE pg_catalog.format('ALTER TABLE %s OWNER TO %I', t.rel, CURRENT_USER);
            EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s', t.rel, t.owner);
        END IF;
        IF t.name OPERATOR(pg_catalog.!~) '^snapshot_[0-9]+$' THEN
            INSERT INTO pgml.datasets (name, owner) VALUES (t.name, t.owner) ON CONFLICT DO NOTHING;
        END IF;
    END LOOP;
END
$do$;

-- Other objects a role made in schema pgml under 1.1/1.2 (functions, views, types, operators:
-- overloads planted there ran when another role called pgml) move to schema pgml_quarantine,
-- which only its owner can use; a WARNING names each for the DBA to inspect and drop.
DO $do$
DECLARE
    obj RECORD;
BEGIN
    FOR obj IN
        SELECT 'ROUTINE' AS kind, p.oid::pg_catalog.regprocedure::pg_catalog.text AS name
        FROM pg_catalog.pg_proc p WHERE p.pronamespace OPERATOR(pg_catalog.=) 'pgml'::pg_catalog.regnamespace
          AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) p.proowner)
        UNION ALL
        SELECT k.kind, c.oid::pg_catalog.regclass::pg_catalog.text
        FROM pg_catalog.pg_class c
        JOIN (VALUES ('v'::pg_catalog."char", 'VIEW'), ('m'::pg_catalog."char", 'MATERIALIZED VIEW'), ('c'::pg_catalog."char", 'TYPE')) k(relkind, kind)
          ON k.relkind OPERATOR(pg_catalog.=) c.relkind
        WHERE c.relnamespace OPERATOR(pg_catalog.=) 'pgml'::pg_catalog.regnamespace
          AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) c.relowner)
        UNION ALL
        SELECT k.kind, t.oid::pg_catalog.regtype::pg_catalog.text
        FROM pg_catalog.pg_type t
        JOIN (VALUES ('d'::pg_catalog."char", 'DOMAIN'), ('e'::pg_catalog."char", 'TYPE'), ('r'::pg_catalog."char", 'TYPE')) k(typtype, kind)
          ON k.typtype OPERATOR(pg_catalog.=) t.typtype
        WHERE t.typnamespace OPERATOR(pg_catalog.=) 'pgml'::pg_catalog.regnamespace
          AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) t.typowner)
        UNION ALL
        SELECT 'OPERATOR', o.oid::pg_catalog.regoperator::pg_catalog.text
        FROM pg_catalog.pg_operator o WHERE o.oprnamespace OPERATOR(pg_catalog.=) 'pgml'::pg_catalog.regnamespace
          AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) o.oprowner)
    LOOP
        IF pg_catalog.to_regnamespace('pgml_quarantine') IS NULL THEN
            CREATE SCHEMA pgml_quarantine;
            REVOKE ALL ON SCHEMA pgml_quarantine FROM PUBLIC;
        ELSIF NOT (SELECT r.rolsuper FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
                   WHERE n.nspname OPERATOR(pg_catalog.=) 'pgml_quarantine') THEN
            RAISE EXCEPTION 'schema pgml_quarantine exists and belongs to a role that is not a superuser'
                USING HINT = 'Rename or drop it, then run ALTER EXTENSION pgml UPDATE again.';
        END IF;
        EXECUTE pg_catalog.format('ALTER %s %s SET SCHEMA pgml_quarantine', obj.kind, obj.name);
        RAISE WARNING 'pgml 1.3: % % was made in schema pgml by a role other than the extension''s owner; moved to pgml_quarantine', pg_catalog.lower(obj.kind), obj.name
            USING HINT = 'Inspect it and drop it: no role but the extension''s owner creates objects in schema pgml.';
    END LOOP;
END
$do$;

-- What roles may still write themselves: PostgresML's SDK's own rows, exactly their shape.
-- (pgml's writers run as the extension's owner, which row-level security does not restrict.)
-- An SDK project: task embedding, owned by the role that inserts it.
CREATE POLICY sdk_inserts_embedding_projects ON pgml.projects FOR INSERT
    WITH CHECK (task OPERATOR(pg_catalog.=) 'embedding' AND owner OPERATOR(pg_catalog.=) pg_catalog.to_regrole(pg_catalog.quote_ident(CURRENT_USER)));
-- Roles may UPDATE only the column task (the SDK's ON CONFLICT (name) DO UPDATE SET task =
-- EXCLUDED.task) and only to the value it has (trigger below); the policy also lets pgml's
-- functions lock the caller's project rows (SELECT ... FOR UPDATE) so that trains, tunes and
-- deploys of one project take turns.
CREATE POLICY lock_or_sdk_upsert ON pgml.projects FOR UPDATE
    USING (pgml.may_manage(owner) OR pgml.may_manage_all())
    WITH CHECK (pgml.may_manage(owner) OR pgml.may_manage_all());
CREATE FUNCTION pgml.project_task_unchanged() RETURNS TRIGGER AS $$
BEGIN
    IF NEW.task IS DISTINCT FROM OLD.task THEN
        RAISE EXCEPTION 'the task of project "%" cannot change', OLD.name USING ERRCODE = 'insufficient_privilege',
            HINT = 'Train a new project for another task.';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp;
CREATE TRIGGER project_task_unchanged BEFORE UPDATE ON pgml.projects
    FOR EACH ROW EXECUTE FUNCTION pgml.project_task_unchanged();
DROP POLICY owner_or_admin ON pgml.projects;
CREATE POLICY owner_or_admin ON pgml.projects FOR SELECT
    USING (pgml.may_manage(owner) OR pgml.may_manage_all());
DROP POLICY owner_or_admin ON pgml.snapshots;
CREATE POLICY owner_or_admin ON pgml.snapshots FOR SELECT
    USING (pgml.may_manage(owner) OR pgml.may_manage_all());

-- True when project_id is one of the caller's own embedding projects (the SDK's rows hang off it).
CREATE FUNCTION pgml.is_own_embedding_project(project_id BIGINT) RETURNS BOOLEAN AS $$
SELECT EXISTS (SELECT 1 FROM pgml.projects p
               WHERE p.id OPERATOR(pg_catalog.=) project_id AND p.task OPERATOR(pg_catalog.=) 'embedding'
                 AND pgml.may_manage(p.owner))
$$ LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp;

-- An SDK model: a transformers model of its own embedding project, with no snapshot (so no
-- retrain, deploy or file ever refers to it).
DROP POLICY of_visible_project ON pgml.models;
CREATE POLICY of_visible_project ON pgml.models FOR SELECT
    USING (EXISTS (SELECT 1 FROM pgml.projects p WHERE p.id OPERATOR(pg_catalog.=) project_id));
CREATE POLICY sdk_inserts_transformers_models ON pgml.models FOR INSERT
    WITH CHECK (algorithm OPERATOR(pg_catalog.=) 'transformers' AND snapshot_id IS NULL
                AND pgml.is_own_embedding_project(project_id));

-- An SDK collection: named as its own embedding project (project names are unique and no role
-- renames one, so a collection name cannot be taken from another role); archive renames it.
DROP POLICY of_visible_project ON pgml.collections;
CREATE POLICY of_visible_project ON pgml.collections FOR SELECT
    USING (EXISTS (SELECT 1 FROM pgml.projects p WHERE p.id OPERATOR(pg_catalog.=) project_id));
CREATE POLICY sdk_inserts_collections ON pgml.collections FOR INSERT
    WITH CHECK (pgml.is_own_embedding_project(project_id)
                AND EXISTS (SELECT 1 FROM pgml.projects p WHERE p.id OPERATOR(pg_catalog.=) project_id
                                                            AND p.name OPERATOR(pg_catalog.=) collections.name));
CREATE POLICY sdk_archives_collections ON pgml.collections FOR UPDATE
    USING (pgml.is_own_embedding_project(project_id))
    WITH CHECK (pgml.is_own_embedding_project(project_id) AND NOT active);

DROP POLICY of_visible_project ON pgml.splitters;
CREATE POLICY of_visible_project ON pgml.splitters FOR SELECT
    USING (EXISTS (SELECT 1 FROM pgml.projects p WHERE p.id OPERATOR(pg_catalog.=) project_id));
CREATE POLICY sdk_inserts_splitters ON pgml.splitters FOR INSERT
    WITH CHECK (pgml.is_own_embedding_project(project_id));

-- The rest is read-only for roles: pgml's writers insert it.
DROP POLICY of_visible_project ON pgml.deployments;
CREATE POLICY of_visible_project ON pgml.deployments FOR SELECT
    USING (EXISTS (SELECT 1 FROM pgml.projects p WHERE p.id OPERATOR(pg_catalog.=) project_id));
DROP POLICY of_visible_model ON pgml.files;
CREATE POLICY of_visible_model ON pgml.files FOR SELECT
    USING (EXISTS (SELECT 1 FROM pgml.models m WHERE m.id OPERATOR(pg_catalog.=) model_id));
DROP POLICY of_visible_project_or_model ON pgml.logs;
CREATE POLICY of_visible_project_or_model ON pgml.logs FOR SELECT
    USING (EXISTS (SELECT 1 FROM pgml.projects p WHERE p.id OPERATOR(pg_catalog.=) project_id)
           OR EXISTS (SELECT 1 FROM pgml.models m WHERE m.id OPERATOR(pg_catalog.=) model_id));

-- grant_usage gains official_sdk: the old signature goes (an overload would make calls ambiguous).
DROP FUNCTION IF EXISTS pgml.grant_usage(REGROLE, BOOLEAN);
