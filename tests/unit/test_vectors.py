import math

import numpy as np
import pytest

from pgml_py import errors, vectors


def test_elementwise_scalar_and_array():
    assert vectors.elementwise("add", [1, 2], 1) == [2, 3]
    assert vectors.elementwise("subtract", [1, 2], [1, 1]) == [0, 1]
    assert vectors.elementwise("multiply", [1, 2], [3, 4]) == [3, 8]
    assert vectors.elementwise("divide", [1, 2], 2) == [0.5, 1]


def test_divide_by_zero_is_ieee():
    assert vectors.elementwise("divide", [1.0], 0) == [math.inf]


def test_mismatched_lengths_are_an_error():
    with pytest.raises(errors.DataError, match="different lengths: 2 and 3"):
        vectors.elementwise("add", [1, 2], [1, 2, 3])
    with pytest.raises(errors.DataError):
        vectors.distance("l2", [1, 2], [1])


def test_null_elements_are_an_error():
    with pytest.raises(errors.NullValueNotAllowed):
        vectors.norm("l2", [1, None])


def test_norms_and_normalize():
    v = [3.0, -4.0, 0.0]
    assert vectors.norm("l0", v) == 2
    assert vectors.norm("l1", v) == 7
    assert vectors.norm("l2", v) == 5
    assert vectors.norm("max", v) == 4
    assert vectors.normalize("l2", v) == [0.6, -0.8, 0.0]
    assert vectors.normalize("max", v) == [0.75, -1.0, 0.0]


def test_distances_match_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=16).tolist(), rng.normal(size=16).tolist()
    na, nb = np.array(a), np.array(b)
    assert vectors.distance("l1", a, b) == pytest.approx(np.abs(na - nb).sum())
    assert vectors.distance("l2", a, b) == pytest.approx(np.linalg.norm(na - nb))
    assert vectors.distance("dot", a, b) == pytest.approx(na @ nb)
    assert vectors.distance("cosine", a, b) == pytest.approx(na @ nb / np.linalg.norm(na) / np.linalg.norm(nb))


def test_aggregate_steps():
    state = []
    for row in ([1, -5], [-3, 2]):
        state = vectors.aggregate_step("max_abs", state, row)
    assert state == [3, 5]
    assert vectors.aggregate_step("sum", [1, 2], [3, 4]) == [4, 6]
    assert vectors.aggregate_step("min", [1, 2], []) == [1, 2]  # combine with an empty partial
