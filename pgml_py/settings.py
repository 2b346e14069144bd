"""The pgml.* settings (GUCs): name, type and default of each, read in one query per call.

PL/Python cannot define real GUCs, so these are placeholder settings read with
current_setting(name, true): unset means the default below. Surrounding double quotes are
stripped and empty list items ignored (api.md §12).
"""
from dataclasses import dataclass

from . import errors

# name: (type, default, description); README's settings table documents the same rows.
SETTINGS = {
    "pgml.venv": ("string", "", "venv to import from; empty = the one make install built"),
    "pgml.model_store": ("string", None, "directory of saved models found by hub name"),
    "pgml.device": ("string", "auto", "auto, cpu, cuda, cuda:N, mps: where models run"),
    "pgml.cache_max_models": ("int", 8, "models kept loaded per connection (LRU)"),
    "pgml.huggingface_offline": ("bool", False, "never contact the Hugging Face hub"),
    "pgml.huggingface_whitelist": ("list", [], "models allowed; empty = all"),
    "pgml.huggingface_trust_remote_code": ("bool", False, "allow trust_remote_code"),
    "pgml.huggingface_trust_remote_code_whitelist": ("list", [], "models allowed remote code; empty = all"),
    "pgml.omp_num_threads": ("int", 1, "threads for torch/OpenMP, applied at backend start"),
}

# The default model store, baked into the SQL at install time (PGML_MODEL_STORE).
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
    if kind == "int":
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is not None and value >= 1:
            return value
    raise errors.InvalidParameter(
        'setting %s must be %s. Got "%s" instead.'
        % (name, {"bool": "on or off", "int": "an integer >= 1"}[kind], raw),
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


def from_raw(raw):
    """Builds Settings from {"pgml.x": text or None}."""
    values = {name[len("pgml."):]: parse(name, raw.get(name)) for name in SETTINGS}
    values.pop("venv")
    return Settings(**values)


def read(db):
    """Reads every pgml.* setting through db (one query)."""
    return from_raw(db.settings(list(SETTINGS)))
