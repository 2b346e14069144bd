#!/usr/bin/env python3
"""pgml.predict and pgml.train against the same XGBoost model outside the database. Run with the
test venv (it sees the pgml venv's packages and this repository):

    .venv-test/bin/python bench/predict.py [--rows 100000] [--requests 2000] [--threads 1]
                                           [--url URL] [--port 15436] [--pgbouncer] [--train-only]

One run, one table. The data: a generated regression set (16 float features), stored as a table
of columns (for pgml.train) and as t(id, features real[]) (for predict). The model: project
bench_xgb, pgml.train(algorithm => 'xgboost', hyperparams => '{"n_estimators": 50}',
test_size => 0.25, test_sampling => 'last'), the newest model deployed.

Cases:
  (a) throughput  SELECT pgml.predict('bench_xgb', features) FROM t over --rows rows, vs the same
      model (read from pgml.files, loaded with pgml_py.ml.storage.load, as the server does) behind
      a FastAPI + uvicorn service in its own process (.venv-bench, built here from
      requirements-bench.txt), called once per row by a requests.Session (keep-alive). The
      service gets --requests calls and its rows/s is extrapolated to --rows. Target >= 20x.
  (b) latency     pgml.predict's time per row inside the server ((a)'s query time / rows), vs
      Booster.inplace_predict on a (1, n) float32 array in this process (XGBoost's fastest
      public one-row call; medians over --requests calls). Target <= 1.0x. Also shown:
      SELECT pgml.predict('bench_xgb', $1::real[]), one call per round trip on a warm
      connection (prepared), beside the round trip of SELECT $1::real[] and of a PL/Python no-op
      taking the array (what any client pays per round trip), and the phases inside the backend
      (deployment lookup, cache hit, one-row predict) timed by a pg_temp PL/Python function.
  (c) cold        connect + first predict in a new connection vs the floor: a fresh Python process
      that imports xgboost, loads the model from bytes and predicts one row. With --pgbouncer
      (installs pgbouncer with apt when missing) also: the first predict of the next clients
      through pgbouncer in transaction mode, answered by the pooled, warm backend, vs the warm
      per-call latency through pgbouncer. Target: floor + 0.1 s; pooled first predict ~ warm.
  (d) train       pgml.train wall time vs XGBRegressor(n_estimators=50, n_jobs=threads).fit on the
      same training rows in this process. Target <= 1.2x.
Timed runs: best of --repeat. Threads: OMP_NUM_THREADS here and pgml.omp_num_threads in the
connection's startup options (pgml applies it to the backend, and train passes it as n_jobs).
Without --url a server is started (or reused) as bench/embed.py does, on $PGML_PORT or 15436.
The benchmark drops its tables; the bench_xgb project's models stay in the catalog.
"""
import argparse
import base64
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # pgml_py, for storage.load
from embed import start_server  # noqa: E402  (bench/embed.py's shared helper)

PROJECT = "bench_xgb"
N_FEATURES = 16
HYPER = {"n_estimators": 50}
DATA, T = "pgml_bench_predict_data", "pgml_bench_predict_t"
BENCH_VENV = ROOT / ".venv-bench"
PGML_VENV = os.environ.get("PGML_VENV", "/var/lib/pgml/venv")
TARGETS = {"a": (">=", 20.0), "b": ("<=", 1.0), "d": ("<=", 1.2)}


# ---- data and model ------------------------------------------------------------------------

def make_data(rows, seed=7):
    import numpy as np
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, N_FEATURES)).astype(np.float32)
    w = rng.normal(size=N_FEATURES)
    y = X @ w + 0.5 * np.sin(3 * X[:, 0]) * X[:, 1] + rng.normal(scale=0.1, size=rows)
    return X, y.astype(np.float32)


