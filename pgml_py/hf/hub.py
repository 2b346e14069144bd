"""Model access rules shared by every Hugging Face entry point,
the hub environment applied before transformers is imported, and downloads a cancel can stop."""
import os
import time

from .. import errors, interrupts

# Keys that make transformers import Python code from a model folder or a hub repository:
# trust_remote_code anywhere (from_pretrained, pipeline, generate) and generate()'s
# custom_generate, which imports <repo>/custom_generate/generate.py.
TRUST_KEY = "trust_remote_code"
CODE_KEYS = (TRUST_KEY, "custom_generate")


def check_allowed(model, trust_remote_code, settings):
    """ERROR unless `model` may be loaded (whitelist) and may run remote code if asked."""
    whitelist = settings.huggingface_whitelist
    if whitelist and model not in whitelist:
        raise errors.InsufficientPrivilege(
            'model "%s" is not whitelisted' % model,
            detail="pgml.huggingface_whitelist = %s" % ",".join(whitelist),
            hint="Add it to pgml.huggingface_whitelist, or use a listed model.")
    if trust_remote_code and not trusts(model, settings):
        raise errors.InsufficientPrivilege(
            'model "%s" is not trusted to run remote code' % model,
            detail="pgml.huggingface_trust_remote_code = %s, pgml.huggingface_trust_remote_code_whitelist = %s"
                   % ("on" if settings.huggingface_trust_remote_code else "off",
                      ",".join(settings.huggingface_trust_remote_code_whitelist) or "(empty)"),
            hint="Remove trust_remote_code and custom_generate from the arguments; only an administrator "
                 "can allow remote code (pgml.huggingface_trust_remote_code = on in postgresql.conf, "
                 "and the model in pgml.huggingface_trust_remote_code_whitelist).")


def trusts(model, settings):
    """The trusted settings alone: may `model` run its own code when a call asks for it?"""
    listed = settings.huggingface_trust_remote_code_whitelist
    return bool(settings.huggingface_trust_remote_code) and (not listed or model in listed)


def trusts_by_name(model, settings):
    """Remote code for a model the catalog names (a tuned model's base): only for a model an
    administrator listed by name, never from "empty whitelist = all", so a stored name cannot
    pick the code that runs."""
    return bool(settings.huggingface_trust_remote_code) and model in settings.huggingface_trust_remote_code_whitelist


def asks_for_remote_code(*values):
    """True when trust_remote_code (any value but false/null) or custom_generate is set anywhere
    in these JSON values, at any depth: every nested kwargs object reaches some from_pretrained."""
    for value in values:
        if isinstance(value, dict):
            if any(value.get(key) not in (None, False) for key in CODE_KEYS):
                return True
            if asks_for_remote_code(*value.values()):
                return True
        elif isinstance(value, (list, tuple)) and asks_for_remote_code(*value):
            return True
    return False


def remote_code(model, settings, *requests):
    """The trust_remote_code to pass when loading `model`: True only when the call asks for it
    somewhere in `requests` and the trusted settings allow it; asked and not allowed is an ERROR."""
    if not asks_for_remote_code(*requests):
        return False
    check_allowed(model, True, settings)
    return True


def without_remote_code(value):
    """A copy of a JSON value with every trust_remote_code key removed, at any depth, so the flag
    pgml passes explicitly is the only one a loader sees."""
    if isinstance(value, dict):
        return {k: without_remote_code(v) for k, v in value.items() if k != TRUST_KEY}
    if isinstance(value, list):
        return [without_remote_code(v) for v in value]
    return value


def call_args(args, model, settings, db):
    """A call's args (pipeline call, generate() config) with remote code decided by the trusted
    settings: generate() imports custom_generate's generate.py and, with trust_remote_code,
    downloads and runs generation recipes from the hub. Refused unless the settings trust the
    recipe (custom_generate) or the model, which is None for a tuned project or a task's default
    model (never trusted); trust_remote_code is passed only then."""
    from .. import server_files
    recipe = args.get("custom_generate")
    name = recipe if isinstance(recipe, str) else model
    if name is None and asks_for_remote_code(args):
        raise errors.InsufficientPrivilege(
            "remote code is not allowed for a model the task object does not name",
            hint="Remove trust_remote_code and custom_generate from args; a tuned project never runs remote code.")
    trust = remote_code(name, settings, args)
    args = without_remote_code(args)
    if trust:
        if isinstance(recipe, str):
            server_files.check(db, server_files.model_path(recipe, settings.model_store, "args.custom_generate"))
        args[TRUST_KEY] = True
    return args


def code_refused(model, error):
    """The ERROR for a load that transformers stopped because the folder needs its own code and
    pgml passed trust_remote_code=False; None for any other failure."""
    if "trust_remote_code" not in str(error):
        return None
    return errors.InsufficientPrivilege(
        'model "%s" needs to run its own Python code, which is not allowed' % model,
        detail=str(error).strip().splitlines()[0][:300],
        hint="Use a model that transformers implements, or ask an administrator to trust this one "
             "(pgml.huggingface_trust_remote_code_whitelist) and pass trust_remote_code: true.")


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
    if settings.omp_num_threads > 0:  # 0 (automatic): each call sets its own count (threads.py)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(settings.omp_num_threads)


# ---- downloads a cancel can stop ----------------------------------------------------------

RETRY_POLL_SECONDS = 0.05
_downloads_hooked = False


class CancellableClock:
    """huggingface_hub's `time` module, with a sleep that a cancel ends."""

    def __getattr__(self, name):
        return getattr(time, name)

    def sleep(self, seconds):
        end = time.monotonic() + seconds
        while True:
            interrupts.point()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, RETRY_POLL_SECONDS))


def cancellable_downloads():
    """Lets statement_timeout and pg_cancel_backend stop hub access. huggingface_hub retries a
    failed request after 1, 2, 4, 8 and 8 s, in time.sleep, which no signal ends: 76 s for one
    model on a server that cannot reach the hub. Here every request and every 50 ms of those
    waits checks for a cancel. Called before a load that may download; the first call imports
    huggingface_hub and installs the hooks."""
    global _downloads_hooked
    if _downloads_hooked:
        return
    import huggingface_hub
    from huggingface_hub.utils import _http

    def client():
        session = _http.default_client_factory()
        hooks = dict(session.event_hooks)
        hooks["request"] = list(hooks.get("request", [])) + [lambda request: interrupts.point()]
        session.event_hooks = hooks
        return session
    huggingface_hub.set_client_factory(client)
    _http.time = CancellableClock()  # the module's only use of time is the wait between retries
    _downloads_hooked = True
