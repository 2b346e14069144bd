"""The binary reader: every column a snapshot needs, in one query, decoded with numpy.

One query reads every column, so all of them see the same rows in the same order (a single
aggregate node feeds each row to every aggregate in turn). Numbers travel as binary: each
row's numeric columns concatenated as big-endian float4/float8 (NULL → NaN), those records
concatenated by string_agg, and numpy reads them with frombuffer. Text columns come as
array_agg lists, arrays as their array_send bytes (elements NULL → NaN), flattened here.
The order of ORDER BY random() is made here: each row ships its random() value and numpy
sorts on it (a materialized snapshot ships its ctid). When the relation is large the query
groups the rows into chunks (one bytea stays far below PostgreSQL's 1 GB limit), each
aggregate ordered by the row number, so the scan order survives.

Faster, when every numeric feature of every row is a finite number: the row's features as one
pgvector `vector` (a float4 array whose binary send is one call, not one per value: about half
the time). pgvector refuses NULL, NaN and infinite elements (and float8 beyond float4 refuses
the cast): then the same query runs again the first way. Labels always take the first way.
"""
import numpy as np

from .. import errors
from .relations import NUMERIC_TYPES, TEXT_TYPES

CHUNK_BYTES = 256 * 1024 * 1024
VECTOR_MAX_DIM = 16000   # pgvector's limit
_F8 = "pg_catalog.float8"


def vector_schema(db):
    """The (quoted) schema of the pgvector that pgml's CREATE EXTENSION ... CASCADE installed, or None."""
    rows = db.execute("""SELECT pg_catalog.quote_ident(n.nspname) AS schema FROM pg_catalog.pg_extension e
                         JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'""")
    return rows[0]["schema"] if rows else None


def _as_float8(a):
    """A non-float4 numeric column as float8, the values plpy gave before: bool → 0/1, integers
    and numeric → float8 (numpy rounds a Python int to float32 through a double too)."""
    q = a["quoted"]
    return "%s::pg_catalog.int4::%s" % (q, _F8) if a["base"] == "bool" else "%s::%s" % (q, _F8)


def vector_element(a):
    """A numeric scalar column as the float4 the first way would give (float8 first, then float4)."""
    return a["quoted"] if a["base"] == "float4" else "%s::pg_catalog.float4" % _as_float8(a)


def number_field(a):
    """(numpy dtype, SQL bytea expression) of one numeric scalar column's value."""
    if a["base"] == "float4":  # exact as it is: 4 bytes
        return ">f4", "pg_catalog.float4send(COALESCE(%s, 'NaN'::pg_catalog.float4))" % a["quoted"]
    return ">f8", "pg_catalog.float8send(COALESCE(%s, 'NaN'::%s))" % (_as_float8(a), _F8)


def array_bytes(a):
    """array_send of the column as float8[] with NULL elements → NaN (a NULL array → NULL)."""
    q = a["quoted"]
    cast = "%s::pg_catalog.int4[]::%s[]" % (q, _F8) if a["base"] == "bool" else "%s::%s[]" % (q, _F8)
    return "pg_catalog.array_send(pg_catalog.array_replace(%s, NULL, 'NaN'::%s))" % (cast, _F8)