def load_tables(conn, X, y):
    cols = ["f%d" % i for i in range(N_FEATURES)]
    conn.execute("DROP TABLE IF EXISTS %s, %s" % (DATA, T))
    conn.execute("CREATE TABLE %s (%s, y REAL)" % (DATA, ", ".join(c + " REAL" for c in cols)))
    with conn.cursor().copy("COPY %s (%s, y) FROM STDIN" % (DATA, ", ".join(cols))) as copy:
        for row, label in zip(X.tolist(), y.tolist()):
            copy.write_row(row + [label])
    conn.execute("CREATE TABLE %s (id INT PRIMARY KEY, features REAL[])" % T)
    with conn.cursor().copy("COPY %s (id, features) FROM STDIN" % T) as copy:
        for i, row in enumerate(X.tolist()):
            copy.write_row((i, row))
    conn.execute("ANALYZE %s; ANALYZE %s" % (DATA, T))


def deployed_model(conn):
    return conn.execute("""SELECT d.model_id FROM pgml.deployments d JOIN pgml.projects p
        ON p.id = d.project_id WHERE p.name = %s ORDER BY d.created_at DESC, d.id DESC LIMIT 1""",
                        (PROJECT,)).fetchone()[0]


def model_files(conn, model_id):
    """The deployed model's pgml.files as {path: bytes}, parts joined, as model_loader.load does."""
    files = {}
    for path, data in conn.execute("SELECT path, data FROM pgml.files WHERE model_id = %s "
                                   "ORDER BY path, part", (model_id,)):
        files[path] = files.get(path, b"") + bytes(data)
    from pgml_py.ml.predict import COLUMNS_FILE, LABELS_FILE
    for extra in (LABELS_FILE, COLUMNS_FILE):  # pgml's own, beside the estimator's files
        files.pop(extra, None)
    return files


def load_model(files):
    from pgml_py.ml import storage
    return storage.load(sorted(files.items()))


# ---- the HTTP service (runs in .venv-bench: python bench/predict.py --serve ...) -------------

