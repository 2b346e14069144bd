from pgml_py import errors, models_store


def test_hub_name_found_in_store(tmp_path):
    (tmp_path / "org" / "name").mkdir(parents=True)
    assert models_store.resolve("org/name", str(tmp_path)) == str(tmp_path / "org" / "name")


def test_missing_model_keeps_hub_name(tmp_path):
    assert models_store.resolve("org/other", str(tmp_path)) == "org/other"


def test_no_escape_from_store(tmp_path):
    (tmp_path / "x").mkdir()
    assert models_store.resolve("../x", str(tmp_path / "store")) == "../x"


def test_not_found_error_names_model_store_and_fix(tmp_path):
    error = models_store.not_found("org/name", str(tmp_path), True, OSError("offline"))
    assert isinstance(error, errors.UndefinedObject)
    assert "org/name" in error.message and "offline" in error.message
    assert str(tmp_path / "org" / "name") in error.detail
    assert "save_pretrained" in error.hint
