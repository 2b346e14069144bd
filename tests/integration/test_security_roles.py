"""Granting pgml to application roles (docs/security.md): pgml.grant_usage is the only
grant needed; each role sees and changes only its own projects and what hangs off them, in SQL on
the catalog and through every function; admin roles see everything; objects a role plants in a
schema cannot capture a superuser's pgml call. Real roles, real models, the real server."""
import shutil
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.conftest import sql_error
from tests.fixtures import tiny_pipelines
from tests.integration.test_sdk import run_sdk, sdk_python  # noqa: F401 (fixture)

MODEL_STORE = Path("/var/lib/pgml/models")
TINY_GPT2 = "pgml-security-test/tiny-gpt2"
CATALOG = ("projects", "snapshots", "models", "files", "deployments", "logs", "collections", "splitters")


class Role:
    def __init__(self, server, name):
        self.name, self.url = name, server.url.replace("postgres@", name + "@")

    def connect(self):
        return psycopg.connect(self.url, autocommit=True)


@pytest.fixture(scope="module")
def roles(server):
    suffix = uuid.uuid4().hex[:6]
    names = {k: "sec_%s_%s" % (k, suffix) for k in ("app", "bob", "admin")}
    with server.connect() as c:
        for name in names.values():
            c.execute('CREATE ROLE "%s" LOGIN' % name)
            # its own schema, first on its default search_path ("$user", public)
            c.execute('CREATE SCHEMA "%s" AUTHORIZATION "%s"' % (name, name))
        # the case pgml must survive: a role that may create in public (a common grant)
        c.execute('GRANT CREATE ON SCHEMA public TO "%s"' % names["app"])
        c.execute("SELECT pgml.grant_usage(%s), pgml.grant_usage(%s)", (names["app"], names["bob"]))
        c.execute("SELECT pgml.grant_usage(%s, admin => true)", (names["admin"],))
    yield {k: Role(server, v) for k, v in names.items()}
    with server.connect() as c:
        for name in names.values():
            c.execute("SELECT pgml.revoke_usage(%s)", (name,))
            c.execute('DROP OWNED BY "%s" CASCADE' % name)
            c.execute('DROP SCHEMA IF EXISTS "%s" CASCADE' % name)
            c.execute('DROP ROLE "%s"' % name)


