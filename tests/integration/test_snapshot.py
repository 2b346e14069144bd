"""pgml_py.ml.snapshot inside the real server: a temporary
PL/Python function per connection calls create() and load() through api.entry, so errors
surface with their SQLSTATE and hint. Covers relation resolution (public, search_path, other
schemas, views, names that must be quoted), sampling and split sizes, encoding, the
pgml.snapshots row and each error."""
import uuid

import numpy as np
import pytest
from psycopg import sql

BODY = """
import json
from pgml_py import api, db
from pgml_py.ml import reader, snapshot
import numpy as np

def one(v):   # JSON has no NaN or Infinity
    return None if v != v else repr(v) if v in (float("inf"), float("-inf")) else v

def plain(a):
    if a is None:
        return None
    a = np.asarray(a, dtype=np.float64)
    return [[one(v) for v in row] for row in a.tolist()] if a.ndim == 2 else [one(v) for v in a.tolist()]

@api.entry
def run():
    sid = snapshot_id if snapshot_id is not None else snapshot.create(
        db, rel, labels, size, sampling, materialize)
    if not do_load:
        return json.dumps({"id": sid})
    ds = snapshot.load(db, sid, chunk_bytes=chunk_bytes or reader.CHUNK_BYTES, vector=vector)
    out = {"id": sid, "train": list(ds.X_train.shape), "test": list(ds.X_test.shape),
           "y_train_shape": None if ds.y_train is None else list(ds.y_train.shape),
           "feature_names": ds.feature_names, "num_features": ds.num_features,
           "label_classes": ds.label_classes,
           "dtypes": [str(ds.X_train.dtype), None if ds.y_train is None else str(ds.y_train.dtype)],
           "vector_read": ds.vector_read}
    if full:
        out.update(X_train=plain(ds.X_train), X_test=plain(ds.X_test), y_train=plain(ds.y_train),
                   y_test=plain(ds.y_test))
    return json.dumps(out)

return run()
"""


def bootstrap_line(conn):
    src = conn.execute("SELECT prosrc FROM pg_proc WHERE proname = 'chunk' "
                       "AND pronamespace = 'pgml'::regnamespace").fetchone()[0]
    return next(line for line in src.splitlines() if "pgml_bootstrap.boot" in line)


def install(conn):
    conn.execute(
        "CREATE FUNCTION pg_temp.snap(rel text, labels text[], size real, sampling text, "
        "materialize boolean DEFAULT false, full boolean DEFAULT true, do_load boolean DEFAULT true, "
        "snapshot_id bigint DEFAULT NULL, chunk_bytes bigint DEFAULT NULL, vector boolean DEFAULT true) "
        "RETURNS jsonb AS $body$\n%s\n%s$body$ LANGUAGE plpython3u"
        % (bootstrap_line(conn), BODY))


@pytest.fixture
def db(conn):
    install(conn)
    return conn


def snap(conn, rel, labels, size=0.25, sampling="random", **kw):
    args = ", ".join("%s => %%s" % k for k in kw)
    query = "SELECT pg_temp.snap(%s::text, %s::text[], %s::real, %s::text" + (", " + args if args else "") + ")"
    return conn.execute(query, (rel, labels, size, sampling, *kw.values())).fetchone()[0]


def error(conn, rel, labels, size=0.25, sampling="random", **kw):
    import psycopg
    with pytest.raises(psycopg.Error) as info:
        snap(conn, rel, labels, size, sampling, **kw)
    return info.value


def snapshot_row(conn, sid):
    return conn.execute("SELECT relation_name, y_column_name, test_size, test_sampling::text, status, "
                        "materialized, columns, analysis FROM pgml.snapshots WHERE id = %s", (sid,)).fetchone()


@pytest.fixture(scope="module")
def datasets(server):
    with server.connect() as c:
        for name in ("iris", "diabetes", "digits"):
            c.execute("SELECT pgml.load_dataset(%s)", (name,))


def table_rows(conn, query):
    return [list(r) for r in conn.execute(query).fetchall()]


# ---- numeric data sets -----------------------------------------------------------------------

