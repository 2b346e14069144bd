"""Vector functions and aggregates on the real server: results match numpy, the
result type follows the input type, errors carry SQLSTATE + hint, and the aggregates give the
same answer when the planner runs them in parallel."""
import re

import numpy as np
import pytest

TYPES = ["real", "double precision"]
# Values that are not exact in binary floating point, so REAL really rounds.
V = [0.1, -2.25, 0.0, 4.7, -0.3]
W = [1.3, 0.5, -3.1, 2.0, 0.0]


def ref(values, typ):
    """The input as the server holds it: rounded to float32 for REAL, then computed in float64."""
    return np.asarray(values, dtype=np.float32 if typ == "real" else np.float64).astype(np.float64)


def approx(expected, typ):
    return pytest.approx(expected, rel=1e-6 if typ == "real" else 1e-12, abs=1e-6 if typ == "real" else 1e-12)


def call(conn, expr, params):
    """(value, pg_typeof) of a single expression."""
    return conn.execute("SELECT r, pg_typeof(r)::text FROM (SELECT %s AS r) s" % expr, params).fetchone()


# ---- element-wise arithmetic -------------------------------------------------------------

ELEMENTWISE = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide}


@pytest.mark.parametrize("typ", TYPES)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_with_a_scalar(shared_conn, name, typ):
    value, got_type = call(shared_conn, "pgml.%s(%%s::%s[], %%s::%s)" % (name, typ, typ), (V, 2.5))
    assert got_type == typ + "[]"
    assert value == approx(ELEMENTWISE[name](ref(V, typ), ref([2.5], typ)[0]).tolist(), typ)


@pytest.mark.parametrize("typ", TYPES)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_with_an_array(shared_conn, name, typ):
    other = [x if x else 0.25 for x in W]  # no division by zero
    value, got_type = call(shared_conn, "pgml.%s(%%s::%s[], %%s::%s[])" % (name, typ, typ), (V, other))
    assert got_type == typ + "[]"
    assert value == approx(ELEMENTWISE[name](ref(V, typ), ref(other, typ)).tolist(), typ)


@pytest.mark.parametrize("typ", TYPES)
def test_elementwise_argument_names(shared_conn, typ):
    """PostgresML's parameter names, for named (=>) calls."""
    for name, arg in [("add", "addend"), ("subtract", "subtahend"), ("multiply", "multiplicand"),
                      ("divide", "dividend")]:
        value, _ = call(shared_conn, "pgml.%s(vector => %%s::%s[], %s => %%s::%s)" % (name, typ, arg, typ),
                        ([1.0, 2.0], 2.0))
        assert value == approx(ELEMENTWISE[name](np.array([1.0, 2.0]), 2.0).tolist(), typ)


# ---- norms, normalization, distances -----------------------------------------------------

NORMS = {
    "l0": lambda a: float(np.count_nonzero(a)),
    "l1": lambda a: float(np.abs(a).sum()),
    "l2": lambda a: float(np.linalg.norm(a)),
    "max": lambda a: float(np.abs(a).max()),
}


@pytest.mark.parametrize("typ", TYPES)
@pytest.mark.parametrize("kind", sorted(NORMS))
def test_norm(shared_conn, kind, typ):
    value, got_type = call(shared_conn, "pgml.norm_%s(%%s::%s[])" % (kind, typ), (V,))
    assert got_type == typ
    assert value == approx(NORMS[kind](ref(V, typ)), typ)


@pytest.mark.parametrize("typ", TYPES)
@pytest.mark.parametrize("kind", ["l1", "l2", "max"])
def test_normalize(shared_conn, kind, typ):
    value, got_type = call(shared_conn, "pgml.normalize_%s(%%s::%s[])" % (kind, typ), (V,))
    assert got_type == typ + "[]"
    a = ref(V, typ)
    assert value == approx((a / NORMS[kind](a)).tolist(), typ)
    assert NORMS[kind](np.array(value)) == approx(1.0, typ)


DISTANCES = {
    "distance_l1": lambda a, b: float(np.abs(a - b).sum()),
    "distance_l2": lambda a, b: float(np.linalg.norm(a - b)),
    "dot_product": lambda a, b: float(np.dot(a, b)),
    "cosine_similarity": lambda a, b: float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))),
}


@pytest.mark.parametrize("typ", TYPES)
@pytest.mark.parametrize("name", sorted(DISTANCES))
def test_distance(shared_conn, name, typ):
    value, got_type = call(shared_conn, "pgml.%s(%%s::%s[], %%s::%s[])" % (name, typ, typ), (V, W))
    assert got_type == typ
    assert value == approx(DISTANCES[name](ref(V, typ), ref(W, typ)), typ)


