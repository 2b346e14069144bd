------------------------------------------------------------------------------------------
-- Client SDK collections (docs/security.md). A collection's schema `<collection>` and its
-- pipelines' schemas `<collection>_<pipeline>` belong to the role that owns the collection's
-- project; pgml makes them (granted roles have no CREATE on the database), so no role can
-- take another's collection, pipeline or role name as a schema.
------------------------------------------------------------------------------------------

-- Raises 42501 unless role may have a schema named schema_name: a role's name never, else
-- its own embedding project's or collection's name or `<its collection>_<pipeline>`, and no
-- other role's collection or schema would be mixed with it (`<their collection>_...` or a
-- schema of theirs named `<schema_name>_...`). Used by pgml's own schema making and by the
-- pgml_guard_ddl event trigger for roles granted with official_sdk.
CREATE OR REPLACE FUNCTION pgml._collection_schema_check(
    schema_name TEXT,  -- the schema to be made (or renamed to)
    "role" REGROLE     -- the role that will own it
) RETURNS VOID AS $$
DECLARE
    other TEXT;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) schema_name) THEN
        RAISE EXCEPTION 'schema "%" would have the name of a role', schema_name USING ERRCODE = 'insufficient_privilege',
            HINT = 'A schema named after a role comes first in that role''s search_path; choose another collection name.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pgml.projects p
                   WHERE p.name OPERATOR(pg_catalog.=) schema_name AND p.task OPERATOR(pg_catalog.=) 'embedding'
                     AND pgml._manages("role", p.owner))
       AND NOT EXISTS (SELECT 1 FROM pgml.collections c JOIN pgml.projects p ON p.id OPERATOR(pg_catalog.=) c.project_id
                       WHERE (c.name OPERATOR(pg_catalog.=) schema_name OR pg_catalog.starts_with(schema_name, c.name || '_'))
                         AND pgml._manages("role", p.owner)) THEN
        RAISE EXCEPTION 'schema "%" is not a collection schema of role %', schema_name, "role"
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Roles granted pgml create only their client SDK collections'' schemas.';
    END IF;
    SELECT c.name INTO other FROM pgml.collections c JOIN pgml.projects p ON p.id OPERATOR(pg_catalog.=) c.project_id
    WHERE pg_catalog.starts_with(schema_name, c.name || '_') AND NOT pgml._manages("role", p.owner) LIMIT 1;
    IF other IS NULL THEN
        SELECT n.nspname::pg_catalog.text INTO other FROM pg_catalog.pg_namespace n
        WHERE pg_catalog.starts_with(n.nspname::pg_catalog.text, schema_name || '_')
          AND NOT pgml._manages("role", n.nspowner::pg_catalog.regrole) LIMIT 1;
    END IF;
    IF other IS NOT NULL THEN
        RAISE EXCEPTION 'schema "%" would be mixed with "%" of another role', schema_name, other
            USING ERRCODE = 'insufficient_privilege', HINT = 'Choose another collection or pipeline name.';
    END IF;
END
$$ LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION pgml._collection_schema_check(TEXT, REGROLE) FROM PUBLIC;

-- Makes (when missing) the schema of the calling role's collection, or of one of its
-- pipelines, owned by that role; returns its name. 42501 when another role owns it.
CREATE OR REPLACE FUNCTION pgml._write_collection_schema(
    collection TEXT,  -- the collection (its embedding project's name)
    pipeline TEXT     -- a pipeline's name, or NULL for the collection's own schema
) RETURNS TEXT AS $$
DECLARE
    caller pg_catalog.regrole := pgml._caller('collection_schema');
    target TEXT := CASE WHEN pipeline IS NULL THEN collection ELSE collection || '_' || pipeline END;
    owner pg_catalog.regrole;
BEGIN
    SELECT n.nspowner::pg_catalog.regrole INTO owner FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) target;
    IF FOUND THEN
        IF NOT pg_catalog.pg_has_role(caller::pg_catalog.oid, owner::pg_catalog.oid, 'MEMBER') THEN
            RAISE EXCEPTION 'schema "%" belongs to another role', target USING ERRCODE = 'insufficient_privilege',
                HINT = 'Choose another collection or pipeline name.';
        END IF;
        RETURN target;
    END IF;
    PERFORM pgml._collection_schema_check(target, caller);
    EXECUTE pg_catalog.format('CREATE SCHEMA %I AUTHORIZATION %s', target, caller);
    RETURN target;