def test_iris_random_shapes_row_and_columns(db, datasets):
    out = snap(db, "pgml.iris", ["target"], 0.25, "random")
    assert out["train"] == [112, 4] and out["test"] == [38, 4]  # round(37.5) = 38, half away from zero
    assert out["y_train_shape"] == [112] and out["dtypes"] == ["float32", "float32"]
    assert out["feature_names"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert out["num_features"] == 4 and out["label_classes"] is None
    assert sorted(set(out["y_train"] + out["y_test"])) == [0.0, 1.0, 2.0]
    rel, labels, size, sampling, status, materialized, columns, analysis = snapshot_row(db, out["id"])
    assert (rel, labels, size, sampling, status, materialized) == \
        ("pgml.iris", ["target"], 0.25, "random", "in_progress", False)
    assert analysis == {"samples": 150}
    assert [(c["name"], c["pg_type"], c["position"], c["label"], c["size"], c["array"]) for c in columns] == [
        ("sepal_length", "real", 1, False, 1, False), ("sepal_width", "real", 2, False, 1, False),
        ("petal_length", "real", 3, False, 1, False), ("petal_width", "real", 4, False, 1, False),
        ("target", "integer", 5, True, 1, False)]
    stats = columns[0]["statistics"]
    train = np.array(out["X_train"])[:, 0]
    assert stats["min"] == pytest.approx(train.min()) and stats["max"] == pytest.approx(train.max())
    assert stats["mean"] == pytest.approx(train.mean(), rel=1e-5)
    assert stats["missing"] == 0 and stats["distinct"] == len(set(train.tolist()))


def test_random_reshuffles_on_every_load(db, datasets):
    a = snap(db, "pgml.iris", ["target"], 0.25, "random")
    b = snap(db, "pgml.iris", ["target"], 0.25, "random")
    assert a["X_train"] != b["X_train"]
    assert sorted(map(tuple, a["X_train"] + a["X_test"])) == sorted(map(tuple, b["X_train"] + b["X_test"]))


def test_last_keeps_natural_order_and_takes_test_rows_from_the_end(db, datasets):
    out = snap(db, "pgml.iris", ["target"], 0.2, "last")
    rows = table_rows(db, "SELECT sepal_length::float8, sepal_width::float8, petal_length::float8, "
                          "petal_width::float8, target FROM pgml.iris")
    X = [[float(np.float32(v)) for v in r[:4]] for r in rows]
    assert out["train"] == [120, 4] and out["test"] == [30, 4]
    assert out["X_train"] == X[:120] and out["X_test"] == X[120:]
    assert out["y_test"] == [float(r[4]) for r in rows[120:]]


def test_stratified_keeps_class_proportions(db, datasets):
    for _ in range(3):
        out = snap(db, "pgml.iris", ["target"], 0.25, "stratified")
        test = np.array(out["y_test"])
        train = np.array(out["y_train"])
        assert len(test) == 38
        counts = sorted(int((test == c).sum()) for c in (0, 1, 2))
        assert counts == [12, 13, 13]  # 50 × 38/150 = 12.67 each
        assert all(int((train == c).sum()) + int((test == c).sum()) == 50 for c in (0, 1, 2))


def test_stratified_digits_has_every_class_in_proportion(db, datasets):
    out = snap(db, "pgml.digits", ["target"], 0.5, "stratified", full=True)
    train, test = np.array(out["y_train"]), np.array(out["y_test"])
    for c in range(10):
        total = (train == c).sum() + (test == c).sum()
        assert abs((test == c).sum() - total / 2) <= 1


def test_test_size_above_one_is_a_row_count(db, datasets):
    out = snap(db, "pgml.iris", ["target"], 10, "random", full=False)
    assert out["train"] == [140, 4] and out["test"] == [10, 4]


def test_digits_arrays_are_flattened(db, datasets):
    out = snap(db, "pgml.digits", ["target"], 0.25, "last")
    assert out["num_features"] == 64 and out["train"] == [1348, 64] and out["test"] == [449, 64]
    assert out["feature_names"][:2] == ["image[0]", "image[1]"] and out["feature_names"][-1] == "image[63]"
    first = db.execute("SELECT image FROM pgml.digits LIMIT 1").fetchone()[0]
    assert out["X_train"][0] == np.asarray(first, dtype=float).ravel().tolist()
    columns = snapshot_row(db, out["id"])[6]
    assert columns[0]["array"] is True and columns[0]["size"] == 64 and columns[0]["pg_type"] == "smallint[]"


def test_diabetes_regression_stratified_falls_back_to_random(db, datasets):
    out = snap(db, "pgml.diabetes", ["target"], 0.1, "stratified", full=False)
    assert out["train"] == [398, 10] and out["test"] == [44, 10] and out["label_classes"] is None


def test_several_labels_and_no_labels(db, datasets):
    out = snap(db, "pgml.iris", ["petal_width", "target"], 0.25, "stratified")
    assert out["y_train_shape"] == [112, 2] and out["num_features"] == 3
    assert out["feature_names"] == ["sepal_length", "sepal_width", "petal_length"]
    out = snap(db, "pgml.iris", None, 0.25, "stratified")
    assert out["y_train_shape"] is None and out["train"] == [112, 5] and out["y_test"] is None
    assert snapshot_row(db, out["id"])[1] is None


# ---- encoding ------------------------------------------------------------------------------

@pytest.fixture
def mixed(db):
    name = "snap_mixed_%s" % uuid.uuid4().hex[:8]
    db.execute(sql.SQL("""CREATE TABLE {} (color text, size varchar(5), flag boolean, n numeric(6,2),
                          k bigint, tag char(2), label text)""").format(sql.Identifier(name)))
    db.execute(sql.SQL("""INSERT INTO {} VALUES
        ('red',   's',  true,  1.50, 10, 'aa', 'dog'),
        ('blue',  NULL, false, NULL, 20, 'bb', 'cat'),
        (NULL,    'm',  NULL,  2.25, NULL, 'aa', 'dog'),
        ('red',   's',  true,  3.00, 40, 'aa', 'bird'),
        ('green', 'l',  false, 4.00, 50, 'cc', 'cat'),
        (NULL,    NULL, true,  5.00, 60, 'zz', 'dog')""").format(sql.Identifier(name)))
    yield name
    db.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))


