"""The grant model (docs/security.md), tried as an attacker would: real login roles granted with
nothing but pgml.grant_usage, the real server. Each test is one attack that succeeded on pgml 1.2
(a granted role ran code as a superuser, crashed the server or reached another role's rows) and
checks that it fails now, with the legitimate use beside it still working."""
import time
import uuid

import psycopg
import pytest

from tests.conftest import sql_error
from tests.integration.test_security_roles import Role
from tests.integration.test_upgrade import fresh_database

IRIS = ("SELECT * FROM (VALUES (1.0::real, 0.5::real, 0), (1.2, 0.4, 0), (0.9, 0.6, 0), (1.1, 0.5, 0),"
        " (3.0, 2.5, 1), (3.2, 2.4, 1), (2.9, 2.6, 1), (3.1, 2.5, 1)) v(a, b, y)")


@pytest.fixture(scope="module")
def database(server):
    """A database of its own: its dataset tables and schemas are these tests' alone."""
    db = fresh_database(server, "pgml_grants")
    with db.connect() as c:
        c.execute("SET client_min_messages = warning")
        c.execute("CREATE EXTENSION pgml CASCADE")
    yield db
    with server.connect() as c:
        c.execute("DROP DATABASE IF EXISTS pgml_grants WITH (FORCE)")


@pytest.fixture(scope="module")
def roles(server, database):
    suffix = uuid.uuid4().hex[:6]
    names = {k: "grt_%s_%s" % (k, suffix) for k in ("app", "alice", "admin", "sdk", "pooler")}
    with database.connect() as c:
        for name in names.values():
            c.execute('CREATE ROLE "%s" LOGIN' % name)
        c.execute('GRANT CREATE ON SCHEMA public TO "%s", "%s"' % (names["app"], names["alice"]))
        for key in ("app", "alice"):
            c.execute("SELECT pgml.grant_usage(%s)", (names[key],))
        c.execute("SELECT pgml.grant_usage(%s, admin => true)", (names["admin"],))
        c.execute("SELECT pgml.grant_usage(%s, official_sdk => true)", (names["sdk"],))
        # a pooler (PostgREST, pgbouncer with SET ROLE) switches between the roles it serves
        c.execute('GRANT "%s", "%s" TO "%s"' % (names["app"], names["alice"], names["pooler"]))
    yield {k: Role(database, v) for k, v in names.items()}
    with server.connect() as c:
        c.execute("DROP DATABASE pgml_grants WITH (FORCE)")
        for name in names.values():
            c.execute('DROP OWNED BY "%s" CASCADE' % name)
            c.execute('DROP ROLE "%s"' % name)


@pytest.fixture(scope="module")
def trained(roles):
    """app and alice each train and deploy a project of their own (alice's with LightGBM)."""
    ids = {}
    for key, algorithm in (("app", "linear"), ("alice", "lightgbm")):
        with roles[key].connect() as c:
            c.execute("SET client_min_messages = warning")
            c.execute("CREATE TABLE public.%s_rows AS %s" % (roles[key].name, IRIS))
            c.execute("SELECT * FROM pgml.train(%s, 'classification', %s, 'y', %s, test_sampling => 'last', "
                      "test_size => 0.25, hyperparams => %s)",
                      (key + "_grt_project", "public.%s_rows" % roles[key].name, algorithm,
                       '{"n_estimators": 5, "min_data_in_leaf": 1}' if algorithm == "lightgbm" else "{}"))
            ids[key] = c.execute("SELECT m.id, m.project_id, m.snapshot_id FROM pgml.models m "
                                 "JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = %s",
                                 (key + "_grt_project",)).fetchone()
    return ids


def test_no_granted_role_creates_in_schema_pgml(roles):
    """Attack 1: an overload planted in pgml (exact type match wins) ran as the superuser."""
    for key in ("app", "sdk"):  # sdk has CREATE on pgml (official_sdk): the event trigger refuses
        with roles[key].connect() as c:
            for statement in [
                    "CREATE FUNCTION pgml.embed(transformer TEXT, \"text\" VARCHAR, kwargs JSONB DEFAULT '{}') "
                    "RETURNS REAL[] LANGUAGE sql AS $$ SELECT ARRAY[1]::real[] $$",
                    "CREATE VIEW pgml.grt_view AS SELECT 1 AS x",
                    "CREATE TYPE pgml.grt_type AS (x INT)",
                    "CREATE TABLE pgml.snapshot_999999 (x INT)",
                    "CREATE TABLE pgml.iris (x INT)"]:
                e = sql_error(c, statement)
                assert e.sqlstate == "42501", (key, statement, e)
    with roles["sdk"].connect() as c:
        # PostgresML's SDK runs this on every collection: it exists, so nothing is created
        c.execute("CREATE TABLE IF NOT EXISTS pgml.collections (id SERIAL PRIMARY KEY, name TEXT)")


