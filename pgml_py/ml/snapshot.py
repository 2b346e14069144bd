"""Snapshots (api.md §2, §7.3, §7.6, §7.7): resolve the training relation, record it in
pgml.snapshots, then read its rows in sampling order, split train/test and encode them as
float32 matrices.

SQL is never built from user text: relations are resolved with to_regclass on quote_ident'ed
parts and then named by the catalog's own quote_ident of the schema and table; columns are
named by quote_ident from pg_attribute; values go through prepared plans.
"""
import json
import math
import threading
from collections import Counter
from dataclasses import dataclass
from itertools import repeat

import numpy as np

from .. import errors
from . import metrics, preprocess

NUMERIC_TYPES = {"bool", "int2", "int4", "int8", "float4", "float8", "numeric"}
TEXT_TYPES = {"text", "varchar", "bpchar"}
CONTINUOUS_TYPES = {"float4", "float8", "numeric"}  # stratifying on these is meaningless
SAMPLINGS = ("random", "last", "stratified")


@dataclass
class Dataset:
    X_train: np.ndarray
    y_train: "np.ndarray | None"
    X_test: np.ndarray
    y_test: "np.ndarray | None"
    feature_names: list
    num_features: int
    label_classes: "list | None"
    columns: "list | None" = None   # snapshots.columns: feature and label dicts in column order
    samples: int = 0
    statistics: "object | None" = None   # the columns' statistics being computed: .wait()
    X: "np.ndarray | None" = None        # X_train and X_test are its two parts (views)


class UndefinedTable(errors.PgmlError):
    sqlstate = "42P01"


class UndefinedColumn(errors.PgmlError):
    sqlstate = "42703"


# ---- relation resolution -----------------------------------------------------------------

def _regclass(db, schema, table):
    """The oid of schema.table (schema None: the search_path), or None; never raises on odd names."""
    if schema is None:
        rows = db.execute("SELECT pg_catalog.to_regclass(pg_catalog.quote_ident($1))::pg_catalog.oid AS oid",
                          [table], ["text"])
    else:
        rows = db.execute("SELECT pg_catalog.to_regclass(pg_catalog.quote_ident($1) OPERATOR(pg_catalog.||) '.' "
                          "OPERATOR(pg_catalog.||) pg_catalog.quote_ident($2))::pg_catalog.oid AS oid",
                          [schema, table], ["text", "text"])
    return rows[0]["oid"]


def _split_quoted(name):
    """`"a""b".c` → ["a\"b", "c"]: the quoted form create() stores for names that need quotes.
    Unquoted parts are kept as written (relation names are case-sensitive, as in PostgresML)."""
    parts, i, n = [], 0, len(name)
    while i < n:
        if name[i] == '"':
            j, buf = i + 1, []
            while True:
                if j >= n:
                    return None
                if name[j] == '"':
                    if j + 1 < n and name[j + 1] == '"':
                        buf.append('"')
                        j += 2
                        continue
                    break
                buf.append(name[j])
                j += 1
            parts.append("".join(buf))
            i = j + 1
        else:
            j = name.find(".", i)
            j = n if j < 0 else j
            parts.append(name[i:j])
            i = j
        if i < n:
            if name[i] != ".":
                return None
            i += 1
    return parts


def _candidates(name):
    """(schema or None, table) lookups in order: schema.table as written, a bare name by the
    caller's search_path exactly as PostgreSQL resolves it (PostgresML looked in public first,
    which let whoever can create there capture another role's train), then the quoted form."""
    out = []
    if "." in name:
        schema, table = name.split(".", 1)
        out.append((schema, table))
    else:
        out.append((None, name))
    if '"' in name:
        parts = _split_quoted(name)
        if parts and len(parts) == 2 and all(parts):
            out.append(tuple(parts))
        elif parts and len(parts) == 1 and parts[0]:
            out.append((None, parts[0]))
    return out


