"""pgml.embed: sentence-transformers embeddings, cached per connection."""
import json

from .. import cache, device, errors, models_store, server_files
from . import hub

# Keys of pgml.embed's kwargs that go to the SentenceTransformer constructor; the rest go to
# encode() (prompt, prompt_name, normalize_embeddings, batch_size, precision ...).
CONSTRUCTOR_KWARGS = ("device", "trust_remote_code", "revision", "model_kwargs",
                      "tokenizer_kwargs", "config_kwargs", "truncate_dim", "token", "backend", "quantize")


def split_kwargs(model, kwargs):
    """(constructor kwargs, encode kwargs, use_cache) from pgml.embed's kwargs object."""
    kwargs = dict(kwargs)
    use_cache = hub.as_bool(kwargs.pop("cache", True), "cache")
    if model.startswith("hkunlp/instructor") and "instruction" in kwargs:
        kwargs["prompt"] = kwargs.pop("instruction")
    constructor = {key: kwargs.pop(key) for key in CONSTRUCTOR_KWARGS if key in kwargs}
    kwargs.setdefault("show_progress_bar", False)
    return constructor, kwargs, use_cache


def load(model, constructor, device_name, settings, class_name="SentenceTransformer"):
    """A sentence-transformers model (SentenceTransformer, or CrossEncoder for rank) for
    `model` from the store, or from the hub when online."""
    import sentence_transformers
    model_class = getattr(sentence_transformers, class_name)

    path = models_store.resolve(model, settings.model_store)
    local = path != model
    constructor = dict(constructor)
    if "tokenizer_kwargs" in constructor:  # sentence-transformers 6 calls them processor_kwargs
        constructor["processor_kwargs"] = constructor.pop("tokenizer_kwargs")
    if not local:
        constructor.setdefault("cache_folder", models_store.hub_cache_dir(settings.model_store))
        constructor.setdefault("local_files_only", settings.huggingface_offline)
        if not settings.huggingface_offline:
            hub.cancellable_downloads()
    try:
        return model_class(path, device=device_name, **constructor)
    except TypeError as e:
        raise errors.InvalidParameter(
            "kwargs for the %s are not accepted: %s" % (class_name, e),
            hint="Constructor keys are %s; other keys go to encode()." % ", ".join(CONSTRUCTOR_KWARGS))
    except Exception as e:
        refused = hub.code_refused(model, e)
        if refused is not None:
            raise refused
        if not local:
            raise models_store.not_found(model, settings.model_store, settings.huggingface_offline, e)
        raise errors.IoError('could not load model "%s" from %s' % (model, path),
                             detail="%s: %s" % (type(e).__name__, e),
                             hint="Check that the folder holds a complete save_pretrained() output.")


def cached_model(kind, class_name, model, constructor, use_cache, settings, db):
    """The sentence-transformers model for a call, from this connection's cache when loaded:
    access rules first (whitelist, remote code, server paths), then the device, then load
    (shared by embed and rank)."""
    constructor = dict(constructor)
    hub.as_bool(constructor.get("trust_remote_code", False), "trust_remote_code")
    # sentence-transformers slices [:truncate_dim]: -1 would silently drop the last dimension
    errors.check_positive_int("truncate_dim", constructor.get("truncate_dim"),
                              hint="Pass the number of leading dimensions to keep, e.g. 128, or leave it out.")
    hub.check_allowed(model, False, settings)
    trust = hub.remote_code(model, settings, constructor)
    server_files.check(db, server_files.model_path(model, settings.model_store)
                       + server_files.named_paths(constructor, "kwargs"))
    constructor = dict(hub.without_remote_code(constructor), trust_remote_code=trust)
    device_name = device.choose(constructor.pop("device", None), settings.device)
    from . import backends
    if kind == "embed":
        quantize, requested = constructor.pop("quantize", None), constructor.pop("backend", None)
        runtime = (backends.choose(requested, settings.embed_backend, quantize), quantize)
        if device_name != "cpu" and requested is None and quantize is None:
            runtime = ("torch", None)  # a GPU: torch, unless the call asks for an export
    else:  # rank: the measured choice under auto on the CPU, else torch (rank_backends)
        auto = device_name == "cpu" and backends.choose(None, settings.embed_backend) == "auto"
        runtime = ("auto" if auto else "torch", None)
    key = (kind, model, json.dumps(constructor, sort_keys=True, default=str), device_name, runtime)

    def load_model():
        from . import rank_backends
        encoder = load(model, constructor, device_name, settings, class_name)
        path = models_store.resolve(model, settings.model_store)
        if kind == "embed":
            backends.install(encoder, model, path, runtime[0], runtime[1], device_name, settings, db.notice)
        elif runtime[0] == "auto":
            rank_backends.install(encoder, model, path, settings, db.notice)
        else:
            encoder.pgml_backend = ("torch", None, None)
        return encoder
    return cache.models.get_or_load(key, kind, model, device_name, load_model, settings.cache_max_models, use_cache)


def known_kwargs(encoder):
    """The encode() keys this encoder uses, or None when it cannot be told (keep all): encode()'s
    own parameters and the model's get_model_kwargs() (sentence-transformers 6). Fixed per
    encoder, so worked out once and kept on it."""
    if not hasattr(encoder, "pgml_known_kwargs"):
        encoder.pgml_known_kwargs = _encode_keys(encoder)
    return encoder.pgml_known_kwargs


def _encode_keys(encoder):
    import inspect
    try:
        parameters = inspect.signature(encoder.encode).parameters
    except (TypeError, ValueError):
        return None
    known = {name for name, p in parameters.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    if not any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        return known
    model_kwargs = getattr(encoder, "get_model_kwargs", None)
    if not callable(model_kwargs):
        return None
    return known | set(model_kwargs()) | {"task", "processing_kwargs"}


def used_kwargs(model, encoder, encode_kwargs, db):
    """encode() kwargs without the keys this model does not use, each dropped with a NOTICE:
    sentence-transformers 3.x (PostgresML's) ignored them, 6.x raises (the official SDK sends
    "instruction" to every model)."""
    known = known_kwargs(encoder)
    if known is None:
        return encode_kwargs
    unused = sorted(key for key in encode_kwargs if key not in known)
    if not unused:
        return encode_kwargs
    db.notice('pgml.embed: kwargs %s are not used by model "%s" and were ignored'
              % (", ".join(unused), model))
    return {key: value for key, value in encode_kwargs.items() if key not in unused}


def embed(model, texts, kwargs, settings, db):
    """Embeddings of `texts` (a list) as a float32 numpy array, one row per text."""
    from .. import threads
    constructor, encode_kwargs, use_cache = split_kwargs(model, kwargs)
    # others see this backend busy; torch's thread count, set by the load's export check and per
    # batch, is put back for transform and rank
    with threads.busy().hold(), threads.torch_threads_kept():
        encoder = cached_model("embed", "SentenceTransformer", model, constructor, use_cache, settings, db)
        encode_kwargs = used_kwargs(model, encoder, encode_kwargs, db)
        try:
            vectors = encoder.encode(texts, **encode_kwargs)
        except (TypeError, ValueError) as e:
            raise errors.InvalidParameter("kwargs for encode() are not accepted: %s" % e,
                                          hint="Remove the unknown key from kwargs.")
    shape = getattr(vectors, "shape", None)
    if shape is None or len(shape) != 2:
        raise errors.InvalidParameter(
            "embed returns one vector per text, but these kwargs changed encode()'s output",
            detail="encode() returned %s." % type(vectors).__name__,
            hint="Remove output_value / convert_to_tensor from kwargs.")
    return vectors
