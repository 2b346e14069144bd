"""Vector math on REAL[] / DOUBLE PRECISION[]: element-wise arithmetic, norms,
normalization, distances and the element-wise aggregates. Floats follow IEEE 754 (x / 0 is
inf), as PostgresML's Rust versions did."""
import numpy as np

from . import errors

_OPERATORS = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide}


def as_array(values, name="vector"):
    """float64 array of a SQL array argument; NULL elements are an ERROR."""
    if any(v is None for v in values):
        raise errors.NullValueNotAllowed(
            "%s must not contain NULL elements" % name,
            hint="Replace them first, e.g. with array_replace(%s, NULL, 0)." % name)
    return np.asarray(values, dtype=np.float64)


def _same_length(a, b):
    if a.shape != b.shape:
        raise errors.DataError(
            "vectors have different lengths: %d and %d" % (a.size, b.size),
            hint="Both arrays must have the same number of elements.")


def elementwise(op, vector, other):
    """vector <op> other, where other is a scalar or an array of the same length."""
    a = as_array(vector)
    if isinstance(other, (list, tuple)):
        b = as_array(other, "the second array")
        _same_length(a, b)
    else:
        b = float(other)
    with np.errstate(all="ignore"):
        return _OPERATORS[op](a, b).tolist()


def norm(kind, vector):
    a = as_array(vector)
    if kind == "l0":
        return float(np.count_nonzero(a))
    if kind == "l1":
        return float(np.abs(a).sum())
    if kind == "l2":
        return float(np.sqrt(np.dot(a, a)))
    if kind == "max":
        return float(np.abs(a).max()) if a.size else 0.0
    raise ValueError(kind)


def normalize(kind, vector):
    a = as_array(vector)
    with np.errstate(all="ignore"):
        return (a / norm(kind, vector)).tolist()


def distance(kind, vector, other):
    a, b = as_array(vector), as_array(other, "other")
    _same_length(a, b)
    with np.errstate(all="ignore"):
        if kind == "l1":
            return float(np.abs(a - b).sum())
        if kind == "l2":
            return float(np.sqrt(np.square(a - b).sum()))
        if kind == "dot":
            return float(np.dot(a, b))
        if kind == "cosine":
            return float(np.dot(a, b) / (np.sqrt(np.dot(a, a)) * np.sqrt(np.dot(b, b))))
    raise ValueError(kind)


# Aggregates: state and value are arrays; the empty state '{}' means no row yet. The same
# step is the combine function (for *_abs the state already holds absolute values).
_STEPS = {"sum": np.add, "min": np.minimum, "max": np.maximum,
          "min_abs": np.minimum, "max_abs": np.maximum}


def aggregate_step(kind, state, value):
    if not value:  # also the combine of a partial state with an empty one
        return list(state)
    v = as_array(value, "value")
    if kind.endswith("_abs"):
        v = np.abs(v)
    if not state:
        return v.tolist()
    s = as_array(state, "state")
    _same_length(s, v)
    return _STEPS[kind](s, v).tolist()