def serve(port, files_json):
    import numpy as np
    import uvicorn
    from fastapi import FastAPI
    from pydantic import BaseModel
    with open(files_json) as f:
        files = {k: base64.b64decode(v) for k, v in json.load(f).items()}
    model = load_model(files)
    app = FastAPI()

    class Row(BaseModel):
        features: list[float]

    @app.get("/health")
    async def health():
        return {"ok": True}

    @app.post("/predict")
    async def predict(row: Row):   # async: no thread pool hop; the model call is ~0.1 ms
        X = np.asarray(row.features, dtype=np.float32).reshape(1, -1)
        return {"prediction": float(model.predict(X)[0])}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def bench_venv():
    """.venv-bench's python: created (or refreshed when requirements-bench.txt changed) with a
    .pth to the pgml venv's packages, as scripts/test-venv.sh does for .venv-test."""
    py, req = BENCH_VENV / "bin" / "python", ROOT / "requirements-bench.txt"
    stamp = BENCH_VENV / ".requirements"
    if not py.exists() or not stamp.exists() or stamp.read_bytes() != req.read_bytes():
        shutil.rmtree(BENCH_VENV, ignore_errors=True)
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(BENCH_VENV)], check=True)
        got = subprocess.run([str(BENCH_VENV / "bin" / "pip"), "install", "-q",
                              "--disable-pip-version-check", "-r", str(req)], capture_output=True, text=True)
        if got.returncode:
            sys.exit("pip install -r requirements-bench.txt failed:\n" + got.stdout + got.stderr)
        shutil.copy(req, stamp)
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    pgml_site = subprocess.run([PGML_VENV + "/bin/python", "-c",
                                "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "pgml-venv.pth").write_text(pgml_site + "\n")
    return str(py)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(files, threads, tmp):
    py = bench_venv()
    files_json = Path(tmp, "model.json")
    files_json.write_text(json.dumps({k: base64.b64encode(v).decode() for k, v in files.items()}))
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    proc = subprocess.Popen([py, __file__, "--serve", str(port), str(files_json)], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(Path(tmp, "service.log"), "w"))
    import requests
    session = requests.Session()
    deadline = time.time() + 60
    while True:
        try:
            session.get("http://127.0.0.1:%d/health" % port, timeout=1)
            return proc, session, "http://127.0.0.1:%d/predict" % port
        except requests.ConnectionError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                sys.exit("the service did not start:\n" + Path(tmp, "service.log").read_text())
            time.sleep(0.2)


# ---- timing helpers ------------------------------------------------------------------------

def best_of(repeat, fn):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def per_call(fn, items, warm=50):
    """Median and mean seconds of fn(item) over items, after `warm` untimed calls."""
    for item in items[:warm]:
        fn(item)
    times = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), statistics.fmean(times)


BREAKDOWN_FN = """CREATE OR REPLACE FUNCTION pg_temp.pgml_bench_breakdown(features REAL[], n INT)
RETURNS TEXT AS $$
import json, time
import numpy as np
api = GD["pgml_api"]
from pgml_py import catalog, db, model_loader
max_models = lambda: api.current_settings().cache_max_models
def med(fn):
    for _ in range(20):
        fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2]
mid = catalog.deployed_model_id(db, "%(project)s")
model = model_loader.load(db, mid, max_models)
booster = model.estimator.get_booster()
out = {
    "api.predict (whole call)": med(lambda: api.predict("%(project)s", None, features, "predict")),
    "settings read (ctypes; only when a model loads)": med(lambda: api.current_settings()),
    "deployment lookup (memo of this statement)": med(lambda: catalog.deployed_model_id(db, "%(project)s")),
    "model cache hit": med(lambda: model_loader.load(db, mid, max_models)),
    "Deployed.predict_first (one-row fast path)": med(lambda: model.predict_first(features)),
    "Deployed.predict (np + XGBRegressor.predict)": med(lambda: model.predict(features)),
    "Booster.inplace_predict": med(lambda: booster.inplace_predict(np.asarray(features, dtype=np.float32).reshape(1, -1))),
}
return json.dumps(out)
$$ LANGUAGE plpython3u""" % {"project": PROJECT}

NOOP_FN = """CREATE OR REPLACE FUNCTION pg_temp.pgml_bench_noop(features REAL[]) RETURNS REAL AS $$
return 0.0
$$ LANGUAGE plpython3u IMMUTABLE STRICT"""

FLOOR = r"""
import sys, time
t0 = time.perf_counter()
import numpy as np, xgboost
t1 = time.perf_counter()
est = xgboost.XGBRegressor()
est.load_model(bytearray(open(sys.argv[1], "rb").read()))
t2 = time.perf_counter()
x = np.zeros((1, %d), dtype=np.float32)
est.get_booster().inplace_predict(x)
t3 = time.perf_counter()
print("%%.4f %%.4f %%.4f" %% (t1 - t0, t2 - t1, t3 - t2))
""" % N_FEATURES


def floor_process(ubj_path):
    """Wall seconds of a fresh process (interpreter start included) to a first prediction."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", FLOOR, ubj_path], check=True, capture_output=True,
                         text=True, env=dict(os.environ)).stdout.split()
    return time.perf_counter() - t0, [float(v) for v in out]


# ---- pgbouncer -----------------------------------------------------------------------------

def start_pgbouncer(server_port, threads):
    """(url, stop) of a pgbouncer in transaction mode before the server, or (None, reason)."""
    if not shutil.which("pgbouncer") and not Path("/usr/sbin/pgbouncer").exists():
        if os.geteuid() != 0:
            return None, "pgbouncer is not installed and this is not root"
        subprocess.run(["apt-get", "update", "-q"], capture_output=True)
        got = subprocess.run(["apt-get", "install", "-y", "-q", "pgbouncer"], capture_output=True, text=True)
        if got.returncode:
            return None, "apt-get install pgbouncer failed: " + got.stderr.strip()[-300:]
    exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    d = Path("/var/tmp/pgml-bench-pgbouncer-%s" % server_port)
    d.mkdir(exist_ok=True)
    port = free_port()
    (d / "userlist.txt").write_text('"postgres" ""\n')
    (d / "pgbouncer.ini").write_text(f"""[databases]
pgml = host=127.0.0.1 port={server_port} dbname=pgml connect_query='SET pgml.omp_num_threads = {threads}'
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir = {d}
auth_type = trust
auth_file = {d}/userlist.txt
pool_mode = transaction
default_pool_size = 1
max_client_conn = 20
server_reset_query =
ignore_startup_parameters = extra_float_digits
pidfile = {d}/pgbouncer.pid
logfile = {d}/pgbouncer.log
""")
    as_user = []
    if os.geteuid() == 0:
        shutil.chown(d, "postgres")
        for f in d.iterdir():
            shutil.chown(f, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    got = subprocess.run(as_user + [exe, "-d", str(d / "pgbouncer.ini")], capture_output=True, text=True)
    if got.returncode:
        return None, "pgbouncer did not start: " + (got.stderr or got.stdout).strip()[-300:]
    time.sleep(0.3)
    pid = int((d / "pgbouncer.pid").read_text())

    def stop():
        try:
            os.kill(pid, 15)
        except OSError:
            pass
    return "postgresql://postgres@127.0.0.1:%d/pgml" % port, stop


# ---- main ----------------------------------------------------------------------------------

def cases_abc(args, conn, url, options, tmp, model_id, X, notes):
    """Cases (a) to (c) on the model that (d) trained; returns their table rows."""
    import numpy as np
    import psycopg
    th, rows, service = args.threads, [], None
    try:
        files = model_files(conn, model_id)
        model = load_model(files)
        booster = model.get_booster()
        ubj = Path(tmp, "estimator.ubj")
        ubj.write_bytes(files["estimator.ubj"])
        os.chmod(tmp, 0o755)

        # (a) throughput over t
        predict_t = "SELECT id, pgml.predict(%s, features) FROM " + T
        conn.execute(predict_t + " LIMIT 100", (PROJECT,)).fetchall()
        pgml_tp, result = best_of(args.repeat, lambda: conn.execute(predict_t, (PROJECT,)).fetchall())
        got = np.array([v for _, v in sorted(result)], dtype=np.float32)
        notes.append("max |pgml.predict - XGBRegressor.predict| over t = %.2g"
                     % float(np.max(np.abs(got - model.predict(X)))))
        conn.execute(NOOP_FN)
        noop_sql = "SELECT id, pg_temp.pgml_bench_noop(features) FROM " + T
        noop_tp, _ = best_of(args.repeat, lambda: conn.execute(noop_sql).fetchall())

        batch_sql = ("SELECT pgml.predict_batch(%%s, (SELECT array_agg(v ORDER BY id, k) FROM %s, "
                     "unnest(features) WITH ORDINALITY u(v, k)))" % T)
        conn.execute(batch_sql, (PROJECT,)).fetchall()
        batch_tp, batch_out = best_of(args.repeat, lambda: conn.execute(batch_sql, (PROJECT,)).fetchall())
        notes.append("max |pgml.predict_batch - pgml.predict| over t = %.2g"
                     % float(np.max(np.abs(np.array([v for v, in batch_out], np.float32) - got))))
        service, session, service_url = start_service(files, th, tmp)
        feats = X[:args.requests].tolist()
        for row in feats[:50]:
            session.post(service_url, json={"features": row}).raise_for_status()

        def call_all():
            return [session.post(service_url, json={"features": r}).json()["prediction"] for r in feats]
        http_s, http_out = best_of(args.repeat, call_all)
        http_rate = len(feats) / http_s
        notes.append("max |service - XGBRegressor.predict| = %.2g"
                     % float(np.max(np.abs(np.array(http_out, np.float32) - model.predict(X[:len(feats)])))))
        n = args.rows
        rows.append(("a", "pgml.predict over t (1 query)", n, pgml_tp, "%.0f rows/s" % (n / pgml_tp),
                     "%.1fx" % ((n / pgml_tp) / http_rate), ">= 20x"))
        rows.append(("a", "HTTP service, %d calls -> %d rows" % (len(feats), n), n, n / http_rate,
                     "%.0f rows/s" % http_rate, "1", ""))
        rows.append(("a", "  pgml.predict_batch(array_agg over t), 1 call", n, batch_tp,
                     "%.0f rows/s" % (n / batch_tp), "%.1fx" % ((n / batch_tp) / http_rate), ""))
        rows.append(("a", "  breakdown: PL/Python no-op over t", n, noop_tp, "%.0f rows/s" % (n / noop_tp),
                     "", ""))

        # (b) per-row latency
        lat_rows = [X[i:i + 1].copy() for i in range(min(args.requests, args.rows))]
        lists = [r[0].tolist() for r in lat_rows]
        cur = conn.cursor()
        one_sql = "SELECT pgml.predict('%s', %%s::real[])" % PROJECT
        pgml_med, pgml_mean = per_call(lambda r: cur.execute(one_sql, (r,), prepare=True).fetchone(), lists)
        raw_med, raw_mean = per_call(booster.inplace_predict, lat_rows)
        wrap_med, wrap_mean = per_call(model.predict, lat_rows)
        rt_med, _ = per_call(lambda r: cur.execute("SELECT %s::real[]", (r,), prepare=True).fetchone(), lists)
        nop_med, _ = per_call(lambda r: cur.execute("SELECT pg_temp.pgml_bench_noop(%s::real[])", (r,),
                                                    prepare=True).fetchone(), lists)
        k = len(lists)
        us = lambda s: "%.1f us" % (s * 1e6)  # noqa: E731
        in_query = pgml_tp / n
        rows.append(("b", "pgml.predict per row inside a query (a)", n, pgml_tp, us(in_query) + " mean",
                     "%.2fx" % (in_query / raw_med), "<= 1.0x"))
        rows.append(("b", "Booster.inplace_predict (1, n)", k, raw_med * k, us(raw_med) + " med", "1", ""))
        rows.append(("b", "  XGBRegressor.predict (1, n)", k, wrap_med * k, us(wrap_med) + " med",
                     "%.2fx" % (wrap_med / raw_med), ""))
        rows.append(("b", "  pgml.predict, 1 row per client round trip", k, pgml_med * k, us(pgml_med) + " med",
                     "%.2fx" % (pgml_med / raw_med), ""))
        rows.append(("b", "  round trip SELECT $1::real[]", k, rt_med * k, us(rt_med) + " med",
                     "%.2fx" % (rt_med / raw_med), ""))
        rows.append(("b", "  round trip PL/Python no-op($1)", k, nop_med * k, us(nop_med) + " med",
                     "%.2fx" % (nop_med / raw_med), ""))
        try:
            conn.execute(BREAKDOWN_FN)
            inside = json.loads(conn.execute("SELECT pg_temp.pgml_bench_breakdown(%s::real[], %s)",
                                             (lists[0], 500)).fetchone()[0])
            for name, sec in inside.items():
                rows.append(("b", "  in backend: " + name, 500, sec * 500, us(sec) + " med", "", ""))
        except psycopg.Error as e:
            notes.append("backend breakdown failed: %s" % str(e).splitlines()[0])

        # (c) first predict in a new connection vs a fresh process
        def cold():
            t0 = time.perf_counter()
            with psycopg.connect(url, autocommit=True, options=options) as c:
                t1 = time.perf_counter()
                c.execute(one_sql, (lists[0],)).fetchone()
                t2 = time.perf_counter()
            return t2 - t0, t1 - t0
        colds = [cold() for _ in range(args.repeat)]
        cold_s, connect_s = min(colds)
        floors = [floor_process(str(ubj)) for _ in range(args.repeat)]
        floor_s, (imp, load, first) = min(floors)
        rows.append(("c", "connect + first pgml.predict", 1, cold_s, "connect %.3f s" % connect_s,
                     "%+.3f s" % (cold_s - floor_s), "+0.1 s"))
        rows.append(("c", "fresh python: import+load+predict", 1, floor_s,
                     "imports %.2f s, load %.3f s" % (imp, load), "1", ""))
        if args.pgbouncer:
            burl, bstop = start_pgbouncer(psycopg.conninfo.conninfo_to_dict(url).get("port", "5432"), th)
            if burl is None:
                notes.append("pgbouncer skipped: " + bstop)
            else:
                try:
                    def pooled():
                        """(connect, first predict) seconds of a new client."""
                        t0 = time.perf_counter()
                        with psycopg.connect(burl, autocommit=True, prepare_threshold=None) as c:
                            t1 = time.perf_counter()
                            c.execute(one_sql, (lists[0],)).fetchone()
                            return t1 - t0, time.perf_counter() - t1
                    first_client = sum(pooled())
                    connects, firsts = zip(*[pooled() for _ in range(5)])
                    with psycopg.connect(burl, autocommit=True, prepare_threshold=None) as c:
                        c.execute(one_sql, (lists[0],)).fetchone()
                        pooled_med, _ = per_call(lambda r: c.execute(one_sql, (r,)).fetchone(), lists[:500])
                    first = statistics.median(firsts)
                    rows.append(("c", "pgbouncer: 1st client, new backend", 1, first_client,
                                 "connect + first predict", "", ""))
                    rows.append(("c", "pgbouncer: next clients' first predict", 5, sum(firsts),
                                 us(first) + " med, connect %s" % us(statistics.median(connects)),
                                 "%.2fx warm" % (first / pooled_med), "~1x"))
                    rows.append(("c", "pgbouncer: warm per-call latency", 500, pooled_med * 500,
                                 us(pooled_med) + " med", "%.2fx direct" % (pooled_med / pgml_med), ""))
                finally:
                    bstop()

    finally:
        if service is not None:
            service.terminate()
            service.wait(10)
    return rows


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        return serve(int(sys.argv[2]), sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100000, help="rows of t, and of the training table")
    parser.add_argument("--requests", type=int, default=2000,
                        help="HTTP requests (throughput, extrapolated) and per-row latency calls")
    parser.add_argument("--threads", type=int, default=1, help="pgml.omp_num_threads / n_jobs, both sides")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per case; the best counts")
    parser.add_argument("--url", help="server to use (default: start one on --port)")
    parser.add_argument("--port", default=os.environ.get("PGML_PORT", "15436"),
                        help="port of the server started without --url (default $PGML_PORT or 15436)")
    parser.add_argument("--pgbouncer", action="store_true",
                        help="also time a pooled client through pgbouncer (apt-installs it when missing)")
    parser.add_argument("--keep-server", action="store_true", help="leave a started server running")
    parser.add_argument("--train-only", action="store_true", help="run case (d) alone")
    args = parser.parse_args()
    th = args.threads
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(th)
    import numpy as np
    import psycopg
    import xgboost

    X, y = make_data(args.rows)
    n_test = int(np.floor(args.rows * 0.25 + 0.5))
    X_train, y_train = X[:args.rows - n_test], y[:args.rows - n_test]
    rows = []    # (section, case, n, seconds, per-unit text, ratio text, target text)
    notes = []
    url, stop = (args.url, None) if args.url else start_server(args.port)
    tmp = tempfile.mkdtemp(prefix="pgml-bench-predict-")
    options = "-c pgml.omp_num_threads=%d" % th
    try:
        conn = psycopg.connect(url, autocommit=True, options=options)
        load_tables(conn, X, y)

        # (d) train: a warm-up train imports xgboost in the backend, then the timed ones
        train_sql = ("SELECT * FROM pgml.train(%s, 'regression', %s, 'y', algorithm => 'xgboost', "
                     "hyperparams => %s, test_size => 0.25, test_sampling => 'last')")
        train_args = (PROJECT, DATA, json.dumps(HYPER))
        conn.execute(train_sql, train_args).fetchall()
        pgml_train, _ = best_of(args.repeat, lambda: conn.execute(train_sql, train_args).fetchall())
        model_id, fit_time, score_time = conn.execute(
            """SELECT m.id, (m.metrics->>'fit_time')::float8, (m.metrics->>'score_time')::float8 FROM pgml.models m
               JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = %s ORDER BY m.id DESC LIMIT 1""", (PROJECT,)).fetchone()
        conn.execute("SELECT * FROM pgml.deploy(%s::bigint)", (model_id,)).fetchall()
        assert deployed_model(conn) == model_id

        def raw_fit():
            return xgboost.XGBRegressor(**HYPER, n_jobs=th).fit(X_train, y_train)
        raw_fit()
        raw_train, _ = best_of(args.repeat, raw_fit)
        # the same at both sides' defaults: pgml.omp_num_threads 0 (automatic) vs XGBoost's n_jobs
        # (every core); interleaved, best of --repeat each
        with psycopg.connect(url, autocommit=True) as default_conn:
            default_conn.execute(train_sql, train_args).fetchall()
            pgml_default, raw_default = [], []
            for _ in range(args.repeat):
                pgml_default.append(best_of(1, lambda: default_conn.execute(train_sql, train_args).fetchall())[0])
                raw_default.append(best_of(1, lambda: xgboost.XGBRegressor(**HYPER).fit(X_train, y_train))[0])
            pgml_default, raw_default = min(pgml_default), min(raw_default)

        if not args.train_only:
            rows += cases_abc(args, conn, url, options, tmp, model_id, X, notes)
        rows.append(("d", "pgml.train wall (xgboost, 50 trees)", len(X_train), pgml_train,
                     "fit %.3f s, test metrics %.3f s" % (fit_time, score_time), "%.2fx" % (pgml_train / raw_train), "<= 1.2x"))
        rows.append(("d", "XGBRegressor.fit, same rows", len(X_train), raw_train, "", "1", ""))
        rows.append(("d", "pgml.train at defaults (automatic threads)", len(X_train), pgml_default, "",
                     "%.2fx" % (pgml_default / raw_default), "<= 1.2x"))
        rows.append(("d", "XGBRegressor.fit at defaults (all cores)", len(X_train), raw_default, "", "1", ""))
        conn.execute("DROP TABLE IF EXISTS %s, %s" % (DATA, T))
        conn.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if stop and not args.keep_server:
            stop()

    print("rows %d, %d features, threads %d, %d cores, xgboost %s, n_estimators 50"
          % (args.rows, N_FEATURES, th, os.cpu_count(), xgboost.__version__))
    print()
    print("%-2s %-48s %7s %9s %-30s %12s %8s" % ("", "case", "n", "seconds", "rate / latency",
                                                  "ratio", "target"))
    for section, case, n, seconds, per, ratio, target in rows:
        print("%-2s %-48s %7d %9.3f %-30s %12s %8s" % (section, case, n, seconds, per, ratio, target))
    print()
    for note in notes:
        print("note: " + note)
    print("(a) ratio = pgml rows/s / service rows/s; the service's time is extrapolated from its "
          "calls. (b) ratio = time per row / inplace_predict's median. (c) pgml - fresh process. "
          "(d) ratio = pgml.train wall / fit wall.")


if __name__ == "__main__":
    main()