def test_text_features_nulls_and_labels_are_encoded(db, mixed):
    out = snap(db, mixed, ["label"], 2, "last")
    assert out["feature_names"] == ["color", "size", "flag", "n", "k", "tag"]
    # Train rows 1-4: color red=1 blue=2 (NULL=0); size s=1 m=2; tag aa=1 bb=2.
    assert out["X_train"] == [[1, 1, 1, 1.5, 10, 1], [2, 0, 0, None, 20, 2],
                              [0, 2, None, 2.25, None, 1], [1, 1, 1, 3.0, 40, 1]]
    # Test rows: green, l, cc and zz were never seen in training → NaN; NULL → 0.
    assert out["X_test"] == [[None, None, 0, 4.0, 50, None], [0, 0, 1, 5.0, 60, None]]
    assert out["label_classes"] == ["bird", "cat", "dog"]  # sorted
    assert out["y_train"] == [2, 1, 2, 0] and out["y_test"] == [1, 2]
    columns = {c["name"]: c for c in snapshot_row(db, out["id"])[6]}
    assert columns["color"]["statistics"]["categories"] == {
        "__NULL__": {"value": 0, "members": 1}, "red": {"value": 1, "members": 2},
        "blue": {"value": 2, "members": 1}}
    assert columns["color"]["statistics"]["missing"] == 1
    assert columns["n"]["statistics"]["missing"] == 1 and columns["n"]["statistics"]["max"] == 3.0
    assert columns["n"]["pg_type"] == "numeric(6,2)" and columns["tag"]["pg_type"] == "character(2)"
    assert columns["label"]["label"] is True and columns["label"]["position"] == 7


def test_bool_label_classes(db, mixed):
    db.execute(sql.SQL("UPDATE {} SET flag = true WHERE flag IS NULL").format(sql.Identifier(mixed)))
    out = snap(db, "public." + mixed, ["flag"], 0.25, "stratified")
    assert out["label_classes"] == [False, True]
    assert sorted(out["y_train"] + out["y_test"]) == [0, 0, 1, 1, 1, 1]
    assert out["test"] == [2, 6] and sorted(out["y_test"]) == [0, 1]


def test_null_label_is_an_error(db, mixed):
    e = error(db, mixed, ["flag"])
    assert e.sqlstate == "22004" and "NULL values" in str(e) and 'label column "flag"' in str(e)
    assert "IS NULL" in e.diag.message_hint


def test_mismatched_arrays_and_unsupported_types(db):
    name = "snap_arr_%s" % uuid.uuid4().hex[:8]
    db.execute("CREATE TABLE %s (v real[], m int[], y int)" % name)
    db.execute("INSERT INTO %s VALUES ('{1,2,3}', '{{1,2},{3,4}}', 0), (NULL, '{{5,6},{7,NULL}}', 1), "
               "('{4,5,6}', '{{1,1},{1,1}}', 1), ('{7,8,9}', '{{2,2},{2,2}}', 0)" % name)
    out = snap(db, name, ["y"], 0.25, "last")
    assert out["feature_names"] == ["v[0]", "v[1]", "v[2]", "m[0]", "m[1]", "m[2]", "m[3]"]
    assert out["X_train"][1] == [None, None, None, 5, 6, 7, None]
    db.execute("INSERT INTO %s VALUES ('{1,2}', '{{1,2},{3,4}}', 0)" % name)
    e = error(db, name, ["y"])
    assert e.sqlstate == "22000" and 'Mismatched array length for feature "v"' in str(e)
    assert e.diag.message_hint
    db.execute("ALTER TABLE %s ADD COLUMN doc jsonb" % name)
    e = error(db, name, ["y"])
    assert e.sqlstate == "0A000" and 'Type information missing for column "doc"' in str(e) and "jsonb" in str(e)
    db.execute("DROP TABLE %s" % name)