@pytest.fixture(scope="module")
def tiny_gpt2():
    """A tiny GPT-2 in the model store, found by its hub name: what a DBA does to offer a model."""
    path = MODEL_STORE / TINY_GPT2
    tiny_pipelines.gpt2(path)
    subprocess.run(["chmod", "-R", "a+rX", str(MODEL_STORE)], check=True)
    yield TINY_GPT2
    shutil.rmtree(path.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def app_models(roles, tiny_gpt2):
    """app trains, deploys, tunes and embeds through pgml, with nothing but grant_usage."""
    with roles["app"].connect() as c:
        c.execute("SET client_min_messages = warning")
        c.execute("CREATE TABLE sec_iris AS SELECT * FROM (VALUES (1.0::real, 0.5::real, 0), (1.2, 0.4, 0), (0.9, 0.6, 0),"
                  " (1.1, 0.5, 0), (3.0, 2.5, 1), (3.2, 2.4, 1), (2.9, 2.6, 1), (3.1, 2.5, 1)) v(a, b, y)")
        trained = c.execute("SELECT * FROM pgml.train('sec_app_project', 'classification', 'sec_iris', 'y', 'linear', "
                            "test_sampling => 'last', test_size => 0.25)").fetchall()
        deployed = c.execute("SELECT * FROM pgml.deploy('sec_app_project', 'most_recent')").fetchall()
        prediction = c.execute("SELECT pgml.predict('sec_app_project', ARRAY[3.0, 2.5]::real[])").fetchone()[0]
        c.execute("CREATE TABLE sec_chat AS SELECT u AS \"user\", a AS assistant FROM (VALUES ('hello', 'hello world'),"
                  " ('the cat', 'is good')) v(u, a), generate_series(1, 6)")
        tuned = c.execute("SELECT * FROM pgml.tune('sec_app_chat', task => 'conversation', relation_name => 'sec_chat', "
                          "model_name => %s, test_sampling => 'last', "
                          "hyperparams => '{\"training_args\": {\"max_steps\": 2}}')", (tiny_gpt2,)).fetchall()
        generated = c.execute("SELECT pgml.generate('sec_app_chat', 'the cat', '{\"max_new_tokens\": 2}')").fetchone()[0]
        c.execute("CREATE TABLE sec_docs AS SELECT t AS body, pgml.embed('sentence-transformers/all-MiniLM-L6-v2', t)::vector(384) AS v "
                  "FROM unnest(ARRAY['cats purr and nap', 'postgres is a database', 'the ocean is deep']) t")
        nearest = c.execute("SELECT body FROM sec_docs ORDER BY v <=> pgml.embed('sentence-transformers/all-MiniLM-L6-v2', "
                            "'which database should I use')::vector(384) LIMIT 1").fetchone()[0]
        chunks = c.execute("SELECT count(*) FROM pgml.chunk('recursive_character', 'a b c d', '{\"chunk_size\": 2, \"chunk_overlap\": 0}')").fetchone()[0]
        ids = c.execute("SELECT array_agg(id ORDER BY id) FROM pgml.models").fetchone()[0]
        project_id = c.execute("SELECT id FROM pgml.projects WHERE name = 'sec_app_project'").fetchone()[0]
    return dict(trained=trained, deployed=deployed, prediction=prediction, tuned=tuned, generated=generated,
                nearest=nearest, chunks=chunks, model_ids=ids, project_id=project_id)


def test_a_granted_role_runs_the_whole_workflow(app_models):
    assert app_models["trained"] == [("sec_app_project", "classification", "linear", True)]
    assert app_models["deployed"] == [("sec_app_project", "most_recent", "linear")]
    assert app_models["prediction"] == 1.0
    assert app_models["tuned"] == [("sec_app_chat", "conversation", "transformers", True)]
    assert isinstance(app_models["generated"], str)
    assert app_models["nearest"] == "postgres is a database"
    assert app_models["chunks"] >= 2
    assert len(app_models["model_ids"]) == 2


def test_projects_belong_to_their_creator(server, roles, app_models):
    with server.connect() as c:
        owners = dict(c.execute("SELECT name, owner::text FROM pgml.projects WHERE name LIKE 'sec_app_%'").fetchall())
    assert owners == {"sec_app_project": roles["app"].name, "sec_app_chat": roles["app"].name}


def test_another_role_sees_nothing_of_it(roles, app_models):
    with roles["bob"].connect() as c:
        for table in CATALOG:
            assert c.execute("SELECT count(*) FROM pgml.%s" % table).fetchone()[0] == 0, table
        for view in ("overview", "trained_models", "deployed_models"):
            assert c.execute("SELECT count(*) FROM pgml.%s" % view).fetchone()[0] == 0, view


def test_another_role_cannot_use_or_change_it(roles, app_models):
    model_id = app_models["model_ids"][0]
    with roles["bob"].connect() as c:
        e = sql_error(c, "SELECT pgml.predict('sec_app_project', ARRAY[3.0, 2.5]::real[])")
        assert e.sqlstate != "XX000" and "sec_app_project" in str(e)
        e = sql_error(c, "SELECT pgml.predict(%s::bigint, ARRAY[3.0, 2.5]::real[])" % model_id)
        assert e.sqlstate != "XX000"
        e = sql_error(c, "SELECT pgml.generate('sec_app_chat', 'the cat')")
        assert e.sqlstate != "XX000"
        e = sql_error(c, "SELECT * FROM pgml.train('sec_app_project', algorithm => 'ridge')")
        assert e.sqlstate == "22023" and "does not exist" in str(e)  # it cannot see it
        e = sql_error(c, "SELECT * FROM pgml.train('sec_app_project', 'classification', 'sec_iris', 'y')")
        assert e.sqlstate == "42501" and "belongs to another role" in str(e)
        e = sql_error(c, "SELECT * FROM pgml.deploy('sec_app_project', 'most_recent')")
        assert e.sqlstate != "XX000"
        e = sql_error(c, "SELECT * FROM pgml.deploy(%s::bigint)" % model_id)
        assert e.sqlstate != "XX000"
        # the catalog is written by pgml's functions only (test_security_grants.py tries more)
        for statement in ["UPDATE pgml.models SET hyperparams = '{}'",
                          "UPDATE pgml.snapshots SET relation_name = 'public.evil'",
                          "DELETE FROM pgml.files","INSERT INTO pgml.files (model_id, path, part, data) VALUES (%s, 'x', 99, '\\x00')" % model_id,
                          "INSERT INTO pgml.deployments (project_id, model_id, strategy) VALUES (%s, %s, 'specific')"
                          % (app_models["project_id"], model_id),
                          "INSERT INTO pgml.projects (name, task, owner) VALUES ('sec_forged', 'regression', '%s')"
                          % roles["app"].name]:
            e = sql_error(c, statement)
            assert e.sqlstate == "42501", (statement, e)
    with roles["app"].connect() as c:
        assert c.execute("SELECT pgml.predict('sec_app_project', ARRAY[3.0, 2.5]::real[])").fetchone()[0] == 1.0
        assert c.execute("SELECT count(*) FROM pgml.files WHERE path = 'x'").fetchone()[0] == 0


def test_an_admin_role_sees_and_manages_everything(roles, app_models):
    with roles["admin"].connect() as c:
        names = {r[0] for r in c.execute("SELECT name FROM pgml.projects")}
        assert {"sec_app_project", "sec_app_chat"} <= names
        assert c.execute("SELECT pgml.predict('sec_app_project', ARRAY[3.0, 2.5]::real[])").fetchone()[0] == 1.0
        assert c.execute("SELECT count(*) FROM pgml.files WHERE model_id = %s", (app_models["model_ids"][0],)).fetchone()[0] > 0


def test_only_a_superuser_grants(roles):
    with roles["app"].connect() as c:
        e = sql_error(c, "SELECT pgml.grant_usage(%s)", (roles["bob"].name,))
        assert e.sqlstate == "42501"


def test_the_official_sdk_works_as_a_granted_role(server, roles, sdk_python):  # noqa: F811
    """PostgresML's own SDK creates schemas itself: the README's grant for it is official_sdk."""
    with server.connect() as c:
        c.execute("SELECT pgml.grant_usage(%s, official_sdk => true)", (roles["app"].name,))
    try:
        result = run_sdk(sdk_python, roles["app"], "run", "sec_collection_" + uuid.uuid4().hex[:6])
    finally:
        with server.connect() as c:
            c.execute("SELECT pgml.grant_usage(%s)", (roles["app"].name,))
    assert result["exists"] is True and result["vector_search_db"][0]["document"]["id"] == "postgres"


def test_planted_objects_do_not_capture_a_superusers_call(server, roles, app_models):
    """app may create in public (not in pgml): overloads it plants there, of what pgml's SQL
    calls, never run when a superuser calls pgml."""
    with roles["app"].connect() as c:
        e = sql_error(c, "CREATE FUNCTION pgml._predict_row(project_name TEXT, model_id TEXT, features JSON) "
                         "RETURNS REAL LANGUAGE sql AS $$ SELECT 0::real $$")
        assert e.sqlstate == "42501"
    plant = [
        "CREATE TABLE IF NOT EXISTS public.sec_captured (who TEXT)",
        "GRANT INSERT ON public.sec_captured TO PUBLIC",
        "CREATE FUNCTION public.format(TEXT, VARIADIC TEXT[]) RETURNS TEXT "
        "LANGUAGE sql AS $$ INSERT INTO public.sec_captured VALUES (current_user); SELECT $1 $$",
        "CREATE FUNCTION public.to_json(TEXT) RETURNS JSON "
        "LANGUAGE sql AS $$ INSERT INTO public.sec_captured VALUES (current_user); SELECT '1'::json $$",
    ]
    with roles["app"].connect() as c:
        for statement in plant:
            c.execute(statement)
    try:
        with server.connect() as c:
            c.execute("SET search_path = public, pgml")
            c.execute("CREATE TEMP TABLE sec_rows AS SELECT 3.0::real AS a, 2.5::real AS b")
            got = c.execute("SELECT pgml.predict('sec_app_project', ROW(a, b)) FROM sec_rows").fetchone()[0]
            assert got == 1.0
            c.execute("SELECT pgml.norm_l2(ARRAY[3, 4]::real[]), pgml.add(ARRAY[1, 2]::real[], 1::real)")
            c.execute("SELECT count(*) FROM pgml.trained_models")
            assert c.execute("SELECT count(*) FROM public.sec_captured").fetchone()[0] == 0
    finally:
        with roles["app"].connect() as c:
            c.execute("DROP FUNCTION public.format(TEXT, VARIADIC TEXT[])")
            c.execute("DROP FUNCTION public.to_json(TEXT)")
            c.execute("DROP TABLE public.sec_captured")


def test_the_newest_deployment_wins_whatever_the_time_zone(roles, app_models):
    """A deploy from a session 14 hours ahead (Pacific/Kiritimati) must not hide a later one."""
    with roles["app"].connect() as c:
        models = [r[0] for r in c.execute("""SELECT m.id FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id
                                             WHERE p.name = 'sec_app_project' ORDER BY m.id""")]
        c.execute("SELECT * FROM pgml.train('sec_app_project', algorithm => 'ridge', automatic_deploy => false)")
        newer = c.execute("""SELECT max(m.id) FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id
                             WHERE p.name = 'sec_app_project'""").fetchone()[0]
    with roles["app"].connect() as ahead:
        ahead.execute("SET TimeZone = 'Pacific/Kiritimati'")
        ahead.execute("SELECT pgml.deploy(%s::bigint)", (newer,))
    with roles["app"].connect() as utc:
        utc.execute("SET TimeZone = 'UTC'")
        utc.execute("SELECT pgml.deploy(%s::bigint)", (models[0],))
        deployed = utc.execute("SELECT id FROM pgml.deployed_models WHERE name = 'sec_app_project'").fetchone()[0]
        assert deployed == models[0]
        overview = utc.execute("SELECT algorithm FROM pgml.overview WHERE name = 'sec_app_project' LIMIT 1").fetchone()[0]
        assert overview == "linear"


def test_database_errors_inside_pgml_carry_a_hint(server, roles, app_models):
    """A permission denied or a write in a read-only transaction, raised by SPI inside pgml,
    reaches the client with pgml's message, a hint and its own SQLSTATE (not spiexceptions.X)."""
    with server.connect() as c:
        c.execute("SET client_min_messages = warning")
        c.execute("SELECT pgml.load_dataset('wine')")  # owned by the superuser
    with roles["bob"].connect() as c:
        e = sql_error(c, "SELECT pgml.load_dataset('wine')")  # bob may not drop it
        assert e.sqlstate == "42501" and "spiexceptions" not in str(e), str(e)
        assert "belongs to another role" in e.diag.message_primary and e.diag.message_hint
        c.execute("BEGIN READ ONLY")
        with pytest.raises(psycopg.Error) as info:
            c.execute("SELECT * FROM pgml.train('sec_bob_ro', 'regression', 'pgml.wine', 'alcohol')")
        c.execute("ROLLBACK")
        e = info.value
        assert e.sqlstate == "25006" and "must run on the primary" in str(e) and e.diag.message_hint