def resolve(db, relation_name):
    """{oid, qualified (SQL-safe), schema, table, kind}, or an ERROR 42P01 with a hint."""
    if not isinstance(relation_name, str) or not relation_name.strip():
        raise errors.bad_argument("relation_name", "the name of a table or view", repr(relation_name))
    oid = None
    for schema, table in _candidates(relation_name):
        oid = _regclass(db, schema, table)
        if oid is not None:
            break
    if oid is None:
        if "." in relation_name:
            raise UndefinedTable('relation "%s" could not be found' % relation_name,
                                 hint="Check the schema and table names; they are case-sensitive.")
        raise UndefinedTable(
            'relation "%s" could not be found in the search_path' % relation_name,
            hint="Create it, or pass the table with its schema, e.g. 'my_schema.%s'." % relation_name)
    row = db.execute("""SELECT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.'
                               OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname) AS qualified,
                               n.nspname AS schema, c.relname AS table, c.relkind::pg_catalog.text AS kind,
                               pg_catalog.has_table_privilege(c.oid, 'SELECT') AS can_select
                        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                        WHERE c.oid = $1""", [oid], ["oid"])[0]
    if row["kind"] not in ("r", "v", "m", "p", "f"):
        raise errors.PgmlError('"%s" is not a table or view' % relation_name, sqlstate="42809",
                               hint="Pass a table, view or materialized view as relation_name.")
    if not row["can_select"]:
        raise errors.InsufficientPrivilege(
            'permission denied for relation "%s"' % relation_name,
            hint="Ask its owner to GRANT SELECT ON %s to you." % row["qualified"])
    return dict(row, oid=oid)


def _stored_name(db, rel):
    """schema.table as written (load() splits on the first dot), quoted only when the schema
    itself holds a dot."""
    if "." not in rel["schema"]:
        return "%s.%s" % (rel["schema"], rel["table"])
    row = db.execute("SELECT pg_catalog.quote_ident($1) AS s, pg_catalog.quote_ident($2) AS t",
                     [rel["schema"], rel["table"]], ["text", "text"])[0]
    return "%s.%s" % (row["s"], row["t"])


def attributes(db, oid):
    """The relation's columns in attnum order, with their SQL-safe quoted names and type info."""
    return db.execute("""
        SELECT a.attname AS name, pg_catalog.quote_ident(a.attname) AS quoted, a.attnum AS position,
               pg_catalog.format_type(a.atttypid, a.atttypmod) AS pg_type, NOT a.attnotnull AS nullable,
               t.typcategory = 'A' AS is_array,
               CASE WHEN t.typcategory = 'A' THEN e.typname ELSE t.typname END::pg_catalog.text AS base
        FROM pg_catalog.pg_attribute a
        JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem
        WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum""", [oid], ["oid"])


def _order_by(sampling):
    return " ORDER BY pg_catalog.random()" if sampling in ("random", "stratified") else ""


# ---- create ------------------------------------------------------------------------------

def create(db, relation_name, y_column_names, test_size, test_sampling, materialize=False):
    """Records a snapshot of relation_name (api.md §7.3) and returns its id."""
    sampling = str(test_sampling or "stratified")
    if test_size is None or test_size < 0:
        raise errors.bad_argument("test_size", "a fraction below 1 or a row count of at least 1", test_size)
    if sampling not in SAMPLINGS:
        raise errors.bad_argument("test_sampling", "one of random, last, stratified", repr(sampling))
    rel = resolve(db, relation_name)
    names = {a["name"] for a in attributes(db, rel["oid"])}
    labels = list(y_column_names) if y_column_names else None
    for label in labels or ():
        if label not in names:
            raise UndefinedColumn(
                'column "%s" not found in relation "%s". Did you pass the correct `y_column_name`?'
                % (label, relation_name),
                hint="The relation's columns are: %s." % ", ".join(sorted(names)))
    snapshot_id = db.execute(
        """INSERT INTO pgml.snapshots (relation_name, y_column_name, test_size, test_sampling, status,
                                      materialized)
           VALUES ($1, $2, $3, $4::pgml.sampling, 'in_progress', $5) RETURNING id""",
        [_stored_name(db, rel), labels, float(test_size), sampling, bool(materialize)],
        ["text", "text[]", "float4", "text", "bool"])[0]["id"]
    if materialize:
        # Both names are SQL-safe: the catalog's quote_ident and an integer id.
        db.execute('CREATE TABLE pgml."snapshot_%d" AS SELECT * FROM %s%s'
                   % (int(snapshot_id), rel["qualified"], _order_by(sampling)))
    return snapshot_id


