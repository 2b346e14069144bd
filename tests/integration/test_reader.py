"""pgml_py/ml/reader.py's binary formats against the real server and its installed pgvector:
the SQL the reader builds runs through psycopg (a stand-in for db.py that binds $1.. the way
the prepared plans do), its bytes are decoded by the reader's own functions, and the numbers
must equal what psycopg returns for the same columns as text. Formats: float4send/float8send
records, array_send of float8[] (NULL elements, NULL arrays, any number of dimensions),
pgvector's vector_send, and the chunked read of all of them."""
import json
import math
import re
import uuid

import numpy as np
import psycopg
import pytest
from psycopg.rows import dict_row

from pgml_py.ml import reader, relations

# float8 beyond float4 becomes infinity in the float32 matrix, as it always has
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")


class PsycopgDb:
    """The part of pgml_py/db.py the reader uses, over a psycopg connection."""

    def __init__(self, conn):
        self.conn = conn

    def execute(self, query, args=(), types=()):
        query = query.replace("%", "%%")
        query = re.sub(r"\$(\d+)", lambda m: "(%%(p%s)s::%s)" % (m.group(1), types[int(m.group(1)) - 1]), query)
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, {"p%d" % (i + 1): v for i, v in enumerate(args)})
            return cur.fetchall() if cur.description else []

    def database_errors(self):
        return (psycopg.Error,)


@pytest.fixture
def db(conn):
    return PsycopgDb(conn)


@pytest.fixture
def table(conn):
    names = []

    def make(columns, rows):
        name = "reader_%s" % uuid.uuid4().hex[:8]
        conn.execute("CREATE TABLE %s (id int, %s)" % (name, columns))
        for i, row in enumerate(rows):
            conn.execute("INSERT INTO %s VALUES (%d, %s)" % (name, i, ", ".join(row)))
        names.append(name)
        return name
    yield make
    for name in names:
        conn.execute("DROP TABLE %s" % name)


def relation(db, name):
    """(rel, the columns but id) as snapshot.load passes them to reader.read."""
    rel = relations.resolve(db, name)
    return rel, [a for a in relations.attributes(db, rel["oid"]) if a["name"] != "id"]


def plain(conn, name, column):
    """psycopg's values of a column in id order (text out of the server, parsed by psycopg)."""
    return [r[0] for r in conn.execute("SELECT %s FROM %s ORDER BY id" % (column, name)).fetchall()]


def as_number(v):
    return math.nan if v is None else float(int(v) if isinstance(v, bool) else v)


def same(got, expected):
    """Equal as float64 values, NaN equal to NaN, -0 apart from 0."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    numbers = ~np.isnan(expected)
    return got.shape == expected.shape and np.array_equal(got, expected, equal_nan=True) and \
        np.array_equal(np.signbit(got[numbers]), np.signbit(expected[numbers]))


def scan_order(conn, name):
    """The permutation from the reader's rows (scan order, no key) to id order."""
    return np.argsort(np.array([r[0] for r in conn.execute("SELECT id FROM %s" % name).fetchall()]))


NUMBERS = ("f4 real, f8 float8, i2 smallint, i4 int, i8 bigint, num numeric, b boolean")
NUMBER_ROWS = [
    ("1.5", "0.1", "1", "2", str(2 ** 53 + 2 ** 29 + 1), "1.25", "true"),
    ("NULL",) * 7,
    ("'NaN'", "'-Infinity'", "-32768", "2147483647", str(-2 ** 63), "'NaN'", "false"),
    ("'-0'", "'1e-300'", "32767", "-16777217", str(2 ** 62 + 2 ** 38 + 3), "123456789.123456789", "NULL"),
    ("'1e-45'", "'1.7976931348623157e308'", "0", "16777219", "-1", "-0.000001", "true"),
    ("'3.4028235e38'", "'-0'", "-1", "0", "0", "'Infinity'", "false"),
]


def test_float4send_and_float8send_fields_decode_to_the_values(db, conn, table):
    name = table(NUMBERS, NUMBER_ROWS)
    _, features = relation(db, name)
    for a in features:
        dtype, sql = reader.number_field(a)
        raw = [r[0] for r in conn.execute("SELECT %s FROM %s ORDER BY id" % (sql, name)).fetchall()]
        assert all(len(b) == np.dtype(dtype).itemsize for b in raw), a["name"]
        got = np.frombuffer(b"".join(raw), dtype=dtype)
        values = [as_number(v) for v in plain(conn, name, a["quoted"])]
        if a["base"] == "float4":   # 4 bytes, exact: psycopg's float is the float4 widened
            assert dtype == ">f4" and same(got, np.array(values, dtype=np.float32)), a["name"]
        else:   # float8 of the value, as Python rounds an int or Decimal to a double
            assert dtype == ">f8" and same(got, values), a["name"]


