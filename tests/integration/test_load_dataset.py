"""pgml.load_dataset on the real server: each builtin's rows, exact columns and
types, values equal to scikit-learn's; limit; replacing a table; Hugging Face's local file
builders offline; errors with SQLSTATE and hint; a failed load changes nothing."""
import json
import time

import numpy as np
import pytest
from sklearn import datasets as sk

ROWS = {"breast_cancer": 569, "diabetes": 442, "digits": 1797, "iris": 150, "linnerud": 20, "wine": 178}

MEASURES = ["radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
            "concave points", "symmetry", "fractal dimension"]
COLUMNS = {
    "breast_cancer": [("mean " + m, "real") for m in MEASURES] + [(m + " error", "real") for m in MEASURES]
    + [("worst " + m, "real") for m in MEASURES] + [("malignant", "boolean")],
    "diabetes": [(n, "real") for n in ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6", "target"]],
    "digits": [("image", "smallint[]"), ("target", "smallint")],
    "iris": [("sepal_length", "real"), ("sepal_width", "real"), ("petal_length", "real"),
             ("petal_width", "real"), ("target", "integer")],
    "linnerud": [(n, "real") for n in ["chins", "situps", "jumps", "weight", "waist", "pulse"]],
    "wine": [(n, "real") for n in [
        "alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids",
        "nonflavanoid_phenols", "proanthocyanins", "hue", "color_intensity", "od280/od315_of_diluted_wines",
        "proline"]] + [("target", "integer")],
}


def columns(conn, table):
    """(name, format_type) in table order, checked against information_schema too."""
    rows = conn.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                        (table,)).fetchall()
    schema, name = table.split(".", 1)
    info = conn.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                        "AND table_name = %s ORDER BY ordinal_position", (schema, name.strip('"'))).fetchall()
    assert [r[0] for r in info] == [r[0] for r in rows]
    return rows


def column_values(conn, table, column):
    """A column in insertion order; REAL as the exact float32 value (no decimal round trip)."""
    kind = conn.execute('SELECT pg_typeof("%s")::text FROM %s LIMIT 1' % (column, table)).fetchone()[0]
    cast = "::float8" if kind == "real" else ""
    return [r[0] for r in conn.execute('SELECT "%s"%s FROM %s ORDER BY ctid' % (column, cast, table)).fetchall()]


def f32(values):
    return np.asarray(values, dtype=np.float32).tolist()


@pytest.mark.parametrize("name", sorted(ROWS))
def test_builtin_loads_with_exact_columns_and_rows(conn, name, capsys):
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    started = time.perf_counter()
    assert conn.execute("SELECT * FROM pgml.load_dataset(%s)", (name,)).fetchall() == [("pgml." + name, ROWS[name])]
    elapsed = time.perf_counter() - started
    started = time.perf_counter()
    conn.execute("SELECT * FROM pgml.load_dataset(%s)", (name,))
    warm = time.perf_counter() - started
    with capsys.disabled():
        print("\n  load_dataset(%r): %.3f s in a new connection, %.3f s again" % (name, elapsed, warm))
    # Timings are printed, not asserted (speed is bench/'s job): CI failed 4 of 6 here while the
    # machine ran other builds (4.4-9.9 s for what takes under 2 s on a quiet machine).
    assert columns(conn, "pgml." + name) == COLUMNS[name]
    assert conn.execute("SELECT count(*) FROM pgml.%s" % name).fetchone()[0] == ROWS[name]
    assert notices[-1] == 'loaded %d rows into pgml."%s"' % (ROWS[name], name)


def test_breast_cancer_values_and_malignant_count(conn):
    conn.execute("SELECT pgml.load_dataset('breast_cancer')")
    bunch = sk.load_breast_cancer()
    assert conn.execute("SELECT count(*) FILTER (WHERE malignant) FROM pgml.breast_cancer").fetchone()[0] == 212
    assert column_values(conn, "pgml.breast_cancer", "malignant") == (bunch.target == 0).tolist()
    names = list(bunch.feature_names)
    for n in ("mean radius", "concave points error", "worst fractal dimension"):
        assert column_values(conn, "pgml.breast_cancer", n) == f32(bunch.data[:, names.index(n)])


def test_wine_values_by_name(conn):
    conn.execute("SELECT pgml.load_dataset('wine')")
    bunch = sk.load_wine()
    names = list(bunch.feature_names)
    for n in ("hue", "color_intensity", "od280/od315_of_diluted_wines", "proline"):
        assert column_values(conn, "pgml.wine", n) == f32(bunch.data[:, names.index(n)])
    assert column_values(conn, "pgml.wine", "target") == bunch.target.tolist()


