"""pgml_py/ml/split.py and statistics.py without a database: the stratified split, text codes and
column statistics, each against the straightforward Python it replaced (kept here as the
reference), on random data with NULLs/NaNs, duplicates and ties."""
import math

import numpy as np
import pytest

from pgml_py.ml import split, statistics


# ---- the references: the row-at-a-time code of pgml 1.0's first release ----------------------

def ref_stratified_order(keys, num_test):
    n = len(keys)
    groups = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    quotas = {k: len(members) * num_test / n for k, members in groups.items()} if n else {}
    take = {k: int(math.floor(q)) for k, q in quotas.items()}
    left = num_test - sum(take.values())
    for k in sorted(groups, key=lambda k: (take[k] - quotas[k], groups[k][0]))[:left]:
        take[k] += 1
    test = set()
    for k, members in groups.items():
        if take[k]:
            test.update(members[-take[k]:])
    return [i for i in range(n) if i not in test] + [i for i in range(n) if i in test]


def ref_categorical(values, num_train):
    categories = {"__NULL__": {"value": 0, "members": 0}}
    codes = np.empty(len(values), dtype=np.float32)
    for i, v in enumerate(values):
        key = "__NULL__" if v is None else v
        cat = categories.get(key)
        if i < num_train:
            if cat is None:
                cat = categories[key] = {"value": len(categories), "members": 0}
            cat["members"] += 1
        codes[i] = np.nan if cat is None else cat["value"]
    return codes, categories


def ref_statistics(column, categories=None):
    column = np.asarray(column, dtype=np.float64)
    present = column[~np.isnan(column)]
    stats = {"missing": int(column.size - present.size), "distinct": int(np.unique(present).size)}
    if categories is not None:
        stats["categories"] = categories
        stats["missing"] = int(categories["__NULL__"]["members"])
        stats["distinct"] = len(categories) - 1
    if present.size:
        values, counts = np.unique(present, return_counts=True)
        stats.update(min=float(present.min()), max=float(present.max()), max_abs=float(np.abs(present).max()),
                     mean=float(present.mean()), median=float(np.median(present)),
                     mode=float(values[np.argmax(counts)]), variance=float(present.var()),
                     std_dev=float(present.std()))
    stats["histogram"], stats["ventiles"] = ref_histogram_ventiles(column)
    finite = {k: (v if not isinstance(v, float) or np.isfinite(v) else None) for k, v in stats.items()}
    finite["ventiles"] = [v if v is None or np.isfinite(v) else None for v in stats["ventiles"]]
    return finite


def ref_histogram_ventiles(column):
    """PostgresML 2.10's loop over the sorted values (orm/snapshot.rs, Column::analyze), row by
    row in float32."""
    f32 = np.float32
    data = sorted(v for v in np.asarray(column, dtype=np.float32).tolist() if v == v)
    histogram, ventiles = [0] * 20, [None] * 19
    if not data:
        return histogram, ventiles
    low, high = f32(data[0]), f32(data[-1])
    step = (high - low) / f32(20)
    bounds = [low + step * f32(i) for i in range(21)]
    ventile_size = f32(len(data)) / f32(20)
    h = 0
    for i, value in enumerate(data):
        while h < 20 and f32(value) >= bounds[h]:
            h += 1
        histogram[h - 1] += 1
        v = int(f32(i) / ventile_size)
        if v < 19:
            ventiles[v] = value
    for i in range(1, 19):
        if ventiles[i] is None:
            ventiles[i] = ventiles[i - 1]
    return histogram, ventiles


