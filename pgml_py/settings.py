"""The pgml.* settings (GUCs): name, type, default and who may set each.

The first pgml call in a backend defines them as real settings (pgml_bootstrap.define_setting):
from then on SHOW lists them and PostgreSQL refuses bad bool/int values. The trusted ones
(superuser_only) decide what code and files the server uses, so only the configuration files,
ALTER SYSTEM, the command line or a superuser can set them. Values are read without a query
(db.settings); surrounding double quotes are stripped and empty list items ignored.
"""
from dataclasses import dataclass

from . import errors

# name: (type, default, description); README's settings table documents the same rows.
# pgml_bootstrap defines pgml.venv itself, with this row's text, before pgml_py can be imported.
SETTINGS = {
    "pgml.venv": ("string", "", "venv to import from; empty = the one make install built"),
    "pgml.model_store": ("string", None, "directory of saved models found by hub name"),
    "pgml.device": ("string", "auto", "auto, cpu, cuda, cuda:N, mps: where models run"),
    "pgml.cache_max_models": ("int", 8, "models kept loaded per connection (LRU)"),
    "pgml.huggingface_offline": ("bool", False, "never contact the Hugging Face hub"),
    "pgml.huggingface_whitelist": ("list", [], "models allowed; empty = all"),
    "pgml.huggingface_trust_remote_code": ("bool", False, "allow trust_remote_code"),
    "pgml.huggingface_trust_remote_code_whitelist": ("list", [], "models allowed remote code; empty = all"),
    "pgml.omp_num_threads": ("int", 0, "threads per call for torch, ONNX Runtime, OpenVINO and the ML libraries; "
                                       "0 = automatic (the cores no other pgml call is using)"),
    "pgml.embed_backend": ("string", "auto", "auto (the fastest, measured per model and CPU), torch, onnx, openvino: "
                                            "pgml.embed's runtime when kwargs name none"),
    "pgml.embed_min_cosine": ("real", 0.9999, "auto picks the fastest embedding runtime whose vectors agree with "
                                              "torch fp32 at least this cosine (0 < x <= 1)"),
    "pgml.predict_fast_path": ("bool", True, "one-row predict through XGBoost's and LightGBM's C APIs (with the "
                                             "library versions pgml was tested with); off = the estimator's predict"),
}
# Only the server's configuration or a superuser may set these: they choose the code the server
# imports, the files it reads, and whether it may download or run a model's own code.
SUPERUSER_ONLY = frozenset(("pgml.venv", "pgml.model_store", "pgml.huggingface_offline",
                            "pgml.huggingface_whitelist", "pgml.huggingface_trust_remote_code",
                            "pgml.huggingface_trust_remote_code_whitelist"))


def _check_device(value):
    from . import device
    return None if device.valid_setting(value) else device.SETTING_HINT


# Checked by PostgreSQL when set (SET, ALTER ... SET, the configuration files): value -> None or a hint.
CHECKS = {"pgml.device": _check_device}


def _check_embed_backend(value):
    from .hf import backends
    return backends.setting_hint(value)


CHECKS["pgml.embed_backend"] = _check_embed_backend


def _check_min_cosine(value):
    return None if _cosine(value) is not None else "pgml.embed_min_cosine is a number above 0 and at most 1, e.g. 0.9999."


def _cosine(text):
    """The float of a pgml.embed_min_cosine text, or None when it is not one in (0, 1]."""
    try:
        value = float((text or "").strip().strip('"').strip())
    except ValueError:
        return None
    return value if 0 < value <= 1 else None


CHECKS["pgml.embed_min_cosine"] = _check_min_cosine


def definitions():
    """(name, kind, default text, description, superuser_only) of every setting, for the server."""
    rows = []
    for name, (kind, default, description) in SETTINGS.items():
        if default is None:
            default = install_defaults.get(name, "")
        elif kind == "list":
            default = ",".join(default)
        elif kind == "real":  # a string setting to the server, checked by CHECKS
            default = repr(default)
        rows.append((name, "string" if kind in ("list", "real") else kind, default, description, name in SUPERUSER_ONLY))
    return rows

# The default model store: make install writes PGML_MODEL_STORE into the bootstrap, whose boot()
# passes it to api.startup, which puts it here.
install_defaults = {"pgml.model_store": "/var/lib/pgml/models"}


def parse(name, raw):
    """Turns the text of setting `name` into its typed value; None/empty means the default."""
    kind, default, _ = SETTINGS[name]
    if default is None:
        default = install_defaults.get(name)
    text = (raw or "").strip().strip('"').strip()
    if text == "":
        return default
    if kind == "string":
        return text
    if kind == "list":
        return [item.strip() for item in text.split(",") if item.strip()]
    if kind == "bool":
        lowered = text.lower()
        if lowered in ("on", "true", "yes", "1", "t", "y"):
            return True
        if lowered in ("off", "false", "no", "0", "f", "n"):
            return False
    if kind == "real" and _cosine(text) is not None:
        return _cosine(text)
    if kind == "int":
        try:
            value = int(text)
        except ValueError:
            value = None
        # an int setting whose default is 0 takes 0 (= automatic); the others start at 1
        if value is not None and value >= (0 if default == 0 else 1):
            return value
    expected = {"bool": "on or off", "int": "an integer >= %d" % (0 if default == 0 else 1),
                "real": "a number above 0 and at most 1"}[kind]
    raise errors.InvalidParameter(
        'setting %s must be %s. Got "%s" instead.' % (name, expected, raw),
        hint="SET %s TO a valid value, or RESET it." % name)


@dataclass(frozen=True)
class Settings:
    model_store: str
    device: str
    cache_max_models: int
    huggingface_offline: bool
    huggingface_whitelist: list
    huggingface_trust_remote_code: bool
    huggingface_trust_remote_code_whitelist: list
    omp_num_threads: int
    embed_backend: str = "auto"
    embed_min_cosine: float = 0.9999
    predict_fast_path: bool = True


def from_raw(raw):
    """Builds Settings from {"pgml.x": text or None}."""
    values = {name[len("pgml."):]: parse(name, raw.get(name)) for name in SETTINGS}
    values.pop("venv")
    return Settings(**values)


def read(db):
    """Reads every pgml.* setting through db (no query)."""
    return from_raw(db.settings(list(SETTINGS)))