# ---- load --------------------------------------------------------------------------------

def source(db, snapshot_id):
    """(the snapshots row, the relation its rows are read from): pgml.snapshot_<id> when the
    snapshot is materialized, else the relation it recorded."""
    rows = db.execute("""SELECT relation_name, y_column_name, test_size,
                                test_sampling::pg_catalog.text AS sampling, materialized
                         FROM pgml.snapshots WHERE id = $1""", [snapshot_id], ["int8"])
    if not rows:
        raise errors.UndefinedObject("snapshot %s does not exist" % snapshot_id,
                                     hint="Pass relation_name to pgml.train to take a new snapshot.")
    snap = rows[0]
    name = "pgml.snapshot_%d" % int(snapshot_id) if snap["materialized"] else snap["relation_name"]
    return snap, resolve(db, name)


def load(db, snapshot_id, background=False):
    """The snapshot's rows, ordered, split and encoded (api.md §7.6-7.7); their statistics go
    to pgml.snapshots.columns. background: the numeric columns' statistics are computed in a
    thread (numpy sorts, which release the GIL, beside the fit that follows) and the caller
    writes the columns with save_columns(); only categories, which preprocess needs, are ready."""
    snap, rel = source(db, snapshot_id)
    labels = list(snap["y_column_name"] or [])
    sampling = snap["sampling"]
    if snap["materialized"]:
        key = "ctid" if rel["kind"] == "r" else None
    else:
        key = "random" if sampling in ("random", "stratified") else None
    attrs = attributes(db, rel["oid"])
    by_name = {a["name"]: a for a in attrs}
    for label in labels:
        if label not in by_name:
            raise UndefinedColumn(
                'column "%s" not found in relation "%s". Did you pass the correct `y_column_name`?'
                % (label, snap["relation_name"]),
                hint="The relation changed since the snapshot was taken; pass relation_name again.")
    for a in attrs:
        kinds = NUMERIC_TYPES if a["is_array"] else NUMERIC_TYPES | TEXT_TYPES
        if a["base"] not in kinds or (a["is_array"] and a["name"] in labels):
            raise errors.FeatureNotSupported(
                'Type information missing for column "%s": %s is not supported' % (a["name"], a["pg_type"]),
                hint="Use boolean, integer, real, double precision, numeric, text or arrays of numbers; "
                     "cast other columns in a view.")
    features = [a for a in attrs if a["name"] not in labels]
    label_attrs = [by_name[name] for name in labels]

    data = _read(db, rel, features, label_attrs, key)
    n = data.n
    for a in label_attrs:
        if data.nulls[a["name"]]:
            raise errors.NullValueNotAllowed(
                'label column "%s" contains NULL values' % a["name"],
                hint="Remove or fill the rows WHERE %s IS NULL (a view can filter them)." % a["quoted"])

    # The row order: the sort ORDER BY random() (or ctid) would do, done here on the shipped
    # keys (ties, as in PostgreSQL's sort, in no particular order), then the stratified
    # split's permutation on top of it.
    order = np.argsort(data.keys.astype(np.float64)) if data.keys is not None else None
    num_test = _test_rows(float(snap["test_size"]), n)
    num_train = n - num_test
    if sampling == "stratified" and labels and all(a["base"] not in CONTINUOUS_TYPES for a in label_attrs):
        groups = [data.group_ids(a, order) for a in label_attrs]
        groups = groups[0] if len(groups) == 1 else np.unique(np.column_stack(groups), axis=0,
                                                               return_inverse=True)[1].reshape(-1)
        strata = stratified_groups(groups, num_test)
        order = strata if order is None else order[strata]
    data.put_in_order(order)

    # Features, column-wise; statistics over the training rows (numbers: maybe in a thread).
    widths = [data.width(a) if a["is_array"] else 1 for a in features]
    X = np.empty((n, sum(widths)), dtype=np.float32)
    names, column_info, numeric, start = [], [], [], 0
    for a, width in zip(features, widths):
        info = _column_info(a, label=False)
        if a["is_array"]:
            X[:, start:start + width] = data.array(a, width)
            info["size"] = width
            names += ["%s[%d]" % (a["name"], i) for i in range(width)]
        elif a["base"] in TEXT_TYPES:
            codes, categories = _categorical(data.texts(a), num_train)
            X[:, start] = codes
            info["statistics"] = _statistics(codes[:num_train], categories)
            names.append(a["name"])
        else:
            numeric.append((start, data.column(a), info))
            info["statistics"] = None
            names.append(a["name"])
        start += width
        column_info.append(info)
    if numeric:  # one copy for all the numeric columns
        X[:, [i for i, _, _ in numeric]] = data.values[:, [j for _, j, _ in numeric]]
    # data.values is no one else's: the statistics can read it while X goes on to the fit
    pending = [(info, data.values[:num_train, j]) for _, j, info in numeric]

    # Labels.
    y, label_classes = None, None
    if labels:
        encoded, classes = [], []
        for a in label_attrs:
            if a["base"] in TEXT_TYPES:
                values = data.texts(a)
                classes_ = sorted(set(values))
                code = {v: k for k, v in enumerate(classes_)}
                encoded.append(np.fromiter(map(code.__getitem__, values), dtype=np.float32, count=n))
            elif a["base"] == "bool":
                values = data.values[:, data.column(a)]
                present = np.unique(values)
                classes_ = [bool(v) for v in present.tolist()]
                encoded.append(np.searchsorted(present, values).astype(np.float32))
            else:
                encoded.append(np.ascontiguousarray(data.values[:, data.column(a)]))
                classes_ = None
            classes.append(classes_)
            info = _column_info(a, label=True)
            info["statistics"] = None
            column_info.append(info)
            pending.append((info, encoded[-1][:num_train].copy()))
        y = encoded[0] if len(encoded) == 1 else np.column_stack(encoded)
        if len(labels) == 1:
            label_classes = classes[0]
        elif any(c is not None for c in classes):
            label_classes = classes
    column_info.sort(key=lambda c: c["position"])

    dataset = Dataset(X_train=X[:num_train], y_train=None if y is None else y[:num_train],
                      X_test=X[num_train:], y_test=None if y is None else y[num_train:],
                      feature_names=names, num_features=X.shape[1], label_classes=label_classes,
                      columns=column_info, samples=n, X=X)
    dataset.statistics = _Statistics(pending, background)
    if not background:
        save_columns(db, snapshot_id, dataset)
    return dataset