# ---- relation resolution -------------------------------------------------------------------

def test_missing_relation_and_label(db, datasets):
    e = error(db, "no_such_table_xyz", ["y"])
    assert e.sqlstate == "42P01" and "could not be found in the search_path" in str(e)
    assert "no_such_table_xyz" in str(e) and e.diag.message_hint
    e = error(db, "nosuchschema.t", ["y"])
    assert e.sqlstate == "42P01" and 'relation "nosuchschema.t" could not be found' in str(e)
    e = error(db, "pgml.iris", ["species"])
    assert e.sqlstate == "42703" and "Did you pass the correct `y_column_name`?" in str(e)
    assert "sepal_length" in e.diag.message_hint
    assert db.execute("SELECT count(*) FROM pgml.snapshots "
                      "WHERE relation_name = 'no_such_table_xyz'").fetchone()[0] == 0


def test_search_path_order_views_and_other_schemas(db):
    schema = "snap_s_%s" % uuid.uuid4().hex[:8]
    db.execute("CREATE SCHEMA %s" % schema)
    db.execute("CREATE TABLE %s.only_here (x int, y int)" % schema)
    db.execute("INSERT INTO %s.only_here SELECT i, i %% 2 FROM generate_series(1, 8) i" % schema)
    db.execute("CREATE TABLE %s.both_%s (x int, y int)" % (schema, schema))
    db.execute("INSERT INTO %s.both_%s SELECT i, i %% 2 FROM generate_series(1, 8) i" % (schema, schema))
    db.execute("CREATE TABLE public.both_%s (x int, y int, z int)" % schema)
    db.execute("INSERT INTO public.both_%s SELECT i, i %% 2, i FROM generate_series(1, 8) i" % schema)
    db.execute("CREATE VIEW %s.v AS SELECT x * 2 AS x2, y FROM %s.only_here" % (schema, schema))
    try:
        assert error(db, "only_here", ["y"]).sqlstate == "42P01"
        out = snap(db, "%s.only_here" % schema, ["y"], 0.25, "stratified")
        assert out["train"] == [6, 1] and snapshot_row(db, out["id"])[0] == "%s.only_here" % schema
        db.execute("SET search_path = %s, public" % schema)
        out = snap(db, "only_here", ["y"], 0.25, "random")
        assert out["train"] == [6, 1] and snapshot_row(db, out["id"])[0] == "%s.only_here" % schema
        # the search_path decides, as in PostgreSQL (PostgresML looked in public first)
        out = snap(db, "both_%s" % schema, ["y"], 0.25, "random")
        assert out["num_features"] == 1 and snapshot_row(db, out["id"])[0] == "%s.both_%s" % (schema, schema)
        db.execute("SET search_path = public, %s" % schema)
        out = snap(db, "both_%s" % schema, ["y"], 0.25, "random")
        assert out["num_features"] == 2 and snapshot_row(db, out["id"])[0] == "public.both_%s" % schema
        out = snap(db, "%s.v" % schema, ["y"], 0.5, "last")
        assert out["X_train"] == [[2], [4], [6], [8]] and out["feature_names"] == ["x2"]
    finally:
        db.execute("RESET search_path")
        db.execute("DROP SCHEMA %s CASCADE" % schema)
        db.execute("DROP TABLE public.both_%s" % schema)


def test_names_needing_quotes_are_never_injected(db):
    schema = 'Odd "S"; %s' % uuid.uuid4().hex[:6]
    table = 'we"ird; DROP TABLE snap_victim; --'
    db.execute("CREATE TABLE snap_victim (a int)")
    db.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    db.execute(sql.SQL("CREATE TABLE {}.{} ({} int, {} text, {} int)").format(
        sql.Identifier(schema), sql.Identifier(table), sql.Identifier('co"l;umn'),
        sql.Identifier("Mixed Case"), sql.Identifier('la"bel')))
    db.execute(sql.SQL("INSERT INTO {}.{} VALUES (1, 'a', 0), (2, 'b', 1), (3, 'a', 0), (4, 'c', 1)").format(
        sql.Identifier(schema), sql.Identifier(table)))
    try:
        out = snap(db, "%s.%s" % (schema, table), ['la"bel'], 0.5, "last", materialize=True)
        assert out["feature_names"] == ['co"l;umn', "Mixed Case"]
        assert out["X_train"] == [[1, 1], [2, 2]] and out["y_test"] == [0, 1]
        assert snapshot_row(db, out["id"])[0] == "%s.%s" % (schema, table)
        # Loading again resolves the stored name again.
        again = snap(db, None, None, snapshot_id=out["id"])
        assert again["X_train"] == out["X_train"]
        assert db.execute("SELECT to_regclass('snap_victim') IS NOT NULL").fetchone()[0]
        e = error(db, "%s.%s" % (schema, table), ['co"l;umn; SELECT 1'])
        assert e.sqlstate == "42703"
    finally:
        db.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        db.execute("DROP TABLE snap_victim")


