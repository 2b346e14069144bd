"""pgml_py.api imports outside a backend, so its argument handling and error classification are
tested here without a server (the SQL paths are the integration tests')."""
import math

import numpy as np
import pytest

from pgml_py import api, errors


def test_importing_api_needs_no_backend():
    import sys
    assert "plpy" not in sys.modules and "pgml_bootstrap" not in sys.modules


@pytest.mark.parametrize("raw,expected", [
    (None, {}), ("{}", {}), ('{"a": 1}', {"a": 1}), ({"b": [1]}, {"b": [1]}),
])
def test_parse_kwargs_takes_json_objects(raw, expected):
    assert api.parse_kwargs(raw) == expected


@pytest.mark.parametrize("raw,kind", [("[1, 2]", "array"), ("null", "null"), ('"x"', "string"),
                                      ("3", "number"), ("true", "boolean")])
def test_parse_kwargs_refuses_other_json(raw, kind):
    with pytest.raises(errors.InvalidParameter) as e:
        api.parse_kwargs(raw, "hyperparams")
    assert e.value.sqlstate == "22023"
    assert e.value.message == "hyperparams must be a JSON object. Got a JSON %s instead." % kind
    assert e.value.hint


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_test_size_must_be_finite(value):
    with pytest.raises(errors.InvalidParameter, match="test_size must be"):
        api.finite_test_size(value)
    assert api.finite_test_size(0.25) == 0.25 and api.finite_test_size(None) is None


def test_a_project_name_is_required():
    with pytest.raises(errors.NullValueNotAllowed) as e:
        api.require_project_name(None)
    assert e.value.sqlstate == "22004"
    api.require_project_name("p")


def test_real_array_literals_give_back_the_same_float32():
    vectors = np.random.RandomState(0).normal(size=(3, 5)).astype(np.float32)
    vectors[0, 0] = np.float32(1e-38)
    literals = api.real_array_literals(vectors)
    back = np.array([[float(v) for v in lit.strip("{}").split(",")] for lit in literals], dtype=np.float32)
    assert np.array_equal(back, vectors) and api.real_array_literals(np.zeros((0, 4))) == []


def test_a_pgml_error_is_reported_as_it_is():
    error = errors.InvalidParameter("bad", hint="fix it")
    assert api.reported(error, "embed") is error


def test_a_python_error_from_pgml_or_a_library_is_an_internal_error_with_its_type():
    """A ValueError or TypeError is no longer blamed on the caller's arguments (issue 14.6)."""
    for exc in (ValueError("could not convert"), TypeError("unexpected keyword"), KeyError("x"), RuntimeError("y")):
        error = api.reported(exc, "transform")
        assert error.sqlstate == "XX000"
        assert error.message.startswith("transform failed: %s: " % type(exc).__name__)
        assert "bug in pgml" in error.hint


def test_running_out_of_memory_is_53200():
    error = api.reported(MemoryError(), "embed_batch")
    assert error.sqlstate == "53200" and "ran out of memory" in error.message and error.hint
