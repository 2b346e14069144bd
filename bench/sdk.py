#!/usr/bin/env python3
"""The client SDKs side by side on one server: PostgresML's official SDK (PyPI pgml 1.1.1,
.venv-sdk) and ours (sdk/python, its .venv), each in its own process, one after the other:

    .venv-test/bin/python bench/sdk.py [--docs 300,5000] [--queries 20] [--url URL] [--rounds 1]

For each document count: a new collection with the stress test's pipeline (recursive_character
splitter, all-MiniLM-L6-v2 semantic search, english full text search) is added, then the
documents are upserted with batch_size 100 (the SDKs' default) and timed; then --queries vector
searches and hybrid searches (semantic + full text, limit 5) are timed one by one, after one
warm-up each, and their median reported. Documents are Python's own docstrings (real prose,
~360 characters, about one or two chunks each), repeated with a suffix past ~2,300.
Goal (issue 24): upload >= 5x faster than the official SDK, searches no slower.

Without --url a server is started with scripts/pgml-server.sh on $PGML_PORT (default 15601).
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "scripts" / "pgml-server.sh"
OFFLINE = ROOT / "sdk" / "python" / "tests" / "offline"
SCHEMA = {"text": {"splitter": {"model": "recursive_character"},
                   "semantic_search": {"model": "sentence-transformers/all-MiniLM-L6-v2"},
                   "full_text_search": {"configuration": "english"}}}
QUERIES = ["How do I read a file line by line?", "parse command line arguments", "what is a thread lock",
           "compress data with gzip", "send an email message", "format a date as a string",
           "random numbers from a distribution", "regular expression matching", "open a network socket",
           "serialize objects to JSON", "copy a directory tree", "decimal arithmetic precision",
           "iterate over permutations", "compute a hash digest", "temporary files and directories",
           "logging to a file", "run a subprocess and read its output", "sort a list by key",
           "context managers and the with statement", "unicode normalization", "measure elapsed time",
           "a queue between threads", "encode bytes as base64", "read a CSV file"]


def documents(n, short=False):
    if short:  # the official test.py's dummy documents: one short sentence each
        return [{"id": i, "title": "Test Document %d" % i, "text": "This is a test document: %d" % i} for i in range(n)]
    sys.path.insert(0, str(OFFLINE))
    import datasets
    os.environ["PGML_SDK_STRESS_ROWS"] = "100000"
    rows = datasets.load_dataset("wikipedia")
    return [{"id": i, "title": rows[i % len(rows)]["title"],
             "text": rows[i % len(rows)]["text"] + ("" if i < len(rows) else " (copy %d)" % (i // len(rows)))}
            for i in range(n)]


async def worker(spec, queries):
    """Runs inside the SDK's venv: prints one JSON line with the timings."""
    import statistics
    import pgml
    n, short = int(spec.rstrip("s")), spec.endswith("s")
    docs = documents(n, short)
    name = "bench_sdk_%d_%d" % (n, os.getpid())
    collection = pgml.Collection(name)
    pipeline = pgml.Pipeline("bench", SCHEMA)
    await collection.add_pipeline(pipeline)
    start = time.perf_counter()
    await collection.upsert_documents(docs, {"batch_size": 100})
    upload = time.perf_counter() - start
    out = {"upload_s": upload}
    for kind in ("vector", "hybrid"):
        times = []
        for q in [QUERIES[0]] + QUERIES[:queries]:
            start = time.perf_counter()
            if kind == "vector":
                result = await collection.vector_search({"query": {"fields": {"text": {"query": q}}}, "limit": 5}, pipeline)
            else:
                result = (await collection.search({"query": {"semantic_search": {"text": {"query": q}},
                                                             "full_text_search": {"text": {"query": q}}}, "limit": 5},
                                                  pipeline))["results"]
            times.append(time.perf_counter() - start)
            assert len(result) == min(5, n), result
        out[kind + "_ms"] = statistics.median(times[1:]) * 1000
    await collection.archive()
    print(json.dumps(out), flush=True)


def venv_python(kind):
    if kind == "official":
        python, requirements = ROOT / ".venv-sdk" / "bin" / "python", ROOT / "requirements-sdk.txt"
        if not python.exists():
            subprocess.run(["/usr/bin/python3", "-m", "venv", str(python.parents[1])], check=True)
            subprocess.run([str(python.parent / "pip"), "install", "-q", "-r", str(requirements)], check=True)
        return python
    python = ROOT / "sdk" / "python" / ".venv" / "bin" / "python"
    if not python.exists():
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(python.parents[1])], check=True)
        subprocess.run([str(python.parent / "pip"), "install", "-q", "-e", str(ROOT / "sdk" / "python")], check=True)
    return python


