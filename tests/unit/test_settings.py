import pytest

from pgml_py import errors, settings


def test_defaults_when_unset():
    s = settings.from_raw({})
    assert s.device == "auto"
    assert s.cache_max_models == 8
    assert s.huggingface_offline is False
    assert s.huggingface_whitelist == []
    assert s.omp_num_threads == 0  # automatic (pgml_py/threads.py)
    assert s.embed_backend == "auto"
    assert s.model_store == settings.install_defaults["pgml.model_store"]


def test_lists_strip_quotes_and_empty_items():
    s = settings.from_raw({"pgml.huggingface_whitelist": '"a/b, ,c/d,"'})
    assert s.huggingface_whitelist == ["a/b", "c/d"]


@pytest.mark.parametrize("raw,expected", [("on", True), ("TRUE", True), ("off", False), ("0", False)])
def test_bools(raw, expected):
    assert settings.from_raw({"pgml.huggingface_trust_remote_code": raw}).huggingface_trust_remote_code is expected


@pytest.mark.parametrize("name,raw", [("pgml.cache_max_models", "0"), ("pgml.cache_max_models", "many"),
                                      ("pgml.huggingface_offline", "perhaps")])
def test_bad_values_name_the_setting(name, raw):
    with pytest.raises(errors.InvalidParameter) as info:
        settings.from_raw({name: raw})
    assert name in info.value.message and info.value.hint