def test_materialized_snapshot_keeps_its_rows_and_split(db, datasets):
    out = snap(db, "pgml.iris", ["target"], 0.25, "stratified", materialize=True)
    sid = out["id"]
    assert snapshot_row(db, sid)[5] is True
    assert db.execute('SELECT count(*) FROM pgml."snapshot_%d"' % sid).fetchone()[0] == 150
    again = snap(db, None, None, snapshot_id=sid)
    assert again["X_train"] == out["X_train"] and again["y_test"] == out["y_test"]
    counts = sorted(int((np.array(out["y_test"]) == c).sum()) for c in (0, 1, 2))
    assert counts == [12, 13, 13]
    db.execute('DROP TABLE pgml."snapshot_%d"' % sid)


def test_select_privilege_is_required(db, datasets):
    role = "snap_role_%s" % uuid.uuid4().hex[:8]
    db.execute("CREATE ROLE %s" % role)
    db.execute("CREATE TABLE snap_private_%s (x int, y int)" % role)
    try:
        db.execute("SET ROLE %s" % role)
        e = error(db, "snap_private_%s" % role, ["y"])
        assert e.sqlstate == "42501" and "permission denied" in str(e) and "GRANT SELECT" in e.diag.message_hint
    finally:
        db.execute("RESET ROLE")
        db.execute("DROP TABLE snap_private_%s" % role)
        db.execute("DROP ROLE %s" % role)


# ---- split errors and size -----------------------------------------------------------------

def test_test_size_too_large_and_no_train_rows(db, datasets):
    e = error(db, "pgml.iris", ["target"], 151)
    assert e.sqlstate == "22023" and "is too large. There are only 150 samples" in str(e)
    assert e.diag.message_hint
    e = error(db, "pgml.iris", ["target"], 1.0)
    assert e.sqlstate == "22023" and "no training rows" in str(e)
    e = error(db, "pgml.iris", ["target"], 0.25, "sideways")
    assert e.sqlstate == "22023" and "test_sampling" in str(e)


def test_hundred_thousand_rows_load(db):
    name = "snap_big_%s" % uuid.uuid4().hex[:8]
    db.execute("CREATE TABLE %s AS SELECT i::real AS a, (i %% 7)::int AS b, (i * 0.5)::float8 AS c, "
               "(i %% 3 = 0) AS d, (i %% 11)::numeric AS e, i::bigint AS f, (i %% 5)::smallint AS g, "
               "(i * 2)::real AS h, ('c' || (i %% 13)) AS t, (i %% 4) AS y "
               "FROM generate_series(1, 100000) i" % name)
    try:
        out = snap(db, name, ["y"], 0.25, "stratified", full=False)  # speed is for bench/, not a test
        assert out["train"] == [75000, 9] and out["test"] == [25000, 9]
    finally:
        db.execute("DROP TABLE %s" % name)


# ---- the binary read: every column kind, NULLs, row alignment, order, chunks ------------------

def f32(values):
    """What the first release made of plpy's values: np.array(values, float32), NULL → NaN."""
    out = np.array([np.nan if v is None else v for v in values], dtype=np.float32).astype(np.float64)
    return [None if v != v else v for v in out.tolist()]


def test_every_numeric_type_with_nulls_and_edge_values(db):
    name = "snap_types_%s" % uuid.uuid4().hex[:8]
    db.execute("CREATE TABLE %s (i2 smallint, i4 int, i8 bigint, f4 real, f8 float8, num numeric, "
               "b boolean, y int)" % name)
    rows = [(1, 2, 2 ** 53 + 2 ** 29 + 1, 1.5, 0.1, "1.25", True, 0),
            (None, None, None, None, None, None, None, 1),
            (-32768, 2147483647, -2 ** 63, "NaN", "1e-50", "NaN", False, 0),
            (7, -7, 16777217, "-0", "3.4028235e38", "123456789.123456789", True, 1),
            (0, 16777219, 2 ** 62 + 2 ** 38 + 3, "1e-45", "-2.5", "-0.000001", False, 0)]
    for r in rows:
        db.execute("INSERT INTO %s VALUES (%%s, %%s, %%s, %%s::real, %%s::float8, %%s::numeric, %%s, %%s)" % name, r)
    out = snap(db, name, ["y"], 2, "last")
    got = [[None if v is None else float(v) for v in r] for r in out["X_train"] + out["X_test"]]
    columns = list(zip(*[r[:7] for r in rows]))
    expected = [f32(columns[0]), f32(columns[1]), f32(columns[2]),
                f32([None if v is None else float(np.float32(v)) for v in columns[3]]),
                f32([None if v is None else float(v) for v in columns[4]]),
                f32([None if v is None else float(v) for v in columns[5]]), f32(columns[6])]
    # jsonb gives big floats back as integers: compare as float32 values, bit for bit
    assert [f32(c) for c in zip(*got)] == expected
    assert out["y_train"] + out["y_test"] == [0, 1, 0, 1, 0]
    columns = {c["name"]: c for c in snapshot_row(db, out["id"])[6]}
    assert columns["i8"]["statistics"]["missing"] == 1 and columns["b"]["statistics"]["mode"] == 0.0
    assert columns["f4"]["statistics"]["missing"] == 2   # NULL and NaN
    assert columns["y"]["statistics"]["distinct"] == 2
    db.execute("DROP TABLE %s" % name)