def _column_info(a, label):
    """A snapshots.columns entry (api.md §2) of attribute a, before its statistics."""
    return {"name": a["name"], "pg_type": a["pg_type"], "nullable": a["nullable"], "label": label,
            "position": a["position"], "size": 1, "array": a["is_array"],
            "preprocessor": dict(preprocess.DEFAULT)}


def save_columns(db, snapshot_id, dataset):
    """Writes snapshots.columns and analysis, once every column's statistics are there."""
    dataset.statistics.wait()
    write_columns(db, snapshot_id, dataset.columns, dataset.samples)


def write_columns(db, snapshot_id, columns, samples):
    db.execute("UPDATE pgml.snapshots SET columns = $1::jsonb, analysis = $2::jsonb WHERE id = $3",
               [json.dumps(columns), json.dumps({"samples": samples}), snapshot_id], ["text", "text", "int8"])


class _Statistics:
    """_statistics of (column dict, training values) pairs, now or in a daemon thread. The
    thread touches nothing but its numpy arrays (never plpy); wait() re-raises its error."""

    def __init__(self, pending, background):
        self._pending, self._error, self._thread = pending, [], None
        if background and pending:
            self._thread = threading.Thread(target=self._run, name="pgml-snapshot-statistics", daemon=True)
            self._thread.start()
        else:
            self._run()

    def _run(self):
        try:
            for info, values in self._pending:
                info["statistics"] = _statistics(values)
        except Exception as e:  # noqa: BLE001 (re-raised by wait)
            self._error.append(e)

    def wait(self):
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error:
            raise self._error[0]


