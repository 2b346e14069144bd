"""Snapshots (api.md §2, §7.3, §7.6, §7.7): resolve the training relation, record it in
pgml.snapshots, then read its rows in sampling order, split train/test and encode them as
float32 matrices.

SQL is never built from user text: relations are resolved with to_regclass on quote_ident'ed
parts and then named by the catalog's own quote_ident of the schema and table; columns are
named by quote_ident from pg_attribute; values go through prepared plans.
"""
import json
import math
from dataclasses import dataclass

import numpy as np

from .. import errors

NUMERIC_TYPES = {"bool", "int2", "int4", "int8", "float4", "float8", "numeric"}
TEXT_TYPES = {"text", "varchar", "bpchar"}
CONTINUOUS_TYPES = {"float4", "float8", "numeric"}  # stratifying on these is meaningless
SAMPLINGS = ("random", "last", "stratified")
DEFAULT_PREPROCESSOR = {"encode": "native", "impute": "error", "scale": "preserve"}


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
    """(schema or None, table) lookups in order: schema.table as written, a bare name in
    public (q) then the search_path (+), and finally the quoted form."""
    out = []
    if "." in name:
        schema, table = name.split(".", 1)
        out.append((schema, table))
    else:
        out += [("public", name), (None, name)]
    if '"' in name:
        parts = _split_quoted(name)
        if parts and len(parts) == 2 and all(parts):
            out.append(tuple(parts))
        elif parts and len(parts) == 1 and parts[0]:
            out += [("public", parts[0]), (None, parts[0])]
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
            'relation "%s" could not be found in the public schema or the search_path' % relation_name,
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

def load(db, snapshot_id):
    """The snapshot's rows, ordered, split and encoded (api.md §7.6-7.7)."""
    rows = db.execute("""SELECT relation_name, y_column_name, test_size,
                                test_sampling::pg_catalog.text AS sampling, materialized
                         FROM pgml.snapshots WHERE id = $1""", [snapshot_id], ["int8"])
    if not rows:
        raise errors.UndefinedObject("snapshot %s does not exist" % snapshot_id,
                                     hint="Pass relation_name to pgml.train to take a new snapshot.")
    snap = rows[0]
    labels = list(snap["y_column_name"] or [])
    sampling = snap["sampling"]
    if snap["materialized"]:
        rel = resolve(db, "pgml.snapshot_%d" % int(snapshot_id))
        order = " ORDER BY ctid" if rel["kind"] == "r" else ""
    else:
        rel = resolve(db, snap["relation_name"])
        order = _order_by(sampling)
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

    def select_item(a):
        # numeric arrives as Decimal: cast it to float8 in SQL, which is much faster to convert.
        if a["base"] == "numeric":
            return "%s::pg_catalog.float8%s AS %s" % (a["quoted"], "[]" if a["is_array"] else "", a["quoted"])
        return a["quoted"]
    columns_sql = ", ".join(select_item(a) for a in attrs)
    result = db.execute("SELECT %s FROM %s%s" % (columns_sql, rel["qualified"], order))
    n = len(result)

    label_rows = {name: [r[name] for r in result] for name in labels}
    for name in labels:
        if any(v is None for v in label_rows[name]):
            raise errors.NullValueNotAllowed(
                'label column "%s" contains NULL values' % name,
                hint="Remove or fill the rows WHERE %s IS NULL (a view can filter them)."
                     % by_name[name]["quoted"])

    num_test = _test_rows(float(snap["test_size"]), n)
    permuted = sampling == "stratified" and bool(labels) and all(
        by_name[name]["base"] not in CONTINUOUS_TYPES for name in labels)
    if permuted:
        permutation = stratified_order(list(zip(*(label_rows[name] for name in labels))), num_test)
    else:
        permutation = np.arange(n)
    num_train = n - num_test

    # Features, column-wise.
    blocks, names, column_info = [], [], []
    for a in features:
        values = [result[int(i)][a["name"]] for i in permutation] if permuted else \
            [r[a["name"]] for r in result]
        info = {"name": a["name"], "pg_type": a["pg_type"], "nullable": a["nullable"], "label": False,
                "position": a["position"], "size": 1, "array": a["is_array"],
                "preprocessor": dict(DEFAULT_PREPROCESSOR)}
        if a["is_array"]:
            block = _array_block(a["name"], values)
            info["size"] = block.shape[1]
            names += ["%s[%d]" % (a["name"], i) for i in range(block.shape[1])]
        elif a["base"] in TEXT_TYPES:
            block, categories = _categorical(values, num_train)
            info["statistics"] = _statistics(block[:num_train, 0], categories)
            names.append(a["name"])
        else:
            block = np.array(values, dtype=np.float32).reshape(n, 1)
            info["statistics"] = _statistics(block[:num_train, 0])
            names.append(a["name"])
        blocks.append(block)
        column_info.append(info)
    X = np.hstack(blocks).astype(np.float32, copy=False) if blocks else np.zeros((n, 0), np.float32)

    # Labels.
    y, label_classes = None, None
    if labels:
        encoded, classes = [], []
        for name in labels:
            a = by_name[name]
            values = [label_rows[name][int(i)] for i in permutation] if permuted else label_rows[name]
            if a["base"] in TEXT_TYPES or a["base"] == "bool":
                classes_ = sorted(set(values))
                code = {v: k for k, v in enumerate(classes_)}
                encoded.append(np.array([code[v] for v in values], dtype=np.float32))
                classes.append(classes_)
            else:
                encoded.append(np.array(values, dtype=np.float32))
                classes.append(None)
            column_info.append({"name": name, "pg_type": a["pg_type"], "nullable": a["nullable"], "label": True,
                                "position": a["position"], "size": 1, "array": False,
                                "preprocessor": dict(DEFAULT_PREPROCESSOR),
                                "statistics": _statistics(encoded[-1][:num_train])})
        y = encoded[0] if len(encoded) == 1 else np.column_stack(encoded)
        if len(labels) == 1:
            label_classes = classes[0]
        elif any(c is not None for c in classes):
            label_classes = classes
    column_info.sort(key=lambda c: c["position"])

    db.execute("UPDATE pgml.snapshots SET columns = $1::jsonb, analysis = $2::jsonb WHERE id = $3",
               [json.dumps(column_info), json.dumps({"samples": n}), snapshot_id], ["text", "text", "int8"])
    return Dataset(X_train=X[:num_train], y_train=None if y is None else y[:num_train],
                   X_test=X[num_train:], y_test=None if y is None else y[num_train:],
                   feature_names=names, num_features=X.shape[1], label_classes=label_classes,
                   columns=column_info)


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
    """A permutation putting train rows first and num_test test rows last, where each class
    (label tuple) gives the test rows in proportion to its size (largest remainder). Rows keep
    their incoming (already random) order, so the split is random yet deterministic."""
    n = len(keys)
    groups = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    quotas = {k: len(members) * num_test / n for k, members in groups.items()} if n else {}
    take = {k: int(math.floor(q)) for k, q in quotas.items()}
    left = num_test - sum(take.values())
    for k in sorted(groups, key=lambda k: (take[k] - quotas[k], groups[k][0]))[:left]:
        take[k] += 1
    test = set()
    for k, members in groups.items():
        if take[k]:
            test.update(members[-take[k]:])
    train_idx = [i for i in range(n) if i not in test]
    test_idx = [i for i in range(n) if i in test]
    return np.array(train_idx + test_idx, dtype=np.int64)


