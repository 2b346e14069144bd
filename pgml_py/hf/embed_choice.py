"""pgml.embed_backend = auto: the fastest runtime whose vectors are torch's, measured on this CPU
(docs/embedding.md).

No fixed order is right everywhere: on an Intel Xeon with AMX and AVX512_BF16 OpenVINO in bf16
ran 2.07x torch (cosine 0.99997) while ONNX Runtime ran 0.89x; on an AMD Zen 3 (AVX2 only) ONNX
Runtime and OpenVINO tied near 1.05x and bf16 computes in f32. So each candidate (torch fp32,
ONNX Runtime, OpenVINO, and OpenVINO bf16 where the CPU computes bf16 natively) embeds a short
calibration set of varied texts, interleaved, a few rounds within a time bound; the fastest whose
vectors agree with torch fp32 at cosine >= pgml.embed_min_cosine is used.

The measurement is stored as choice.json beside the model's exports, with the CPU it was made on
(model name, the flags that matter, cores): make install measures the packaged model, a server
any other model at its first load. Every backend reads it; a file made on another CPU is ignored
and the server measures again into its own export directory. The rule is applied when the file
is read, so changing pgml.embed_min_cosine needs no new measurement.
"""
import json
import os
import time

from .. import threads

FORMAT = 1
FILE = "choice.json"
ROUNDS = 3  # interleaved; each candidate's best round counts
MAX_SECONDS = 5.0  # after the first round, no new round starts past this
BATCH = 32
# The flags that change which runtime is fastest (bf16, int8 dot products, vector width).
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
         "amx_int8", "asimd", "sve", "bf16")

# Varied lengths and kinds (1 to ~120 words: prose, questions, code, numbers, other languages),
# so that neither very short nor very long inputs alone decide.
_LONG = ("PostgreSQL is a powerful, open source object-relational database system with over thirty "
         "years of active development that has earned it a strong reputation for reliability, feature "
         "robustness, and performance. It runs on all major operating systems, has been ACID-compliant "
         "since 2001, and has powerful add-ons such as the popular PostGIS geospatial database extender. "
         "Extensions let it store vectors, run machine learning models next to the data and answer "
         "similarity searches without moving rows to another service, which keeps the architecture "
         "simple and the data consistent across every query that reads it.")
CALIBRATION = [
    "hello", "Thanks!", "What is the capital of France?", "SELECT id, body FROM docs WHERE id = 42;",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "A careful engineer repairs the old bridge slowly before the storm arrives tonight.",
    "How do I reset my password if I no longer have access to my email account?",
    "Embeddings turn text into vectors so that similar meanings end up close together.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "La base de données stocke les documents et leurs vecteurs dans la même table.",
    "def add(a, b):\n    return a + b  # adds two numbers",
    "Order #18234 shipped on 2024-03-11 with 3 items totalling $149.97.",
    "Error 500: upstream timed out while reading response header from the server.",
    "Customers who bought this camera also bought a tripod, two batteries and a bag.",
    _LONG, _LONG[:400], _LONG[:250],
    "The meeting was moved to Thursday because half of the team is travelling to the conference "
    "in Lisbon and the other half is busy with the quarterly release.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "I loved the food but the service was painfully slow and the room was far too noisy.",
    "Install the package, set the environment variable, then restart the service.",
    "Q: Why is the sky blue? A: Rayleigh scattering of sunlight by the atmosphere.",
    "東京は日本の首都です。", "Mountains, rivers, forests and villages along the old trade route.",
    "Breaking: markets rally as inflation cools for the third month in a row.",
    "The patient reported mild headaches, fatigue and occasional dizziness after meals.",
    "git rebase --interactive HEAD~3 lets you squash the last three commits into one.",
    "A", "yes", "no idea", "Vectors in SQL: embeddings, chunks and search in one place.",
    "Every student in the library studies quietly for the exam next week.",
]


def cpu():
    """This machine's CPU as choice.json records it: model name, the flags that matter, cores."""
    name, flags = "", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model", "CPU part") and not name:
                    name = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        import platform
        name = platform.processor() or platform.machine()
    return {"model": name, "flags": sorted(flags.intersection(FLAGS)), "cores": threads.cores()}


def native_bf16(cpu_info):
    """Whether the CPU computes bf16 in hardware (else OpenVINO computes "bf16" in f32)."""
    return bool({"avx512_bf16", "amx_bf16", "bf16"}.intersection(cpu_info.get("flags", ())))


def candidates(cpu_info, available):
    """(backend, quantize) pairs to measure, torch fp32 (the reference) first."""
    found = [("torch", None)]
    found += [("onnx", None)] if available("onnx") else []
    if available("openvino"):
        found.append(("openvino", None))
        if native_bf16(cpu_info):
            found.append(("openvino", "bf16"))
    return found


def label(backend, quantize):
    return backend + (" " + quantize if quantize else "")


# ---- the stored measurement ---------------------------------------------------------------

def read(directories, cpu_info, name=FILE):
    """The first stored measurement made on this CPU with this format, or None (name: rank's
    rank-choice.json reads the same way)."""
    for directory in directories:
        try:
            with open(os.path.join(directory, name)) as f:
                record = json.load(f)
        except (OSError, ValueError):
            continue
        if record.get("format") == FORMAT and record.get("cpu") == cpu_info:
            record["path"] = os.path.join(directory, name)
            return record
    return None


def write(directory, record, name=FILE):
    """choice.json (or name), replaced atomically (a reader never sees half a file)."""
    os.makedirs(directory, mode=0o755, exist_ok=True)
    target = os.path.join(directory, name)
    tmp = "%s.tmp-%d" % (target, os.getpid())
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    record["path"] = target
    return record