def test_arrays_with_null_elements_null_rows_and_any_dimensions(db):
    name = "snap_arrays_%s" % uuid.uuid4().hex[:8]
    db.execute("CREATE TABLE %s (a real[], m int[], n numeric[], b boolean[], i bigint[], y int)" % name)
    db.execute("""INSERT INTO %s VALUES
        ('{1,NULL,3}', '{{1,2},{3,4}}', '{1.5,NaN}', '{t,f}', '{9007199791611905}', 0),
        (NULL, '{5,6,7,8}', '{NULL,2}', NULL, '{-1}', 1),
        ('{4,5,6}', NULL, NULL, '{f,NULL}', NULL, 0)""" % name)
    out = snap(db, name, ["y"], 2, "last")
    assert out["feature_names"] == ["a[0]", "a[1]", "a[2]", "m[0]", "m[1]", "m[2]", "m[3]", "n[0]", "n[1]",
                                    "b[0]", "b[1]", "i[0]"]
    big = float(np.float32(2 ** 53 + 2 ** 29 + 1))
    assert out["X_train"] + out["X_test"] == [
        [1, None, 3, 1, 2, 3, 4, 1.5, None, 1, 0, big],
        [None, None, None, 5, 6, 7, 8, None, 2, None, None, -1],
        [4, 5, 6, None, None, None, None, None, None, 0, None, None]]
    columns = {c["name"]: c for c in snapshot_row(db, out["id"])[6]}
    assert columns["m"]["size"] == 4 and columns["m"]["array"] is True
    db.execute("DROP TABLE %s" % name)


def test_empty_arrays_all_null_arrays_and_a_mismatch_after_them(db):
    name = "snap_empty_arr_%s" % uuid.uuid4().hex[:8]
    db.execute("CREATE TABLE %s (e float8[], z real[], x int, y int)" % name)
    db.execute("INSERT INTO %s VALUES ('{}', NULL, 1, 0), ('{}', NULL, 2, 1), ('{}', NULL, 3, 0)" % name)
    out = snap(db, name, ["y"], 2, "last")
    assert out["feature_names"] == ["x"] and out["X_train"] + out["X_test"] == [[1], [2], [3]]
    db.execute("INSERT INTO %s VALUES ('{7}', NULL, 4, 1)" % name)
    e = error(db, name, ["y"], 2, "last")
    assert e.sqlstate == "22000"
    assert 'Mismatched array length for feature "e": expected 0 values, got 1 values' in str(e)
    db.execute("DROP TABLE %s" % name)


def test_empty_relations_are_an_error(db):
    name = "snap_nothing_%s" % uuid.uuid4().hex[:8]
    db.execute("CREATE TABLE %s (t text, a real[], x real, y text)" % name)
    for sampling in ("last", "random", "stratified"):
        e = error(db, name, ["y"], 0.25, sampling)
        assert e.sqlstate == "22000" and "no rows to train on" in str(e)
    e = error(db, name, None, 0.25, "random")
    assert "no rows to train on" in str(e)
    db.execute("DROP TABLE %s" % name)


def test_numeric_label_null_is_an_error_and_nan_is_a_value(db):
    name = "snap_numlabel_%s" % uuid.uuid4().hex[:8]
    db.execute("CREATE TABLE %s (x real, y float8, k bigint)" % name)
    db.execute("INSERT INTO %s VALUES (1, 0.5, 1), (2, 'NaN', 2), (3, 1.5, 3), (4, 2.5, NULL)" % name)
    out = snap(db, name, ["y"], 2, "last")
    assert out["y_train"] + out["y_test"] == [0.5, None, 1.5, 2.5]
    e = error(db, name, ["k"], 2, "stratified")
    assert e.sqlstate == "22004" and 'label column "k" contains NULL values' in str(e)
    assert '"k" IS NULL' not in e.diag.message_hint and "k IS NULL" in e.diag.message_hint
    db.execute("DROP TABLE %s" % name)