def test_no_schema_takes_a_roles_name(roles):
    """Attack 2: CREATE SCHEMA postgres put app's functions first on the superuser's search_path."""
    with roles["app"].connect() as c:
        e = sql_error(c, "CREATE SCHEMA postgres")
        assert e.sqlstate == "42501"
    with roles["sdk"].connect() as c:  # CREATE on the database (official_sdk): the trigger refuses
        for name in ("postgres", roles["alice"].name, "grt_not_a_collection"):
            e = sql_error(c, 'CREATE SCHEMA "%s"' % name)
            assert e.sqlstate == "42501", (name, e)


def test_the_catalog_is_written_by_pgml_only(roles, trained):
    """Attacks 3, 5, 8, 9: forged snapshots, models, files, deployments and logs; LOCK; ids."""
    model_id, project_id, snapshot_id = trained["app"]
    alice_model, alice_project, alice_snapshot = trained["alice"]
    with roles["app"].connect() as c:
        for statement in [
                "UPDATE pgml.snapshots SET relation_name = 'public.evil' WHERE id = %d" % snapshot_id,
                "UPDATE pgml.files SET data = '\\x00' WHERE model_id = %d" % model_id,
                "DELETE FROM pgml.models WHERE id = %d" % model_id,
                "INSERT INTO pgml.files (model_id, path, part, data) VALUES (%d, 'x', 9, '\\x00')" % model_id,
                "INSERT INTO pgml.deployments (project_id, model_id, strategy) VALUES (%d, %d, 'specific')"
                % (project_id, alice_model),
                "INSERT INTO pgml.logs (model_id, project_id, logs) VALUES (%d, %d, '{}')" % (alice_model, alice_project),
                "INSERT INTO pgml.snapshots (relation_name, test_size, test_sampling, status) "
                "VALUES ('x', 0.25, 'last', 'done')",
                "SELECT nextval('pgml.logs_id_seq')",
                # pgml's writers act only for a call pgml's own code makes
                "SELECT pgml._write_file(%d, 'x', 9, '\\x00')" % model_id,
                "SELECT pgml._write_deployment(%d, %d, 'specific')" % (project_id, model_id),
                "SELECT pgml._caller('file')"]:
            e = sql_error(c, statement)
            assert e.sqlstate == "42501", (statement, e)
            assert "alice" not in str(e) and str(alice_project) not in (e.diag.message_detail or ""), (statement, e)
        for lock in ("LOCK TABLE pgml.projects IN ACCESS EXCLUSIVE MODE", "LOCK TABLE pgml.deployments IN SHARE MODE"):
            with pytest.raises(psycopg.Error) as info:
                with c.transaction():
                    c.execute(lock)
            assert info.value.sqlstate == "42501", (lock, info.value)


def test_catalog_ids_are_bigint(database):
    """Attack 8: pgml.logs_id_seq was an integer: 2^31 nextval calls (about 12 minutes) stopped
    every role's pgml.tune."""
    with database.connect() as c:
        types = c.execute("SELECT sequencename, data_type::text FROM pg_sequences WHERE schemaname = 'pgml'").fetchall()
    assert types and all(t == "bigint" for _, t in types), types


