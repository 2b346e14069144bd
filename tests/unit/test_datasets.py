"""pgml_py.datasets without a server: the builtin tables' columns (api.md §11), the values
bound for them compared with scikit-learn's loaders, the SQL it writes, the Hugging Face type
mapping, and the order of statements against a recording fake of db.py."""
import json

import numpy as np
import pytest
from sklearn import datasets as sk

from pgml_py import datasets, errors

ROWS = {"breast_cancer": 569, "diabetes": 442, "digits": 1797, "iris": 150, "linnerud": 20, "wine": 178}


class FakeDb:
    """Records what load() sends to db.py; `tables` are the names to_regclass finds."""
    def __init__(self, tables=()):
        self.tables, self.calls, self.notices = set(tables), [], []

    def execute(self, query, args=(), types=()):
        if "pg_read_server_files" in query:  # server_files.check: this caller may read them
            return [{"role": "postgres", "ok": True}]
        self.calls.append((query, list(args), list(types)))
        if query.startswith("SELECT to_regclass"):
            return [{"found": args[0] in self.tables}]
        return []

    def notice(self, message):
        self.notices.append(message)

    def queries(self):
        return [q.split(" (")[0] for q, _, _ in self.calls]


def names_and_types(name):
    return [(c.name, c.type + "[]" * len(c.shape or ())) for c in datasets.BUILTINS[name]]


def column(name, column_name):
    """The values bound for one column of a builtin, by column name."""
    _, values = datasets.builtin_values(name)
    return values[[c.name for c in datasets.BUILTINS[name]].index(column_name)]


# ---- column specs ------------------------------------------------------------------------

def test_breast_cancer_columns_are_sklearns_feature_names_in_order_then_malignant():
    expected = [str(n) for n in sk.load_breast_cancer().feature_names]
    assert names_and_types("breast_cancer") == [(n, "FLOAT4") for n in expected] + [("malignant", "BOOLEAN")]
    assert expected[0] == "mean radius" and expected[-1] == "worst fractal dimension"


