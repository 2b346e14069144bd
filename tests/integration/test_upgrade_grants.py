"""Updating from 1.2 moves its grants and rows to 1.3's grant model (docs/security.md): a database
made with release 1.2 (its scripts and its pgml_py, from git), where a role granted the 1.2 way
loaded a dataset, trained and deployed, and planted a function in schema pgml, is updated with
ALTER EXTENSION pgml UPDATE. Afterwards the role writes nothing directly, keeps its models and
predictions, and the planted function is out of schema pgml."""
import uuid

import psycopg
import pytest

import pgml_py
from tests.conftest import sql_error
from tests.integration.test_upgrade import fresh_database, release_venv_of

pytestmark = pytest.mark.slow

RELEASE_1_2 = "cec1e41309e5358daced48546ccc3353bad55278"  # main when 1.2 was released


@pytest.fixture(scope="module")
def venv_1_2():
    """A venv holding release 1.2's pgml_py."""
    yield from release_venv_of(RELEASE_1_2)


PREDICT = "SELECT pgml.predict('upg12_iris', ARRAY[5.1, 3.5, 1.4, 0.2]::real[]), " \
          "pgml.predict('upg12_iris', ARRAY[6.7, 3.0, 5.2, 2.3]::real[])"


@pytest.fixture(scope="module")
def updated(server, venv_1_2):
    db = fresh_database(server, "pgml_upgrade_12")
    role = "upg12_app_" + uuid.uuid4().hex[:6]
    role_url = db.url.replace("postgres@", role + "@")
    with server.connect() as c:
        c.execute('CREATE ROLE "%s" LOGIN' % role)
        c.execute("ALTER DATABASE pgml_upgrade_12 SET pgml.venv = '%s'" % venv_1_2)
    with db.connect() as c:
        c.execute("SET client_min_messages = warning")
        c.execute("CREATE EXTENSION pgml VERSION '1.2' CASCADE")
        c.execute("SELECT pgml.grant_usage(%s)", (role,))
    with psycopg.connect(role_url, autocommit=True) as c:
        c.execute("SET client_min_messages = warning")
        c.execute("SELECT pgml.load_dataset('iris')")
        c.execute("SELECT * FROM pgml.train('upg12_iris', 'classification', 'pgml.iris', 'target', 'xgboost', "
                  "hyperparams => '{\"n_estimators\": 5, \"random_state\": 1}', test_sampling => 'last')")
        c.execute("CREATE FUNCTION pgml.embed(transformer TEXT, \"text\" VARCHAR, kwargs JSONB DEFAULT '{}') "
                  "RETURNS REAL[] LANGUAGE sql AS $$ SELECT ARRAY[1]::real[] $$")
        before = c.execute(PREDICT).fetchone()
    with server.connect() as c:
        c.execute("ALTER DATABASE pgml_upgrade_12 RESET pgml.venv")
    with db.connect() as c:
        notices = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        c.execute("ALTER EXTENSION pgml UPDATE")
        version = c.execute("SELECT extversion FROM pg_extension WHERE extname = 'pgml'").fetchone()[0]
    yield dict(db=db, role=role, role_url=role_url, before=before, version=version, notices=notices)
    with server.connect() as c:
        c.execute('DROP DATABASE IF EXISTS pgml_upgrade_12 WITH (FORCE)')
        c.execute('DROP ROLE IF EXISTS "%s"' % role)


def test_the_update_reaches_the_current_version_and_says_what_moved(updated):
    assert updated["version"] == pgml_py.EXTENSION_VERSION
    said = "\n".join(updated["notices"])
    assert "role %s now writes the catalog through pgml's functions only" % updated["role"] in said, said
    assert "routine embed(text,character varying,jsonb) was made in schema pgml" in said, said
    assert "moved to pgml_quarantine" in said, said


def test_the_role_keeps_read_access_and_loses_direct_writes(updated):
    with updated["db"].connect() as c:
        privileges = c.execute(
            "SELECT has_table_privilege(%(r)s, 'pgml.projects', 'SELECT'), has_table_privilege(%(r)s, 'pgml.files', 'INSERT'),"
            " has_table_privilege(%(r)s, 'pgml.snapshots', 'UPDATE'), has_table_privilege(%(r)s, 'pgml.deployments', 'INSERT'),"
            " has_schema_privilege(%(r)s, 'pgml', 'CREATE'), has_database_privilege(%(r)s, current_database(), 'CREATE'),"
            " has_table_privilege(%(r)s, 'pgml.collections', 'INSERT'), has_table_privilege(%(r)s, 'pgml.iris', 'SELECT'),"
            " (SELECT relowner::regrole::text FROM pg_class WHERE oid = 'pgml.iris'::regclass),"
            " (SELECT count(*) FROM pgml.grantees WHERE role::text = %(r)s),"
            " (SELECT bool_and(digest = sha256(data)) FROM pgml.files),"
            " to_regprocedure('pgml.embed(text, varchar, jsonb)') IS NULL,"
            " to_regprocedure('pgml_quarantine.embed(text, varchar, jsonb)') IS NOT NULL",
            {"r": updated["role"]}).fetchone()
    assert privileges == (True, False, False, False, False, False, True, True, "postgres", 1, True, True, True)


def test_models_predict_as_before_and_the_role_trains_through_pgml(updated):
    with psycopg.connect(updated["role_url"], autocommit=True) as c:
        c.execute("SET client_min_messages = warning")
        assert c.execute(PREDICT).fetchone() == updated["before"]
        c.execute("SELECT * FROM pgml.train('upg12_iris', algorithm => 'random_forest', "
                  "hyperparams => '{\"n_estimators\": 5, \"random_state\": 1}')")
        assert c.execute("SELECT count(*) FROM pgml.models").fetchone()[0] == 2
        assert sql_error(c, "UPDATE pgml.snapshots SET relation_name = 'x'").sqlstate == "42501"
        assert sql_error(c, "CREATE FUNCTION pgml.x() RETURNS INT LANGUAGE sql AS 'SELECT 1'").sqlstate == "42501"
