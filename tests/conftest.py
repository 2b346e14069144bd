"""Fixtures for tests against a real server: one throwaway cluster per test run, started by
the same script as `make start`, on its own port, with the extension installed by make."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "scripts" / "pgml-server.sh"
PORT = os.environ.get("PGML_TEST_PORT", "15433")
RUN_DIR = Path(os.environ.get("PGML_TEST_RUN_DIR", "/var/tmp/pgml-test-%s" % PORT))


class Server:
    def __init__(self, url, run_dir, env):
        self.url, self.run_dir, self.env = url, run_dir, env

    def connect(self, **kwargs):
        import psycopg
        kwargs.setdefault("autocommit", True)
        return psycopg.connect(self.url, **kwargs)

    def log_tail(self, lines=40):
        log = self.run_dir / "server.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def connect_with_store(server, store):
    """A new connection (its own backend) whose pgml.model_store is `store` (tiny models)."""
    import psycopg
    c = server.connect()
    c.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(store)))
    return c


@pytest.fixture(scope="session")
def server():
    env = dict(os.environ, PGML_PORT=PORT, PGML_RUN_DIR=str(RUN_DIR))
    subprocess.run(["bash", str(SERVER), "stop"], env=env, capture_output=True)
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    started = subprocess.run(["bash", str(SERVER), "start"], env=env, capture_output=True, text=True)
    assert started.returncode == 0, started.stdout + started.stderr
    srv = Server(started.stdout.strip().splitlines()[-1], RUN_DIR, env)
    yield srv
    subprocess.run(["bash", str(SERVER), "stop"], env=env, capture_output=True)


@pytest.fixture(scope="session")
def public_dir():
    """A directory the server's OS user can read (pytest's tmp_path is private to root)."""
    import tempfile
    path = Path(tempfile.mkdtemp(prefix="pgml-test-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def conn(server):
    """A new connection (a new backend: empty model cache) per test."""
    with server.connect() as c:
        yield c


@pytest.fixture(scope="module")
def shared_conn(server):
    """One connection for a module, so models load once."""
    with server.connect() as c:
        yield c


def sql_error(conn, query, params=None):
    """Runs query expecting an ERROR; returns the psycopg exception (connection stays usable)."""
    import psycopg
    with pytest.raises(psycopg.Error) as info:
        conn.execute(query, params)
    assert conn.execute("SELECT 1").fetchone() == (1,)
    return info.value


@pytest.fixture
def expect_error():
    return sql_error