def test_small_builtins_columns():
    assert names_and_types("diabetes") == [(n, "FLOAT4") for n in
                                           ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6", "target"]]
    assert names_and_types("digits") == [("image", "SMALLINT[][]"), ("target", "SMALLINT")]
    assert names_and_types("iris") == [("sepal_length", "FLOAT4"), ("sepal_width", "FLOAT4"),
                                       ("petal_length", "FLOAT4"), ("petal_width", "FLOAT4"), ("target", "INT4")]
    assert names_and_types("linnerud") == [(n, "FLOAT4") for n in
                                           ["chins", "situps", "jumps", "weight", "waist", "pulse"]]


def test_wine_columns_in_postgresmls_order_with_sklearns_names():
    assert names_and_types("wine") == [(n, "FLOAT4") for n in [
        "alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids",
        "nonflavanoid_phenols", "proanthocyanins", "hue", "color_intensity", "od280/od315_of_diluted_wines",
        "proline"]] + [("target", "INT4")]
    assert set(datasets.WINE_FEATURES) == set(sk.load_wine().feature_names)


# ---- values ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ROWS))
def test_every_builtin_has_its_rows_in_every_column(name):
    rows, values = datasets.builtin_values(name)
    assert rows == ROWS[name]
    for c, v in zip(datasets.BUILTINS[name], values):
        assert len(v) == rows * (64 if c.shape else 1)
        assert all(type(x) is {"FLOAT4": float, "INT4": int, "SMALLINT": int, "BOOLEAN": bool}[c.type] for x in v)


def test_breast_cancer_values_and_malignant_is_target_zero():
    bunch = sk.load_breast_cancer()
    names = list(bunch.feature_names)
    for n in ("mean radius", "concave points error", "worst fractal dimension"):
        assert column("breast_cancer", n) == bunch.data[:, names.index(n)].astype(np.float32).tolist()
    malignant = column("breast_cancer", "malignant")
    assert sum(malignant) == 212 and malignant == (bunch.target == 0).tolist()


def test_wine_values_go_by_name_not_position():
    bunch = sk.load_wine()
    names = list(bunch.feature_names)
    for n in ("hue", "color_intensity", "od280/od315_of_diluted_wines"):
        assert column("wine", n) == bunch.data[:, names.index(n)].astype(np.float32).tolist()
    assert column("wine", "target") == bunch.target.tolist()


def test_diabetes_is_sklearns_scaled_data():
    bunch = sk.load_diabetes()
    assert column("diabetes", "bmi") == bunch.data[:, 2].astype(np.float32).tolist()
    assert column("diabetes", "target") == bunch.target.astype(np.float32).tolist()
    assert abs(np.mean(column("diabetes", "age"))) < 1e-6  # scaled, not the raw ages


def test_digits_image_is_flattened_row_after_row():
    bunch = sk.load_digits()
    rows, (image, target) = datasets.builtin_values("digits", limit=3)
    assert rows == 3 and image == bunch.images[:3].astype(int).reshape(-1).tolist() and target == [0, 1, 2]


def test_iris_and_linnerud_values():
    iris = sk.load_iris()
    assert column("iris", "petal_width") == iris.data[:, 3].astype(np.float32).tolist()
    assert column("iris", "target") == iris.target.tolist()
    linnerud = sk.load_linnerud()
    assert column("linnerud", "jumps") == linnerud.data[:, 2].tolist()
    assert column("linnerud", "pulse") == linnerud.target[:, 2].tolist()


def test_limit_takes_the_first_rows():
    rows, values = datasets.builtin_values("wine", limit=7)
    assert rows == 7 and all(len(v) == 7 for v in values)
    assert datasets.builtin_values("wine", limit=10**9)[0] == 178


# ---- SQL ---------------------------------------------------------------------------------

def test_quote_ident_always_quotes_and_doubles_quotes():
    assert datasets.quote_ident("iris") == '"iris"'
    assert datasets.quote_ident('a "b"; DROP') == '"a ""b""; DROP"'
    for bad in ("", None, "a\x00b"):
        with pytest.raises(errors.InvalidParameter):
            datasets.quote_ident(bad)


def test_create_table_quotes_every_column():
    query = datasets.create_table_query('pgml."digits"', datasets.BUILTINS["digits"])
    assert query == 'CREATE TABLE pgml."digits" ("image" SMALLINT[][], "target" SMALLINT)'
    assert '"od280/od315_of_diluted_wines" FLOAT4' in datasets.create_table_query(
        'pgml."wine"', datasets.BUILTINS["wine"])


def test_insert_is_one_statement_with_one_array_per_column():
    query, types = datasets.insert_query('pgml."iris"', datasets.BUILTINS["iris"])
    assert types == ["FLOAT4[]"] * 4 + ["INT4[]"]
    assert query.startswith('INSERT INTO pgml."iris" ("sepal_length", "sepal_width", ')
    assert "unnest($1, $2, $3, $4, $5) WITH ORDINALITY" in query
    query, types = datasets.insert_query('pgml."digits"', datasets.BUILTINS["digits"])
    assert types == ["SMALLINT[]", "SMALLINT[]"] and "unnest($2)" in query and "array_agg($1[" in query


# ---- Hugging Face types ------------------------------------------------------------------

def test_hugging_face_type_mapping():
    from datasets import ClassLabel, Image, List, Value
    expected = {"string": "TEXT", "int64": "INT8", "int32": "INT4", "int16": "INT2", "int8": "INT2",
                "float64": "FLOAT8", "float32": "FLOAT4", "float16": "FLOAT4", "bool": "BOOLEAN"}
    for dtype, sql in expected.items():
        assert datasets.hf_type("c", Value(dtype)) == sql
    assert datasets.hf_type("c", ClassLabel(names=["neg", "pos"])) == "INT8"
    assert datasets.hf_type("c", List(Value("int32"))) == "JSONB"
    assert datasets.hf_type("c", {"a": Value("string")}) == "JSONB"
    for other in (Value("timestamp[s]"), Value("uint32"), Image()):
        with pytest.raises(errors.FeatureNotSupported, match='unhandled dataset feature.*column "c"') as info:
            datasets.hf_type("c", other)
        assert info.value.sqlstate == "0A000" and info.value.hint


def test_hugging_face_local_files_load_with_json_columns(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"text": "a", "n": 1, "x": 0.5, "ok": True, "tags": ["p", "q"], "meta": {"k": 1}},
        {"text": "b", "n": 2, "x": 1.5, "ok": False, "tags": [], "meta": {"k": 2}},
        {"text": None, "n": 3, "x": 2.5, "ok": True, "tags": ["r"], "meta": None}]))
    db = FakeDb()
    kwargs = {"data_files": str(path), "cache_dir": str(tmp_path / "cache")}
    assert datasets.load(db, "json", None, 2, kwargs) == [("json", 2)]
    assert db.queries() == ["SELECT to_regclass($1) IS NOT NULL AS found", 'CREATE TABLE pgml."json"',
                            'INSERT INTO pgml."json"']
    assert db.calls[1][0] == ('CREATE TABLE pgml."json" ("text" TEXT, "n" INT8, "x" FLOAT8, "ok" BOOLEAN, '
                              '"tags" JSONB, "meta" JSONB)')
    _, values, types = db.calls[2]
    assert types == ["TEXT[]", "INT8[]", "FLOAT8[]", "BOOLEAN[]", "JSONB[]", "JSONB[]"]
    assert values == [["a", "b"], [1, 2], [0.5, 1.5], [True, False], ['["p", "q"]', "[]"], ['{"k": 1}', '{"k": 2}']]
    db = FakeDb()
    assert datasets.load(db, "json", None, None, kwargs) == [("json", 3)]
    assert db.calls[2][1][0] == ["a", "b", None] and db.calls[2][1][5][2] is None


