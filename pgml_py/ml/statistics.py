"""Column statistics of a snapshot (pgml.snapshots.columns), as PostgresML 2.10 computes
them: over the training rows, text columns by their category codes."""
import threading
from collections import Counter
from itertools import repeat

import numpy as np

from . import metrics


class Statistics:
    """compute of (column dict, training values) pairs, now or in a daemon thread. The
    thread touches nothing but its numpy arrays (never plpy); wait() re-raises its error."""

    def __init__(self, pending, background):
        self._pending, self._error, self._thread = pending, [], None
        if background and pending:
            self._thread = threading.Thread(target=self._run, name="pgml-snapshot-statistics", daemon=True)
            self._thread.start()
        else:
            self._run()

    def _run(self):
        try:
            for info, values in self._pending:
                info["statistics"] = compute(values)
        except Exception as e:  # noqa: BLE001 (re-raised by wait)
            self._error.append(e)

    def wait(self):
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error:
            raise self._error[0]


def categorical(values, num_train):
    """Codes in first-seen order over the training rows, NULL → 0; unseen at test → NaN.
    A text "__NULL__" falls in the NULL category, as it always has."""
    members = Counter(values[:num_train])   # counts, keys in first-seen order
    null = members.pop(None, 0) + members.pop("__NULL__", 0)
    categories = {"__NULL__": {"value": 0, "members": null}}
    code = {None: 0.0, "__NULL__": 0.0}
    for value, count in members.items():
        categories[value] = {"value": len(categories), "members": count}
        code[value] = float(categories[value]["value"])
    codes = np.fromiter(map(code.get, values, repeat(np.nan)), dtype=np.float32, count=len(values))
    return codes, categories


def compute(column, categories=None):
    """Statistics of one feature over the training rows; JSON-safe. One sort of the
    float32 values gives distinct, mode, min, max and the median; mean and variance are taken
    in float64 over the values in row order."""
    column = np.asarray(column)
    present = column[~np.isnan(column)]
    stats = {"missing": int(column.size - present.size), "distinct": 0}
    values = counts = None
    if present.size:
        values, counts = np.unique(present, return_counts=True)
        stats["distinct"] = int(values.size)
    if categories is not None:
        stats["categories"] = categories
        stats["missing"] = int(categories["__NULL__"]["members"])
        stats["distinct"] = len(categories) - 1
    if present.size:
        wide = present.astype(np.float64)
        ends = np.cumsum(counts)
        half = present.size // 2
        upper = float(values[np.searchsorted(ends, half, side="right")])
        if present.size % 2:
            median = upper
        else:  # np.median: the mean of the two middle values
            median = (float(values[np.searchsorted(ends, half - 1, side="right")]) + upper) / 2.0
        floats = dict(min=values[0], max=values[-1], max_abs=max(abs(float(values[0])), abs(float(values[-1]))),
                      mean=wide.mean(), median=median, mode=values[np.argmax(counts)], variance=wide.var(),
                      std_dev=wide.std())
        stats.update({k: metrics.finite_or_none(v) for k, v in floats.items()})   # JSON has no Infinity
    stats["histogram"] = _histogram(values, counts)
    stats["ventiles"] = [metrics.finite_or_none(v) for v in _ventiles(values, counts)]
    return stats


HISTOGRAM_BINS, VENTILES = 20, 19


def _histogram(values, counts):
    """Rows per bin of 20 equal-width bins from min to max, the max in the last bin; bounds in
    float32 as PostgresML computes them (min + i * (max - min) / 20)."""
    if values is None:
        return [0] * HISTOGRAM_BINS
    dtype = np.float32
    with np.errstate(over="ignore", invalid="ignore"):
        if not np.isfinite(np.float32(values[-1]) - np.float32(values[0])):
            dtype = np.float64   # a range beyond float32 (PostgresML fails there): bounds in float64
        low = dtype(values[0])
        step = (dtype(values[-1]) - low) / dtype(HISTOGRAM_BINS)
        bounds = low + step * np.arange(HISTOGRAM_BINS, dtype=dtype)
    bins = np.searchsorted(bounds, values.astype(dtype), side="right") - 1
    bins = np.clip(bins, 0, HISTOGRAM_BINS - 1)   # bounds of infinite values are NaN
    return np.bincount(bins, weights=counts, minlength=HISTOGRAM_BINS).astype(np.int64).tolist()


def _ventiles(values, counts):
    """The 19 inner boundaries of 20 equal-count groups of the sorted values: the last value of
    each group, position i in group floor(i / (n / 20)) in float32 as PostgresML computes it;
    fewer than 20 values repeat the preceding boundary."""
    if values is None:
        return [None] * VENTILES
    n = int(counts.sum())
    size = np.float32(n) / np.float32(20)

    def group(i):
        return int(np.float32(i) / size)

    ends = np.cumsum(counts)
    out, previous = [], None
    for k in range(VENTILES):
        last = min(n - 1, int(np.ceil((k + 1) * float(size))) - 1)   # then exact, in float32
        while last + 1 < n and group(last + 1) <= k:
            last += 1
        while last >= 0 and group(last) > k:
            last -= 1
        if last >= 0 and group(last) == k:
            previous = float(values[np.searchsorted(ends, last, side="right")])
        out.append(previous)
    return out