def test_digits_images_are_8_by_8(conn):
    conn.execute("SELECT pgml.load_dataset('digits')")
    bunch = sk.load_digits()
    assert conn.execute("SELECT DISTINCT array_dims(image) FROM pgml.digits").fetchall() == [("[1:8][1:8]",)]
    images = column_values(conn, "pgml.digits", "image")
    assert images[0] == bunch.images[0].astype(int).tolist() and images[-1] == bunch.images[-1].astype(int).tolist()
    assert np.array_equal(np.array(images), bunch.images)
    assert column_values(conn, "pgml.digits", "target") == bunch.target.tolist()


def test_iris_diabetes_linnerud_spot_values(conn):
    conn.execute("SELECT pgml.load_dataset('iris'); SELECT pgml.load_dataset('diabetes'); "
                 "SELECT pgml.load_dataset('linnerud')")
    iris = sk.load_iris()
    assert conn.execute("SELECT sepal_length::float8, sepal_width::float8, petal_length::float8, "
                        "petal_width::float8, target FROM pgml.iris ORDER BY ctid LIMIT 1").fetchone() == \
        tuple(f32(iris.data[0])) + (0,)
    assert column_values(conn, "pgml.iris", "target") == iris.target.tolist()
    diabetes = sk.load_diabetes()
    assert column_values(conn, "pgml.diabetes", "s5") == f32(diabetes.data[:, 8])
    assert column_values(conn, "pgml.diabetes", "target") == f32(diabetes.target)
    linnerud = sk.load_linnerud()
    assert conn.execute("SELECT chins::float8, situps::float8, jumps::float8, weight::float8, waist::float8, "
                        "pulse::float8 FROM pgml.linnerud ORDER BY ctid LIMIT 1").fetchone() == \
        tuple(f32(np.concatenate([linnerud.data[0], linnerud.target[0]])))


def test_limit_and_named_arguments(conn):
    assert conn.execute("SELECT * FROM pgml.load_dataset(source => 'iris', \"limit\" => 10)").fetchall() == \
        [("pgml.iris", 10)]
    assert conn.execute("SELECT count(*) FROM pgml.iris").fetchone()[0] == 10
    assert conn.execute("SELECT table_name, rows FROM pgml.load_dataset('digits', NULL, 3)").fetchall() == \
        [("pgml.digits", 3)]
    assert column_values(conn, "pgml.digits", "target") == [0, 1, 2]
    assert conn.execute("SELECT * FROM pgml.load_dataset('wine', \"limit\" => 1000000)").fetchone() == ("pgml.wine", 178)


def test_loading_twice_replaces_the_table(conn):
    conn.execute("SELECT pgml.load_dataset('iris')")
    conn.execute("INSERT INTO pgml.iris (target) VALUES (42)")
    conn.execute("ALTER TABLE pgml.iris ADD COLUMN extra TEXT")
    assert conn.execute("SELECT * FROM pgml.load_dataset('iris')").fetchone() == ("pgml.iris", 150)
    assert conn.execute("SELECT count(*), max(target) FROM pgml.iris").fetchone() == (150, 2)
    assert [c for c, _ in columns(conn, "pgml.iris")] == [c for c, _ in COLUMNS["iris"]]


def test_errors_have_sqlstate_and_hint(conn, expect_error):
    error = expect_error(conn, "SELECT * FROM pgml.load_dataset('no_such_org/no_such_dataset')")
    assert error.sqlstate == "42704" and '"no_such_org/no_such_dataset"' in error.diag.message_primary
    assert "iris" in error.diag.message_hint and "COPY" in error.diag.message_hint
    error = expect_error(conn, "SELECT * FROM pgml.load_dataset('iris', \"limit\" => 0)")
    assert error.sqlstate == "22023" and "limit must be at least 1. Got 0 instead." in error.diag.message_primary
    assert error.diag.message_hint
    error = expect_error(conn, "SELECT * FROM pgml.load_dataset(NULL)")
    assert error.sqlstate == "22004" and error.diag.message_hint
    error = expect_error(conn, "SELECT * FROM pgml.load_dataset('iris', kwargs => '[1]')")
    assert error.sqlstate == "22023"


def test_hugging_face_local_files_offline(conn, public_dir):
    path = public_dir / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"text": "a", "n": 1, "x": 0.5, "ok": True, "tags": ["p", "q"], "meta": {"k": 1}},
        {"text": "b'\"", "n": 2, "x": 1.5, "ok": False, "tags": [], "meta": {"k": 2}},
        {"text": None, "n": 3, "x": 2.5, "ok": True, "tags": ["r"], "meta": None}]))
    path.chmod(0o644)
    kwargs = json.dumps({"data_files": str(path)})
    assert conn.execute("SELECT * FROM pgml.load_dataset('json', kwargs => %s)", (kwargs,)).fetchall() == [("json", 3)]
    assert columns(conn, 'pgml."json"') == [("text", "text"), ("n", "bigint"), ("x", "double precision"),
                                            ("ok", "boolean"), ("tags", "jsonb"), ("meta", "jsonb")]
    assert conn.execute('SELECT * FROM pgml."json" ORDER BY n').fetchall() == [
        ("a", 1, 0.5, True, ["p", "q"], {"k": 1}), ("b'\"", 2, 1.5, False, [], {"k": 2}),
        (None, 3, 2.5, True, ["r"], None)]
    assert conn.execute("SELECT * FROM pgml.load_dataset('json', NULL, 2, %s)", (kwargs,)).fetchall() == [("json", 2)]
    assert conn.execute('SELECT count(*) FROM pgml."json"').fetchone()[0] == 2