def test_a_record_of_every_numeric_type_reads_as_the_float32_values(db, conn, table):
    name = table(NUMBERS, NUMBER_ROWS)
    rel, features = relation(db, name)
    rows = reader.read(db, rel, features, [], None, vector=False)
    assert rows.n == len(NUMBER_ROWS) and not rows.vector_read
    order = scan_order(conn, name)   # scan order → id order
    for a in features:
        expected = np.array([as_number(v) for v in plain(conn, name, a["quoted"])], dtype=np.float64)
        # float8 values go to float32 the way numpy rounds a double; float4 values are exact
        assert same(rows.values[order, rows.column(a)], expected.astype(np.float32)), a["name"]


ARRAYS = "a float8[], r real[], i int[], n numeric[], b boolean[], g bigint[]"
ARRAY_ROWS = [   # four values each, in one to three dimensions
    ("'{1,NULL,3,4}'", "'{{1.5,2},{NULL,-0}}'", "'{{{1,2}},{{3,4}}}'", "'{1.25,NaN,NULL,-7}'",
     "'{t,f,NULL,t}'", "'{9007199791611905,-1,0,NULL}'"),
    ("NULL",) * 6,
    ("'{{NaN,Infinity},{-Infinity,1e-300}}'", "'{1e-45,3.4028235e38,NULL,NULL}'", "'{NULL,NULL,NULL,NULL}'",
     "'{{123456789.123456789,0},{1,2}}'", "NULL", "'{{1},{2},{3},{4}}'"),
    ("'{5,6,7,8}'", "NULL", "'{-2147483648,2147483647,0,1}'", "NULL", "'{{f,f},{t,t}}'", "NULL"),
]


def flat(value):
    """psycopg's nested lists (any dimensions) → a flat list of floats, NULL → NaN."""
    if isinstance(value, list):
        return [x for v in value for x in flat(v)]
    return [as_number(value)]


def test_array_send_of_float8_arrays_with_nulls_and_any_dimensions(db, conn, table):
    name = table(ARRAYS, ARRAY_ROWS)
    rel, features = relation(db, name)
    rows = reader.read(db, rel, features, [], None)
    order = scan_order(conn, name)
    for a in features:
        assert rows.width(a) == 4, a["name"]
        block = rows.array(a, 4)[order]
        expected = [[math.nan] * 4 if v is None else flat(v) for v in plain(conn, name, a["quoted"])]
        assert same(block, np.array(expected, dtype=np.float64).astype(np.float32)), a["name"]
        # the bytes are array_send's: header (ndim, has-nulls flag, element type, each dimension's
        # size and lower bound), then each element's length (8) and float8 value (NaN for NULL)
        for (raw,), v in zip(conn.execute("SELECT %s FROM %s ORDER BY id" % (reader.array_bytes(a), name)),
                             plain(conn, name, a["quoted"])):
            if v is None:
                assert raw is None
                continue
            ndim, flags = np.frombuffer(raw[:8], dtype=">i4").tolist()
            assert flags == 0   # array_replace left no NULL element
            elements = np.frombuffer(raw[12 + 8 * ndim:], dtype=[("len", ">i4"), ("v", ">f8")])
            # real[]: psycopg parses float4's shortest text as a double; the cast widens the float4
            expected = np.array(flat(v), dtype=np.float32 if a["base"] == "float4" else np.float64)
            assert (elements["len"] == 8).all() and same(elements["v"], expected), a["name"]


def test_empty_and_all_null_arrays_have_no_width(db, conn, table):
    name = table("e float8[], z real[]", [("'{}'", "NULL"), ("'{}'", "NULL")])
    rel, features = relation(db, name)
    rows = reader.read(db, rel, features, [], None)
    assert [rows.width(a) for a in features] == [0, 0]
    assert rows.array(features[0], 0).shape == (2, 0)


