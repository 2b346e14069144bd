"""Extra throwaway servers for the operations tests (replica, faults, bench/load.py): a primary
started by scripts/pgml-server.sh (the script of `make start` and of the session server) on its
own port and run directory, and a streaming hot standby of it made with `pg_basebackup -R`.
Every server command runs as the postgres OS user when the caller is root, as the script does."""
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.conftest import Server

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "scripts" / "pgml-server.sh"
BINDIR = Path(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip())


def extra_port(offset):
    """The port of a test module's own server: the session server's (PGML_TEST_PORT) plus 1000
    and offset, so that two suites running at once, each on its own PGML_TEST_PORT (CI's second
    major in a Debian root beside this machine's suite, say), never take the same port."""
    return int(os.environ.get("PGML_TEST_PORT", "15433")) + 1000 + offset


def as_owner(*command):
    return (["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []) + [str(c) for c in command]


class Cluster(Server):
    def __init__(self, port, run_dir):
        self.port = int(port)
        super().__init__("postgresql://postgres@127.0.0.1:%d/pgml" % self.port, Path(run_dir), None)
        self.data = self.run_dir / "data"

    def pg_ctl(self, *args, check=True):
        return subprocess.run(as_owner(BINDIR / "pg_ctl", "-D", self.data, *args),
                              capture_output=True, text=True, check=check)

    def start(self):
        self.pg_ctl("-l", self.run_dir / "server.log", "-w", "-t", "120", "start")

    def stop(self, mode="fast"):
        if (self.data / "PG_VERSION").exists():
            self.pg_ctl("-m", mode, "-w", "stop", check=False)

    def destroy(self):
        self.stop("immediate")
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def wait_ready(self, timeout=180):
        """Until a connection succeeds (after a crash the postmaster restarts and recovers)."""
        import psycopg
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.connect(connect_timeout=5) as c:
                    c.execute("SELECT 1")
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise AssertionError("server on port %d not back after %d s:\n%s"
                                         % (self.port, timeout, self.log_tail()))
                time.sleep(0.5)


def start_primary(port, run_dir=None, settings=None):
    """A fresh server with database pgml and the extension (the run directory is wiped first).
    settings: extra postgresql.conf lines, applied by a restart."""
    run_dir = Path(run_dir or "/var/tmp/pgml-ops-%d" % port)
    env = dict(os.environ, PGML_PORT=str(port), PGML_RUN_DIR=str(run_dir))
    cluster = Cluster(port, run_dir)
    cluster.destroy()
    started = subprocess.run(["bash", str(SERVER), "start"], env=env, capture_output=True, text=True)
    assert started.returncode == 0, started.stdout + started.stderr + cluster.log_tail()
    if settings:
        with open(cluster.data / "postgresql.conf", "a") as conf:
            conf.write("".join("%s = %s\n" % kv for kv in settings.items()))
        cluster.pg_ctl("-m", "fast", "-w", "restart", "-l", run_dir / "server.log")
    return cluster


def start_standby(primary, port, run_dir=None):
    """A streaming hot standby of primary: pg_basebackup -R (standby.signal, primary_conninfo),
    then its own port and socket directory."""
    run_dir = Path(run_dir or "/var/tmp/pgml-ops-%d" % port)
    standby = Cluster(port, run_dir)
    standby.destroy()
    run_dir.mkdir(parents=True)
    if os.getuid() == 0:
        shutil.chown(run_dir, "postgres", "postgres")
    subprocess.run(as_owner(BINDIR / "pg_basebackup", "-D", standby.data, "-R", "-X", "stream", "-c", "fast",
                            "-h", "127.0.0.1", "-p", primary.port, "-U", "postgres"),
                   check=True, capture_output=True, text=True)
    with open(standby.data / "postgresql.conf", "a") as conf:  # later lines win
        conf.write("port = %d\nunix_socket_directories = '%s'\nhot_standby = on\n" % (port, run_dir))
    standby.start()
    standby.wait_ready()
    return standby


def wait_replayed(primary, standby, timeout=120):
    """Until the standby has replayed everything the primary has written so far."""
    with primary.connect() as p:
        target = p.execute("SELECT pg_catalog.pg_current_wal_lsn()::text").fetchone()[0]
    deadline = time.monotonic() + timeout
    with standby.connect() as s:
        while not s.execute("SELECT pg_catalog.pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()[0]:
            assert time.monotonic() < deadline, "standby did not replay %s in %d s:\n%s" % (
                target, timeout, standby.log_tail())
            time.sleep(0.1)