# ---- reading the rows ----------------------------------------------------------------------
#
# One query reads every column, so all of them see the same rows in the same order (a single
# aggregate node feeds each row to every aggregate in turn). Numbers travel as binary: each
# row's numeric columns concatenated as big-endian float4/float8 (NULL → NaN), those records
# concatenated by string_agg, and numpy reads them with frombuffer. Text columns come as
# array_agg lists, arrays as their array_send bytes (elements NULL → NaN), flattened here.
# The order of ORDER BY random() is made here: each row ships its random() value and numpy
# sorts on it (a materialized snapshot ships its ctid). When the relation is large the query
# groups the rows into chunks (one bytea stays far below PostgreSQL's 1 GB limit), each
# aggregate ordered by the row number, so the scan order survives.
#
# Faster, when every numeric feature of every row is a finite number: the row's features as one
# pgvector `vector` (a float4 array whose binary send is one call, not one per value: about half
# the time). pgvector refuses NULL, NaN and infinite elements (and float8 beyond float4 refuses
# the cast): then the same query runs again the first way. Labels always take the first way.

CHUNK_BYTES = 256 * 1024 * 1024
VECTOR_MAX_DIM = 16000   # pgvector's limit
_F8 = "pg_catalog.float8"


def _vector_schema(db):
    """The (quoted) schema of the pgvector that pgml's CREATE EXTENSION ... CASCADE installed, or None."""
    rows = db.execute("""SELECT pg_catalog.quote_ident(n.nspname) AS schema FROM pg_catalog.pg_extension e
                         JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'""")
    return rows[0]["schema"] if rows else None


def _as_float8(a):
    """A non-float4 numeric column as float8, the values plpy gave before: bool → 0/1, integers
    and numeric → float8 (numpy rounds a Python int to float32 through a double too)."""
    q = a["quoted"]
    return "%s::pg_catalog.int4::%s" % (q, _F8) if a["base"] == "bool" else "%s::%s" % (q, _F8)


def _vector_element(a):
    """A numeric scalar column as the float4 the first way would give (float8 first, then float4)."""
    return a["quoted"] if a["base"] == "float4" else "%s::pg_catalog.float4" % _as_float8(a)


def _number_field(a):
    """(numpy dtype, SQL bytea expression) of one numeric scalar column's value."""
    if a["base"] == "float4":  # exact as it is: 4 bytes
        return ">f4", "pg_catalog.float4send(COALESCE(%s, 'NaN'::pg_catalog.float4))" % a["quoted"]
    return ">f8", "pg_catalog.float8send(COALESCE(%s, 'NaN'::%s))" % (_as_float8(a), _F8)


def _array_bytes(a):
    """array_send of the column as float8[] with NULL elements → NaN (a NULL array → NULL)."""
    q = a["quoted"]
    cast = "%s::pg_catalog.int4[]::%s[]" % (q, _F8) if a["base"] == "bool" else "%s::%s[]" % (q, _F8)
    return "pg_catalog.array_send(pg_catalog.array_replace(%s, NULL, 'NaN'::%s))" % (cast, _F8)


class _Rows:
    """The relation's rows as _read got them (scan order) until put_in_order(order).
    values: (n, k) float32, one column per numeric scalar column (column(a) says which)."""

    def __init__(self, n, record, values, columns, texts, arrays, nulls):
        self.n, self.nulls, self.values = n, nulls, values
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


def _read(db, rel, features, label_attrs, key):
    """Every needed column of rel in one query (chunked when large); see the comment above."""
    in_vector = [a for a in features if not a["is_array"] and a["base"] in NUMERIC_TYPES]
    schema = _vector_schema(db) if 0 < len(in_vector) <= VECTOR_MAX_DIM else None
    if schema is not None:
        try:
            return _read_once(db, rel, features, label_attrs, key, in_vector, schema)
        except db.database_errors() as e:
            # pgvector's refusals are data exceptions (22...); a schema the caller may not use
            # (42501) also means the plain way. A cancel (57...) stops here.
            if str(getattr(e, "sqlstate", "") or "").startswith("57"):
                raise
    return _read_once(db, rel, features, label_attrs, key, [], None)


