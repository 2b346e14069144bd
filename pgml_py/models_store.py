"""The local model store: <store>/<org>/<name> saved with save_pretrained (or a
sentence-transformers folder) is found by its hub name, with no network."""
import os

from . import errors


def resolve(name, store):
    """A local directory for `name` if there is one, else `name` itself (a hub id)."""
    if os.path.isabs(name) and os.path.isdir(name):
        return name
    if store and not name.startswith(("/", ".")) and ".." not in name.split("/"):
        path = os.path.join(store, name)
        if os.path.isdir(path):
            return path
    return name


def hub_cache_dir(store):
    """Where hub downloads go when online, inside the store."""
    return os.path.join(store, ".hub-cache") if store else None


def not_found(name, store, offline, cause):
    """The ERROR for a model that is neither in the store nor reachable on the hub."""
    where = os.path.join(store, name) if store else "(pgml.model_store is not set)"
    reason = "the hub is disabled (pgml.huggingface_offline = on)" if offline \
        else "it could not be loaded from the Hugging Face hub"
    return errors.UndefinedObject(
        'model "%s" is not in the model store and %s' % (name, reason),
        detail="Looked for %s. %s: %s" % (where, type(cause).__name__, str(cause).strip()[:500]),
        hint="Save it there with model.save_pretrained('%s') (and the tokenizer's) on a machine "
             "that can reach the hub, or copy a downloaded model folder to that path." % where)