def test_sdk_rows_keep_their_shape(roles, trained):
    """What roles still insert themselves (PostgresML's SDK) cannot point at others' rows."""
    _, project_id, snapshot_id = trained["app"]
    _, alice_project, alice_snapshot = trained["alice"]
    name = "grt_docs_" + uuid.uuid4().hex[:6]
    with roles["app"].connect() as c:
        sdk_project = c.execute("INSERT INTO pgml.projects (name, task) VALUES (%s, 'embedding') ON CONFLICT (name) "
                                "DO UPDATE SET task = EXCLUDED.task RETURNING id", (name,)).fetchone()[0]
        c.execute("INSERT INTO pgml.models (project_id, num_features, algorithm, runtime, hyperparams, status, "
                  "search_params, search_args) VALUES (%s, 1, 'transformers', 'python', '{}', 'successful', '{}', '{}')",
                  (sdk_project,))
        c.execute("INSERT INTO pgml.collections (name, project_id, sdk_version) VALUES (%s, %s, '1.1.1')",
                  (name, sdk_project))
        for statement, args in [
                ("INSERT INTO pgml.projects (name, task) VALUES ('grt_forged', 'regression')", ()),
                ("UPDATE pgml.projects SET task = 'embedding' WHERE id = %s", (project_id,)),
                ("INSERT INTO pgml.models (project_id, snapshot_id, num_features, algorithm, hyperparams, status, "
                 "search_params, search_args) VALUES (%s, %s, 1, 'transformers', '{}', 'successful', '{}', '{}')",
                 (sdk_project, alice_snapshot)),
                ("INSERT INTO pgml.models (project_id, num_features, algorithm, hyperparams, status, search_params, "
                 "search_args) VALUES (%s, 1, 'lightgbm', '{}', 'successful', '{}', '{}')", (sdk_project,)),
                ("INSERT INTO pgml.models (project_id, num_features, algorithm, hyperparams, status, search_params, "
                 "search_args) VALUES (%s, 1, 'transformers', '{}', 'successful', '{}', '{}')", (alice_project,)),
                ("INSERT INTO pgml.models (project_id, num_features, algorithm, hyperparams, status, search_params, "
                 "search_args) VALUES (987654321, 1, 'transformers', '{}', 'successful', '{}', '{}')", ()),
                ("INSERT INTO pgml.collections (name, project_id) VALUES ('grt_other', %s)", (sdk_project,)),
                ("INSERT INTO pgml.splitters (name, project_id) VALUES ('x', %s)", (alice_project,))]:
            e = sql_error(c, statement, args)
            assert e.sqlstate == "42501", (statement, e)
            assert "violates foreign key" not in str(e) and "alice" not in str(e), (statement, e)


def test_a_retrain_reads_the_snapshot_as_the_role_that_took_it(database, roles, trained):
    """Attack 3: an admin's or superuser's retrain without relation_name read app's relation as
    themselves (app had pointed its snapshot at a view over its own function)."""
    for connect in (roles["admin"].connect, database.connect):
        with connect() as c:
            e = sql_error(c, "SELECT * FROM pgml.train('app_grt_project', algorithm => 'ridge')")
            assert e.sqlstate == "42501" and "taken by role %s" % roles["app"].name in str(e), e
    with roles["app"].connect() as c:
        c.execute("SET client_min_messages = warning")
        assert c.execute("SELECT algorithm FROM pgml.train('app_grt_project', algorithm => 'ridge', "
                         "automatic_deploy => false)").fetchone() == ("ridge",)


def test_tampered_model_bytes_never_reach_the_native_parser(database, roles, trained):
    """Attack 5: LightGBM model text edited to split_feature=900000000 killed the backend (signal 6)
    and the postmaster restarted every connection. Only a superuser can change the bytes now; a
    changed file is refused (XX001) before LightGBM parses it."""
    alice_model = trained["alice"][0]
    with roles["alice"].connect() as c:
        c.execute("SELECT pgml.predict('alice_grt_project', ARRAY[3.0, 2.5]::real[])")
        e = sql_error(c, "UPDATE pgml.files SET data = '\\x00' WHERE model_id = %s", (alice_model,))
        assert e.sqlstate == "42501"
    with database.connect() as c:
        original = c.execute("SELECT id, data FROM pgml.files WHERE model_id = %s", (alice_model,)).fetchall()
        c.execute("UPDATE pgml.files SET data = data || pg_catalog.convert_to(E'\\nsplit_feature=900000000\\n', 'UTF8') "
                  "WHERE model_id = %s AND path LIKE '%%.txt'", (alice_model,))
    try:
        with roles["alice"].connect() as c:
            e = sql_error(c, "SELECT pgml.predict('alice_grt_project', ARRAY[3.0, 2.5]::real[])")
            assert e.sqlstate == "XX001" and "digest" in str(e), e
            assert c.execute("SELECT 1").fetchone() == (1,)  # the backend lives
    finally:
        with database.connect() as c:
            for file_id, data in original:
                c.execute("UPDATE pgml.files SET data = %s WHERE id = %s", (data, file_id))