def _read_once(db, rel, features, label_attrs, key, in_vector, vector_schema):
    key_sql, values4, values8, metas, exacts = [], [], [], [], []
    if key == "random":
        key_sql.append("pg_catalog.float8send(pg_catalog.random())")
    elif key == "ctid":  # block * 2^16 + line: the heap order, exact in a float8
        key_sql.append("pg_catalog.float8send((ctid::pg_catalog.text::pg_catalog.point)[0] * 65536 "
                       "+ (ctid::pg_catalog.text::pg_catalog.point)[1])")
    texts, arrays = [], []
    columns = {a["name"]: i for i, a in enumerate(in_vector)}   # the vector's: first in values
    for a in features + label_attrs:
        if any(a is b for b in in_vector):
            continue
        if a["is_array"]:
            arrays.append(a)
            metas.append((a, "pg_catalog.int8send(COALESCE(pg_catalog.cardinality(%s)::pg_catalog.int8 * 16 "
                             "+ COALESCE(pg_catalog.array_ndims(%s), 0), -1))" % (a["quoted"], a["quoted"])))
        elif a["base"] in TEXT_TYPES:
            texts.append(a)
        else:
            dtype, sql = _number_field(a)
            (values4 if dtype == ">f4" else values8).append((a, sql))
            if a["base"] == "int8" and any(a is b for b in label_attrs):  # exact stratification classes
                exacts.append((a, "pg_catalog.int8send(COALESCE(%s, 0))" % a["quoted"]))
    # The record: key, float4 values, float8 values, array metadata, exact int8 labels.
    fields, record_sql = [], []
    if key_sql:
        fields.append(("key", ">f8"))
        record_sql += key_sql
    for dtype, group in ((">f4", values4), (">f8", values8)):
        for a, sql in group:
            columns[a["name"]] = len(columns)
            fields.append(("v%d" % columns[a["name"]], dtype))
            record_sql.append(sql)
    for a, sql in metas:
        columns[a["name"]] = str(len(fields))
        fields.append(("m" + columns[a["name"]], ">i8"))
        record_sql.append(sql)
    for a, sql in exacts:
        fields.append(("xv%d" % columns[a["name"]], ">i8"))
        record_sql.append(sql)

    inner = ["%s AS r" % " OPERATOR(pg_catalog.||) ".join(record_sql)] if record_sql else []
    if in_vector:
        inner.append("%s.vector_send(ARRAY[%s]::%s.vector) AS v"
                     % (vector_schema, ", ".join(map(_vector_element, in_vector)), vector_schema))
    inner += ["%s AS t%d" % (a["quoted"], i) for i, a in enumerate(texts)]
    inner += ["%s AS a%d" % (_array_bytes(a), i) for i, a in enumerate(arrays)]
    inner += ["%s AS l%d" % (a["quoted"], i) for i, a in enumerate(label_attrs)]
    chunk_rows = _chunk_rows(db, rel, fields, texts, arrays, 4 + 4 * len(in_vector) if in_vector else 0)
    ordered = " ORDER BY s.i" if chunk_rows else ""
    outer = ["pg_catalog.count(*) AS n"]
    if record_sql:
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
    result = db.execute("SELECT %s FROM (SELECT %s FROM %s) s%s"
                        % (", ".join(outer), ", ".join(inner or ["1 AS one"]), rel["qualified"], tail))

    n = sum(int(r["n"]) for r in result)
    record, values = None, np.empty((n, len(in_vector) + len(values4) + len(values8)), dtype=np.float32)
    if in_vector:   # each row: int16 dimensions, int16 unused, the big-endian float4 values
        vectors = _records(result, "v", np.dtype([("head", ">i4"), ("v", ">f4", (len(in_vector),))]), n)
        values[:, :len(in_vector)] = vectors["v"]
    if fields:
        dtype = np.dtype(fields)
        record = _records(result, "r", dtype, n)
        matrix = record.view(np.uint8).reshape(n, dtype.itemsize)
        start = 8 if key_sql else 0
        for size, count, first in ((4, len(values4), len(in_vector)),
                                   (8, len(values8), len(in_vector) + len(values4))):
            if count:  # the group's bytes are a (n, count) big-endian matrix: one conversion
                values[:, first:first + count] = matrix[:, start:start + size * count].view(">f%d" % size)
                start += size * count
    text_values = {a["name"]: [v for r in result for v in (r["t%d" % i] or ())] for i, a in enumerate(texts)}
    array_bytes = {a["name"]: b"".join(r["a%d" % i] for r in result if r["a%d" % i] is not None)
                   for i, a in enumerate(arrays)}
    nulls = {a["name"]: n - sum(int(r["l%d" % i]) for r in result) for i, a in enumerate(label_attrs)}
    return _Rows(n, record, values, columns, text_values, array_bytes, nulls)