class Rows:
    """The relation's rows as read got them (scan order) until put_in_order(order).
    values: (n, k) float32, one column per numeric scalar column (column(a) says which)."""

    def __init__(self, n, record, values, columns, texts, arrays, nulls, vector_read=False):
        self.n, self.nulls, self.values, self.vector_read = n, nulls, values, vector_read
        self._record, self._columns, self._texts, self._arrays = record, columns, texts, arrays
        self.keys = record["key"] if record is not None and "key" in record.dtype.names else None
        self._order, self._array_rows = None, {}

    def column(self, a):
        return self._columns[a["name"]]

    def put_in_order(self, order):
        self._order = order
        if order is not None:
            self.values = self.values[order]

    def texts(self, a, order=None):
        order = self._order if order is None else order
        values = self._texts[a["name"]]
        return values if order is None else list(map(values.__getitem__, order.tolist()))

    def group_ids(self, a, order):
        """Stratification classes of a label column in `order` (equal label values, equal id)."""
        if a["base"] in TEXT_TYPES:
            values = self.texts(a, order)
            ids = {v: i for i, v in enumerate(dict.fromkeys(values))}
            return np.fromiter(map(ids.__getitem__, values), dtype=np.int64, count=self.n)
        exact = self._record["x" + self._record_field(a)] if a["base"] == "int8" else \
            self._record[self._record_field(a)]   # float8 holds every int4 exactly
        exact = exact if order is None else exact[order]
        return np.unique(exact, return_inverse=True)[1].reshape(-1)

    def _record_field(self, a):
        return "v%d" % self._columns[a["name"]]

    def _meta(self, a):
        """Per row (scan order): cardinality (-1 for a NULL array), dimensions and byte offset."""
        if a["name"] not in self._array_rows:
            meta = self._record["m" + self._columns[a["name"]]].astype(np.int64)
            present = meta >= 0
            card, ndim = np.where(present, meta >> 4, -1), meta & 15
            size = np.where(present, 12 + 8 * ndim + 12 * np.maximum(card, 0), 0)
            ends = np.cumsum(size)
            if (int(ends[-1]) if len(ends) else 0) != len(self._arrays[a["name"]]):
                raise errors.PgmlError('reading array column "%s" went wrong' % a["name"],
                                       hint="This is a bug in pgml; please report it.")
            self._array_rows[a["name"]] = (card, ndim, ends - size)
        return self._array_rows[a["name"]]

    def width(self, a):
        """The first row's number of values; any other size is the "Mismatched" ERROR."""
        card = self._meta(a)[0]
        card = card if self._order is None else card[self._order]
        present = np.flatnonzero(card >= 0)
        if not len(present):
            return 0
        width = int(card[present[0]])
        wrong = present[card[present] != width]
        if len(wrong):
            raise errors.DataError(
                'Mismatched array length for feature "%s": expected %d values, got %d values'
                % (a["name"], width, card[wrong[0]]),
                hint="Every row of an array column must have the same number of values.")
        return width

    def array(self, a, width):
        """The (n, width) float32 block of an array column, NULL arrays → NaN rows."""
        card, ndim, offsets = self._meta(a)
        buf = np.frombuffer(self._arrays[a["name"]], dtype=np.uint8)
        block = np.full((self.n, width), np.nan, dtype=np.float32)
        present = np.flatnonzero(card >= 0)
        if len(present) and width:
            rows_ndim = ndim[present]
            for d in np.unique(rows_ndim).tolist():
                rows = present[rows_ndim == d]
                header = 12 + 8 * d
                size = header + 12 * width
                if len(rows) == len(present):  # one shape: the bytes are one regular matrix
                    chunk = buf.reshape(len(rows), size)
                else:
                    chunk = np.stack([buf[o:o + size] for o in offsets[rows].tolist()])
                # each element: its length (4 bytes, always 8), then the big-endian float8
                values = chunk[:, header:].reshape(len(rows), width, 12)[:, :, 4:]
                block[rows] = np.ascontiguousarray(values).view(">f8").reshape(len(rows), width)
        return block if self._order is None else block[self._order]


def read(db, rel, features, label_attrs, key, chunk_bytes=CHUNK_BYTES, vector=True):
    """Every needed column of rel in one query (see the module's docstring): a Rows.
    key: "random" (each row's random() value, to sort on), "ctid" or None. chunk_bytes: the
    largest aggregate value before the rows are read in chunks; vector=False: never the pgvector
    way (tests and benchmarks compare both ways with these two)."""
    in_vector = [a for a in features if not a["is_array"] and a["base"] in NUMERIC_TYPES]
    schema = vector_schema(db) if vector and 0 < len(in_vector) <= VECTOR_MAX_DIM else None
    if schema is not None:
        try:
            return _read_once(db, rel, features, label_attrs, key, in_vector, schema, chunk_bytes)
        except db.database_errors() as e:
            # pgvector's refusals are data exceptions (22...); a schema the caller may not use
            # (42501) also means the plain way. A cancel (57...) stops here.
            if str(getattr(e, "sqlstate", "") or "").startswith("57"):
                raise
    return _read_once(db, rel, features, label_attrs, key, [], None, chunk_bytes)


def _read_once(db, rel, features, label_attrs, key, in_vector, schema, chunk_bytes):
    """One read of the rows: the query's parts planned, run, and the answer decoded."""
    plan = _Plan(features, label_attrs, key, in_vector)
    chunk_rows = _chunk_rows(db, rel, chunk_bytes, plan.fields, plan.texts, plan.arrays,
                             4 + 4 * len(in_vector) if in_vector else 0)
    result = db.execute(_query(plan, rel, schema, label_attrs, chunk_rows))
    return _decode(plan, result, label_attrs)


