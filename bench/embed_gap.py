#!/usr/bin/env python3
"""Where pgml's torch embedding path loses time against plain sentence-transformers: each layer
of pgml.embed timed in one server backend, interleaved with a plain process, same texts, batch
and thread count (issue 25, docs/embedding.md):

    .venv-test/bin/python bench/embed_gap.py [--texts 1000] [--rounds 5] [--port PORT]

Rows (texts/s: median and best of the rounds; ratio to "plain process"'s median / best):
  plain process        SentenceTransformer(path).encode(texts) here, outside the server
  backend: st          the same code in the server backend (a fresh SentenceTransformer)
  backend: pgml model  pgml's cached torch encoder, encode() as pgml calls it, without its
                       per-forward interrupt hook and thread wrapper
  backend: + hooks     the same encoder with the interrupt hook and the per-batch thread wrapper
  backend: core.embed  pgml_py.hf.embed.embed (kwargs, cache lookup, busy mark, encode)
  backend: + literals  core.embed and the REAL[] text literals pgml.embed returns
  sql: pgml.embed      SELECT count(*) FROM pgml.embed(model, texts, '{"backend": "torch"}')
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embed import MODEL, make_texts, model_path, start_server  # noqa: E402

FUNCTION = """
CREATE OR REPLACE FUNCTION pg_temp.gap(variant TEXT, texts TEXT[], path TEXT, batch INT) RETURNS FLOAT8 AS $$
import time
from pgml_py import api, cache, threads
from pgml_py.hf import embed as core
if "st" not in GD:
    from sentence_transformers import SentenceTransformer
    GD["st"] = SentenceTransformer(path, device="cpu")
entry = next(e for e in cache.models.entries() if e.kind == "embed")
encoder, hf = entry.value, entry.value[0].model
wrapped, hooks = hf.forward, dict(encoder._forward_pre_hooks)
kwargs = {"batch_size": batch, "show_progress_bar": False}
t0 = time.perf_counter()
if variant == "st":
    GD["st"].encode(list(texts), **kwargs)
elif variant == "pgml model":
    del hf.forward
    encoder._forward_pre_hooks.clear()
    try:
        with threads.busy().hold(), threads.torch_threads_kept():
            encoder.encode(list(texts), **kwargs)
    finally:
        hf.forward = wrapped
        encoder._forward_pre_hooks.update(hooks)
elif variant == "+ hooks":
    with threads.busy().hold(), threads.torch_threads_kept():
        encoder.encode(list(texts), **kwargs)
elif variant == "core.embed":
    core.embed(MODEL, list(texts), {"backend": "torch", "batch_size": batch}, api.current_settings(), api.db)
elif variant == "+ literals":
    api.real_array_literals(core.embed(MODEL, list(texts), {"backend": "torch", "batch_size": batch},
                                       api.current_settings(), api.db))
return time.perf_counter() - t0
$$ LANGUAGE plpython3u""".replace("MODEL", repr(MODEL))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--port", default=os.environ.get("PGML_PORT", "15601"))
    args = parser.parse_args()
    os.environ.update(TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    import psycopg
    import torch
    from sentence_transformers import SentenceTransformer
    texts, B = make_texts(args.texts), args.batch_size
    url, stop = start_server(args.port)
    try:
        with psycopg.connect(url, autocommit=True) as c:
            path = model_path(c, MODEL)
            kw = json.dumps({"backend": "torch", "batch_size": B})
            sql = "SELECT count(*) FROM pgml.embed(%s, %s::text[], %s::jsonb)"
            c.execute(sql, (MODEL, texts[:64], kw)).fetchall()
            c.execute(FUNCTION)
            st = SentenceTransformer(path, device="cpu")
            st.encode(texts[:64], batch_size=B, show_progress_bar=False)
            backend_rows = ["st", "pgml model", "+ hooks", "core.embed", "+ literals"]
            for v in backend_rows:  # warm each
                c.execute("SELECT pg_temp.gap(%s, %s, %s, %s)", (v, texts[:64], path, B))
            rates = {}

            def plain():
                t0 = time.perf_counter()
                st.encode(texts, batch_size=B, show_progress_bar=False)
                return time.perf_counter() - t0

            def in_backend(v):
                return lambda: c.execute("SELECT pg_temp.gap(%s, %s, %s, %s)", (v, texts, path, B)).fetchone()[0]

            def through_sql():
                t0 = time.perf_counter()
                c.execute(sql, (MODEL, texts, kw)).fetchall()
                return time.perf_counter() - t0
            runs = [("plain process", plain)] + [("backend: " + v, in_backend(v)) for v in backend_rows] \
                + [("sql: pgml.embed", through_sql)]
            for r in range(args.rounds):
                for name, run in runs:
                    rates.setdefault(name, []).append(len(texts) / run())
                print("round %d done" % (r + 1), file=sys.stderr, flush=True)
    finally:
        if stop:
            stop()
    base, top = statistics.median(rates["plain process"]), max(rates["plain process"])
    print("%d texts, batch %d, torch threads %d (plain process)" % (len(texts), B, torch.get_num_threads()))
    print("%-22s %9s %7s %9s %7s   %s" % ("variant", "texts/s", "ratio", "best t/s", "best r", "rounds"))
    for name, values in rates.items():
        print("%-22s %9.1f %7.3f %9.1f %7.3f   %s" % (
            name, statistics.median(values), statistics.median(values) / base, max(values), max(values) / top,
            " ".join("%.0f" % v for v in values)))


if __name__ == "__main__":
    main()
