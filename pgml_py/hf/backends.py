"""pgml.embed's runtimes: torch, ONNX Runtime, OpenVINO (docs/embedding.md).

sentence-transformers' own backend="onnx"/"openvino" needs optimum-onnx / optimum-intel, which
cannot be installed beside transformers 5.23 (they pin transformers < 4.58 and < 5.6). So pgml
does what they do, with the project's versions: the model is loaded by sentence-transformers as
usual, its transformer is exported once (torch.onnx, then OpenVINO from the ONNX file; int8 by
ONNX Runtime's dynamic quantization), and the exported network replaces the transformer's
forward. Tokenization, pooling, Normalize/Dense modules and every encode() option stay
sentence-transformers' own, so the vectors are the same (checked after each export).

Exported files are looked up in the model's folder (a hub model that ships onnx/model.onnx or
openvino/openvino_model.xml), then under <model store>/.pgml-exports (made by make install for
the packaged MiniLM), then in pgml_exports in the data directory of the server (made on first
use by the server's OS user, once: a lock keeps a second connection waiting, then reusing).
"""
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import tempfile
import time

from .. import errors, threads, workdirs

BACKENDS = ("torch", "onnx", "openvino")
QUANTIZE = ("int8", "bf16")
# For "quantize" without a backend: the runtimes that run it, in this order. Without "quantize",
# auto is measured per model and CPU (embed_choice).
FORMAT = 1  # bump when the export changes, so old files are not reused
INSTALL_DIR = ".pgml-exports"
OPSET = 17
MIN_COSINE = 0.9999  # an fp32 export that does not give torch's vectors is not used
BACKEND_HINT = 'Pass "backend": "torch", "onnx" or "openvino", or leave it out (pgml.embed_backend decides).'


def setting_hint(value):
    """None when `value` is a valid pgml.embed_backend, else the hint of the refusal."""
    if (value or "").strip().strip('"').strip().lower() in ("",) + ("auto",) + BACKENDS:
        return None
    return "pgml.embed_backend is auto, torch, onnx or openvino."


@functools.lru_cache(maxsize=None)
def available(backend):
    """Whether the runtime's package is installed (asked once per backend: a path search)."""
    import importlib.util
    module = {"torch": "torch", "onnx": "onnxruntime", "openvino": "openvino"}[backend]
    return importlib.util.find_spec(module) is not None


def choose(requested, setting, quantize=None):
    """The backend for a call: kwargs' "backend", else pgml.embed_backend; "auto" is the
    fastest installed one (onnx for int8, which OpenVINO runs from ONNX Runtime's file)."""
    if requested is not None and (not isinstance(requested, str) or requested not in BACKENDS):
        raise errors.InvalidParameter(
            'backend must be "torch", "onnx" or "openvino". Got %s instead.' % json.dumps(requested),
            hint=BACKEND_HINT)
    if quantize is not None and quantize not in QUANTIZE:
        raise errors.InvalidParameter(
            'quantize must be "int8" or "bf16". Got %s instead.' % json.dumps(quantize),
            hint='Pass "quantize": "int8" or "bf16" (faster, vectors change slightly: docs/embedding.md), '
                 'or leave it out.')
    backend = requested or (setting or "auto").strip().strip('"').strip().lower() or "auto"
    if backend == "auto" and quantize is None:  # measured per model and CPU (embed_choice)
        return "auto" if available("onnx") or available("openvino") else "torch"
    if backend == "auto":
        order = {"int8": ("onnx", "openvino"), "bf16": ("openvino",)}[quantize]
        backend = next((b for b in order if available(b)), "torch")
    if quantize == "bf16" and backend != "openvino":
        raise errors.InvalidParameter('quantize "bf16" needs backend "openvino"',
                                      hint='Pass "backend": "openvino" with "quantize": "bf16", or leave "backend" out.')
    if quantize and backend == "torch":
        raise errors.InvalidParameter('quantize "int8" needs backend "onnx" or "openvino"',
                                      hint='Pass "backend": "onnx" with "quantize": "int8".')
    return backend


