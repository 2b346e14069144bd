"""The upgrade path: a database made with release 1.0 (its install script and its pgml_py, taken
from git at the release commit), holding real models, is updated with ALTER EXTENSION pgml UPDATE.
Afterwards its pgml schema must equal a fresh install of the current version, and every model must
predict exactly what it predicted before (sql/README.md)."""
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import pgml_py
from tests.fixtures import tiny_pipelines
from tests.integration.test_sdk import run_sdk, sdk_python  # noqa: F401 (fixture, asked for by installed_sdk)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# The commit main held when 1.0 was frozen (tag v1.0); pgml--1.0.sql is its install script.
RELEASES = {"1.0": "2684d06ed0b83e197f567fe54e1970df66d5f0a7"}
PREVIOUS = "1.0"

# Every object of the extension with its definition, one row each (kind, name, definition):
# what a fresh install and an upgraded database must agree on, independent of OIDs and order.
SCHEMA = r"""
WITH ext AS (SELECT oid, extconfig, extcondition, extversion FROM pg_catalog.pg_extension WHERE extname = 'pgml'),
members AS (
    SELECT d.classid, d.objid FROM pg_catalog.pg_depend d, ext
    WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
rels AS (SELECT c.* FROM pg_catalog.pg_class c JOIN members m ON m.classid = 'pg_catalog.pg_class'::regclass AND m.objid = c.oid)
SELECT 'function', p.oid::regprocedure::text,
       CASE WHEN p.prokind = 'a' THEN (SELECT concat_ws(' ', a.aggtransfn, a.aggcombinefn, a.aggtranstype::regtype, a.agginitval)
                                       FROM pg_catalog.pg_aggregate a WHERE a.aggfnoid = p.oid)
            ELSE pg_catalog.pg_get_functiondef(p.oid) END || ' acl=' || coalesce(p.proacl::text, '')
FROM pg_catalog.pg_proc p JOIN members m ON m.classid = 'pg_catalog.pg_proc'::regclass AND m.objid = p.oid
UNION ALL
SELECT 'type', t.oid::regtype::text,
       coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid), t.typtype::text)
FROM pg_catalog.pg_type t JOIN members m ON m.classid = 'pg_catalog.pg_type'::regclass AND m.objid = t.oid
UNION ALL
SELECT 'relation', r.oid::regclass::text,
       concat_ws(' ', r.relkind, 'rls=' || r.relrowsecurity, 'force=' || r.relforcerowsecurity, 'acl=' || coalesce(r.relacl::text, ''),
                 'options=' || coalesce(r.reloptions::text, ''), CASE WHEN r.relkind = 'v' THEN pg_catalog.pg_get_viewdef(r.oid) END)
FROM rels r
UNION ALL
SELECT 'column', a.attrelid::regclass::text || '.' || a.attname,
       concat_ws(' ', a.attnum, pg_catalog.format_type(a.atttypid, a.atttypmod), CASE WHEN a.attnotnull THEN 'NOT NULL' END,
                 pg_catalog.pg_get_expr(ad.adbin, ad.adrelid))
FROM pg_catalog.pg_attribute a JOIN rels r ON r.oid = a.attrelid
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint', c.conrelid::regclass::text || '.' || c.conname, pg_catalog.pg_get_constraintdef(c.oid)
FROM pg_catalog.pg_constraint c JOIN rels r ON r.oid = c.conrelid
UNION ALL
SELECT 'index', i.indexrelid::regclass::text, pg_catalog.pg_get_indexdef(i.indexrelid)
FROM pg_catalog.pg_index i JOIN rels r ON r.oid = i.indrelid
UNION ALL
SELECT 'trigger', t.tgrelid::regclass::text || '.' || t.tgname, pg_catalog.pg_get_triggerdef(t.oid)
FROM pg_catalog.pg_trigger t JOIN rels r ON r.oid = t.tgrelid WHERE NOT t.tgisinternal
UNION ALL
SELECT 'policy', p.polrelid::regclass::text || '.' || p.polname,
       concat_ws(' ', p.polcmd, p.polpermissive, p.polroles::regrole[]::text, pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                 pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))
FROM pg_catalog.pg_policy p JOIN rels r ON r.oid = p.polrelid
UNION ALL
SELECT 'extension', 'pgml', concat_ws(' ', ext.extversion, (SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text)
                                                           FROM unnest(ext.extconfig) c))
FROM ext
UNION ALL
SELECT 'schema', n.nspname, coalesce(n.nspacl::text, '') FROM pg_catalog.pg_namespace n WHERE n.nspname = 'pgml'
"""

