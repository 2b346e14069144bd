"""train's `preprocess` and the row form of predict against the server."""
import math
import uuid

import numpy as np
import pytest

SPEC = ('{"color": {"encode": "one_hot", "impute": "mode", "scale": "standard"}, '
        '"n": {"impute": "mean", "scale": "robust"}}')


@pytest.fixture(scope="module")
def table(server):
    name = "pre_%s" % uuid.uuid4().hex[:8]
    with server.connect() as c:
        c.execute("CREATE TABLE %s (color text, n real, k int, y real)" % name)
        c.execute("""INSERT INTO %s SELECT (ARRAY['red', 'blue', 'green', NULL])[1 + i %% 4],
                            CASE WHEN i %% 5 = 0 THEN NULL ELSE i * 0.5 END, i %% 3, i + (i %% 4) * 10
                     FROM generate_series(1, 40) i""" % name)
        yield name
        c.execute("DROP TABLE %s" % name)


@pytest.fixture(scope="module")
def trained(server, table):
    with server.connect() as c:
        project = "pre_%s" % uuid.uuid4().hex[:6]
        row = c.execute("SELECT * FROM pgml.train(%s, 'regression', %s, 'y', test_sampling => 'last', "
                        "preprocess => %s)", (project, table, SPEC)).fetchone()
        assert row == (project, "regression", "linear", True)
        model_id, snapshot_id, num_features = c.execute(
            "SELECT m.id, m.snapshot_id, m.num_features FROM pgml.models m JOIN pgml.projects p "
            "ON p.id = m.project_id WHERE p.name = %s", (project,)).fetchone()
        columns = c.execute("SELECT columns FROM pgml.snapshots WHERE id = %s", (snapshot_id,)).fetchone()[0]
        yield project, model_id, num_features, {col["name"]: col for col in columns}


def test_snapshot_records_preprocessors_and_statistics(trained):
    _, _, num_features, columns = trained
    assert num_features == 3   # raw values per row, not the one-hot width
    color, n, k = columns["color"], columns["n"], columns["k"]
    assert color["preprocessor"] == {"encode": "one_hot", "impute": "mode", "scale": "standard"}
    assert n["preprocessor"] == {"encode": "native", "impute": "mean", "scale": "robust"}
    assert k["preprocessor"] == {"encode": "native", "impute": "error", "scale": "preserve"}
    assert color["preprocessing"]["one_hot"] == sorted(color["preprocessing"]["categories"],
                                                       key=lambda v: color["statistics"]["categories"][v]["value"])[1:]
    assert len(color["preprocessing"]["scale_offset"]) == 2
    assert n["preprocessing"]["impute"] == [pytest.approx(n["statistics"]["mean"])]
    assert n["preprocessing"]["scale_factor"][0] > 0


def manual(columns, color, n, k):
    """The preprocess pipeline by hand from snapshots.columns."""
    c, num = columns["color"], columns["n"]
    p = c["preprocessing"]
    category = color if color in p["categories"] else None
    if category is None:   # impute mode: the most frequent training category
        category = max(p["categories"], key=lambda v: c["statistics"]["categories"][v]["members"])
    dummies = np.array([float(category == d) for d in p["one_hot"]])
    dummies = (dummies - np.array(p["scale_offset"])) / np.array(p["scale_factor"])
    value = num["preprocessing"]["impute"][0] if n is None else n
    value = (value - num["preprocessing"]["scale_offset"][0]) / num["preprocessing"]["scale_factor"][0]
    return np.concatenate([dummies, [value, k]])


def test_row_predict_equals_the_estimator_on_manual_features(conn, trained):
    """pgml.predict(ROW) = the model's estimator, run in the server on features preprocessed
    here by hand from snapshots.columns; the project and model_id forms agree."""
    project, model_id, _, columns = trained
    conn.execute("""CREATE FUNCTION pg_temp.raw_predict(model_id bigint, x float8[]) RETURNS float8 AS $$
%s
import numpy as np
from pgml_py import db, model_loader
return float(model_loader.load(db, model_id, lambda: 10).predict_matrix(np.asarray([x], dtype=np.float32))[0])
$$ LANGUAGE plpython3u""" % _bootstrap(conn))
    for color, n, k in [("red", 2.5, 1), ("green", None, 2), (None, 7.0, 0), ("purple", 1.0, 1), ("blue", 3.0, 0)]:
        expected = conn.execute("SELECT pg_temp.raw_predict(%s, %s)",
                                (model_id, manual(columns, color, n, k).tolist())).fetchone()[0]
        got = conn.execute("SELECT pgml.predict(%s, ROW(%s::text, %s::real, %s::int))", (project, color, n, k)).fetchone()[0]
        by_id = conn.execute("SELECT pgml.predict(%s::bigint, ROW(%s::text, %s::real, %s::int))",
                             (model_id, color, n, k)).fetchone()[0]
        assert got == by_id and got == pytest.approx(expected, rel=1e-5, abs=1e-4)


def _bootstrap(conn):
    src = conn.execute("SELECT prosrc FROM pg_proc WHERE proname = 'chunk' "
                       "AND pronamespace = 'pgml'::regnamespace").fetchone()[0]
    return next(line for line in src.splitlines() if "pgml_bootstrap.boot" in line)


