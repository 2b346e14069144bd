"""Per-connection model cache: the loaded models a backend keeps (other per-backend memos:
catalog's deployment lookup, db's prepared plans, threads' marks, backends' export paths).

A bounded LRU keyed by the role that loaded an object and what identifies it (kind, model,
constructor kwargs, device): a connection that switches roles (SET ROLE, poolers, PostgREST)
never serves one role an object another role loaded. pgml.cached_models() lists the current
role's entries and pgml.clear_model_cache() empties them.
"""
import time
from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class Entry:
    role: object
    kind: str
    model: str
    device: str
    value: object
    bytes: int
    loaded_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.time)
    hits: int = 0


def approximate_bytes(obj):
    """Bytes of a torch module's parameters and buffers (a pipeline's or wrapper's model), or
    what the object says it holds (`size_bytes`: a classic model's serialized size)."""
    size = getattr(obj, "size_bytes", None)
    if isinstance(size, int):
        return size
    module = getattr(obj, "model", obj)
    total = 0
    for attr in ("parameters", "buffers"):
        tensors = getattr(module, attr, None)
        if callable(tensors):
            total += sum(t.numel() * t.element_size() for t in tensors())
    return total


def actual_device(obj, fallback):
    """Where a loaded object really runs: a pipeline's or model's torch device, else fallback."""
    for candidate in (obj, getattr(obj, "model", None)):
        where = getattr(candidate, "device", None)
        if where is not None and not callable(where):
            return str(where)
    return fallback


def _no_role():
    return None


class ModelCache:
    def __init__(self, role=_no_role):
        self._entries = OrderedDict()
        self._role = role  # () -> the current role: part of every key

    def lookup(self, key):
        """The cached object for key (counted as a hit), or None."""
        key = (self._role(), key)
        entry = self._entries.get(key)
        if entry is None:
            return None
        entry.hits += 1
        entry.last_used = time.time()
        self._entries.move_to_end(key)
        return entry.value

    def get_or_load(self, key, kind, model, device, load, max_models, use_cache=True):
        """The cached object for key, else load() it; keeps at most max_models (LRU). Libraries
        that replace PostgreSQL's signal handlers while loading get them put back. device None:
        read from the loaded object (where it really runs)."""
        value = self.lookup(key)
        if value is not None:
            return value
        from . import interrupts, signals
        with signals.preserved():
            value = interrupts.watch(load())
        interrupts.point()  # a cancel that came during the load (the first import of torch) acts now
        if use_cache:
            where = device if device is not None else actual_device(value, "cpu")
            role = self._role()
            self._entries[(role, key)] = Entry(role, kind, model, where, value, approximate_bytes(value))
            self.evict(max_models)
        return value

    def evict(self, max_models):
        """Drops the least recently used entries beyond max_models; returns how many."""
        dropped = 0
        while len(self._entries) > max(max_models, 0):
            self._entries.popitem(last=False)
            dropped += 1
        return dropped

    def entries(self):
        """The current role's entries, most recently used first."""
        role = self._role()
        return [e for e in reversed(self._entries.values()) if e.role == role]

    def clear(self):
        """Drops the current role's entries; returns how many there were."""
        role = self._role()
        mine = [key for key, entry in self._entries.items() if entry.role == role]
        for key in mine:
            del self._entries[key]
        if mine:
            free_accelerator_memory()
        return len(mine)


def free_accelerator_memory():
    """Returns cached GPU memory to the driver, if torch is loaded and has a GPU."""
    import gc
    import sys
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


# The cache of this backend (each PostgreSQL connection is its own process).
def _current_role():
    from . import db
    return db.current_role()


models = ModelCache(role=_current_role)