class _Plan:
    """Where each column goes: the vector (in_vector), the fixed-size binary record (key, float4
    values, float8 values, array metadata, exact int8 labels, in that order), or an aggregate of
    its own (texts, arrays). columns: a column's index in the values matrix, or its metadata
    field's number (a string) for an array."""

    def __init__(self, features, label_attrs, key, in_vector):
        self.in_vector = in_vector
        self.key_sql, self.values4, self.values8, metas, exacts = [], [], [], [], []
        if key == "random":
            self.key_sql.append("pg_catalog.float8send(pg_catalog.random())")
        elif key == "ctid":  # block * 2^16 + line: the heap order, exact in a float8
            self.key_sql.append("pg_catalog.float8send((ctid::pg_catalog.text::pg_catalog.point)[0] * 65536 "
                                "+ (ctid::pg_catalog.text::pg_catalog.point)[1])")
        self.texts, self.arrays = [], []
        self.columns = {a["name"]: i for i, a in enumerate(in_vector)}   # the vector's: first in values
        for a in features + label_attrs:
            if any(a is b for b in in_vector):
                continue
            if a["is_array"]:
                self.arrays.append(a)
                metas.append((a, "pg_catalog.int8send(COALESCE(pg_catalog.cardinality(%s)::pg_catalog.int8 * 16 "
                                 "+ COALESCE(pg_catalog.array_ndims(%s), 0), -1))" % (a["quoted"], a["quoted"])))
            elif a["base"] in TEXT_TYPES:
                self.texts.append(a)
            else:
                dtype, sql = number_field(a)
                (self.values4 if dtype == ">f4" else self.values8).append((a, sql))
                if a["base"] == "int8" and any(a is b for b in label_attrs):  # exact stratification classes
                    exacts.append((a, "pg_catalog.int8send(COALESCE(%s, 0))" % a["quoted"]))
        self._record(metas, exacts)

    def _record(self, metas, exacts):
        """fields (the record's numpy dtype) and record_sql (its parts, concatenated in SQL)."""
        self.fields, self.record_sql = [], []
        if self.key_sql:
            self.fields.append(("key", ">f8"))
            self.record_sql += self.key_sql
        for dtype, group in ((">f4", self.values4), (">f8", self.values8)):
            for a, sql in group:
                self.columns[a["name"]] = len(self.columns)
                self.fields.append(("v%d" % self.columns[a["name"]], dtype))
                self.record_sql.append(sql)
        for a, sql in metas:
            self.columns[a["name"]] = str(len(self.fields))
            self.fields.append(("m" + self.columns[a["name"]], ">i8"))
            self.record_sql.append(sql)
        for a, sql in exacts:
            self.fields.append(("xv%d" % self.columns[a["name"]], ">i8"))
            self.record_sql.append(sql)


def _query(plan, rel, schema, label_attrs, chunk_rows):
    """The SELECT that aggregates every row into a few values (per chunk of chunk_rows rows)."""
    texts, arrays, in_vector = plan.texts, plan.arrays, plan.in_vector
    inner = ["%s AS r" % " OPERATOR(pg_catalog.||) ".join(plan.record_sql)] if plan.record_sql else []
    if in_vector:
        inner.append("%s.vector_send(ARRAY[%s]::%s.vector) AS v"
                     % (schema, ", ".join(map(vector_element, in_vector)), schema))
    inner += ["%s AS t%d" % (a["quoted"], i) for i, a in enumerate(texts)]
    inner += ["%s AS a%d" % (array_bytes(a), i) for i, a in enumerate(arrays)]
    inner += ["%s AS l%d" % (a["quoted"], i) for i, a in enumerate(label_attrs)]
    ordered = " ORDER BY s.i" if chunk_rows else ""
    outer = ["pg_catalog.count(*) AS n"]
    if plan.record_sql:
        outer.append("pg_catalog.string_agg(s.r, ''::pg_catalog.bytea%s) AS r" % ordered)
    if in_vector:
        outer.append("pg_catalog.string_agg(s.v, ''::pg_catalog.bytea%s) AS v" % ordered)
    outer += ["pg_catalog.array_agg(s.t%d%s) AS t%d" % (i, ordered, i) for i in range(len(texts))]
    outer += ["pg_catalog.string_agg(s.a%d, ''::pg_catalog.bytea%s) AS a%d" % (i, ordered, i)
              for i in range(len(arrays))]
    outer += ["pg_catalog.count(s.l%d) AS l%d" % (i, i) for i in range(len(label_attrs))]
    tail = ""
    if chunk_rows:
        inner.insert(0, "pg_catalog.row_number() OVER () AS i")
        tail = " GROUP BY (s.i - 1) / %d ORDER BY (s.i - 1) / %d" % (chunk_rows, chunk_rows)
    # Names: the catalog's quote_ident (relation, columns); aliases and numbers are ours.
    return ("SELECT %s FROM (SELECT %s FROM %s) s%s"
            % (", ".join(outer), ", ".join(inner or ["1 AS one"]), rel["qualified"], tail))


