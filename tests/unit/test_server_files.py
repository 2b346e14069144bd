"""Which argument values name files on the server, and who may use them."""
import pytest

from pgml_py import errors, server_files


@pytest.mark.parametrize("text", ["/etc/passwd", "./model", "../x", "~/.ssh", "org/../../etc", "a\\b"])
def test_paths(text):
    assert server_files.is_server_path(text)


@pytest.mark.parametrize("text", ["org/name", "name", "", None, 3, "sentence-transformers/all-MiniLM-L6-v2"])
def test_hub_names(text):
    assert not server_files.is_server_path(text)


def test_a_name_that_exists_in_the_working_directory_is_a_path(tmp_path, monkeypatch):
    (tmp_path / "postgresql.conf").write_text("x")
    monkeypatch.chdir(tmp_path)
    assert server_files.is_server_path("postgresql.conf")


def test_named_paths_walk_every_level_and_always_take_data_files():
    value = {"model_kwargs": {"cache_dir": "/tmp/c"}, "data_files": {"train": ["*.csv", "b.csv"]},
             "subfolder": "../..", "revision": "main", "n": 3}
    assert server_files.named_paths(value, "kwargs") == [
        ("kwargs.model_kwargs.cache_dir", "/tmp/c"), ("kwargs.data_files.train", "*.csv"),
        ("kwargs.data_files.train", "b.csv"), ("kwargs.subfolder", "../..")]


def test_a_model_of_the_store_is_not_a_path(tmp_path):
    (tmp_path / "org" / "name").mkdir(parents=True)
    assert server_files.model_path("org/name", str(tmp_path)) == []
    assert server_files.model_path(str(tmp_path / "org" / "name"), str(tmp_path)) == \
        [("the model name", str(tmp_path / "org" / "name"))]


class Db:
    def __init__(self, ok):
        self.ok, self.queries = ok, []

    def execute(self, query, args=(), types=()):
        self.queries.append(query)
        return [{"role": "app", "ok": self.ok}]


def test_check_asks_the_server_once_and_names_path_and_role():
    server_files.check(Db(False), [])  # nothing named: no query
    db = Db(True)
    server_files.check(db, [("kwargs.data_files", "/etc/x")])
    assert len(db.queries) == 1 and "pg_read_server_files" in db.queries[0]
    with pytest.raises(errors.InsufficientPrivilege, match='"/etc/x"') as info:
        server_files.check(Db(False), [("kwargs.data_files", "/etc/x")])
    assert "GRANT pg_read_server_files TO app" in info.value.hint and "Kwargs.data_files" in info.value.detail
