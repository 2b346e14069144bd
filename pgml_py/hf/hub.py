"""Model access rules shared by every Hugging Face entry point (api.md §5 "Checks first"),
and the hub environment applied before transformers is imported."""
import os

from .. import errors


def check_allowed(model, trust_remote_code, settings):
    """ERROR unless `model` may be loaded (whitelist) and may run remote code if asked."""
    whitelist = settings.huggingface_whitelist
    if whitelist and model not in whitelist:
        raise errors.InsufficientPrivilege(
            'model "%s" is not whitelisted' % model,
            detail="pgml.huggingface_whitelist = %s" % ",".join(whitelist),
            hint="Add it to pgml.huggingface_whitelist, or use a listed model.")
    if trust_remote_code:
        trusted = settings.huggingface_trust_remote_code_whitelist
        if not settings.huggingface_trust_remote_code or (trusted and model not in trusted):
            raise errors.InsufficientPrivilege(
                'model "%s" is not trusted to run remote code' % model,
                hint="An administrator can SET pgml.huggingface_trust_remote_code = on "
                     "(and list the model in pgml.huggingface_trust_remote_code_whitelist).")


def as_bool(value, name):
    if isinstance(value, bool):
        return value
    raise errors.bad_argument(name, "true or false", repr(value))


def configure_environment(settings):
    """Environment read by huggingface_hub/tokenizers/torch at import: set before importing."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # else tqdm fills the server log
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    if settings.huggingface_offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
    threads = str(settings.omp_num_threads)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = threads
