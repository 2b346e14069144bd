from pgml_py.cache import ModelCache, approximate_bytes


def test_second_get_does_not_reload():
    cache, loads = ModelCache(), []
    for _ in range(3):
        value = cache.get_or_load("k", "embed", "m", "cpu", lambda: loads.append(1) or "model", 4)
    assert value == "model" and loads == [1]
    assert cache.entries()[0].hits == 2


def test_lru_keeps_at_most_max_and_drops_least_recent():
    cache = ModelCache()
    for key in ("a", "b", "c"):
        cache.get_or_load(key, "embed", key, "cpu", lambda: key, 2)
    assert [e.model for e in cache.entries()] == ["c", "b"]
    cache.get_or_load("b", "embed", "b", "cpu", lambda: "b", 2)  # b is now most recent
    cache.get_or_load("d", "embed", "d", "cpu", lambda: "d", 2)
    assert [e.model for e in cache.entries()] == ["d", "b"]


def test_use_cache_false_loads_every_time_and_keeps_nothing():
    cache, loads = ModelCache(), []
    for _ in range(2):
        cache.get_or_load("k", "embed", "m", "cpu", lambda: loads.append(1) or "x", 4, use_cache=False)
    assert loads == [1, 1] and cache.entries() == []


def test_clear_counts_entries():
    cache = ModelCache()
    cache.get_or_load("a", "embed", "a", "cpu", lambda: 1, 4)
    assert cache.clear() == 1 and cache.entries() == []


def test_approximate_bytes_counts_parameters():
    import torch
    layer = torch.nn.Linear(10, 4)  # 40 weights + 4 biases, float32
    assert approximate_bytes(layer) == 44 * 4
    assert approximate_bytes(object()) == 0


def test_entries_are_the_current_roles_own():
    """A connection that switches roles (SET ROLE, poolers) never serves one role another's model."""
    current = {"role": "alice"}
    cache, loads = ModelCache(role=lambda: current["role"]), []
    cache.get_or_load(1, "predict", "model 1", "cpu", lambda: loads.append("alice") or "alice's", 4)
    current["role"] = "app"
    assert cache.lookup(1) is None and cache.entries() == []
    assert cache.get_or_load(1, "predict", "model 1", "cpu", lambda: loads.append("app") or "app's", 4) == "app's"
    assert cache.clear() == 1 and loads == ["alice", "app"]
    current["role"] = "alice"
    assert [e.value for e in cache.entries()] == ["alice's"]