def _decode(plan, result, label_attrs):
    """The query's answer (one row per chunk) as Rows."""
    in_vector, values4, values8 = plan.in_vector, plan.values4, plan.values8
    n = sum(int(r["n"]) for r in result)
    record, values = None, np.empty((n, len(in_vector) + len(values4) + len(values8)), dtype=np.float32)
    if in_vector:   # each row: int16 dimensions, int16 unused, the big-endian float4 values
        vectors = records(result, "v", np.dtype([("head", ">i4"), ("v", ">f4", (len(in_vector),))]), n)
        values[:, :len(in_vector)] = vectors["v"]
    if plan.fields:
        dtype = np.dtype(plan.fields)
        record = records(result, "r", dtype, n)
        matrix = record.view(np.uint8).reshape(n, dtype.itemsize)
        start = 8 if plan.key_sql else 0
        for size, count, first in ((4, len(values4), len(in_vector)),
                                   (8, len(values8), len(in_vector) + len(values4))):
            if count:  # the group's bytes are a (n, count) big-endian matrix: one conversion
                values[:, first:first + count] = matrix[:, start:start + size * count].view(">f%d" % size)
                start += size * count
    text_values = {a["name"]: [v for r in result for v in (r["t%d" % i] or ())] for i, a in enumerate(plan.texts)}
    array_values = {a["name"]: b"".join(r["a%d" % i] for r in result if r["a%d" % i] is not None)
                    for i, a in enumerate(plan.arrays)}
    nulls = {a["name"]: n - sum(int(r["l%d" % i]) for r in result) for i, a in enumerate(label_attrs)}
    return Rows(n, record, values, plan.columns, text_values, array_values, nulls,
                vector_read=bool(in_vector))


def records(result, name, dtype, n):
    """The n fixed-size binary records of aggregate `name` (its chunks joined) as a numpy array."""
    raw = b"".join(r[name] for r in result if r[name] is not None)
    if len(raw) != n * dtype.itemsize:
        raise errors.PgmlError("reading the relation went wrong: %d bytes of %s for %d rows" % (len(raw), name, n),
                               hint="This is a bug in pgml; please report it.")
    return np.frombuffer(raw, dtype=dtype)


def _chunk_rows(db, rel, chunk_bytes, fields, texts, arrays, vector_width=0):
    """None when the whole relation fits in one aggregate value of at most chunk_bytes, else the
    rows per chunk. The row count is the planner's estimate (scaled to the current size) for
    tables, else count(*); text and array widths come from up to 1,000 rows."""
    if not fields and not texts and not arrays and not vector_width:
        return None
    row = db.execute("""SELECT CASE WHEN c.reltuples >= 0 AND c.relpages > 0 THEN
                                   c.reltuples / c.relpages * pg_catalog.pg_relation_size(c.oid)
                                   / pg_catalog.current_setting('block_size')::pg_catalog.int4 END AS rows
                        FROM pg_catalog.pg_class c WHERE c.oid = $1""", [rel["oid"]], ["oid"])[0]
    rows = row["rows"]
    if rows is None:
        rows = db.execute("SELECT pg_catalog.count(*) AS n FROM %s" % rel["qualified"])[0]["n"]
    width = max(np.dtype(fields).itemsize if fields else 0, vector_width, 1)
    if texts or arrays:
        probes = ["pg_catalog.max(pg_catalog.octet_length(%s::pg_catalog.text)) AS t%d" % (a["quoted"], i)
                  for i, a in enumerate(texts)]
        probes += ["pg_catalog.max(pg_catalog.cardinality(%s)) AS a%d" % (a["quoted"], i)
                   for i, a in enumerate(arrays)]
        sample = db.execute("SELECT %s FROM (SELECT * FROM %s LIMIT 1000) s"
                            % (", ".join(probes), rel["qualified"]))[0]
        width = max([width] + [16 + (sample["t%d" % i] or 0) for i in range(len(texts))]
                    + [24 + 12 * (sample["a%d" % i] or 0) for i in range(len(arrays))])
    if float(rows) * 2 * width <= chunk_bytes:
        return None
    return max(1, chunk_bytes // (2 * width))