def test_cached_models_are_the_current_roles_own(roles, trained):
    """Attack 6: after SET ROLE alice, SET ROLE app in one connection, app's predict by model id
    was served alice's cached model."""
    alice_model = trained["alice"][0]
    app_model = trained["app"][0]
    with roles["pooler"].connect() as c:
        c.execute('SET ROLE "%s"' % roles["app"].name)
        assert c.execute("SELECT pgml.predict(%s::bigint, ARRAY[3.0, 2.5]::real[])", (app_model,)).fetchone()[0] == 1.0
        c.execute('SET ROLE "%s"' % roles["alice"].name)
        c.execute("SELECT pgml.predict(%s::bigint, ARRAY[3.0, 2.5]::real[])", (alice_model,))
        assert [r[1] for r in c.execute("SELECT * FROM pgml.cached_models()")] == ["model %d" % alice_model]
        c.execute('SET ROLE "%s"' % roles["app"].name)
        assert [r[1] for r in c.execute("SELECT * FROM pgml.cached_models()")] == ["model %d" % app_model]
        e = sql_error(c, "SELECT pgml.predict(%s::bigint, ARRAY[3.0, 2.5]::real[])", (alice_model,))
        assert e.sqlstate != "XX000" and "does not exist" in str(e), e


def test_parallel_queries_never_start_pgml(database, roles):
    """Attack 7: in parallel mode (a worker, or the leader of a parallel plan: force_parallel_mode)
    PostgreSQL would not apply the pgml.* settings of the configuration when pgml defines them, and
    a model outside pgml.huggingface_whitelist ran. pgml's functions are PARALLEL UNSAFE: a query
    that calls one never enters parallel mode, and pgml defines its settings with the server's."""
    with database.connect() as c:
        # only the row-level security predicates (plain SQL on the catalog) are parallel safe
        labelled = c.execute("""SELECT p.oid::regprocedure::text FROM pg_proc p
                                WHERE p.pronamespace = 'pgml'::regnamespace AND p.proparallel <> 'u' ORDER BY 1""").fetchall()
        assert labelled == [("pgml.is_own_embedding_project(bigint)",), ("pgml.may_manage(regrole)",),
                            ("pgml.may_manage_all()",)]
        c.execute("ALTER SYSTEM SET pgml.huggingface_whitelist = 'grt/only-this-one'")
        c.execute("SELECT pg_reload_conf()")
    for _ in range(100):  # the postmaster reads the file asynchronously: until new backends have it
        with database.connect() as c:
            if c.execute("SELECT current_setting('pgml.huggingface_whitelist', true)").fetchone()[0] == "grt/only-this-one":
                break
        time.sleep(0.05)
    try:
        with roles["app"].connect() as c:
            c.execute("SET parallel_setup_cost = 0")
            c.execute("SET parallel_tuple_cost = 0")
            c.execute("SET %s = on" % ("debug_parallel_query" if c.info.server_version >= 160000
                                       else "force_parallel_mode"))
            e = sql_error(c, "SELECT count(pgml.embed('sentence-transformers/all-MiniLM-L6-v2', t)) "
                             "FROM (VALUES ('a'), ('b')) v(t)")
            assert e.sqlstate == "42501" and "whitelist" in str(e), e
            # pgml wrapped in a function labelled PARALLEL SAFE starts in parallel mode: it refuses
            c.execute("CREATE FUNCTION public.grt_wrapped(t TEXT) RETURNS INT LANGUAGE sql PARALLEL SAFE "
                      "AS $$ SELECT array_length(pgml.embed('sentence-transformers/all-MiniLM-L6-v2', t), 1) $$")
        with roles["app"].connect() as c:
            c.execute("SET %s = on" % ("debug_parallel_query" if c.info.server_version >= 160000
                                       else "force_parallel_mode"))
            e = sql_error(c, "SELECT public.grt_wrapped(t) FROM (VALUES ('a'), ('b')) v(t)")
            assert e.sqlstate == "0A000" and "parallel" in str(e), e
    finally:
        with database.connect() as c:
            c.execute("ALTER SYSTEM RESET pgml.huggingface_whitelist")
            c.execute("SELECT pg_reload_conf()")


