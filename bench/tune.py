#!/usr/bin/env python3
"""pgml.tune against the same Trainer run in a plain Python process: same rows, model, LoRA
config, TrainingArguments and thread count.

    .venv-test/bin/python bench/tune.py [--rows 400] [--steps 60] [--batch-size 16] [--threads 1]
                                        [--repeat 2] [--url URL]

Cases:
  steps/s   the Trainer's own train_steps_per_second: pgml.tune's (from pgml.models.metrics) vs
            the plain process's. Target: pgml >= 0.9x.
  wall      the whole pgml.tune call (read rows, load, train, evaluate, store) vs the plain
            process's load + train + evaluate on rows already in memory.
The model is bench/transform.py's classifier of all-MiniLM-L6-v2's size (random weights; the
cost is real). LoRA with pgml's defaults (r 2, alpha 4, dropout 0.05) on both sides.
"""
import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from embed import start_server  # noqa: E402  (bench/embed.py's shared helpers)
from transform import CLASSIFIER, STORE, build_models  # noqa: E402

WORDS = "the a good bad movie film plot actor great awful fine long short story music scene".split()


def make_rows(n, seed=0):
    """Reviews whose class is whether they say "great": learnable, like a real sentiment set."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 24))]
        if i % 2 == 0:
            words.insert(rng.randrange(len(words)), "great")
        rows.append((" ".join(words), "positive" if i % 2 == 0 else "negative"))
    return rows


def raw_tune(train, test, steps, batch_size, threads, workdir):
    """What a user would write: Trainer + peft on the same rows. Returns (wall s, steps/s, eval)."""
    import datasets
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments)
    if threads:  # 0: torch's default (every core)
        torch.set_num_threads(threads)
    started = time.perf_counter()
    classes = ["negative", "positive"]
    path = str(STORE / CLASSIFIER)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=2, id2label=dict(enumerate(classes)), label2id={c: i for i, c in enumerate(classes)},
        ignore_mismatched_sizes=True)
    model = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, lora_dropout=0.05, bias="none", task_type="SEQ_CLS"))

    def encode(rows):
        data = dict(tokenizer([t for t, _ in rows], truncation=True, max_length=512))
        data["labels"] = [classes.index(c) for _, c in rows]
        return datasets.Dataset.from_dict(data)
    args = TrainingArguments(output_dir=workdir, max_steps=steps, per_device_train_batch_size=batch_size,
                             report_to="none", save_strategy="no", disable_tqdm=True, use_cpu=True,
                             logging_steps=10)
    trainer = Trainer(model=model, args=args, train_dataset=encode(train), eval_dataset=encode(test),
                      data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer)
    output = trainer.train()
    evaluation = trainer.evaluate()
    return time.perf_counter() - started, output.metrics["train_steps_per_second"], evaluation


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1,
                        help="both sides; 0 = each side's defaults (torch: every core; pgml: automatic threads)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per side; the best counts")
    parser.add_argument("--url")
    parser.add_argument("--port", default=os.environ.get("PGML_PORT", "15437"))
    args, _ = parser.parse_known_args()  # run-bench.sh passes every benchmark's options
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)

    import tempfile
    import psycopg
    build_models()
    rows = make_rows(args.rows)
    url, stop = (args.url, None) if args.url else start_server(args.port)
    hyperparams = json.dumps({"training_args": {"max_steps": args.steps, "per_device_train_batch_size": args.batch_size,
                                                "logging_steps": 10}})
    pgml_runs, raw_runs = [], []
    try:
        options = "-c pgml.omp_num_threads=%d" % args.threads if args.threads else ""
        with psycopg.connect(url, autocommit=True, options=options) as conn:
            conn.execute("SET pgml.model_store = '%s'" % STORE)
            conn.execute("DROP TABLE IF EXISTS bench_reviews")
            conn.execute("CREATE TABLE bench_reviews (id SERIAL, text TEXT, class TEXT)")
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO bench_reviews (text, class) VALUES (%s, %s)", rows)
            for _ in range(args.repeat):
                started = time.perf_counter()
                conn.execute("""SELECT * FROM pgml.tune('bench_tune', 'text-classification', 'bench_reviews',
                                model_name => %s, hyperparams => %s, test_sampling => 'last')""",
                             (CLASSIFIER, hyperparams))
                wall = time.perf_counter() - started
                metrics = conn.execute("SELECT metrics FROM pgml.models ORDER BY id DESC LIMIT 1").fetchone()[0]
                pgml_runs.append((wall, metrics["train_steps_per_second"], metrics.get("eval_loss")))
            # The same split as test_sampling 'last' on a table read in insertion order.
            ordered = conn.execute("SELECT text, class FROM bench_reviews ORDER BY id").fetchall()
    finally:
        if stop:
            stop()
    num_test = round(len(ordered) * 0.25)
    train, test = ordered[:-num_test], ordered[-num_test:]
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as workdir:
            wall, rate, evaluation = raw_tune(train, test, args.steps, args.batch_size, args.threads, workdir)
        raw_runs.append((wall, rate, evaluation.get("eval_loss")))

    pgml_wall, pgml_rate = min(r[0] for r in pgml_runs), max(r[1] for r in pgml_runs)
    raw_wall, raw_rate = min(r[0] for r in raw_runs), max(r[1] for r in raw_runs)
    print("rows %d (%d train), %d steps of batch %d, threads %d; eval_loss pgml %.4f, raw %.4f"
          % (len(ordered), len(train), args.steps, args.batch_size, args.threads, pgml_runs[-1][2], raw_runs[-1][2]))
    print("%-34s %10s %10s %7s" % ("case", "seconds", "steps/s", "ratio"))
    print("%-34s %10.2f %10.2f %7s" % ("raw Trainer (plain process)", raw_wall, raw_rate, "1.000"))
    print("%-34s %10.2f %10.2f %7.3f" % ("pgml.tune", pgml_wall, pgml_rate, pgml_rate / raw_rate))
    print("%-34s %10s %10s %7.3f" % ("wall: raw / pgml.tune", "", "", raw_wall / pgml_wall))
    print("steps/s ratio = pgml/raw (target >= 0.90)")


if __name__ == "__main__":
    main()