END
$$ LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- Archives the calling role's collection as PostgresML's SDK does: the collection and the
-- schemas of it and its pipelines are renamed `<collection>_archive_<epoch>`; returns that name.
CREATE OR REPLACE FUNCTION pgml._write_archive_collection(
    collection TEXT  -- an active collection of the calling role
) RETURNS TEXT AS $$
DECLARE
    caller pg_catalog.regrole := pgml._caller('archive_collection');
    archive TEXT := collection || '_archive_' || pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.now()))::BIGINT;
    schema_name TEXT;
BEGIN
    UPDATE pgml.collections c SET name = archive, active = false
    WHERE c.name OPERATOR(pg_catalog.=) collection AND c.active
      AND EXISTS (SELECT 1 FROM pgml.projects p WHERE p.id OPERATOR(pg_catalog.=) c.project_id AND pgml._manages(caller, p.owner));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'collection "%" does not exist or belongs to another role', collection
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOR schema_name IN
        SELECT n.nspname FROM pg_catalog.pg_namespace n
        WHERE (n.nspname OPERATOR(pg_catalog.=) collection OR pg_catalog.starts_with(n.nspname::pg_catalog.text, collection || '_'))
          AND NOT pg_catalog.starts_with(n.nspname::pg_catalog.text, collection || '_archive_')
          AND pg_catalog.pg_has_role(caller::pg_catalog.oid, n.nspowner, 'MEMBER')
    LOOP
        EXECUTE pg_catalog.format('ALTER SCHEMA %I RENAME TO %I', schema_name,
                                  archive || pg_catalog.substr(schema_name, pg_catalog.length(collection) + 1));
    END LOOP;
    RETURN archive;
END
$$ LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- (+) The schema of a client SDK collection (pipeline NULL) or of one of its pipelines
-- (`<collection>_<pipeline>`), made for the calling role when missing; returns its name.
CREATE OR REPLACE FUNCTION pgml.create_collection_schema(
    collection TEXT,         -- the collection: an embedding project of the calling role
    pipeline TEXT DEFAULT NULL -- one of its pipelines, or NULL for the collection's schema
) RETURNS TEXT AS $$
@BOOT@
return GD["pgml_api"].create_collection_schema(collection=collection, pipeline=pipeline)
$$ LANGUAGE plpython3u VOLATILE SET search_path = pg_catalog, pg_temp;

-- (+) Archives a client SDK collection of the calling role (PostgresML SDK's archive()).
CREATE OR REPLACE FUNCTION pgml.archive_collection(
    collection TEXT  -- the collection's name
) RETURNS TEXT AS $$
@BOOT@
return GD["pgml_api"].archive_collection(collection=collection)
$$ LANGUAGE plpython3u VOLATILE STRICT SET search_path = pg_catalog, pg_temp;

-- Refuses, for every role but superusers (the extension's owner is one), any object made or
-- changed in schema pgml (roles granted with official_sdk have CREATE on it, for the SDK's
-- CREATE TABLE IF NOT EXISTS pgml.collections), and for roles granted pgml any schema that
-- pgml._collection_schema_check refuses (official_sdk roles have CREATE on the database).
CREATE OR REPLACE FUNCTION pgml._guard_ddl() RETURNS event_trigger AS $$
DECLARE
    command RECORD;
BEGIN
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER) THEN
        RETURN;
    END IF;
    FOR command IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands() LOOP
        IF command.schema_name OPERATOR(pg_catalog.=) 'pgml'
           OR (command.object_type OPERATOR(pg_catalog.=) 'schema' AND command.objid OPERATOR(pg_catalog.=) 'pgml'::pg_catalog.regnamespace) THEN
            RAISE EXCEPTION 'only the extension''s owner creates or changes objects in schema pgml'
                USING ERRCODE = 'insufficient_privilege', HINT = 'Create your objects in a schema of your own.';
        END IF;
        IF command.object_type OPERATOR(pg_catalog.=) 'schema'
           AND pg_catalog.has_table_privilege('pgml.collections', 'INSERT') THEN
            PERFORM pgml._collection_schema_check(
                (SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_namespace n WHERE n.oid OPERATOR(pg_catalog.=) command.objid),
                pg_catalog.to_regrole(pg_catalog.quote_ident(CURRENT_USER)));
        END IF;
    END LOOP;
END
$$ LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp;

DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger e WHERE e.evtname OPERATOR(pg_catalog.=) 'pgml_guard_ddl') THEN
        CREATE EVENT TRIGGER pgml_guard_ddl ON ddl_command_end EXECUTE FUNCTION pgml._guard_ddl();
    END IF;
END
$do$;
