"""pgml.rank on the runtimes pgml.embed measures (docs/embedding.md): with pgml.embed_backend =
auto on the CPU, a cross-encoder's network (its logits) is exported once to ONNX and OpenVINO,
and the fastest runtime whose scores are torch's is used. "Torch's scores": on CALIBRATION's
query-document pairs, every query's documents keep torch's order and no logit moves by more than
MAX_DIFF of torch's scale. OpenVINO bf16 is measured where the CPU computes bf16 natively and
has to meet the same rule (bench/rank_backends.py: 3.2x torch on an Intel Xeon with AMX, but its
logits moved by 7e-4, enough to swap neighbours; OpenVINO f32 1.12x within 1e-7).

As embed's choice.json, the measurement is stored once per model and CPU, as rank-choice.json
beside the rank exports in the server's pgml_exports, and measured again on another CPU. Any
other pgml.embed_backend, or a GPU, keeps rank on torch.
"""
import os
import time

from .. import errors, threads
from . import backends, embed_choice

FILE = "rank-choice.json"
MAX_DIFF = 1e-5  # of max(1, the largest |logit|): fp32 runtimes stay within 1e-7 of torch
BATCH = 32
_QUERIES = ["What is the capital of France?", "How do I reset my password?", "Why is the sky blue?", "hello"]
# Each query with 8 of embed's calibration texts: short and long, prose, code, other languages.
CALIBRATION = [(q, d) for q in _QUERIES for d in embed_choice.CALIBRATION[3:11]]


def install(encoder, name, path, settings, notice):
    """Runs the cross-encoder's network on the measured choice (for pgml.embed_backend auto on
    the CPU); returns the runtime it runs on. A failed measurement or export keeps torch, with a
    NOTICE."""
    encoder.pgml_backend = ("torch", None, None)
    root, key = backends.runtime_root(), backends.model_key(name, path) + ".rank"
    try:
        record = _choice(encoder, name, root, key, settings, notice)
        backend, quantize, reason = decide(record)
        if backend != "torch":
            with backends.export_lock(root, key):
                file = _export(encoder, os.path.join(root, key), backend)
            encoder.model.forward = _forward(backends.runner(file, backend, quantize), settings.omp_num_threads)
            encoder.pgml_backend = (backend, quantize, file)
    except errors.PgmlError:
        raise
    except Exception as e:
        notice('pgml.rank: model "%s" runs on torch: the runtimes failed (%s)' % (name, embed_choice.failure(e)))
        return "torch"
    encoder.pgml_choice = {"backend": backend, "quantize": quantize, "reason": reason, "path": record["path"]}
    return backend


def _forward(runner, setting):
    from transformers.modeling_outputs import SequenceClassifierOutput
    return backends.runtime_forward(runner, setting, output=lambda logits: SequenceClassifierOutput(logits=logits))


def _choice(encoder, name, root, key, settings, notice):
    """The stored measurement for this CPU, else measured now (a second connection waits, then
    reads it)."""
    cpu_info = embed_choice.cpu()
    directory = os.path.join(root, key)
    record = read(directory, cpu_info)
    if record is None:
        with backends.export_lock(root, key):
            record = read(directory, cpu_info)
            if record is None:
                notice('pgml.rank: measuring the runtimes for "%s" on this CPU (once; later loads reuse it)' % name)
                record = embed_choice.write(directory, measure(encoder, name, directory, settings.omp_num_threads),
                                            FILE)
                notice("pgml.rank: " + "\n".join(summary(record)))
    return record


def read(directory, cpu_info):
    return embed_choice.read([directory], cpu_info, FILE)


# ---- exports --------------------------------------------------------------------------------

def _export(encoder, directory, backend):
    """model.onnx (the logits, dynamic batch and length), and the OpenVINO IR made from it."""
    onnx_file = os.path.join(directory, "model.onnx")
    if not os.path.isfile(onnx_file):
        _export_onnx(encoder, onnx_file)
    if backend == "onnx":
        return onnx_file
    ir_file = os.path.join(directory, "openvino", "openvino_model.xml")
    if not os.path.isfile(ir_file):
        backends.export_openvino(onnx_file, ir_file)
    return ir_file


def _export_onnx(encoder, target):
    sample = encoder.tokenizer(["a query"], ["a document to score"], padding=True, return_tensors="pt")
    backends.export_network(encoder.model, sample, target, output="logits")


# ---- measuring and deciding ---------------------------------------------------------------------

