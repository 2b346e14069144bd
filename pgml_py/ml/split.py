"""The train/test split: how many test rows, and the stratified order that
puts them last in proportion to each class."""
import math

import numpy as np

from .. import errors


def test_rows(test_size, n):
    """test_size rows if > 1, else round(n × test_size) half away from zero, as PostgresML."""
    num_test = int(test_size) if test_size > 1 else int(math.floor(n * test_size + 0.5))
    if num_test > n:
        raise errors.InvalidParameter(
            "test_size = %g is too large. There are only %d samples" % (test_size, n),
            hint="Pass a smaller test_size, as a fraction (0.25) or a row count below %d." % n)
    if n == 0:
        raise errors.DataError("the relation has no rows to train on",
                               hint="Insert rows into the relation, or pass another relation_name.")
    if num_test == n:
        raise errors.InvalidParameter(
            "test_size = %g leaves no training rows out of %d samples" % (test_size, n),
            hint="Pass a test_size below 1 (a fraction) or below %d (a row count)." % n)
    return num_test


def stratified_order(keys, num_test):
    """stratified_groups for a list of hashable label tuples."""
    ids = {}
    groups = np.fromiter((ids.setdefault(k, len(ids)) for k in keys), dtype=np.int64, count=len(keys))
    return stratified_groups(groups, num_test)


def stratified_groups(groups, num_test):
    """A permutation putting train rows first and num_test test rows last, where each class
    (group id) gives the test rows in proportion to its size (largest remainder; ties to the
    class seen first). Rows keep their incoming (already random) order, so the split is random
    yet deterministic; each class gives its last rows to the test set."""
    groups = np.asarray(groups, dtype=np.int64).reshape(-1)
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    _, first, inverse, counts = np.unique(groups, return_index=True, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    quotas = counts * num_test / n
    take = np.floor(quotas).astype(np.int64)
    left = num_test - int(take.sum())
    if left > 0:
        take[np.lexsort((first, take - quotas))[:left]] += 1
    # rank of each row from the end of its class: the last take[class] rows are test rows
    by_class = np.argsort(inverse, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[by_class] = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    test = counts[inverse] - 1 - rank < take[inverse]
    return np.concatenate([np.flatnonzero(~test), np.flatnonzero(test)])