def test_a_failed_load_leaves_the_old_table(conn, public_dir, expect_error):
    """The table was dropped, recreated and one batch inserted when the next batch fails (a
    NUL in text, which PL/Python would silently cut): all of it rolls back."""
    good = write_file(public_dir, "good.jsonl", '{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n')
    rows = [{"a": i, "b": "row %d" % i} for i in range(12000)] + [{"a": -1, "b": "nul\x00here"}]
    bad = write_file(public_dir, "bad.jsonl", "\n".join(json.dumps(r) for r in rows))
    load = "SELECT * FROM pgml.load_dataset('json', kwargs => %s)"
    conn.execute('DROP TABLE IF EXISTS pgml."json"')
    error = expect_error(conn, load, (json.dumps({"data_files": str(bad)}),))
    assert error.sqlstate == "22021" and '"b"' in error.diag.message_primary and error.diag.message_hint
    assert conn.execute("SELECT to_regclass('pgml.\"json\"')").fetchone() == (None,)
    assert conn.execute(load, (json.dumps({"data_files": str(good)}),)).fetchone() == ("json", 2)
    expect_error(conn, load, (json.dumps({"data_files": str(bad)}),))
    assert conn.execute('SELECT * FROM pgml."json" ORDER BY a').fetchall() == [(1, "x"), (2, "y")]


def test_hugging_face_csv_files(conn, public_dir):
    """pandas' C parser cannot run inside a backend (symbol clash); the csv builder works."""
    path = write_file(public_dir, "rows.csv", "a,b,c\n1,x,0.5\n2,y,1.5\n")
    assert conn.execute("SELECT * FROM pgml.load_dataset('csv', kwargs => %s)",
                        (json.dumps({"data_files": str(path)}),)).fetchone() == ("csv", 2)
    assert columns(conn, 'pgml."csv"') == [("a", "bigint"), ("b", "text"), ("c", "double precision")]
    assert conn.execute('SELECT * FROM pgml."csv" ORDER BY a').fetchall() == [(1, "x", 0.5), (2, "y", 1.5)]


def write_file(directory, name, text):
    path = directory / name
    path.write_text(text)
    path.chmod(0o644)
    return path


def test_signature(conn):
    assert conn.execute(
        "SELECT pg_get_function_arguments(oid), pg_get_function_result(oid), provolatile, proisstrict "
        "FROM pg_proc WHERE oid = 'pgml.load_dataset'::regproc").fetchone() == (
        "source text, subset text DEFAULT NULL::text, \"limit\" bigint DEFAULT NULL::bigint, "
        "kwargs jsonb DEFAULT '{}'::jsonb", "TABLE(table_name text, rows bigint)", "v", False)


def test_splits_are_concatenated_in_batches_and_limit_counts_across_them(conn, public_dir):
    """Two splits of 12,000 rows (more than one INSERT batch each): both, each in its file's
    order, or the first `limit` rows of the one named by kwargs' split."""
    files = {}
    for split, offset in (("train", 0), ("test", 100000)):
        files[split] = str(write_file(public_dir, split + ".csv",
                                      "a,b\n" + "".join("%d,x%d\n" % (offset + i, i) for i in range(12000))))
    kwargs = json.dumps({"data_files": files})
    assert conn.execute("SELECT * FROM pgml.load_dataset('csv', kwargs => %s)", (kwargs,)).fetchone() == ("csv", 24000)
    a = [r[0] for r in conn.execute('SELECT a FROM pgml."csv" ORDER BY ctid').fetchall()]
    assert a in (list(range(12000)) + list(range(100000, 112000)), list(range(100000, 112000)) + list(range(12000)))
    kwargs = json.dumps({"data_files": files, "split": "test"})
    assert conn.execute("SELECT * FROM pgml.load_dataset('csv', NULL, 3, %s)", (kwargs,)).fetchone() == ("csv", 3)
    assert conn.execute('SELECT a, b FROM pgml."csv" ORDER BY ctid').fetchall() == [
        (100000, "x0"), (100001, "x1"), (100002, "x2")]


def test_an_unreadable_file_is_a_data_error(conn, public_dir, expect_error):
    path = write_file(public_dir, "broken.jsonl", '{"a": 1}\n{"a": \n')
    error = expect_error(conn, "SELECT * FROM pgml.load_dataset('json', kwargs => %s)",
                         (json.dumps({"data_files": str(path)}),))
    assert error.sqlstate == "22000" and 'dataset "json" could not be read' in error.diag.message_primary
    assert error.diag.message_detail and error.diag.message_hint
