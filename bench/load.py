#!/usr/bin/env python3
"""A mixed production-like workload for a bounded time (issue 12), against a throwaway server it
starts itself (port 15705, /var/tmp/pgml-load-15705, removed at the end):

    make install && .venv-test/bin/python bench/load.py [--seconds 60] [--predict-clients 8]
        [--embed-clients 2] [--retrain-every 3] [--port 15705] [--keep]

(or BENCH=bench/load.py bash scripts/run-bench.sh). What runs at once, each client on its own
connection (a backend of its own) in a thread:
  - N clients predicting:  SELECT pgml.predict('load_switch', ARRAY[1]), <the model id deployed
    in this statement's snapshot>, in one statement;
  - M clients embedding:   SELECT pgml.embed('sentence-transformers/all-MiniLM-L6-v2', <text>);
  - one loop retraining:   every few seconds pgml.train on the other of two tables (y = 10x,
    y = -10x) without automatic deploy, then pgml.deploy(<that model>).
Every client first warms its backend (imports, model load) before the clock starts. Printed:
statements per second per kind, failed statements (any error), wrong-model predictions (the
value's sign is not that of the model deployed in the statement's snapshot: +10 for a model of
load_up, -10 for load_down), and the clients' backend RSS (/proc/<pid>/status, VmRSS) sampled
over time. Goal: 0 failed, 0 wrong-model, RSS flat after warm-up. Never fails a build.
"""
import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
PREDICT = """
SELECT pgml.predict('load_switch', ARRAY[1]::real[]),
       (SELECT d.model_id FROM pgml.deployments d JOIN pgml.projects p ON p.id = d.project_id
        WHERE p.name = 'load_switch' ORDER BY d.id DESC LIMIT 1)"""