# ---- where exported files live ----------------------------------------------------------

def runtime_root():
    """A directory of the server's OS user: the data directory (a backend's working directory),
    else a private per-user temp directory (plain Python, tests)."""
    if os.path.exists("PG_VERSION"):
        return os.path.join(os.getcwd(), "pgml_exports")
    root = os.path.join(tempfile.gettempdir(), "pgml-exports-%d" % os.getuid())
    try:
        return workdirs.private_dir(root)
    except PermissionError:
        raise errors.PgmlError("export directory %s is not private to this user" % root, sqlstate="58030",
                               hint="Remove it; pgml makes it again.") from None


def model_key(name, path):
    """A folder name for this model's exports: changes when its weights or config change."""
    digest = hashlib.sha1(("%d|%s" % (FORMAT, os.path.realpath(path))).encode())
    for fname in sorted(os.listdir(path)) if os.path.isdir(path) else ():
        if fname.endswith((".json", ".safetensors", ".bin", ".txt")):
            st = os.stat(os.path.join(path, fname))
            digest.update(("%s|%d|%d" % (fname, st.st_size, int(st.st_mtime))).encode())
    slug = re.sub(r"[^A-Za-z0-9._-]+", "--", name).strip("-.")[:80] or "model"
    return "%s-%s" % (slug, digest.hexdigest()[:12])


FILES = {("onnx", None): "model.onnx", ("onnx", "int8"): "model_int8.onnx",
         ("openvino", None): "openvino_model.xml", ("openvino", "int8"): "model_int8.onnx",
         ("openvino", "bf16"): "openvino_model.xml"}  # bf16: the f32 IR, computed in bf16
SHIPPED = {("onnx", None): "onnx/model.onnx", ("openvino", None): "openvino/openvino_model.xml",
           ("openvino", "bf16"): "openvino/openvino_model.xml"}


def find(path, key, backend, quantize, store):
    """An existing exported file for (backend, quantize), or None."""
    candidates = []
    if (backend, quantize) in SHIPPED and os.path.isdir(path):
        candidates.append(os.path.join(path, SHIPPED[(backend, quantize)]))
    if store:
        candidates.append(os.path.join(store, INSTALL_DIR, key, FILES[(backend, quantize)]))
    candidates.append(os.path.join(runtime_root(), key, FILES[(backend, quantize)]))
    return next((c for c in candidates if os.path.isfile(c)), None)


