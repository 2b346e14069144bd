"""The installed extension: utility functions, catalog schema, settings and venv errors."""
import subprocess

import psycopg
import pytest


def plpython_version():
    """The Python PL/Python embeds: Debian's /usr/bin/python3 (3.11 on Debian 12, 3.13 on 13),
    which make install builds the venv with."""
    return subprocess.run(["/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_version_and_python(conn):
    import pgml_py
    version = conn.execute("SELECT pgml.version()").fetchone()[0]
    assert version.startswith(pgml_py.__version__ + " (") and version.endswith(")")
    assert conn.execute("SELECT pgml.python_version()").fetchone()[0].startswith(plpython_version() + ".")
    assert conn.execute("SELECT pgml.python_package_version('torch')").fetchone()[0].startswith("2.13.0")
    freeze = [r[0] for r in conn.execute("SELECT * FROM pgml.python_pip_freeze()")]
    assert any(p.startswith("scikit-learn==") for p in freeze)
    assert conn.execute("SELECT pgml.validate_python_dependencies()").fetchone()[0] is True
    assert conn.execute("SELECT pgml.xgboost_version()").fetchone()[0].startswith("3.")
    conn.execute("SELECT pgml.validate_shared_library()")


def test_unknown_package(conn, expect_error):
    error = expect_error(conn, "SELECT pgml.python_package_version('no-such-package-x')")
    assert error.sqlstate == "42704" and "no-such-package-x" in str(error)


def test_extension_requires_vector_and_plpython(conn):
    rows = dict(conn.execute("SELECT extname, extversion FROM pg_extension").fetchall())
    import pgml_py
    assert rows["pgml"] == pgml_py.EXTENSION_VERSION and "vector" in rows and "plpython3u" in rows


@pytest.mark.parametrize("typ,labels", [
    ("task", ["regression", "classification", "decomposition", "clustering", "question_answering",
              "summarization", "translation", "text_classification", "text_generation", "text2text",
              "embedding", "text_pair_classification", "conversation"]),
    ("sampling", ["random", "last", "stratified"]),
    ("search", ["grid", "random"]),
    ("strategy", ["new_score", "best_score", "most_recent", "rollback", "specific"]),
    ("runtime", ["python", "rust", "openai"]),
    ("status", ["in_progress", "successful", "failed"]),
])
def test_enum_labels_in_order(conn, typ, labels):
    got = conn.execute("SELECT enum_range(NULL::pgml.%s)::text[]" % typ).fetchone()[0]
    assert got == labels


def test_algorithm_enum(conn):
    got = conn.execute("SELECT enum_range(NULL::pgml.algorithm)::text[]").fetchone()[0]
    assert len(got) == 45 and got[0] == "linear" and got[-2:] == ["catboost", "pca"]


def columns(conn, table):
    return conn.execute("""
        SELECT column_name, data_type, is_nullable FROM information_schema.columns
        WHERE table_schema = 'pgml' AND table_name = %s ORDER BY ordinal_position""", (table,)).fetchall()


def test_catalog_columns(conn):
    assert columns(conn, "projects") == [
        ("id", "bigint", "NO"), ("name", "text", "NO"), ("task", "USER-DEFINED", "NO"),
        ("created_at", "timestamp without time zone", "NO"), ("updated_at", "timestamp without time zone", "NO"),
        ("owner", "regrole", "NO")]  # (+) 1.1: the role the project belongs to
    assert [c[:2] for c in columns(conn, "models")] == [
        ("id", "bigint"), ("project_id", "bigint"), ("snapshot_id", "bigint"), ("num_features", "integer"),
        ("algorithm", "text"), ("runtime", "USER-DEFINED"), ("hyperparams", "jsonb"), ("status", "text"),
        ("metrics", "jsonb"), ("search", "text"), ("search_params", "jsonb"), ("search_args", "jsonb"),
        ("created_at", "timestamp without time zone"), ("updated_at", "timestamp without time zone")]
    assert [c[0] for c in columns(conn, "snapshots")] == [
        "id", "relation_name", "y_column_name", "test_size", "test_sampling", "status", "columns",
        "analysis", "created_at", "updated_at", "materialized", "owner"]
    assert [c[0] for c in columns(conn, "files")] == [
        "id", "model_id", "path", "part", "created_at", "updated_at", "data",
        "digest"]  # (+) 1.3: sha256 of data, checked before a model is parsed
    assert [c[0] for c in columns(conn, "deployments")] == [
        "id", "project_id", "model_id", "strategy", "created_at"]
    assert [c[:2] for c in columns(conn, "logs")] == [
        ("id", "bigint"), ("model_id", "bigint"), ("project_id", "bigint"), ("created_at", "timestamp without time zone"),
        ("logs", "jsonb")]  # 1.3: bigint ids (PostgresML: integer)
    # PostgresML's SDK's own tables, made by the extension in 1.1 (same columns as the SDK's DDL)
    assert [c[0] for c in columns(conn, "collections")] == [
        "id", "created_at", "name", "active", "project_id", "sdk_version"]
    assert [c[0] for c in columns(conn, "splitters")] == ["id", "created_at", "name", "parameters", "project_id"]


def test_catalog_accepts_the_sdk_inserts_and_keeps_updated_at(conn):
    """PostgresML's SDK writes these rows itself."""
    with conn.transaction(force_rollback=True):
        project_id = conn.execute("""
            INSERT INTO pgml.projects (name, task) VALUES ('sdk_project', 'embedding')
            ON CONFLICT (name) DO UPDATE SET task = EXCLUDED.task RETURNING id""").fetchone()[0]
        model = conn.execute("""
            INSERT INTO pgml.models (project_id, num_features, algorithm, runtime, hyperparams, status,
                                     search_params, search_args)
            VALUES (%s, 1, 'transformers', 'python', '{}', 'successful', '{}', '{}')
            RETURNING id, snapshot_id, created_at""", (project_id,)).fetchone()
        assert model[1] is None
        conn.execute("INSERT INTO pgml.deployments (project_id, model_id, strategy) VALUES (%s, %s, 'specific')",
                     (project_id, model[0]))
        before = conn.execute("SELECT updated_at FROM pgml.projects WHERE id = %s", (project_id,)).fetchone()[0]
        conn.execute("UPDATE pgml.projects SET name = 'sdk_project2' WHERE id = %s", (project_id,))
        after = conn.execute("SELECT updated_at FROM pgml.projects WHERE id = %s", (project_id,)).fetchone()[0]
        assert after > before
        # Other tests (the client SDK) leave their own projects: look at this one only.
        assert conn.execute("SELECT name, algorithm FROM pgml.deployed_models WHERE name = 'sdk_project2'"
                            ).fetchall() == [("sdk_project2", "transformers")]
        assert conn.execute("SELECT deployed FROM pgml.trained_models WHERE name = 'sdk_project2'"
                            ).fetchall() == [(True,)]
        assert conn.execute("SELECT count(*) FROM pgml.overview WHERE name = 'sdk_project2'").fetchone()[0] == 1


def test_catalog_tables_are_dumped(conn):
    dumped = {r[0] for r in conn.execute(
        "SELECT unnest(extconfig)::regclass::text FROM pg_extension WHERE extname = 'pgml'")}
    assert {"pgml.projects", "pgml.models", "pgml.files", "pgml.deployments", "pgml.snapshots"} <= dumped


def test_missing_venv(server):
    with server.connect() as c:
        c.execute("SET pgml.venv = '/nonexistent/venv'")
        with pytest.raises(psycopg.Error) as info:
            c.execute("SELECT pgml.version()")
        assert info.value.sqlstate == "58P01"
        assert "/nonexistent/venv" in str(info.value) and info.value.diag.message_hint


def test_venv_of_another_python(server, public_dir):
    venv = public_dir / "venv39"
    (venv / "lib" / "python3.9" / "site-packages").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.9.18\n")
    with server.connect() as c:
        c.execute("SET pgml.venv = %s" % psycopg.sql.quote(str(venv)))
        with pytest.raises(psycopg.Error) as info:
            c.execute("SELECT pgml.version()")
        assert info.value.sqlstate == "55000"
        assert "Python %s" % plpython_version() in str(info.value) and "3.9" in info.value.diag.message_detail


def test_only_superusers_may_point_at_another_venv(server):
    with server.connect() as admin:
        admin.execute("DROP ROLE IF EXISTS pgml_app")
        admin.execute("CREATE ROLE pgml_app LOGIN")
        admin.execute("GRANT USAGE ON SCHEMA pgml TO pgml_app")
    import psycopg
    url = server.url.replace("postgres@", "pgml_app@")
    with psycopg.connect(url, autocommit=True) as c:
        assert c.execute("SELECT pgml.norm_l2(ARRAY[3, 4]::real[])").fetchone()[0] == 5
        with pytest.raises(psycopg.Error) as info:
            c.execute("SELECT pgml.activate_venv('/tmp')")
        assert info.value.sqlstate == "42501"
    # A value a non-superuser put there (SET, connection options) is dropped with a WARNING
    # when pgml defines its settings; from then on SET is refused.
    for options, statement in [("-c pgml.venv=/tmp/evil", None), ("", "SET pgml.venv = '/tmp/evil'")]:
        with psycopg.connect(url, autocommit=True, options=options) as c:
            notices = []
            c.add_notice_handler(lambda d: notices.append(d.message_primary))
            if statement:
                c.execute(statement)
            assert c.execute("SELECT pgml.norm_l2(ARRAY[3, 4]::real[])").fetchone()[0] == 5
            assert 'permission denied to set parameter "pgml.venv"' in notices
            assert c.execute("SHOW pgml.venv").fetchone()[0] == ""
            with pytest.raises(psycopg.Error) as info:
                c.execute("SET pgml.venv = '/tmp/evil'")
            assert info.value.sqlstate == "42501"