@pytest.mark.parametrize("typ", TYPES)
def test_division_by_zero_follows_ieee(shared_conn, typ):
    value, _ = call(shared_conn, "pgml.divide(ARRAY[1, -1]::%s[], 0)" % typ, ())
    assert value == [float("inf"), float("-inf")]


def test_cosine_similarity_of_parallel_vectors(shared_conn):
    value, _ = call(shared_conn, "pgml.cosine_similarity(%s::real[], %s::real[])", ([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]))
    assert value == pytest.approx(1.0, rel=1e-6)


# ---- overload resolution -----------------------------------------------------

def test_numeric_array_and_integer_resolve_to_double_precision_scalar_form(conn):
    value, got_type = call(conn, "pgml.add(ARRAY[1.0, 2.0], 3)", ())
    assert (value, got_type) == ([4.0, 5.0], "double precision[]")
    # Which overload the parser picked: a view depends on exactly that function.
    conn.execute("CREATE TEMP VIEW add_call AS SELECT pgml.add(ARRAY[1.0, 2.0], 3)")
    used = conn.execute("""
        SELECT d.refobjid::regprocedure::text FROM pg_depend d JOIN pg_rewrite r ON d.objid = r.oid
        WHERE r.ev_class = 'add_call'::regclass AND d.refclassid = 'pg_proc'::regclass""").fetchall()
    assert used == [("pgml.add(double precision[],double precision)",)]


def test_real_array_and_integer_scalar_stay_real(shared_conn):
    value, got_type = call(shared_conn, "pgml.multiply(ARRAY[1.5, 2]::real[], 2)", ())
    assert (value, got_type) == ([3.0, 4.0], "real[]")


def test_every_function_exists_for_both_types(shared_conn):
    names = ["add", "subtract", "multiply", "divide", "norm_l0", "norm_l1", "norm_l2", "norm_max",
             "normalize_l1", "normalize_l2", "normalize_max", "distance_l1", "distance_l2",
             "dot_product", "cosine_similarity"]
    rows = shared_conn.execute("""
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid),
               p.provolatile, p.proisstrict, p.proparallel
        FROM pg_proc p WHERE p.pronamespace = 'pgml'::regnamespace AND p.proname = ANY(%s)""", (names,)).fetchall()
    counts = {n: 0 for n in names}
    for name, args, result, volatile, strict, parallel in rows:
        counts[name] += 1
        assert (volatile, strict, parallel) == ("i", True, "u"), name  # PostgresML: SAFE (docs/security.md)
        element = "real" if args.startswith("vector real[]") else "double precision"
        assert args.startswith("vector %s[]" % element), (name, args)
        assert result in (element, element + "[]"), (name, args, result)
    assert counts == {n: 4 if n in ("add", "subtract", "multiply", "divide") else 2 for n in names}


# ---- errors and NULLs --------------------------------------------------------------------

def assert_error(error, sqlstate, *substrings):
    assert error.sqlstate == sqlstate, (error.sqlstate, str(error))
    for s in substrings:
        assert s in error.diag.message_primary, (s, error.diag.message_primary)
    assert error.diag.message_hint, "no hint on: %s" % error.diag.message_primary


@pytest.mark.parametrize("typ", TYPES)
@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "distance_l1", "distance_l2",
                                  "dot_product", "cosine_similarity"])
def test_mismatched_lengths(conn, expect_error, name, typ):
    error = expect_error(conn, "SELECT pgml.%s(ARRAY[1, 2, 3]::%s[], ARRAY[1, 2, 3, 4, 5]::%s[])" % (name, typ, typ))
    assert_error(error, "22000")
    message = error.diag.message_primary
    assert re.search(r"\b3\b", message) and re.search(r"\b5\b", message), message


@pytest.mark.parametrize("typ", TYPES)
@pytest.mark.parametrize("expr", [
    "pgml.add(ARRAY[1, NULL, 3]::{t}[], 1)",
    "pgml.add(ARRAY[1, 2, 3]::{t}[], ARRAY[1, NULL, 3]::{t}[])",
    "pgml.divide(ARRAY[NULL]::{t}[], 2)",
    "pgml.norm_l2(ARRAY[1, NULL]::{t}[])",
    "pgml.normalize_max(ARRAY[NULL, 1]::{t}[])",
    "pgml.dot_product(ARRAY[1, 2]::{t}[], ARRAY[NULL, 2]::{t}[])",
    "pgml.cosine_similarity(ARRAY[1, NULL]::{t}[], ARRAY[1, 2]::{t}[])",
])
def test_null_element(conn, expect_error, expr, typ):
    error = expect_error(conn, "SELECT " + expr.format(t=typ))
    assert_error(error, "22004", "NULL")