IRIS_ROWS = "SELECT sepal_length, sepal_width, petal_length, petal_width FROM pgml.iris ORDER BY ctid"
PREDICTIONS = {
    "iris": "SELECT array_agg(pgml.predict('upg_iris', ARRAY[sepal_length, sepal_width, petal_length, petal_width]) ORDER BY n) "
            "FROM (SELECT *, row_number() OVER () n FROM (%s) r) x" % IRIS_ROWS,
    "iris_proba": "SELECT pgml.predict_proba('upg_iris', ARRAY[5.1, 3.5, 1.4, 0.2]::real[])",
    "iris_batch": "SELECT array_agg(p) FROM pgml.predict_batch('upg_iris', ARRAY[5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]::real[]) p",
    "iris_row": "SELECT pgml.predict('upg_iris', ROW(6.7::real, 3.0::real, 5.2::real, 2.3::real))",
    "diabetes": "SELECT array_agg(pgml.predict('upg_diabetes', ARRAY[age, sex, bmi, bp, s1, s2, s3, s4, s5, s6]) ORDER BY ctid) "
                "FROM (SELECT ctid, * FROM pgml.diabetes LIMIT 40) d",
    "tuned": "SELECT array_agg(pgml.predict('upg_tuned', t) ORDER BY t) FROM unnest(ARRAY['the cat is good data', 'the dog is sql', 'a cat']) t",
    "overview": "SELECT array_agg(name || ' ' || algorithm ORDER BY name) FROM pgml.deployed_models",
}


def release_venv_of(commit):
    """Yields a venv holding pgml_py as of commit (from git), over the installed venv's
    libraries: what a database still on that release imports (pgml.venv)."""
    root = Path(tempfile.mkdtemp(prefix="pgml-upgrade-", dir="/var/tmp"))
    venv = root / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(venv)], check=True)
    site = venv / "lib" / ("python%d.%d" % sys.version_info[:2]) / "site-packages"
    libraries = subprocess.run(["/var/lib/pgml/venv/bin/python", "-c",
                                "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip()
    (site / "pgml-libraries.pth").write_text(libraries + "\n")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "pgml_py"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(site)], input=archive, check=True)
    subprocess.run(["chmod", "-R", "a+rX", str(root)], check=True)
    yield venv
    subprocess.run(["rm", "-rf", str(root)])


@pytest.fixture(scope="module")
def release_venv():
    """A venv holding the previous release's pgml_py."""
    yield from release_venv_of(RELEASES[PREVIOUS])


class Database:
    """A database on the test server, with the URL the SDK helper needs."""
    def __init__(self, server, name):
        self.server, self.name = server, name
        self.url = server.url.rsplit("/", 1)[0] + "/" + name

    def connect(self):
        import psycopg
        return psycopg.connect(self.url, autocommit=True)

    def log_tail(self, lines=40):
        return self.server.log_tail(lines)


def fresh_database(server, name):
    with server.connect() as c:
        c.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
        c.execute('CREATE DATABASE "%s"' % name)
    return Database(server, name)


def predictions(db):
    with db.connect() as c:
        return {key: c.execute(query).fetchone()[0] for key, query in PREDICTIONS.items()}


def schema(db):
    with db.connect() as c:
        return sorted(c.execute(SCHEMA).fetchall())


def installed_sdk(request):
    """The SDK's python, or the reason it cannot be installed (the official SDK has no wheel for
    Python 3.13): the SDK part of the upgrade then fails on its own, not the whole upgrade."""
    try:
        return request.getfixturevalue("sdk_python"), None
    except pytest.skip.Exception as e:
        return None, str(e)
    except (AssertionError, subprocess.SubprocessError, OSError) as e:
        return None, "the SDK could not be installed: %s" % str(e)[-2000:]