@pytest.fixture
def aligned(db):
    """500 rows whose columns all derive from id, behind a view (views read the same way)."""
    name = "snap_aligned_%s" % uuid.uuid4().hex[:8]
    db.execute("""CREATE TABLE %s_t AS SELECT i AS id, i * 2.0 AS twice,
                  CASE WHEN i %% 7 = 0 THEN NULL ELSE 'c' || (i %% 5) END AS txt,
                  ARRAY[i, -i]::real[] AS arr, (i %% 3)::int AS y, ('k' || (i %% 2)) AS k
                  FROM generate_series(1, 500) i""" % (name,))
    db.execute("CREATE VIEW %s AS SELECT * FROM %s_t" % (name, name))
    yield name
    db.execute("DROP VIEW %s; DROP TABLE %s_t" % (name, name))


def check_aligned(out):
    rows = out["X_train"] + out["X_test"]
    labels = out["y_train"] + out["y_test"]
    assert out["feature_names"] == ["id", "twice", "txt", "arr[0]", "arr[1]", "k"]
    codes = {}
    for (i, twice, txt, a0, a1, k), y in zip(rows, labels):
        assert twice == 2 * i and a0 == i and a1 == -i and y == int(i) % 3
        assert (txt == 0) == (int(i) % 7 == 0)
        assert codes.setdefault(("txt", txt), int(i) % 5 if txt else None) == (int(i) % 5 if txt else None)
        assert codes.setdefault(("k", k), int(i) % 2) == int(i) % 2
    ids = [int(r[0]) for r in rows]
    assert sorted(ids) == list(range(1, 501))
    return ids


@pytest.mark.parametrize("sampling", ["random", "stratified"])
def test_random_order_keeps_every_row_whole(db, aligned, sampling):
    ids = check_aligned(snap(db, aligned, ["y"], 0.2, sampling))
    assert ids != sorted(ids)
    assert check_aligned(snap(db, aligned, ["y"], 0.2, sampling, chunk_bytes=4000)) != ids


def test_random_order_is_order_by_random_under_setseed(db, aligned):
    db.execute("SELECT setseed(0.42)")
    expected = [r[0] for r in db.execute("SELECT id FROM %s ORDER BY random()" % aligned).fetchall()]
    db.execute("SELECT setseed(0.42)")
    assert check_aligned(snap(db, aligned, ["y"], 0.2, "random")) == expected
    db.execute("SELECT setseed(0.42)")
    assert check_aligned(snap(db, aligned, ["y"], 0.2, "random", chunk_bytes=4000)) == expected
    # stratified: the same shuffle, then each class's last rows go to the test set, order kept
    db.execute("SELECT setseed(0.42)")
    out = snap(db, aligned, ["y"], 0.2, "stratified")
    ids = check_aligned(out)
    train, test = ids[:400], ids[400:]
    assert train == [i for i in expected if i in set(train)] and test == [i for i in expected if i in set(test)]
    assert sorted(int(y) for y in out["y_test"]) == [0] * 33 + [1] * 34 + [2] * 33


def test_chunked_reads_match_the_single_read(db, aligned):
    whole = snap(db, aligned, ["y"], 0.2, "last")
    assert check_aligned(whole) == list(range(1, 501)) and whole["vector_read"]
    for chunk_bytes, vector in ((4000, True), (1, True), (4000, False)):
        chunked = snap(db, aligned, ["y"], 0.2, "last", chunk_bytes=chunk_bytes, vector=vector)
        assert chunked.pop("vector_read") == vector
        assert {k: v for k, v in chunked.items() if k != "id"} == \
            {k: v for k, v in whole.items() if k not in ("id", "vector_read")}
        assert snapshot_row(db, chunked["id"])[6] == snapshot_row(db, whole["id"])[6]
    # a materialized snapshot reads back in its stored order, chunked or not
    out = snap(db, aligned, ["y"], 0.2, "random", materialize=True)
    again = snap(db, None, None, snapshot_id=out["id"], chunk_bytes=4000)
    assert again["X_train"] == out["X_train"] and again["y_test"] == out["y_test"]
    db.execute('DROP TABLE pgml."snapshot_%d"' % out["id"])


# ---- pgml.snapshot ---------------------------------------------------------------

def catalog(conn):
    return conn.execute("SELECT (SELECT count(*) FROM pgml.snapshots), (SELECT count(*) FROM pg_catalog.pg_tables "
                        "WHERE schemaname = 'pgml' AND tablename LIKE 'snapshot\\_%')").fetchone()