@pytest.mark.parametrize("typ", TYPES)
@pytest.mark.parametrize("expr", [
    "pgml.add(NULL::{t}[], 1)", "pgml.add(ARRAY[1]::{t}[], NULL::{t})",
    "pgml.subtract(ARRAY[1]::{t}[], NULL::{t}[])", "pgml.multiply(NULL::{t}[], ARRAY[1]::{t}[])",
    "pgml.divide(ARRAY[1]::{t}[], NULL::{t})",
    "pgml.norm_l0(NULL::{t}[])", "pgml.norm_l1(NULL::{t}[])", "pgml.norm_l2(NULL::{t}[])",
    "pgml.norm_max(NULL::{t}[])", "pgml.normalize_l1(NULL::{t}[])", "pgml.normalize_l2(NULL::{t}[])",
    "pgml.normalize_max(NULL::{t}[])", "pgml.distance_l1(NULL::{t}[], ARRAY[1]::{t}[])",
    "pgml.distance_l2(ARRAY[1]::{t}[], NULL::{t}[])", "pgml.dot_product(NULL::{t}[], NULL::{t}[])",
    "pgml.cosine_similarity(ARRAY[1]::{t}[], NULL::{t}[])",
])
def test_null_argument_gives_null(shared_conn, expr, typ):
    assert shared_conn.execute("SELECT " + expr.format(t=typ)).fetchone() == (None,)


# ---- aggregates --------------------------------------------------------------------------

ROWS = [[1.5, -2.0, 0.1], None, [-3.25, 4.0, 0.2], [2.0, -0.5, -7.3]]
AGGREGATES = {
    "sum": lambda m: m.sum(axis=0),
    "min": lambda m: m.min(axis=0),
    "max": lambda m: m.max(axis=0),
    "min_abs": lambda m: np.abs(m).min(axis=0),
    "max_abs": lambda m: np.abs(m).max(axis=0),
}


def values_sql(typ, rows):
    return "(VALUES %s) t(v)" % ", ".join(
        "(NULL::%s[])" % typ if r is None else "(ARRAY%r::%s[])" % (r, typ) for r in rows)


@pytest.mark.parametrize("typ", TYPES)
@pytest.mark.parametrize("kind", sorted(AGGREGATES))
def test_aggregate(shared_conn, kind, typ):
    value, got_type = shared_conn.execute(
        "SELECT r, pg_typeof(r)::text FROM (SELECT pgml.%s(v) AS r FROM %s) s" % (kind, values_sql(typ, ROWS))).fetchone()
    assert got_type == typ + "[]"
    matrix = np.vstack([ref(r, typ) for r in ROWS if r is not None])
    assert value == approx(AGGREGATES[kind](matrix).tolist(), typ)
    if kind.endswith("_abs"):
        assert all(x >= 0 for x in value)


@pytest.mark.parametrize("typ", TYPES)
@pytest.mark.parametrize("kind", sorted(AGGREGATES))
def test_aggregate_of_no_rows_and_only_null_rows(shared_conn, kind, typ):
    empty = shared_conn.execute("SELECT pgml.%s(v) FROM %s WHERE false" % (kind, values_sql(typ, [[1.0]]))).fetchone()
    assert empty == ([],)
    nulls = shared_conn.execute("SELECT pgml.%s(v) FROM %s" % (kind, values_sql(typ, [None, None]))).fetchone()
    assert nulls == ([],)


@pytest.mark.parametrize("typ", TYPES)
@pytest.mark.parametrize("kind", sorted(AGGREGATES))
def test_aggregate_grouped(shared_conn, kind, typ):
    rows = shared_conn.execute(
        "SELECT g, pgml.%s(v) FROM (VALUES (1, ARRAY[1, -5]::{t}[]), (2, ARRAY[-2, 3]::{t}[]),"
        " (1, ARRAY[-4, 2]::{t}[])) t(g, v) GROUP BY g ORDER BY g".replace("{t}", typ) % kind).fetchall()
    groups = {1: np.array([[1, -5], [-4, 2]], dtype=float), 2: np.array([[-2, 3]], dtype=float)}
    assert rows == [(g, AGGREGATES[kind](m).tolist()) for g, m in groups.items()]