def test_hugging_face_batches_respect_limit_across_splits(tmp_path, monkeypatch):
    for split in ("train", "test"):
        (tmp_path / (split + ".csv")).write_text("a,b\n" + "".join("%d,x%d\n" % (i, i) for i in range(5)))
    monkeypatch.setattr(datasets, "BATCH_ROWS", 2)
    db = FakeDb()
    kwargs = {"data_files": {s: str(tmp_path / (s + ".csv")) for s in ("train", "test")},
              "cache_dir": str(tmp_path / "cache")}
    assert datasets.load(db, "csv", None, None, kwargs) == [("csv", 10)]
    inserts = [args for q, args, _ in db.calls if q.startswith("INSERT")]
    assert [len(a[0]) for a in inserts] == [2, 2, 1, 2, 2, 1]
    db = FakeDb()
    assert datasets.load(db, "csv", None, 3, dict(kwargs, split="test")) == [("csv", 3)]


def test_text_with_nul_is_an_error_not_a_cut_string():
    column = datasets.Column("b", "TEXT", None)
    assert datasets.hf_values(column, ["x", None]) == ["x", None]
    with pytest.raises(errors.DataError, match='column "b" has text with a NUL') as info:
        datasets.hf_values(column, ["x", "a\x00b"])
    assert info.value.sqlstate == "22021"


def test_unreadable_files_are_a_data_error(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(errors.DataError, match='dataset "json" could not be read') as info:
        datasets.load(FakeDb(), "json", None, None, {"data_files": str(path), "cache_dir": str(tmp_path)})
    assert info.value.detail and info.value.hint


def test_unknown_dataset_offline_names_it_with_a_hint(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    db = FakeDb()
    with pytest.raises(errors.UndefinedObject) as info:
        datasets.load(db, "no_such_org/no_such_dataset")
    e = info.value
    assert e.sqlstate == "42704" and '"no_such_org/no_such_dataset"' in e.message and "offline" in e.message
    assert "iris" in e.hint and "COPY" in e.hint and db.calls == []


# ---- load --------------------------------------------------------------------------------

def test_load_builtin_creates_then_inserts_once_and_notices():
    db = FakeDb()
    assert datasets.load(db, "iris") == [("pgml.iris", 150)]
    assert db.queries() == ["SELECT to_regclass($1) IS NOT NULL AS found", 'CREATE TABLE pgml."iris"',
                            'INSERT INTO pgml."iris"']
    assert db.calls[0][1:] == (['pgml."iris"'], ["text"])
    assert [len(v) for v in db.calls[2][1]] == [150] * 5
    assert db.notices == ['loaded 150 rows into pgml."iris"']


def test_load_replaces_an_existing_table():
    db = FakeDb(tables={'pgml."wine"'})
    assert datasets.load(db, "wine", limit=5) == [("pgml.wine", 5)]
    assert db.queries()[1:3] == ['DROP TABLE pgml."wine"', 'CREATE TABLE pgml."wine"']


@pytest.mark.parametrize("limit", [0, -1])
def test_bad_limit_before_any_query(limit):
    db = FakeDb()
    with pytest.raises(errors.InvalidParameter, match="limit must be at least 1. Got %d instead." % limit) as info:
        datasets.load(db, "iris", limit=limit)
    assert info.value.sqlstate == "22023" and info.value.hint and db.calls == []


def test_null_source():
    with pytest.raises(errors.NullValueNotAllowed) as info:
        datasets.load(FakeDb(), None)
    assert info.value.sqlstate == "22004" and "iris" in info.value.hint
