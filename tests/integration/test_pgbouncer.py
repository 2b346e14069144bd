"""pgml behind pgbouncer (issue 12): Debian's pgbouncer (1.18 on Debian 12, 1.24 on 13; installed by `make install`,
scripts/install-system.sh) in transaction mode on its own port (clusters.extra_port(10)) in front of the session server,
with its own config, auth file, log and socket in a temporary directory; stopped at the end.

- 20 short-lived clients predicting and embedding get no error, served by a few warm backends.
- A deploy made through pgbouncer is used by every pooled backend, each already warm with the
  previous model (holding POOL_SIZE transactions open at once pins every server connection).
- Prepared statements on 1.18 in transaction mode: protocol-level named statements do not
  follow the client to another backend (26000; support came in 1.21), so clients use unnamed
  ones (psycopg: prepare_threshold=None); SQL PREPARE/EXECUTE works inside one transaction."""
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from tests.integration import clusters

PORT = clusters.extra_port(10)
POOL_SIZE = 3
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
HANG_GUARD = 300


def owned_by_postgres(path):
    if os.getuid() == 0:
        shutil.chown(path, "postgres", "postgres")


@pytest.fixture(scope="module")
def bouncer(server):
    """The pgbouncer URL; its directory holds pgbouncer.ini, userlist.txt and the log."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    assert os.path.exists(binary), "pgbouncer is missing: run make install (scripts/install-system.sh installs it)"
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    directory = Path("/var/tmp/pgml-pgbouncer-%d" % PORT)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    owned_by_postgres(directory)
    server_port = server.url.rsplit(":", 1)[1].split("/")[0]
    (directory / "userlist.txt").write_text('"postgres" ""\n')
    (directory / "pgbouncer.ini").write_text("""[databases]
pgml = host=127.0.0.1 port=%(server_port)s dbname=pgml user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %(port)d
unix_socket_dir = %(dir)s
auth_type = trust
auth_file = %(dir)s/userlist.txt
pool_mode = transaction
default_pool_size = %(pool)d
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 200
server_idle_timeout = 3600
logfile = %(dir)s/pgbouncer.log
pidfile = %(dir)s/pgbouncer.pid
ignore_startup_parameters = extra_float_digits
""" % dict(server_port=server_port, port=PORT, dir=directory, pool=POOL_SIZE))
    for name in ("userlist.txt", "pgbouncer.ini"):
        owned_by_postgres(directory / name)
    command = ([binary] if os.getuid() else ["runuser", "-u", "postgres", "--", binary]) + ["-d", str(directory / "pgbouncer.ini")]
    started = subprocess.run(command, capture_output=True, text=True)
    assert started.returncode == 0, started.stdout + started.stderr
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, (directory / "pgbouncer.log").read_text(errors="replace")
            time.sleep(0.1)
    try:
        yield {"url": "postgresql://postgres@127.0.0.1:%d/pgml" % PORT, "version": version, "dir": directory}
    finally:
        pid_file = directory / "pgbouncer.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
        shutil.rmtree(directory, ignore_errors=True)


def client(bouncer, **kwargs):
    kwargs.setdefault("prepare_threshold", None)  # pgbouncer 1.18, transaction mode: unnamed statements only
    kwargs.setdefault("autocommit", True)
    return psycopg.connect(bouncer["url"], **kwargs)


@pytest.fixture(scope="module")
def project(server):
    """pgb_switch: model `up` (predicts +10 at x = 1, deployed) and `down` (−10), trained directly."""
    with server.connect() as c:
        c.execute("""DROP TABLE IF EXISTS pgb_up, pgb_down;
                     CREATE TABLE pgb_up AS SELECT i::real AS x, (10 * i)::real AS y FROM generate_series(1, 30) i;
                     CREATE TABLE pgb_down AS SELECT i::real AS x, (-10 * i)::real AS y FROM generate_series(1, 30) i;""")
        c.execute("SELECT * FROM pgml.train('pgb_switch', 'regression', 'pgb_up', 'y')")
        up = c.execute("SELECT max(id) FROM pgml.models").fetchone()[0]
        c.execute("SELECT * FROM pgml.train('pgb_switch', 'regression', 'pgb_down', 'y', automatic_deploy => false)")
        down = c.execute("SELECT max(id) FROM pgml.models").fetchone()[0]
        c.execute("SELECT * FROM pgml.deploy(%s::bigint)", (up,))
        expected = c.execute("SELECT pgml.embed(%s, 'short text number 7')", (MINILM,)).fetchone()[0]
    return {"up": up, "down": down, "vector7": expected}


def in_threads(n, work):
    """Runs work(i) in n threads at once; returns (results by i, errors)."""
    results, errors = [None] * n, []
    gate = threading.Barrier(n)

    def run(i):
        try:
            gate.wait(HANG_GUARD)
            results[i] = work(i)
        except Exception as e:  # noqa: BLE001 -- every failure is counted and shown
            errors.append(repr(e))

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG_GUARD)
    assert not any(t.is_alive() for t in threads), "clients hung"
    return results, errors


def test_pgbouncer_is_debians(bouncer):
    """The pgbouncer make install put there: Debian's package (1.18 on Debian 12, 1.24 on 13)."""
    packaged = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "pgbouncer"],
                              capture_output=True, text=True, check=True).stdout
    assert bouncer["version"].startswith("PgBouncer " + packaged.split("-")[0]), (bouncer["version"], packaged)