def _array_block(name, values):
    """Arrays of any dimensions flattened to rows of the first row's width; NULL → NaN."""
    n = len(values)
    first = next((v for v in values if v is not None), None)
    width = int(np.asarray(first, dtype=np.float32).size) if first is not None else 0
    if all(v is not None for v in values):
        try:
            block = np.array(values, dtype=np.float32).reshape(n, -1)
            if block.shape[1] == width or n == 0:
                return block
        except ValueError:
            pass  # ragged: find the row below
    block = np.full((n, width), np.nan, dtype=np.float32)
    for i, v in enumerate(values):
        if v is None:
            continue
        flat = np.asarray(v, dtype=np.float32).ravel() if _regular(v) else None
        if flat is None or flat.size != width:
            got = "an irregular array" if flat is None else "%d values" % flat.size
            raise errors.DataError(
                'Mismatched array length for feature "%s": expected %d values, got %s' % (name, width, got),
                hint="Every row of an array column must have the same number of values.")
        block[i] = flat
    return block


def _regular(v):
    try:
        np.asarray(v, dtype=np.float32)
        return True
    except ValueError:
        return False


def _categorical(values, num_train):
    """Codes in first-seen order over the training rows, NULL → 0; unseen at test → NaN."""
    categories = {"__NULL__": {"value": 0, "members": 0}}
    codes = np.empty(len(values), dtype=np.float32)
    for i, v in enumerate(values):
        key = "__NULL__" if v is None else v
        cat = categories.get(key)
        if i < num_train:
            if cat is None:
                cat = categories[key] = {"value": len(categories), "members": 0}
            cat["members"] += 1
        codes[i] = np.nan if cat is None else cat["value"]
    return codes.reshape(-1, 1), categories


def _statistics(column, categories=None):
    """Statistics of one feature over the training rows (api.md §2); JSON-safe."""
    column = np.asarray(column, dtype=np.float64)
    present = column[~np.isnan(column)]
    stats = {"missing": int(column.size - present.size), "distinct": int(np.unique(present).size)}
    if categories is not None:
        stats["categories"] = categories
        stats["missing"] = int(categories["__NULL__"]["members"])
        stats["distinct"] = len(categories) - 1
    if present.size:
        values, counts = np.unique(present, return_counts=True)
        stats.update(min=float(present.min()), max=float(present.max()), max_abs=float(np.abs(present).max()),
                     mean=float(present.mean()), median=float(np.median(present)),
                     mode=float(values[np.argmax(counts)]), variance=float(present.var()),
                     std_dev=float(present.std()))
    return stats