@contextlib.contextmanager
def export_lock(root, key):
    os.makedirs(root, mode=0o755, exist_ok=True)
    with open(os.path.join(root, key + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _publish(tmp, final):
    os.makedirs(os.path.dirname(final), mode=0o755, exist_ok=True)
    os.replace(tmp, final)


def export_network(hf, sample, target, output="last_hidden_state"):
    """torch.onnx export of a Hugging Face model's `output` (a transformer's last_hidden_state,
    a cross-encoder's logits: rank_backends) for the tokenizer's `sample`, with dynamic batch and
    length."""
    import warnings
    import torch
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class Output(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, *args):
            return getattr(self.model(**dict(zip(names, args)), return_dict=True), output)

    tmp = "%s.tmp-%d" % (target, os.getpid())
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes[output] = {0: "batch"} if output == "logits" else {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Output(hf).eval(), tuple(sample[n] for n in names), tmp, input_names=names,
                          output_names=[output], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    _publish(tmp, target)


def export_onnx(encoder, target):
    """The sentence-transformers model's transformer (its last_hidden_state), as ONNX."""
    sample = encoder[0].tokenizer(["hello world", "a longer sentence for the export"], padding=True,
                                  return_tensors="pt")
    export_network(encoder[0].model, sample, target)


def export_int8(source, target):
    """ONNX Runtime dynamic int8 quantization (per-channel weights, as sentence-transformers'
    avx512_vnni configuration)."""
    import logging
    from onnxruntime.quantization import QuantType, quantize_dynamic
    logging.getLogger().setLevel(logging.ERROR)  # "consider pre-processing" would fill the log
    tmp = "%s.tmp-%d.onnx" % (target[:-5], os.getpid())
    quantize_dynamic(source, tmp, weight_type=QuantType.QInt8, per_channel=True)
    _publish(tmp, target)


def export_openvino(source, target):
    """OpenVINO IR from the ONNX file, fp32 weights."""
    import openvino as ov
    tmp_dir = "%s.tmp-%d" % (os.path.dirname(target), os.getpid())
    os.makedirs(tmp_dir, exist_ok=True)
    ov.save_model(ov.convert_model(source), os.path.join(tmp_dir, "openvino_model.xml"), compress_to_fp16=False)
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    for fname in ("openvino_model.bin", "openvino_model.xml"):  # the .xml last: it is what find() sees
        _publish(os.path.join(tmp_dir, fname), os.path.join(os.path.dirname(target), fname))
    os.rmdir(tmp_dir)


def ensure(encoder, name, path, backend, quantize, store, notice, root=None):
    """The exported file for (backend, quantize), made now if no one made it before (under
    `root`, by default runtime_root())."""
    key = model_key(name, path)
    found = find(path, key, backend, quantize, store)
    if found:
        return found
    root = root or runtime_root()
    with export_lock(root, key):
        found = find(path, key, backend, quantize, store)  # another connection may have made it
        if found:
            return found
        started = time.monotonic()
        onnx_file = find(path, key, "onnx", None, store) or os.path.join(root, key, FILES[("onnx", None)])
        if not os.path.isfile(onnx_file):
            export_onnx(encoder, onnx_file)
        target = os.path.join(root, key, FILES[(backend, quantize)])
        if quantize == "int8" and not os.path.isfile(target):
            export_int8(onnx_file, target)
        elif backend == "openvino":
            export_openvino(onnx_file, target)
        notice('pgml.embed: exported "%s" for %s%s in %.1f s to %s; later loads reuse it'
               % (name, backend, " " + quantize if quantize else "", time.monotonic() - started, os.path.dirname(target)))
        return target


# ---- running them ----------------------------------------------------------------------

class OnnxRunner:
    """ONNX Runtime sessions of one file, one per thread count (made when first needed)."""

    def __init__(self, file):
        import onnxruntime
        self.ort, self.file, self.sessions = onnxruntime, file, {}
        self.inputs = None

    def session(self, n):
        if n not in self.sessions:
            options = self.ort.SessionOptions()
            options.intra_op_num_threads = n
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            if n < threads.cores():  # sharing the cores: idle threads must not spin
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.sessions[n] = self.ort.InferenceSession(self.file, options, providers=["CPUExecutionProvider"])
            self.inputs = [i.name for i in self.sessions[n].get_inputs()]
        return self.sessions[n]

    def __call__(self, inputs, n):
        session = self.session(n)
        return session.run(None, {k: v for k, v in inputs.items() if k in self.inputs})[0]


class OpenVinoRunner:
    """OpenVINO compiled models of one IR (or ONNX) file, one per thread count, and no core
    pinning (two backends pinned to one core run at half speed). Precision f32 (OpenVINO's own
    choice on a CPU with native bf16 would change the vectors), or "bf16" when asked for
    ("quantize": "bf16": about 2x f32 on an AVX512_BF16 CPU, cosine to torch 0.99998)."""

    def __init__(self, file, precision="f32"):
        import openvino
        self.core = openvino.Core()
        self.model = self.core.read_model(file)
        self.inputs = {i.get_any_name() for i in self.model.inputs}
        self.precision = precision
        self.computed_in = None  # what OpenVINO chose: f32 on a CPU without bf16, whatever was asked
        self.requests = {}

    def request(self, n):
        if n not in self.requests:
            compiled = self.core.compile_model(self.model, "CPU", {
                "INFERENCE_NUM_THREADS": n, "ENABLE_CPU_PINNING": False, "PERFORMANCE_HINT": "LATENCY",
                "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": self.precision})
            self.computed_in = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
            self.requests[n] = compiled.create_infer_request()
        return self.requests[n]

    def __call__(self, inputs, n):
        request = self.request(n)
        request.infer({k: v for k, v in inputs.items() if k in self.inputs})
        return request.get_output_tensor(0).data.copy()


def exportable(encoder, device_name):
    """Why this model must stay on torch, or None."""
    if device_name != "cpu":
        return "it runs on %s (exports run on the CPU)" % device_name
    first = encoder[0] if len(encoder) else None
    if type(first).__name__ != "Transformer" or getattr(first, "tokenizer", None) is None:
        return "its first module is %s, not a text Transformer" % type(first).__name__
    config = getattr(first, "modality_config", {}).get("text", {})
    if config.get("method", "forward") != "forward" or config.get("method_output_name", "last_hidden_state") \
            not in ("last_hidden_state", ("last_hidden_state",), ["last_hidden_state"]):
        return "its transformer output is %s" % config.get("method_output_name")
    return None


def thread_forward(original, setting):
    """The torch forward, with torch's thread count decided per batch."""
    def forward(*args, **kwargs):
        threads.set_torch_threads(threads.for_call(setting))
        return original(*args, **kwargs)
    return forward


def session_threads(n):
    """Automatic threads for a runtime session: 1, 2, 4 ... or every core, so that a model has a
    few sessions (each a copy of its weights), not one per thread count."""
    return n if n >= threads.cores() else 1 << (n.bit_length() - 1)


def runtime_forward(runner, setting, output=lambda array: {"last_hidden_state": array}):
    """The network's forward on an exported runtime: `output` wraps the runtime's first output
    (a tensor) as the caller of the forward expects it (a transformer's last_hidden_state, or a
    cross-encoder's logits: rank_backends)."""
    import numpy as np
    import torch

    def forward(input_ids=None, attention_mask=None, token_type_ids=None, **_ignored):
        n = threads.for_call(setting)
        if not setting:
            n = session_threads(n)
        threads.set_torch_threads(1)  # pooling only: torch's pool would fight the runtime's
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        if token_type_ids is None and input_ids is not None:
            inputs["token_type_ids"] = torch.zeros_like(input_ids)
        arrays = {k: v.cpu().numpy().astype(np.int64, copy=False) for k, v in inputs.items() if v is not None}
        return output(torch.from_numpy(runner(arrays, n)))
    return forward


PROBE = ["PostgreSQL is a relational database.", "The quick brown fox jumps over the lazy dog near the river bank.",
         "hello", "Vectors in SQL: embeddings, chunks and search in one place, with a much longer sentence."]


def cosine_min(a, b):
    import numpy as np
    return float(((a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)).min())


def runner(file, backend, quantize):
    """The runner of an exported file: ONNX Runtime, or OpenVINO in f32 (bf16 when asked)."""
    if backend == "onnx":
        return OnnxRunner(file)
    return OpenVinoRunner(file, "bf16" if quantize == "bf16" else "f32")


def failure(e):
    from .embed_choice import failure as one_line
    return one_line(e)


def transformer_model(encoder):
    """The Hugging Face model under the encoder's first module, or None."""
    return encoder[0].model if len(encoder) and hasattr(encoder[0], "model") else None


def install(encoder, name, path, backend, quantize, device_name, settings, notice):
    """Puts `backend` under the loaded sentence-transformers model (in place); "auto" is the
    measured choice (embed_choice). Returns the backend it runs on (torch when the model cannot
    be exported, with a NOTICE)."""
    reason = exportable(encoder, device_name) if backend != "torch" else None
    if backend == "auto" and reason is None:
        backend, quantize = auto_choice(encoder, name, path, settings, notice)
    if backend != "torch":
        reason = reason or use_runtime(encoder, name, path, backend, quantize, settings, notice)
        if reason is None:
            return backend
        notice('pgml.embed: model "%s" runs on torch instead of %s: %s'
               % (name, "an exported runtime" if backend == "auto" else backend, reason))
    hf = transformer_model(encoder)
    if hf is not None:
        hf.forward = thread_forward(hf.forward, settings.omp_num_threads)
    encoder.pgml_backend = ("torch", None, None)
    return "torch"


def use_runtime(encoder, name, path, backend, quantize, settings, notice):
    """Runs the transformer on the exported (backend, quantize) file, made now if missing, once
    its vectors match torch's on PROBE (fp32); returns None, or why it stays on torch."""
    hf = transformer_model(encoder)
    setting, original = settings.omp_num_threads, hf.forward
    try:
        with threads.busy().hold():
            threads.set_torch_threads(threads.for_call(setting))
            reference = encoder.encode(PROBE, show_progress_bar=False)
            file = ensure(encoder, name, path, backend, quantize, settings.model_store, notice)
            run = runner(file, backend, quantize)
            hf.forward = runtime_forward(run, setting)
            cosine = cosine_min(encoder.encode(PROBE, show_progress_bar=False), reference)
    except errors.PgmlError:
        hf.forward = original
        raise
    except Exception as e:
        hf.forward = original  # torch runs on, not a half-installed runtime
        return "the export failed (%s)" % failure(e)
    if quantize is None and cosine < MIN_COSINE:
        hf.forward = original
        return "its %s vectors differ from torch's (cosine %.6f)" % (backend, cosine)
    if quantize == "bf16" and run.computed_in != "bf16":
        notice('pgml.embed: this CPU has no bf16 instructions, so "quantize": "bf16" computes '
               'in %s (the vectors and speed of "backend": "openvino")' % run.computed_in)
    encoder.pgml_backend = (backend, quantize, file)
    return None


# ---- auto: the measured choice (embed_choice) -------------------------------------------

def choice_dirs(name, path, store):
    """Where a model's choice.json may be: beside make install's exports, then the server's."""
    key = model_key(name, path)
    dirs = [os.path.join(store, INSTALL_DIR, key)] if store else []
    return dirs + [os.path.join(runtime_root(), key)]


def auto_choice(encoder, name, path, settings, notice):
    """(backend, quantize) for pgml.embed_backend auto: from the stored measurement made on
    this CPU, else measured now (once per model and CPU: a second connection waits, then reads)."""
    from . import embed_choice
    cpu_info = embed_choice.cpu()
    record = embed_choice.read(choice_dirs(name, path, settings.model_store), cpu_info)
    if record is None:
        root = runtime_root()
        key = model_key(name, path)
        with export_lock(root, key + ".choice"):
            record = embed_choice.read(choice_dirs(name, path, settings.model_store), cpu_info)
            if record is None:
                notice('pgml.embed: measuring the runtimes for "%s" on this CPU (once; later loads reuse it)' % name)
                record = measure(encoder, name, path, settings.model_store, notice, settings.omp_num_threads, root)
                embed_choice.write(os.path.join(root, key), record)
                notice("pgml.embed: " + "\n".join(embed_choice.summary(record, settings.embed_min_cosine)))
    backend, quantize, reason = embed_choice.decide(record, settings.embed_min_cosine)
    encoder.pgml_choice = {"backend": backend, "quantize": quantize, "reason": reason, "path": record["path"]}
    return backend, quantize


def measure(encoder, name, path, store, notice, setting, root):
    """embed_choice.measure with this module's runtimes; exports what is missing under root."""
    from . import embed_choice
    hf = transformer_model(encoder)

    def runtime(backend, quantize):
        file = ensure(encoder, name, path, backend, quantize, store, notice, root=root)
        return runtime_forward(runner(file, backend, quantize), setting)
    return embed_choice.measure(encoder, name, thread_forward(hf.forward, setting), runtime, setting, available)


def choices(store, min_cosine):
    """Every stored measurement (make install's and this server's): (model, chosen, reason,
    candidates as JSON, CPU model, whether it is this CPU's, measured_at, file), for
    pgml.embed_choices()."""
    from . import embed_choice
    this_cpu = embed_choice.cpu()
    roots = ([os.path.join(store, INSTALL_DIR)] if store else []) + [runtime_root()]
    rows = []
    for root in roots:
        for key in sorted(os.listdir(root)) if os.path.isdir(root) else ():
            file = os.path.join(root, key, embed_choice.FILE)
            record = any_record(file)
            if record is None:
                continue
            backend, quantize, reason = embed_choice.decide(record, min_cosine)
            rows.append(embed_choice.choice_row(record, backend, quantize, reason, file, this_cpu))
    return rows


def any_record(file):
    from . import embed_choice
    try:
        with open(file) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == embed_choice.FORMAT else None


def install_feature_extraction(pipe, name, path, settings):
    """pgml.transform's feature-extraction pipeline on the fastest fp32 runtime that pgml.embed
    measured for this model on this CPU (its choice.json), when that beats torch: the same
    network, exported and checked against torch's vectors. fp32 only: bf16 was checked on the
    pooled vectors, not on every token's. Without a measurement (the model never embedded here)
    or under another pgml.embed_backend it stays on torch. Returns the backend it runs on."""
    from . import embed_choice
    pipe.pgml_backend = "torch"
    encoder_decoder = getattr(pipe.model.config, "is_encoder_decoder", False)  # not embed's network
    if choose(None, settings.embed_backend) != "auto" or encoder_decoder:
        return "torch"
    record = embed_choice.read(choice_dirs(name, path, settings.model_store), embed_choice.cpu())
    fp32 = [r for r in (record or {}).get("candidates", ()) if r.get("texts_per_s") and r["quantize"] is None
            and r.get("cosine_min", 0) >= MIN_COSINE]
    best = max(fp32, key=lambda r: r["texts_per_s"], default={"backend": "torch"})
    file = best["backend"] != "torch" and find(path, model_key(name, path), best["backend"], None,
                                              settings.model_store)
    if not file:
        return "torch"
    from transformers.modeling_outputs import BaseModelOutput
    pipe.model.forward = runtime_forward(runner(file, best["backend"], None), settings.omp_num_threads,
                                         output=lambda array: BaseModelOutput(last_hidden_state=array))
    pipe.pgml_backend = best["backend"]
    return best["backend"]


def export_for_install(name, path, store, notice=print, min_cosine=MIN_COSINE):
    """make install: every variant of a packaged model under <store>/.pgml-exports, and the
    measured choice for auto on this CPU (choice.json), so a server's first pgml.embed loads
    files instead of exporting and measuring."""
    from . import embed_choice
    root = os.path.join(store, INSTALL_DIR)
    variants = [v for v in (("onnx", None), ("openvino", None), ("onnx", "int8")) if available(v[0])]
    key = model_key(name, path)
    cpu_info = embed_choice.cpu()
    if all(os.path.isfile(os.path.join(root, key, FILES[v])) for v in variants) \
            and embed_choice.read([os.path.join(root, key)], cpu_info) is not None:
        notice("%s: up to date in %s" % (name, os.path.join(root, key)))
        return
    from sentence_transformers import SentenceTransformer
    encoder = SentenceTransformer(path, device="cpu")
    reference = encoder.encode(PROBE, show_progress_bar=False)
    original = encoder[0].model.forward
    for backend, quantize in variants:
        file = ensure(encoder, name, path, backend, quantize, store, notice, root=root)
        encoder[0].model.forward = runtime_forward(runner(file, backend, quantize), 0)
        notice("  %s%s: cosine to torch %.7f" % (backend, " int8" if quantize else "",
                                                 cosine_min(encoder.encode(PROBE, show_progress_bar=False), reference)))
        encoder[0].model.forward = original
    record = measure(encoder, name, path, store, notice, 0, root)
    embed_choice.write(os.path.join(root, key), record)
    for line in embed_choice.summary(record, min_cosine):
        notice(line)