# ---- stratified split ------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(40))
def test_stratified_matches_the_reference(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    classes = int(rng.integers(1, 12))
    labels = rng.integers(0, classes, size=n) * 7 - 3   # any integers, not 0..k-1
    num_test = int(rng.integers(0, n))
    keys = [(int(v),) for v in labels]
    expected = ref_stratified_order(keys, num_test)
    assert split.stratified_order(keys, num_test).tolist() == expected
    assert split.stratified_groups(labels, num_test).tolist() == expected


def test_stratified_with_label_pairs_text_and_edge_sizes():
    keys = [("a", 1), ("b", 1), ("a", 2), ("a", 1), ("b", 1), ("c", 3), ("a", 1), ("a", 2)] * 3
    for num_test in range(len(keys)):
        assert split.stratified_order(keys, num_test).tolist() == ref_stratified_order(keys, num_test)
    assert split.stratified_groups([], 0).tolist() == []
    assert split.stratified_groups([5], 0).tolist() == [0]


def test_stratified_keeps_proportions():
    labels = np.array([0] * 60 + [1] * 30 + [2] * 10)
    order = split.stratified_groups(labels, 20)
    test = labels[order[-20:]]
    assert [int((test == c).sum()) for c in (0, 1, 2)] == [12, 6, 2]
    assert sorted(order.tolist()) == list(range(100))


# ---- text codes ------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(20))
def test_categorical_matches_the_reference(seed):
    rng = np.random.default_rng(seed)
    pool = [None, "__NULL__", "red", "blue", "green", "", "Ünïcode", "red "]
    values = [pool[i] for i in rng.integers(0, len(pool), size=int(rng.integers(1, 200)))]
    num_train = int(rng.integers(0, len(values) + 1))
    codes, categories = statistics.categorical(values, num_train)
    ref_codes, ref_categories = ref_categorical(values, num_train)
    np.testing.assert_array_equal(codes, ref_codes)
    assert categories == ref_categories and list(categories) == list(ref_categories)
    assert codes.dtype == np.float32


# ---- statistics ------------------------------------------------------------------------------

def columns():
    rng = np.random.default_rng(3)
    yield np.array([], dtype=np.float32)
    yield np.array([np.nan, np.nan], dtype=np.float32)
    yield np.array([2.5], dtype=np.float32)
    yield np.array([1, 2], dtype=np.float32)                        # even: mean of the middle two
    yield np.array([3, 1, 2, 2, np.nan, 7], dtype=np.float32)
    yield np.array([-5, 4, 4, -5, 1], dtype=np.float32)             # a tie for the mode
    yield np.array([np.inf, -np.inf, 1, np.nan], dtype=np.float32)
    yield np.array([1e30, 3e38, -3e38, 1e-40], dtype=np.float32)
    yield np.array([4, 4, 4], dtype=np.float32)                     # one value: every row in the last bin
    yield np.arange(7, dtype=np.float32)                            # fewer than 20 rows: ventiles repeat
    for size in (1000, 1001, 75000):
        x = rng.normal(size=size).astype(np.float32)
        x[rng.integers(0, size, size // 10)] = np.nan
        yield x
        yield np.round(x * 3).astype(np.float32)                    # few distinct values


@pytest.mark.parametrize("column", list(columns()), ids=lambda c: "n%d" % c.size)
def test_statistics_match_the_reference(column):
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf, 3e38 - -3e38: on both sides
        got, expected = statistics.compute(column), ref_statistics(column)
        present = column[~np.isnan(column)]
        beyond_float32 = present.size and not np.isfinite(np.float32(present.max()) - np.float32(present.min()))
    assert got.keys() == expected.keys()
    if beyond_float32:
        # No float32 bins (PostgresML fails): bins in float64, every value counted once.
        assert sum(got.pop("histogram")) == present.size
        expected.pop("histogram")
    for key in expected:  # bit for bit (NaN == NaN)
        assert got[key] == expected[key] or (got[key] != got[key] and expected[key] != expected[key]), key


def test_statistics_of_a_text_column():
    values = ["a", None, "b", "a", "__NULL__", "c", "a"]
    codes, categories = statistics.categorical(values, 6)
    got = statistics.compute(codes[:6], categories)
    assert got == ref_statistics(codes[:6], categories)
    assert got["missing"] == 2 and got["distinct"] == 3 and got["mode"] == 0.0  # NULL code 0 ties "a"


def test_statistics_in_a_thread_and_their_errors():
    info = {"name": "x"}
    stats = statistics.Statistics([(info, np.array([1, 2, 3], dtype=np.float32))], background=True)
    stats.wait()
    assert info["statistics"]["median"] == 2.0
    broken = statistics.Statistics([({}, np.array(["not numbers"]))], background=True)
    with pytest.raises(TypeError):
        broken.wait()


def test_ventiles_at_every_small_size():
    rng = np.random.default_rng(5)
    for n in range(1, 70):
        column = rng.permutation(n).astype(np.float32)
        assert statistics.compute(column)["ventiles"] == ref_histogram_ventiles(column)[1], n