def test_row_of_a_table_and_errors(conn, trained, table, expect_error):
    project = trained[0]
    rows = conn.execute("SELECT pgml.predict(%%s, t) FROM (SELECT color, n, k FROM %s) t" % table, (project,)).fetchall()
    assert len(rows) == 40 and all(math.isfinite(r[0]) for r in rows)
    e = expect_error(conn, "SELECT pgml.predict(%s, ROW('red', 2.5::real, 1))", (project,))
    assert "Type information missing for column" in str(e) and "CAST" in e.diag.message_hint
    e = expect_error(conn, "SELECT pgml.predict(%s, 5)", (project,))
    assert e.sqlstate == "42804" and "row of features" in str(e)
    e = expect_error(conn, "SELECT pgml.predict(%s, ROW('red'::text, 2.5::real, NULL::int))", (project,))
    assert e.sqlstate == "22004" and 'column "k"' in str(e)
    e = expect_error(conn, "SELECT pgml.predict(%s, ROW('red'::text, 2.5::real))", (project,))
    assert e.sqlstate == "22023" and "expects 3 columns" in str(e)


def test_default_impute_error_and_bad_options(conn, table, expect_error):
    project = "pre_err_%s" % uuid.uuid4().hex[:6]
    e = expect_error(conn, "SELECT * FROM pgml.train(%s, 'regression', %s, 'y')", (project, table))
    assert e.sqlstate == "22004" and 'column "color"' in str(e) and e.diag.message_hint
    e = expect_error(conn, "SELECT * FROM pgml.train(%s, 'regression', %s, 'y', preprocess => %s)",
                     (project, table, '{"colr": {"impute": "mode"}}'))
    assert e.sqlstate == "22023" and "colr" in str(e) and "color" in e.diag.message_hint
    for spec, text in [('{"n": {"encode": "one_hot"}}', "encode must be native"),
                       ('{"color": {"impute": "mean"}}', "needs encode target"),
                       ('{"n": {"scale": "log"}}', "invalid preprocess scale"),
                       ('{"n": {"imputer": "mean"}}', "unknown preprocess option")]:
        e = expect_error(conn, "SELECT * FROM pgml.train(%s, 'regression', %s, 'y', preprocess => %s)",
                         (project, table, spec))
        assert e.sqlstate == "22023" and text in str(e)
    assert conn.execute("SELECT count(*) FROM pgml.projects WHERE name = %s", (project,)).fetchone()[0] == 0


def test_target_and_ordinal_encodings_train_and_predict(conn, table):
    project = "pre_enc_%s" % uuid.uuid4().hex[:6]
    conn.execute("SELECT * FROM pgml.train(%s, 'regression', %s, 'y', preprocess => %s)", (project, table,
                 '{"color": {"encode": "target", "impute": "mean", "scale": "min_max"}, "n": {"impute": "zero"}}'))
    assert math.isfinite(conn.execute("SELECT pgml.predict(%s, ROW('red'::text, 1::real, 1))", (project,)).fetchone()[0])
    project2 = project + "o"
    conn.execute("SELECT * FROM pgml.train(%s, 'regression', %s, 'y', preprocess => %s)", (project2, table,
                 '{"color": {"encode": {"ordinal": ["red", "green", "blue"]}, "impute": "median"}, '
                 '"n": {"impute": "median", "scale": "max_abs"}}'))
    assert math.isfinite(conn.execute("SELECT pgml.predict(%s, ROW(NULL::text, NULL::real, 1))", (project2,)).fetchone()[0])


def resolved(conn, call):
    """The function a call resolves to, read from a view's dependencies. The view is
    dropped at once: a temporary view left to the backend's exit, which runs after the client
    has disconnected, made the table fixture's DROP fail now and then."""
    view = "pg_temp.res_%s" % uuid.uuid4().hex[:8]
    conn.execute("CREATE VIEW %s AS SELECT %s" % (view, call))
    try:
        return [r[0] for r in conn.execute(
            """SELECT d.refobjid::regprocedure::text FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
               WHERE r.ev_class = %s::regclass AND d.refclassid = 'pg_proc'::regclass""", (view,))]
    finally:
        conn.execute("DROP VIEW %s" % view)


def test_overload_resolution(conn, table, expect_error):
    assert resolved(conn, "pgml.predict('p', ARRAY[1, 2, 3])") == ["pgml.predict(text,integer[])"]
    assert resolved(conn, "pgml.predict('p', ARRAY[1, 2]::real[])") == ["pgml.predict(text,real[])"]
    assert resolved(conn, "pgml.predict('p', '{{1,2}}'::smallint[])") == ["pgml.predict(text,smallint[])"]
    assert resolved(conn, "pgml.predict('p', ARRAY[0.1, 2.0])") == ["pgml.predict(text,numeric[])"]
    assert resolved(conn, "pgml.predict('p', (1, 2))") == ["pgml.predict(text,anyelement)"]
    assert resolved(conn, "pgml.predict('p', ROW('a'::text, 2))") == ["pgml.predict(text,anyelement)"]
    assert resolved(conn, "pgml.predict(1::bigint, ROW(1, 2))") == ["pgml.predict(bigint,anyelement)"]
    assert resolved(conn, "pgml.predict('p', t) FROM %s t" % table) == ["pgml.predict(text,anyelement)"]
    assert "not unique" in str(expect_error(conn, "SELECT pgml.predict(1, ARRAY[1, 2])"))