def _records(result, name, dtype, n):
    """The n fixed-size binary records of aggregate `name` (its chunks joined) as a numpy array."""
    raw = b"".join(r[name] for r in result if r[name] is not None)
    if len(raw) != n * dtype.itemsize:
        raise errors.PgmlError("reading the relation went wrong: %d bytes of %s for %d rows" % (len(raw), name, n),
                               hint="This is a bug in pgml; please report it.")
    return np.frombuffer(raw, dtype=dtype)


def _chunk_rows(db, rel, fields, texts, arrays, vector_width=0):
    """None when the whole relation fits in one aggregate value of at most CHUNK_BYTES, else the
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
    if float(rows) * 2 * width <= CHUNK_BYTES:
        return None
    return max(1, CHUNK_BYTES // (2 * width))


def _test_rows(test_size, n):
    """test_size rows if > 1, else round(n × test_size) half away from zero, as PostgresML."""
    num_test = int(test_size) if test_size > 1 else int(math.floor(n * test_size + 0.5))
    if num_test > n:
        raise errors.InvalidParameter(
            "test_size = %g is too large. There are only %d samples" % (test_size, n),
            hint="Pass a smaller test_size, as a fraction (0.25) or a row count below %d." % n)
    if n == 0:
        raise errors.DataError("the relation has no rows to train on",
                               hint="Insert rows into the relation, or pass another relation_name.")
    if num_test == n:
        raise errors.InvalidParameter(
            "test_size = %g leaves no training rows out of %d samples" % (test_size, n),
            hint="Pass a test_size below 1 (a fraction) or below %d (a row count)." % n)
    return num_test


def stratified_order(keys, num_test):
    """stratified_groups for a list of hashable label tuples."""
    ids = {}
    groups = np.fromiter((ids.setdefault(k, len(ids)) for k in keys), dtype=np.int64, count=len(keys))
    return stratified_groups(groups, num_test)


def stratified_groups(groups, num_test):
    """A permutation putting train rows first and num_test test rows last, where each class
    (group id) gives the test rows in proportion to its size (largest remainder; ties to the
    class seen first). Rows keep their incoming (already random) order, so the split is random
    yet deterministic; each class gives its last rows to the test set."""
    groups = np.asarray(groups, dtype=np.int64).reshape(-1)
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    _, first, inverse, counts = np.unique(groups, return_index=True, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    quotas = counts * num_test / n
    take = np.floor(quotas).astype(np.int64)
    left = num_test - int(take.sum())
    if left > 0:
        take[np.lexsort((first, take - quotas))[:left]] += 1
    # rank of each row from the end of its class: the last take[class] rows are test rows
    by_class = np.argsort(inverse, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[by_class] = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    test = counts[inverse] - 1 - rank < take[inverse]
    return np.concatenate([np.flatnonzero(~test), np.flatnonzero(test)])


def _categorical(values, num_train):
    """Codes in first-seen order over the training rows, NULL → 0; unseen at test → NaN.
    A text "__NULL__" falls in the NULL category, as it always has."""
    members = Counter(values[:num_train])   # counts, keys in first-seen order
    null = members.pop(None, 0) + members.pop("__NULL__", 0)
    categories = {"__NULL__": {"value": 0, "members": null}}
    code = {None: 0.0, "__NULL__": 0.0}
    for value, count in members.items():
        categories[value] = {"value": len(categories), "members": count}
        code[value] = float(categories[value]["value"])
    codes = np.fromiter(map(code.get, values, repeat(np.nan)), dtype=np.float32, count=len(values))
    return codes, categories


def _statistics(column, categories=None):
    """Statistics of one feature over the training rows (api.md §2); JSON-safe. One sort of the
    float32 values gives distinct, mode, min, max and the median; mean and variance are taken
    in float64 over the values in row order."""
    column = np.asarray(column)
    present = column[~np.isnan(column)]
    stats = {"missing": int(column.size - present.size), "distinct": 0}
    values = counts = None
    if present.size:
        values, counts = np.unique(present, return_counts=True)
        stats["distinct"] = int(values.size)
    if categories is not None:
        stats["categories"] = categories
        stats["missing"] = int(categories["__NULL__"]["members"])
        stats["distinct"] = len(categories) - 1
    if present.size:
        wide = present.astype(np.float64)
        ends = np.cumsum(counts)
        half = present.size // 2
        upper = float(values[np.searchsorted(ends, half, side="right")])
        if present.size % 2:
            median = upper
        else:  # np.median: the mean of the two middle values
            median = (float(values[np.searchsorted(ends, half - 1, side="right")]) + upper) / 2.0
        floats = dict(min=values[0], max=values[-1], max_abs=max(abs(float(values[0])), abs(float(values[-1]))),
                      mean=wide.mean(), median=median, mode=values[np.argmax(counts)], variance=wide.var(),
                      std_dev=wide.std())
        stats.update({k: metrics.finite_or_none(v) for k, v in floats.items()})   # JSON has no Infinity
    stats["histogram"] = _histogram(values, counts)
    stats["ventiles"] = [metrics.finite_or_none(v) for v in _ventiles(values, counts)]
    return stats


HISTOGRAM_BINS, VENTILES = 20, 19


def _histogram(values, counts):
    """Rows per bin of 20 equal-width bins from min to max, the max in the last bin; bounds in
    float32 as PostgresML computes them (min + i * (max - min) / 20)."""
    if values is None:
        return [0] * HISTOGRAM_BINS
    dtype = np.float32
    with np.errstate(over="ignore", invalid="ignore"):
        if not np.isfinite(np.float32(values[-1]) - np.float32(values[0])):
            dtype = np.float64   # a range beyond float32 (PostgresML fails there): bounds in float64
        low = dtype(values[0])
        step = (dtype(values[-1]) - low) / dtype(HISTOGRAM_BINS)
        bounds = low + step * np.arange(HISTOGRAM_BINS, dtype=dtype)
    bins = np.searchsorted(bounds, values.astype(dtype), side="right") - 1
    bins = np.clip(bins, 0, HISTOGRAM_BINS - 1)   # bounds of infinite values are NaN
    return np.bincount(bins, weights=counts, minlength=HISTOGRAM_BINS).astype(np.int64).tolist()


def _ventiles(values, counts):
    """The 19 inner boundaries of 20 equal-count groups of the sorted values: the last value of
    each group, position i in group floor(i / (n / 20)) in float32 as PostgresML computes it;
    fewer than 20 values repeat the preceding boundary."""
    if values is None:
        return [None] * VENTILES
    n = int(counts.sum())
    size = np.float32(n) / np.float32(20)

    def group(i):
        return int(np.float32(i) / size)

    ends = np.cumsum(counts)
    out, previous = [], None
    for k in range(VENTILES):
        last = min(n - 1, int(np.ceil((k + 1) * float(size))) - 1)   # then exact, in float32
        while last + 1 < n and group(last + 1) <= k:
            last += 1
        while last >= 0 and group(last) > k:
            last -= 1
        if last >= 0 and group(last) == k:
            previous = float(values[np.searchsorted(ends, last, side="right")])
        out.append(previous)
    return out