@pytest.mark.parametrize("typ", TYPES)
@pytest.mark.parametrize("kind", sorted(AGGREGATES))
def test_aggregate_mismatched_lengths(conn, expect_error, kind, typ):
    error = expect_error(conn, "SELECT pgml.%s(v) FROM %s" % (kind, values_sql(typ, [[1.0, 2.0], [1.0, 2.0, 3.0]])))
    assert_error(error, "22000")
    message = error.diag.message_primary
    assert re.search(r"\b2\b", message) and re.search(r"\b3\b", message), message


@pytest.mark.parametrize("typ", TYPES)
def test_aggregate_null_element(conn, expect_error, typ):
    error = expect_error(conn, "SELECT pgml.sum(v) FROM %s" % values_sql(typ, [[1.0, 2.0]]).replace("2.0", "NULL"))
    assert_error(error, "22004", "NULL")


def assert_sum_close(got, matrix, typ):
    """A column sum accumulated in the input type (the state of a REAL[] sum is REAL[]): within
    a few rounding steps of the exact sum, measured against the column's total magnitude."""
    eps = np.finfo(np.float32 if typ == "real" else np.float64).eps
    tolerance = 4 * np.sqrt(len(matrix)) * eps * np.abs(matrix).sum(axis=0)
    assert len(got) == matrix.shape[1]
    assert np.all(np.abs(np.asarray(got) - matrix.sum(axis=0)) <= tolerance), (got, matrix.sum(axis=0), tolerance)


PARALLEL = ["SET parallel_setup_cost = 0", "SET parallel_tuple_cost = 0", "SET min_parallel_table_scan_size = 0",
            "SET max_parallel_workers_per_gather = 2", "SET parallel_leader_participation = off"]


@pytest.fixture(scope="module")
def vector_table(server):
    """A few thousand rows in a regular table (temporary tables are never scanned in parallel)."""
    name = "pgml_test_vectors_parallel"
    with server.connect() as c:
        c.execute("DROP TABLE IF EXISTS public.%s" % name)
        c.execute("""
            CREATE TABLE public.%s AS
            SELECT i, CASE WHEN i %% 97 = 0 THEN NULL ELSE ARRAY[sin(i), cos(i) * 10, (i %% 13) - 6.5, i / 1000.0] END AS d
            FROM generate_series(1, 4000) i""" % name)
        c.execute("ANALYZE public.%s" % name)
        rows = [r[0] for r in c.execute("SELECT d FROM public.%s ORDER BY i" % name)]
        yield name, rows
        c.execute("DROP TABLE public.%s" % name)


@pytest.mark.parametrize("typ", TYPES)
def test_aggregates_never_run_in_a_parallel_plan(conn, vector_table, typ):
    """The aggregates are PARALLEL UNSAFE (pgml never starts in parallel mode, where PostgreSQL
    would drop its configured settings: docs/security.md): with every parallel setting on, the
    plan has no Gather and the result is the serial one."""
    table, rows = vector_table
    kinds = sorted(AGGREGATES)
    query = "SELECT %s FROM public.%s" % (", ".join("pgml.%s(d::%s[])" % (k, typ) for k in kinds), table)
    for setting in PARALLEL:
        conn.execute(setting)
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (COSTS OFF) " + query))
    assert "Gather" not in plan, plan
    got = conn.execute(query).fetchone()
    matrix = np.vstack([ref(r, typ) for r in rows if r is not None])
    for kind, value in zip(kinds, got):
        if kind == "sum":
            assert_sum_close(value, matrix, typ)
        else:
            assert value == approx(AGGREGATES[kind](matrix).tolist(), typ), kind


@pytest.mark.parametrize("typ", TYPES)
def test_first_call_of_a_backend_with_parallel_settings(server, vector_table, typ):
    """pgml's first use in a backend, with every parallel setting on: a query calling pgml never
    enters parallel mode (no Gather), so pgml loads with the server's settings and answers."""
    table, rows = vector_table
    query = ("SELECT count(*), pgml.max_abs(pgml.multiply(d::{t}[], 2)) FROM public.{table} "
             "WHERE pgml.norm_l2(d::{t}[]) > 5").format(t=typ, table=table)
    with server.connect() as c:  # a fresh backend, closed at once on an error
        for setting in PARALLEL:
            c.execute(setting)
        plan = "\n".join(r[0] for r in c.execute("EXPLAIN (COSTS OFF) " + query))
        assert "Gather" not in plan and "pgml.norm_l2" in plan, plan
        count, max_abs = c.execute(query).fetchone()
    kept = np.vstack([ref(r, typ) for r in rows if r is not None and np.linalg.norm(ref(r, typ)) > 5])
    assert count == len(kept)
    assert max_abs == approx(np.abs(kept * 2).max(axis=0).tolist(), typ)