def test_dataset_tables_cannot_be_squatted_or_changed(roles):
    """Attack 8: CREATE TABLE pgml.iris took another role's dataset name; a role that owned a table
    in pgml could rename it to a future snapshot's name or add a trigger."""
    with roles["app"].connect() as c:
        c.execute("SET client_min_messages = warning")
        assert c.execute("SELECT * FROM pgml.load_dataset('linnerud')").fetchone() == ("pgml.linnerud", 20)
        assert c.execute("SELECT count(*) FROM pgml.linnerud").fetchone()[0] == 20
        for statement in ["ALTER TABLE pgml.linnerud RENAME TO snapshot_999998",
                          "CREATE TRIGGER grt AFTER INSERT ON pgml.linnerud EXECUTE FUNCTION pgml.set_updated_at()"]:
            assert sql_error(c, statement).sqlstate == "42501", statement
        assert c.execute("SELECT * FROM pgml.load_dataset('linnerud')").fetchone() == ("pgml.linnerud", 20)
    with roles["alice"].connect() as c:
        e = sql_error(c, "SELECT * FROM pgml.load_dataset('linnerud')")
        assert e.sqlstate == "42501" and "belongs to another role" in str(e), e
        assert sql_error(c, "SELECT count(*) FROM pgml.linnerud").sqlstate == "42501"


def test_collection_schemas_cannot_be_squatted(roles):
    """Attack 4: app made schema alice_docs (and granted it to PUBLIC) before alice's SDK did, then
    read her documents through a trigger. Granted roles have no CREATE on the database; pgml makes
    a collection's schemas for the role that owns its project, and refuses names that would mix
    with another role's."""
    docs = "grt_alice_docs_" + uuid.uuid4().hex[:6]
    with roles["app"].connect() as c:
        assert sql_error(c, 'CREATE SCHEMA "%s"' % docs).sqlstate == "42501"
        e = sql_error(c, "SELECT pgml.create_collection_schema(%s)", (docs,))
        assert e.sqlstate == "42501"
    with roles["alice"].connect() as c:
        project = c.execute("INSERT INTO pgml.projects (name, task) VALUES (%s, 'embedding') RETURNING id",
                            (docs,)).fetchone()[0]
        assert c.execute("SELECT pgml.create_collection_schema(%s)", (docs,)).fetchone()[0] == docs
        assert c.execute("SELECT pgml.create_collection_schema(%s)", (docs,)).fetchone()[0] == docs  # again: same
        c.execute("INSERT INTO pgml.collections (name, project_id, sdk_version) VALUES (%s, %s, '1.1.1')", (docs, project))
        assert c.execute("SELECT pgml.create_collection_schema(%s, 'p1')", (docs,)).fetchone()[0] == docs + "_p1"
        c.execute('CREATE TABLE "%s".documents (id SERIAL PRIMARY KEY)' % docs)
        owners = c.execute("SELECT nspname, nspowner::regrole::text FROM pg_namespace WHERE nspname LIKE %s ORDER BY 1",
                           (docs + "%",)).fetchall()
        assert owners == [(docs, roles["alice"].name), (docs + "_p1", roles["alice"].name)]
    with roles["app"].connect() as c:
        squat = docs + "_p2"  # where alice's next pipeline's schema goes
        c.execute("INSERT INTO pgml.projects (name, task) VALUES (%s, 'embedding')", (squat,))
        e = sql_error(c, "SELECT pgml.create_collection_schema(%s)", (squat,))
        assert e.sqlstate == "42501" and "another role" in str(e), e
        c.execute("INSERT INTO pgml.projects (name, task) VALUES (%s, 'embedding')", (roles["alice"].name,))
        e = sql_error(c, "SELECT pgml.create_collection_schema(%s)", (roles["alice"].name,))
        assert e.sqlstate == "42501" and "name of a role" in str(e), e
    with roles["alice"].connect() as c:
        archived = c.execute("SELECT pgml.archive_collection(%s)", (docs,)).fetchone()[0]
        assert archived.startswith(docs + "_archive_")
        assert c.execute("SELECT count(*) FROM pg_namespace WHERE nspname IN (%s, %s)",
                         (archived, archived + "_p1")).fetchone()[0] == 2


def test_bad_input_is_named_not_a_bug(roles, trained):
    """Item 10: bad options and NaN features were reported as "a bug in pgml" (XX000)."""
    with roles["app"].connect() as c:
        e = sql_error(c, "SELECT * FROM pgml.chunk('recursive_character', 'a b', '{\"separators\": {\"a\": 1}}')")
        assert e.sqlstate == "22023" and "separators" in str(e), e
        e = sql_error(c, "SELECT pgml.predict('app_grt_project', ARRAY['NaN', 2.5]::real[])")
        assert e.sqlstate == "22023" and "NaN" in str(e) and "impute" in e.diag.message_hint, e