def test_pgml_snapshot_materializes_and_analyses(conn, datasets):
    row = conn.execute("SELECT * FROM pgml.snapshot('pgml.iris', 'target', 0.2, 'stratified', "
                       "'{\"sepal_length\": {\"scale\": \"standard\"}}')").fetchone()
    assert row == ("pgml.iris", "target")
    sid, columns, analysis, materialized = conn.execute(
        "SELECT id, columns, analysis, materialized FROM pgml.snapshots ORDER BY id DESC LIMIT 1").fetchone()
    assert materialized and analysis == {"samples": 150}
    assert conn.execute("SELECT count(*) FROM pgml.snapshot_%d" % sid).fetchone()[0] == 150
    by_name = {c["name"]: c for c in columns}
    assert [c["name"] for c in columns] == ["sepal_length", "sepal_width", "petal_length", "petal_width", "target"]
    assert by_name["target"]["label"] and by_name["sepal_length"]["preprocessor"]["scale"] == "standard"
    assert by_name["sepal_width"]["preprocessor"]["scale"] == "preserve"
    for column in columns:   # statistics over the 120 training rows
        stats = column["statistics"]
        assert sum(stats["histogram"]) == 120 and len(stats["histogram"]) == 20
        assert len(stats["ventiles"]) == 19 and stats["min"] <= stats["ventiles"][0] <= stats["ventiles"][-1] <= stats["max"]
    assert by_name["target"]["statistics"]["histogram"] == [40] + [0] * 9 + [40] + [0] * 8 + [40]


@pytest.mark.parametrize("call, sqlstate, text", [
    ("pgml.snapshot('pgml.no_such_table', 'target')", "42P01", "no_such_table"),
    ("pgml.snapshot('pgml.iris', 'no_such_column')", "42703", "no_such_column"),
    ("pgml.snapshot('pgml.iris', 'target', -1)", "22023", "test_size"),
    ("pgml.snapshot('pgml.iris', 'target', preprocess => '{\"sepal_length\": {\"scale\": \"tiny\"}}')", "22023",
     "tiny"),
])
def test_pgml_snapshot_bad_input_leaves_no_trace(conn, datasets, expect_error, call, sqlstate, text):
    before = catalog(conn)
    e = expect_error(conn, "SELECT * FROM " + call)
    assert e.sqlstate == sqlstate and text in str(e) and e.diag.message_hint
    assert catalog(conn) == before
    assert conn.execute("SELECT count(*) FROM pgml.snapshot('pgml.iris', NULL)").fetchone()[0] == 0   # STRICT


# ---- the vector read (features as one pgvector vector per row) -------------------------------

@pytest.fixture
def every_type(db):
    name = "snap_types_%s" % uuid.uuid4().hex[:8]
    db.execute("""CREATE TABLE %s AS SELECT i::real * 1.37 AS r, i::float8 / 3 AS d, (i - 40)::smallint AS s,
                  i * 1000003 AS n, (i::int8 * 123456789123)::int8 AS b, (i / 7.0)::numeric(12, 5) AS num,
                  i %% 3 = 0 AS flag, (i %% 4)::int AS y FROM generate_series(1, 300) i""" % name)
    yield name
    db.execute("DROP TABLE %s" % name)


def without(out, *keys):
    return {k: v for k, v in out.items() if k not in ("id", "vector_read") + keys}


@pytest.mark.parametrize("sampling", ["last", "random", "stratified"])
def test_the_vector_read_equals_the_record_read(db, every_type, sampling):
    """Every numeric type, float8 and int8 rounded to float4 through float8 either way."""
    db.execute("SELECT setseed(0.3)")
    fast = snap(db, every_type, ["y"], 0.25, sampling)
    db.execute("SELECT setseed(0.3)")
    slow = snap(db, every_type, ["y"], 0.25, sampling, vector=False)
    assert fast["vector_read"] and not slow["vector_read"]
    assert without(fast) == without(slow)
    assert snapshot_row(db, fast["id"])[6] == snapshot_row(db, slow["id"])[6]   # statistics too


@pytest.mark.parametrize("value", ["NULL", "'NaN'", "'Infinity'", "'-Infinity'"])
def test_values_a_vector_refuses_take_the_record_read(db, every_type, value):
    db.execute("UPDATE %s SET r = %s WHERE y = 2 AND s > 0" % (every_type, value))
    db.execute("UPDATE %s SET d = 1e300 WHERE s = 17" % every_type)   # beyond float4 in the other way
    out = snap(db, every_type, ["y"], 0.25, "last", full=True)
    assert not out["vector_read"]
    assert without(out) == without(snap(db, every_type, ["y"], 0.25, "last", vector=False))
