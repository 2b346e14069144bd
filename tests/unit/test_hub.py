"""Remote code is decided by the trusted settings, wherever a call asks for it."""
import pytest

from pgml_py import errors
from pgml_py.hf import hub
from pgml_py.settings import from_raw


def settings(trust=False, whitelist=""):
    return from_raw({"pgml.huggingface_trust_remote_code": "on" if trust else "off",
                     "pgml.huggingface_trust_remote_code_whitelist": whitelist})


@pytest.mark.parametrize("value", [
    {"trust_remote_code": True}, {"config_kwargs": {"trust_remote_code": True}},
    {"model_kwargs": {"a": [{"trust_remote_code": "yes"}]}}, {"custom_generate": "org/recipe"},
    {"tokenizer_kwargs": {"trust_remote_code": 1}},
])
def test_a_request_at_any_depth_is_seen_and_refused_by_default(value):
    assert hub.asks_for_remote_code(value)
    with pytest.raises(errors.InsufficientPrivilege, match="not trusted to run remote code") as info:
        hub.remote_code("org/model", settings(), value)
    assert info.value.sqlstate == "42501" and info.value.hint


@pytest.mark.parametrize("value", [{}, {"trust_remote_code": False}, {"model_kwargs": {"trust_remote_code": None}},
                                   {"prompt": "trust_remote_code"}, ["trust_remote_code"]])
def test_no_request(value):
    assert not hub.asks_for_remote_code(value)
    assert hub.remote_code("org/model", settings(), value) is False


def test_only_the_settings_allow_it():
    ask = {"model_kwargs": {"trust_remote_code": True}}
    assert hub.remote_code("org/model", settings(trust=True), ask) is True
    assert hub.remote_code("org/model", settings(trust=True, whitelist="org/model"), ask) is True
    with pytest.raises(errors.InsufficientPrivilege):
        hub.remote_code("org/other", settings(trust=True, whitelist="org/model"), ask)


def test_a_stored_name_is_trusted_only_when_listed_by_name():
    assert not hub.trusts_by_name("org/model", settings(trust=True))  # empty list = "all" is not enough
    assert hub.trusts_by_name("org/model", settings(trust=True, whitelist="org/model"))
    assert not hub.trusts_by_name("org/model", settings(trust=False, whitelist="org/model"))


def test_without_remote_code_strips_every_flag():
    value = {"trust_remote_code": True, "a": {"trust_remote_code": True, "b": [{"trust_remote_code": 1, "c": 2}]}}
    assert hub.without_remote_code(value) == {"a": {"b": [{"c": 2}]}}


def test_call_args_strip_the_flag_and_refuse_a_recipe():
    assert hub.call_args({"max_new_tokens": 2, "trust_remote_code": False}, "m", settings(), None) == {"max_new_tokens": 2}
    with pytest.raises(errors.InsufficientPrivilege):
        hub.call_args({"custom_generate": "org/recipe"}, "m", settings(), None)
    assert hub.call_args({"custom_generate": "org/recipe"}, "m", settings(trust=True), None) == \
        {"custom_generate": "org/recipe", "trust_remote_code": True}


def test_code_refused_recognizes_transformers_refusal():
    refused = hub.code_refused("org/m", ValueError("... Please pass the argument `trust_remote_code=True` ..."))
    assert refused.sqlstate == "42501" and "needs to run its own Python code" in refused.message
    assert hub.code_refused("org/m", ValueError("something else")) is None


def test_call_args_refuse_remote_code_without_a_named_model():
    """A tuned project or a task's default model: never trusted, whatever the settings."""
    with pytest.raises(errors.InsufficientPrivilege, match="does not name"):
        hub.call_args({"trust_remote_code": True}, None, settings(trust=True), None)
    assert hub.call_args({"max_new_tokens": 1}, None, settings(), None) == {"max_new_tokens": 1}