def server_stats(url):
    """Sessions opened so far and time in pgml's PL/Python functions (track_functions = pl)."""
    import psycopg
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("SELECT pg_stat_clear_snapshot()")
        sessions = c.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]
        funcs = dict((name, (calls, ms)) for name, calls, ms in c.execute(
            "SELECT funcname, calls, total_time FROM pg_stat_user_functions WHERE schemaname = 'pgml'").fetchall())
    return sessions, funcs


def measure(kind, url, spec, queries):
    import psycopg
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("SELECT pg_stat_reset()")
    time.sleep(0.5)
    before, _ = server_stats(url)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL")}
    env.update(PGML_DATABASE_URL=url, HF_HUB_OFFLINE="1")
    done = subprocess.run([str(venv_python(kind)), __file__, "--worker", spec, "--queries", str(queries)],
                          capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit("%s SDK failed (rc %s):\n%s" % (kind, done.returncode, done.stderr[-3000:]))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    time.sleep(1.5)  # backends flush their function statistics when they exit
    after, funcs = server_stats(url)
    result["sessions"] = after - before
    result["funcs"] = funcs
    return result


def bench_database(url):
    """A database of its own with function timing on (what the SDKs make the server do)."""
    import psycopg
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DROP DATABASE IF EXISTS pgml_bench_sdk WITH (FORCE)")
        c.execute("CREATE DATABASE pgml_bench_sdk")
        c.execute("ALTER DATABASE pgml_bench_sdk SET track_functions = 'pl'")
    url = url.rsplit("/", 1)[0] + "/pgml_bench_sdk"
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("SET client_min_messages = warning")
        c.execute("CREATE EXTENSION pgml CASCADE")
    return url


def cpu_model():
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def start_server():
    port = os.environ.get("PGML_PORT", "15601")
    env = dict(os.environ, PGML_PORT=port)
    started = subprocess.run(["bash", str(SERVER), "start"], env=env, capture_output=True, text=True, check=True)
    return started.stdout.strip().splitlines()[-1], env


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", default="300s,300,5000",
                        help="document counts; a trailing s means one short sentence per document")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--url")
    parser.add_argument("--worker")
    args, _ = parser.parse_known_args()
    if args.worker:
        import asyncio
        asyncio.run(worker(args.worker, args.queries))
        os._exit(0)  # pgml 1.1.1's runtime threads were seen to abort interpreter finalization
    url, env = (args.url, None) if args.url else start_server()
    try:
        url = bench_database(url)
        print("CPU: %s" % cpu_model())
        print("%-6s %-9s %10s %10s %12s %12s" % ("docs", "sdk", "upload s", "docs/s", "vector ms", "hybrid ms"))
        print("(300s: 300 one-sentence documents, as the official test.py's; others: Python docstrings)")
        detail = []
        for spec in args.docs.split(","):
            results = {kind: measure(kind, url, spec, args.queries) for kind in ("official", "ours")}
            n = int(spec.rstrip("s"))
            for kind, r in results.items():
                print("%-6s %-9s %10.2f %10.0f %12.1f %12.1f" % (spec, kind, r["upload_s"], n / r["upload_s"],
                                                                r["vector_ms"], r["hybrid_ms"]))
                detail.append("%s docs, %s: %d sessions; %s" % (spec, kind, r["sessions"], ", ".join(
                    "%s %d calls %.1f s" % (f, c, ms / 1000) for f, (c, ms) in sorted(r["funcs"].items()))))
            o, u = results["official"], results["ours"]
            print("%-6s %-9s %9.1fx %10s %11.2fx %11.2fx" % (spec, "speedup", o["upload_s"] / u["upload_s"], "",
                                                            o["vector_ms"] / u["vector_ms"], o["hybrid_ms"] / u["hybrid_ms"]),
                  flush=True)
        print("\nServer side (whole run: add_pipeline, upload, searches; PL/Python functions, track_functions = pl):")
        print("\n".join(detail))
    finally:
        if env is not None:
            subprocess.run(["bash", str(SERVER), "stop"], env=env, capture_output=True)


if __name__ == "__main__":
    main()