def test_vector_send_rows_are_the_float4_values(db, conn, table):
    name = table(NUMBERS, [r for r in NUMBER_ROWS if "NULL" not in r and "'NaN'" not in r and
                           "'-Infinity'" not in r and "'Infinity'" not in r and "'1e-300'" not in r
                           and "'1.7976931348623157e308'" not in r])
    rel, features = relation(db, name)
    schema = reader.vector_schema(db)
    extension = conn.execute("SELECT extnamespace::regnamespace::text FROM pg_extension "
                             "WHERE extname = 'vector'").fetchone()
    assert extension is not None and schema == extension[0]
    vector = "%s.vector_send(ARRAY[%s]::%s.vector)" % (schema, ", ".join(map(reader.vector_element, features)),
                                                        schema)
    text = "ARRAY[%s]::%s.vector::text" % (", ".join(map(reader.vector_element, features)), schema)
    result = db.execute("SELECT pg_catalog.count(*) AS n, pg_catalog.string_agg(v, ''::bytea ORDER BY id) AS v, "
                        "pg_catalog.array_agg(t ORDER BY id) AS t FROM (SELECT id, %s AS v, %s AS t FROM %s) s"
                        % (vector, text, name))
    n, k = result[0]["n"], len(features)
    # each row: int16 dimensions, int16 unused, then the big-endian float4 values
    got = reader.records(result, "v", np.dtype([("head", ">i4"), ("v", ">f4", (k,))]), n)
    assert (got["head"] >> 16 == k).all() and (got["head"] & 0xFFFF == 0).all()
    assert same(got["v"], np.array([json.loads(t) for t in result[0]["t"]], dtype=np.float32))
    # and reader.read takes that way for these rows, giving what the record way gives
    fast = reader.read(db, rel, features, [], None)
    slow = reader.read(db, rel, features, [], None, vector=False)
    assert fast.vector_read and not slow.vector_read
    for a in features:
        assert same(fast.values[:, fast.column(a)], slow.values[:, slow.column(a)]), a["name"]


@pytest.mark.parametrize("value", ["NULL", "'NaN'", "'Infinity'", "1e300"])
def test_values_pgvector_refuses_are_read_the_record_way(db, conn, table, value):
    name = table("x float8, y real", [("1", "2"), (value, "3")])
    rel, features = relation(db, name)
    with pytest.raises(psycopg.Error) as refused:   # what pgvector (or the float4 cast) says
        conn.execute("SELECT ARRAY[%s]::%s.vector FROM %s" % (", ".join(map(reader.vector_element, features)),
                                                              reader.vector_schema(db), name))
    assert refused.value.sqlstate.startswith("22")
    rows = reader.read(db, rel, features, [], None)
    assert not rows.vector_read
    order = scan_order(conn, name)
    expected = [as_number(v) for v in plain(conn, name, "x")]
    assert same(rows.values[order, rows.column(features[0])], np.array(expected).astype(np.float32))


def test_chunked_reads_equal_the_single_read(db, conn):
    name = "reader_chunks_%s" % uuid.uuid4().hex[:8]
    conn.execute("CREATE TABLE %s AS SELECT i AS id, i * 0.5 AS x, i::real AS r, ARRAY[i, -i]::int[] AS a, "
                 "'t' || i AS t, (i %% 3)::float8 AS y FROM generate_series(1, 300) i" % name)
    try:
        rel, attrs = relation(db, name)
        features = [a for a in attrs if a["name"] != "y"]
        labels = [a for a in attrs if a["name"] == "y"]
        whole = reader.read(db, rel, features, labels, None)
        for chunk_bytes, vector in ((2000, True), (1, True), (2000, False)):
            chunked = reader.read(db, rel, features, labels, None, chunk_bytes=chunk_bytes, vector=vector)
            assert chunked.vector_read == vector
            for a in attrs:
                if a["name"] == "t":
                    assert chunked.texts(a) == whole.texts(a) == ["t%d" % i for i in range(1, 301)]
                elif a["is_array"]:
                    assert same(chunked.array(a, 2), whole.array(a, 2))
                else:
                    assert same(chunked.values[:, chunked.column(a)], whole.values[:, whole.column(a)])
        assert same(whole.array(features[2], 2), [[i, -i] for i in range(1, 301)])
    finally:
        conn.execute("DROP TABLE %s" % name)


def test_the_random_key_is_each_rows_random_value(db, conn, table):
    name = table("x float8", [(str(i),) for i in range(20)])
    rel, features = relation(db, name)
    conn.execute("SELECT setseed(0.5)")
    expected = [r[0] for r in conn.execute("SELECT random() FROM %s" % name).fetchall()]
    conn.execute("SELECT setseed(0.5)")
    rows = reader.read(db, rel, features, [], "random")
    assert rows.keys.tolist() == expected