@pytest.fixture(scope="module")
def upgraded(request, server, release_venv, public_dir):
    """Database upg: made with 1.0 and real models, then updated. Returns what it predicted and
    what the SDK found before and after, with the database."""
    sdk_python, sdk_missing = installed_sdk(request)
    db = fresh_database(server, "pgml_upgrade")
    bert = tiny_pipelines.text_classifier(public_dir / "upgrade-bert")
    with server.connect() as c:
        c.execute("ALTER DATABASE pgml_upgrade SET pgml.venv = '%s'" % release_venv)
    with db.connect() as c:
        c.execute("SET client_min_messages = warning")
        c.execute("CREATE EXTENSION pgml VERSION '%s' CASCADE" % PREVIOUS)
        assert c.execute("SELECT pgml.version()").fetchone()[0].startswith("1.0.0")
        c.execute("SELECT pgml.load_dataset('iris')")
        c.execute("SELECT pgml.load_dataset('diabetes')")
        c.execute("SELECT * FROM pgml.train('upg_iris', 'classification', 'pgml.iris', 'target', 'xgboost', "
                  "hyperparams => '{\"n_estimators\": 5, \"random_state\": 1}', test_sampling => 'last')")
        c.execute("SELECT * FROM pgml.train('upg_iris', algorithm => 'random_forest', "
                  "hyperparams => '{\"n_estimators\": 5, \"random_state\": 1}')")
        c.execute("SELECT * FROM pgml.deploy('upg_iris', 'most_recent')")
        c.execute("SELECT * FROM pgml.train('upg_diabetes', 'regression', 'pgml.diabetes', 'target', 'linear', "
                  "test_sampling => 'last')")
        c.execute("SELECT * FROM pgml.snapshot('pgml.iris', 'target')")
        c.execute("""CREATE TABLE upg_reviews AS
                     SELECT CASE WHEN i % 2 = 0 THEN 'the cat is good ' || w ELSE 'the dog is ' || w END AS text,
                            CASE WHEN i % 2 = 0 THEN 'positive' ELSE 'negative' END AS class
                     FROM generate_series(1, 40) i,
                          LATERAL (SELECT (ARRAY['data','model','text','sql'])[1 + i % 4] AS w) x""")
        c.execute("SELECT * FROM pgml.tune('upg_tuned', task => 'text-classification', relation_name => 'upg_reviews', "
                  "y_column_name => 'class', model_name => %s, test_sampling => 'last', "
                  "hyperparams => '{\"training_args\": {\"num_train_epochs\": 2, \"per_device_train_batch_size\": 8}}')",
                  (str(bert),))
    if sdk_python is not None:
        run_sdk(sdk_python, db, "run", "upgrade_collection")
        sdk_before = run_sdk(sdk_python, db, "search", "upgrade_collection")
    with db.connect() as c:
        counts_before = c.execute("SELECT (SELECT count(*) FROM pgml.models), (SELECT count(*) FROM pgml.files), "
                                  "(SELECT count(*) FROM pgml.snapshots), (SELECT count(*) FROM pgml.deployments)").fetchone()
    before = predictions(db)

    with server.connect() as c:
        c.execute("ALTER DATABASE pgml_upgrade RESET pgml.venv")
    with db.connect() as c:
        c.execute("ALTER EXTENSION pgml UPDATE")
    with db.connect() as c:
        version = c.execute("SELECT extversion FROM pg_extension WHERE extname = 'pgml'").fetchone()[0]
        counts_after = c.execute("SELECT (SELECT count(*) FROM pgml.models), (SELECT count(*) FROM pgml.files), "
                                 "(SELECT count(*) FROM pgml.snapshots), (SELECT count(*) FROM pgml.deployments)").fetchone()
    after = predictions(db)
    result = dict(db=db, version=version, before=before, after=after, counts=(counts_before, counts_after),
                  sdk_missing=sdk_missing)
    if sdk_python is not None:
        result.update(sdk_before=sdk_before, sdk_after=run_sdk(sdk_python, db, "search", "upgrade_collection"),
                      sdk_upsert=run_sdk(sdk_python, db, "upsert", "upgrade_collection"))
    return result


def test_update_reaches_the_current_version(upgraded):
    assert upgraded["version"] == pgml_py.EXTENSION_VERSION
    before, after = upgraded["counts"]
    # 3 trained + 1 tuned models (+ the SDK's embedding model row): nothing lost
    assert before == after and before[0] == (4 if upgraded["sdk_missing"] else 5)


def test_upgraded_schema_equals_a_fresh_install(server, upgraded):
    fresh = fresh_database(server, "pgml_fresh")
    with fresh.connect() as c:
        c.execute("SET client_min_messages = warning")
        c.execute("CREATE EXTENSION pgml CASCADE")
    got, want = schema(upgraded["db"]), schema(fresh)
    missing = [row for row in want if row not in got]
    extra = [row for row in got if row not in want]
    assert not missing and not extra, json.dumps({"missing after upgrade": missing, "extra after upgrade": extra},
                                                 indent=1)[:6000]
    assert len(want) > 150  # the query saw the whole extension


@pytest.mark.parametrize("key", sorted(PREDICTIONS))
def test_every_model_predicts_what_it_did_before(upgraded, key):
    assert upgraded["before"][key] is not None
    assert upgraded["after"][key] == upgraded["before"][key]


def test_sdk_collection_survives_the_update(upgraded):
    if upgraded["sdk_missing"] and "no wheel for Python" in upgraded["sdk_missing"]:
        pytest.skip(upgraded["sdk_missing"])
    assert upgraded["sdk_missing"] is None, upgraded["sdk_missing"]
    before = upgraded["sdk_before"]["vector_search_cat"]
    after = upgraded["sdk_after"]["vector_search_cat"]
    assert [(r["document"]["id"], r["chunk"]) for r in after] == [(r["document"]["id"], r["chunk"]) for r in before]
    # 1.3 embeds the query with the runtime auto measured fastest (OpenVINO bf16 on a CPU with
    # native bf16), whose vectors agree with 1.0's torch at cosine >= 0.9999 (pgml.embed_min_cosine):
    # a unit query vector that close moves each cosine score by at most sqrt(2 * (1 - 0.9999)).
    bound = math.sqrt(2 * (1 - 0.9999))
    assert [r["score"] for r in after] == pytest.approx([r["score"] for r in before], abs=bound)
    # the collection still takes documents, embedded by the updated extension
    upserted = upgraded["sdk_upsert"]["vector_search_cat"]
    assert upserted[0]["document"]["id"] == "upgrade"