def decide(record, min_cosine):
    """(backend, quantize, reason): the fastest measured candidate whose cosine to torch fp32 is
    at least min_cosine (torch itself always qualifies)."""
    rows = record["candidates"]
    torch_rate = next((r["texts_per_s"] for r in rows if r["backend"] == "torch"), None)
    fit = [r for r in rows if r.get("texts_per_s") and r.get("cosine_min", 0) >= min_cosine]
    if not fit:
        return "torch", None, "no candidate was measured; torch"
    best = max(fit, key=lambda r: r["texts_per_s"])
    left_out = ["%s (cosine %.6f)" % (label(r["backend"], r["quantize"]), r["cosine_min"]) for r in rows
                if r.get("texts_per_s") and r.get("cosine_min", 0) < min_cosine]
    failed = ["%s (%s)" % (label(r["backend"], r["quantize"]), r["error"]) for r in rows if r.get("error")]
    reason = "fastest of %d with cosine >= %s to torch fp32 on %s, %d threads: %.0f texts/s%s, cosine %.6f" % (
        len(fit), min_cosine, record["cpu"]["model"] or "this CPU", record["threads"], best["texts_per_s"],
        " (%.2fx torch)" % (best["texts_per_s"] / torch_rate) if torch_rate else "", best["cosine_min"])
    if left_out:
        reason += "; below the cosine: " + ", ".join(left_out)
    if failed:
        reason += "; failed: " + ", ".join(failed)
    return best["backend"], best["quantize"], reason


# ---- measuring -------------------------------------------------------------------------------

def _cosines(a, b):
    import numpy as np
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def timed_rounds(model, forwards, run, inputs):
    """{candidate: (best seconds, output)}: every candidate's forward put on `model` and run(inputs)
    timed once per round, interleaved, so load from elsewhere hits them alike; rounds stop at
    ROUNDS or MAX_SECONDS (pgml.embed's and pgml.rank's measurements)."""
    started, best = time.monotonic(), {}
    for round_number in range(ROUNDS):
        for candidate, forward in forwards.items():
            model.forward = forward
            if round_number == 0:  # first-call costs (sessions, compilation) are not the speed
                run(inputs[:4])
            t0 = time.perf_counter()
            output = run(inputs)
            seconds = time.perf_counter() - t0
            if candidate not in best or seconds < best[candidate][0]:
                best[candidate] = (seconds, output)
        if time.monotonic() - started > MAX_SECONDS:
            break
    return best


def choice_row(record, backend, quantize, reason, file, this_cpu):
    """A stored measurement as a row of pgml.embed_choices(): (model, chosen, reason, candidates
    as JSON, CPU model, whether it is this CPU's, measured_at, file)."""
    return (record["model"], label(backend, quantize), reason, json.dumps(record["candidates"]),
            record["cpu"]["model"], record["cpu"] == this_cpu, record["measured_at"], file)


def failure(e):
    """A failed export or load, in one line (a NOTICE, choice.json)."""
    text = str(e).strip()
    return "%s: %s" % (type(e).__name__, text.splitlines()[0][:200] if text else "")


def measure(encoder, name, torch_forward, runtime_forward, setting, available):
    """Times every candidate on CALIBRATION and returns the record to store. torch_forward is
    the transformer's forward with pgml's threads; runtime_forward(backend, quantize) gives the
    forward on that exported runtime (exporting what is missing). The encoder's forward is put
    back afterwards."""
    cpu_info = cpu()
    hf = encoder[0].model
    original = hf.forward
    forwards, rows = {("torch", None): torch_forward}, []
    started = time.monotonic()
    try:
        with threads.busy().hold():
            n = threads.for_call(setting)
            for backend, quantize in candidates(cpu_info, available)[1:]:
                try:
                    forwards[(backend, quantize)] = runtime_forward(backend, quantize)
                except Exception as e:  # measured as failed, never chosen
                    rows.append({"backend": backend, "quantize": quantize, "error": failure(e)})
            best = timed_rounds(hf, forwards, lambda texts: encoder.encode(
                texts, batch_size=BATCH, show_progress_bar=False), CALIBRATION)
    finally:
        hf.forward = original
    reference = best[("torch", None)][1]
    for (backend, quantize), (seconds, vectors) in best.items():
        cos = _cosines(vectors, reference)
        rows.append({"backend": backend, "quantize": quantize, "texts_per_s": round(len(CALIBRATION) / seconds, 1),
                     "cosine_min": round(float(cos.min()), 7), "cosine_mean": round(float(cos.mean()), 7)})
    rows.sort(key=lambda r: -(r.get("texts_per_s") or 0))
    return {"format": FORMAT, "model": name, "cpu": cpu_info, "threads": n, "texts": len(CALIBRATION),
            "batch_size": BATCH, "seconds": round(time.monotonic() - started, 1),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "candidates": rows}


def summary(record, min_cosine):
    """Lines for a NOTICE or make install's output."""
    backend, quantize, reason = decide(record, min_cosine)
    lines = ["chose %s: %s" % (label(backend, quantize), reason)]
    for r in record["candidates"]:
        if r.get("error"):
            lines.append("  %-14s failed: %s" % (label(r["backend"], r["quantize"]), r["error"]))
        else:
            lines.append("  %-14s %8.1f texts/s  cosine min %.7f" % (
                label(r["backend"], r["quantize"]), r["texts_per_s"], r["cosine_min"]))
    return lines