def rss_mb(pid):
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.done, self.failed, self.wrong, self.errors = {}, {}, 0, []

    def ok(self, kind):
        with self.lock:
            self.done[kind] = self.done.get(kind, 0) + 1

    def fail(self, kind, error):
        with self.lock:
            self.failed[kind] = self.failed.get(kind, 0) + 1
            if len(self.errors) < 5:
                self.errors.append("%s: %s" % (kind, str(error).splitlines()[0] if str(error) else repr(error)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="timed run, after warm-up (default 60)")
    parser.add_argument("--predict-clients", type=int, default=8)
    parser.add_argument("--embed-clients", type=int, default=2)
    parser.add_argument("--retrain-every", type=float, default=3.0, help="seconds between retrain+deploy rounds")
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--port", type=int, default=15705)
    parser.add_argument("--keep", action="store_true", help="leave the server running (and its run directory)")
    args, _ = parser.parse_known_args()  # scripts/run-bench.sh passes every benchmark's flags

    import psycopg
    from tests.integration import clusters

    print("starting a throwaway server on port %d ..." % args.port, flush=True)
    server = clusters.start_primary(args.port, "/var/tmp/pgml-load-%d" % args.port)
    try:
        run(args, server, psycopg)
    finally:
        if not args.keep:
            server.destroy()


def run(args, server, psycopg):
    sign = {}  # model id -> +1 (trained on load_up) / -1 (load_down)
    with server.connect() as c:
        c.execute("""CREATE TABLE load_up AS SELECT i::real AS x, (10 * i)::real AS y FROM generate_series(1, 50) i;
                     CREATE TABLE load_down AS SELECT i::real AS x, (-10 * i)::real AS y FROM generate_series(1, 50) i;""")
        for table, s in (("load_up", 1), ("load_down", -1)):
            c.execute("SELECT * FROM pgml.train('load_switch', 'regression', %s, 'y', automatic_deploy => false)", (table,))
            sign[c.execute("SELECT max(id) FROM pgml.models").fetchone()[0]] = s
        c.execute("SELECT * FROM pgml.deploy(%s::bigint)", (min(sign),))

    stats, stop = Stats(), threading.Event()
    n_clients = args.predict_clients + args.embed_clients
    warm = threading.Barrier(n_clients + 2, timeout=900)  # clients, the retrain loop, this thread
    pids = {}  # client name -> backend pid

    def predict_once(c):
        value, model_id = c.execute(PREDICT).fetchone()
        if (value > 0) != (sign[model_id] > 0):
            with stats.lock:
                stats.wrong += 1

    def embed_once(c, n):
        vector = c.execute("SELECT pgml.embed(%s, %s)", (MINILM, "short text number %d" % n)).fetchone()[0]
        if len(vector) != 384:
            raise AssertionError("embedding of %d dimensions" % len(vector))

    def client(name, kind):
        c = server.connect(prepare_threshold=None)
        pids[name] = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        once = (lambda n: predict_once(c)) if kind == "predict" else (lambda n: embed_once(c, n))
        try:
            once(0)  # warm-up: imports and model load, before the clock
        except Exception as e:  # noqa: BLE001 -- counted
            stats.fail(kind, e)
        warm.wait()
        n = 0
        while not stop.is_set():
            n += 1
            try:
                once(n)
                stats.ok(kind)
            except Exception as e:  # noqa: BLE001 -- counted, then a fresh connection
                stats.fail(kind, e)
                c.close()
                c = server.connect(prepare_threshold=None)
                pids[name] = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        c.close()

    def retrain():
        c = server.connect()
        warm.wait()
        tables = ["load_down", "load_up"]
        k = 0
        while not stop.wait(args.retrain_every):
            table = tables[k % 2]
            k += 1
            try:
                c.execute("SELECT * FROM pgml.train('load_switch', 'regression', %s, 'y', automatic_deploy => false)", (table,))
                model_id = c.execute("SELECT max(id) FROM pgml.models").fetchone()[0]
                sign[model_id] = 1 if table == "load_up" else -1
                c.execute("SELECT * FROM pgml.deploy(%s::bigint)", (model_id,))
                stats.ok("retrain+deploy")
            except Exception as e:  # noqa: BLE001 -- counted
                stats.fail("retrain+deploy", e)
        c.close()

    threads = [threading.Thread(target=client, args=("predict%d" % i, "predict"), daemon=True)
               for i in range(args.predict_clients)]
    threads += [threading.Thread(target=client, args=("embed%d" % i, "embed"), daemon=True)
                for i in range(args.embed_clients)]
    threads.append(threading.Thread(target=retrain, daemon=True))
    started = time.monotonic()
    for t in threads:
        t.start()
    print("warming %d clients (imports, model loads) ..." % n_clients, flush=True)
    warm.wait()
    print("warm after %.1f s; running for %.0f s" % (time.monotonic() - started, args.seconds), flush=True)

    samples = []  # (seconds, {name: rss})
    t0 = time.monotonic()
    while True:
        now = time.monotonic() - t0
        samples.append((now, {name: rss_mb(pid) for name, pid in list(pids.items())}))
        if now >= args.seconds:
            break
        time.sleep(min(args.sample_every, args.seconds - now) if args.seconds > now else 0)
    stop.set()
    elapsed = time.monotonic() - t0
    for t in threads:
        t.join(120)

    print("\n%-16s %10s %10s %8s" % ("kind", "statements", "per second", "failed"))
    for kind in ("predict", "embed", "retrain+deploy"):
        done = stats.done.get(kind, 0)
        print("%-16s %10d %10.1f %8d" % (kind, done, done / elapsed, stats.failed.get(kind, 0)))
    print("wrong-model predictions: %d of %d" % (stats.wrong, stats.done.get("predict", 0)))
    for line in stats.errors:
        print("  error:", line)

    print("\nbackend RSS (MB) over time: predict clients mean/max, embed clients mean/max")
    for at, rss in samples:
        row = []
        for kind in ("predict", "embed"):
            values = [v for k, v in rss.items() if k.startswith(kind) and v is not None]
            row.append("%7.0f %7.0f" % (statistics.mean(values), max(values)) if values else "%7s %7s" % ("-", "-"))
        print("  %5.0f s   %s   %s" % (at, row[0], row[1]))
    first, last = samples[0][1], samples[-1][1]
    growth = [last[k] - first[k] for k in first if first.get(k) and last.get(k)]
    if growth:
        print("RSS change per backend from warm to end: mean %+.1f MB, max %+.1f MB" % (statistics.mean(growth), max(growth)))


if __name__ == "__main__":
    main()