def test_twenty_short_lived_clients_predict_and_embed_without_errors(bouncer, project):
    def work(i):
        with client(bouncer) as c:
            pid, prediction = c.execute("SELECT pg_backend_pid(), pgml.predict('pgb_switch', ARRAY[1]::real[])").fetchone()
            vector = c.execute("SELECT pgml.embed(%s, %s)", (MINILM, "short text number %d" % i)).fetchone()[0]
            return pid, prediction, vector

    results, errors = in_threads(20, work)
    assert errors == []
    assert all(r[1] == pytest.approx(10.0, abs=0.5) for r in results), [r[1] for r in results]
    assert all(len(r[2]) == 384 for r in results)
    assert results[7][2] == pytest.approx(project["vector7"], abs=1e-6)  # what a direct connection gets
    assert len({r[0] for r in results}) <= POOL_SIZE  # 20 clients, a few warm backends


def pinned_predictions(bouncer):
    """(backend pid, prediction) from POOL_SIZE transactions held open at once: each is pinned
    to its own server connection, so together they cover the pool."""
    clients = [client(bouncer, autocommit=False) for _ in range(POOL_SIZE)]
    try:
        rows = [c.execute("SELECT pg_backend_pid(), pgml.predict('pgb_switch', ARRAY[1]::real[])").fetchone()
                for c in clients]
        for c in clients:
            c.commit()
        return rows
    finally:
        for c in clients:
            c.close()


def test_a_deploy_through_pgbouncer_reaches_every_pooled_backend(bouncer, project):
    warm = pinned_predictions(bouncer)
    pids = {r[0] for r in warm}
    assert len(pids) == POOL_SIZE, warm
    assert all(r[1] == pytest.approx(10.0, abs=0.5) for r in warm), warm
    for model, expected in (("down", -10.0), ("up", 10.0), ("down", -10.0)):
        with client(bouncer) as c:
            c.execute("SELECT * FROM pgml.deploy(%s::bigint)", (project[model],))
        after = pinned_predictions(bouncer)
        # The same backends, each warm with the previous model: none was replaced.
        assert {r[0] for r in after} == pids, "pgbouncer replaced its server connections: %r" % after
        assert [r[1] == pytest.approx(expected, abs=0.5) for r in after] == [True] * POOL_SIZE, \
            "a pooled backend kept the previous deployment: %r" % after
    with client(bouncer) as c:
        c.execute("SELECT * FROM pgml.deploy(%s::bigint)", (project["up"],))


def test_unnamed_statements_work_across_backends(bouncer, project):
    """psycopg with prepare_threshold=None sends every query as Parse/Bind/Execute of the unnamed
    statement: safe whichever backend runs it."""
    def work(i):
        with client(bouncer) as c:
            return [c.execute("SELECT pgml.predict('pgb_switch', ARRAY[%s]::real[])", (float(k),)).fetchone()[0]
                    for k in range(1, 11)]
    results, errors = in_threads(6, work)
    assert errors == []
    assert all(r == pytest.approx([10.0 * k for k in range(1, 11)], abs=0.5) for r in results)


def test_sql_prepare_works_inside_one_transaction(bouncer, project):
    with client(bouncer, autocommit=False) as c:
        c.execute("PREPARE pgb_p(real) AS SELECT pgml.predict('pgb_switch', ARRAY[$1])")
        assert c.execute("EXECUTE pgb_p(2)").fetchone()[0] == pytest.approx(20.0, abs=0.5)
        c.execute("DEALLOCATE pgb_p")
        c.commit()


def test_named_protocol_statements_do_not_follow_the_client_on_1_18(bouncer, project):
    """The documented limitation: a statement prepared on one backend is unknown to the next one
    pgbouncer gives the client. Here the preparing backend is kept busy by another client."""
    if not bouncer["version"].startswith("PgBouncer 1.18"):
        pytest.skip("pgbouncer 1.21+ tracks prepared statements (max_prepared_statements)")
    query = "SELECT pg_backend_pid(), pgml.predict('pgb_switch', ARRAY[1]::real[])"
    with client(bouncer, prepare_threshold=5) as a:  # psycopg's default: prepare=True names it at once
        pid = a.execute(query, prepare=True).fetchone()[0]
        holders = []
        try:
            # Open transactions pin distinct backends: one of POOL_SIZE is the preparing one.
            for _ in range(POOL_SIZE):
                b = client(bouncer, autocommit=False)
                holders.append(b)
                if b.execute("SELECT pg_backend_pid()").fetchone()[0] == pid:
                    break
            else:
                pytest.fail("backend %d is not in the pool" % pid)
            for b in holders[:-1]:  # the others become free for `a`
                b.rollback()
            with pytest.raises(psycopg.Error) as info:
                a.execute(query, prepare=True)
            assert info.value.sqlstate == "26000", (info.value.sqlstate, str(info.value))  # invalid_sql_statement_name
        finally:
            for b in holders:
                b.close()