def measure(encoder, name, directory, setting):
    """Every candidate's pairs/s on CALIBRATION (interleaved rounds, the best counts) and its
    logits against torch's; exports what is missing into directory."""
    import numpy as np
    import torch
    hf, cpu_info = encoder.model, embed_choice.cpu()
    original, forwards, rows = hf.forward, {("torch", None): hf.forward}, []
    started = time.monotonic()
    try:
        with threads.torch_call(setting) as n:
            for backend, quantize in embed_choice.candidates(cpu_info, backends.available)[1:]:
                try:
                    file = _export(encoder, directory, backend)
                    forwards[(backend, quantize)] = _forward(backends.runner(file, backend, quantize), setting)
                except Exception as e:  # measured as failed, never chosen
                    rows.append({"backend": backend, "quantize": quantize, "error": embed_choice.failure(e)})
            best = embed_choice.timed_rounds(hf, forwards, lambda pairs: encoder.predict(
                pairs, batch_size=BATCH, activation_fn=torch.nn.Identity(), show_progress_bar=False), CALIBRATION)
    finally:
        hf.forward = original
    reference = best[("torch", None)][1]
    scale = max(1.0, float(np.abs(reference).max()))
    for (backend, quantize), (seconds, logits) in best.items():
        rows.append({"backend": backend, "quantize": quantize, "pairs_per_s": round(len(CALIBRATION) / seconds, 1),
                     "max_diff": float(np.abs(logits - reference).max()) / scale,
                     "order_kept": _same_order(logits, reference)})
    rows.sort(key=lambda r: -(r.get("pairs_per_s") or 0))
    return {"format": embed_choice.FORMAT, "kind": "rank", "model": name, "cpu": cpu_info, "threads": n,
            "pairs": len(CALIBRATION), "batch_size": BATCH, "seconds": round(time.monotonic() - started, 1),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "candidates": rows}


def _same_order(logits, reference):
    """Whether every query's documents rank alike in every logit column: no pair that torch
    orders strictly comes out the other way round."""
    per_query = len(CALIBRATION) // len(_QUERIES)
    ours, ref = logits.reshape(len(logits), -1), reference.reshape(len(reference), -1)
    for start in range(0, len(CALIBRATION), per_query):
        for column in range(ref.shape[1]):
            a, b = ours[start:start + per_query, column], ref[start:start + per_query, column]
            if any(b[i] < b[j] and a[i] > a[j] for i in range(per_query) for j in range(per_query)):
                return False
    return True


def agrees(row):
    return bool(row.get("pairs_per_s")) and row.get("order_kept") and row.get("max_diff", 1) <= MAX_DIFF


def decide(record):
    """(backend, quantize, reason): the fastest candidate whose scores are torch's."""
    rows = record["candidates"]
    torch_rate = next((r["pairs_per_s"] for r in rows if r["backend"] == "torch"), None)
    fit = [r for r in rows if agrees(r)]
    if not fit:
        return "torch", None, "no candidate was measured; torch"
    best = max(fit, key=lambda r: r["pairs_per_s"])
    reason = "fastest of %d with torch's order and logits within %g on %s, %d threads: %.0f pairs/s%s" % (
        len(fit), MAX_DIFF, record["cpu"]["model"] or "this CPU", record["threads"], best["pairs_per_s"],
        " (%.2fx torch)" % (best["pairs_per_s"] / torch_rate) if torch_rate else "")
    left_out = ["%s (logits moved %.1e%s)" % (embed_choice.label(r["backend"], r["quantize"]), r["max_diff"],
                                              "" if r["order_kept"] else ", order changed")
                for r in rows if r.get("pairs_per_s") and not agrees(r)]
    failed = ["%s (%s)" % (embed_choice.label(r["backend"], r["quantize"]), r["error"]) for r in rows if r.get("error")]
    if left_out:
        reason += "; not torch's scores: " + ", ".join(left_out)
    if failed:
        reason += "; failed: " + ", ".join(failed)
    return best["backend"], best["quantize"], reason


def choices():
    """This server's rank measurements, as backends.choices() rows (pgml.embed_choices(); the
    reason says pgml.rank)."""
    this_cpu, root, rows = embed_choice.cpu(), backends.runtime_root(), []
    for key in sorted(os.listdir(root)) if os.path.isdir(root) else ():
        file = os.path.join(root, key, FILE)
        record = backends.any_record(file)
        if record is None or record.get("kind") != "rank":
            continue
        backend, quantize, reason = decide(record)
        rows.append(embed_choice.choice_row(record, backend, quantize, "pgml.rank: " + reason, file, this_cpu))
    return rows


def summary(record):
    """Lines for a NOTICE."""
    backend, quantize, reason = decide(record)
    lines = ["chose %s: %s" % (embed_choice.label(backend, quantize), reason)]
    for r in record["candidates"]:
        if r.get("error"):
            lines.append("  %-14s failed: %s" % (embed_choice.label(r["backend"], r["quantize"]), r["error"]))
        else:
            lines.append("  %-14s %8.1f pairs/s  logits within %.1e, order %s" % (
                embed_choice.label(r["backend"], r["quantize"]), r["pairs_per_s"], r["max_diff"],
                "kept" if r["order_kept"] else "changed"))
    return lines
