"""Snapshots: record the training relation in pgml.snapshots,
then read its rows (reader.py) in sampling order, split train/test (split.py) and encode them
as float32 matrices, with each column's statistics (statistics.py).
"""
from dataclasses import dataclass

import numpy as np

from .. import catalog, errors
from . import preprocess, reader, split, statistics
from .relations import NUMERIC_TYPES, TEXT_TYPES, attributes, order_by, resolve, stored_name

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
    vector_read: bool = False            # the rows came as pgvector vectors (reader.read)


# ---- create ------------------------------------------------------------------------------

def create(db, relation_name, y_column_names, test_size, test_sampling, materialize=False):
    """Records a snapshot of relation_name and returns its id."""
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
            raise errors.UndefinedColumn(
                'column "%s" not found in relation "%s". Did you pass the correct `y_column_name`?'
                % (label, relation_name),
                hint="The relation's columns are: %s." % ", ".join(sorted(names)))
    snapshot_id = catalog.insert_snapshot(db, stored_name(db, rel), labels, test_size, sampling, materialize)
    if materialize:
        # pgml's writer makes the (extension-owned) table; the caller fills it, so the relation is
        # read with the caller's privileges. Both names are SQL-safe: quote_ident and an int id.
        catalog.create_snapshot_table(db, snapshot_id, rel["oid"])
        db.execute('INSERT INTO pgml."snapshot_%d" SELECT * FROM %s%s'
                   % (int(snapshot_id), rel["qualified"], order_by(sampling)))
    return snapshot_id


# ---- load --------------------------------------------------------------------------------

def source(db, snapshot_id):
    """(the snapshots row, the relation its rows are read from): pgml.snapshot_<id> when the
    snapshot is materialized, else the relation it recorded."""
    snap = catalog.snapshot(db, snapshot_id)
    if snap is None:
        raise errors.UndefinedObject("snapshot %s does not exist" % snapshot_id,
                                     hint="Pass relation_name to pgml.train to take a new snapshot.")
    if not snap["mine"]:
        # Its relation name resolves by the search_path and privileges of the role that took it:
        # read as another role (an admin, a superuser), it could run that role's functions.
        raise errors.InsufficientPrivilege(
            "snapshot %s was taken by role %s: only that role reads it again" % (snapshot_id, snap["owner"]),
            hint="Pass relation_name to take a new snapshot, or run it as role %s." % snap["owner"])
    name = "pgml.snapshot_%d" % int(snapshot_id) if snap["materialized"] else snap["relation_name"]
    return snap, resolve(db, name)


def load(db, snapshot_id, background=False, chunk_bytes=reader.CHUNK_BYTES, vector=True):
    """The snapshot's rows, ordered, split and encoded; their statistics go
    to pgml.snapshots.columns. background: the numeric columns' statistics are computed in a
    thread (numpy sorts, which release the GIL, beside the fit that follows) and the caller
    writes the columns with save_columns(); only categories, which preprocess needs, are ready.
    chunk_bytes and vector: how the rows are read (reader.read)."""
    snap, rel = source(db, snapshot_id)
    labels = list(snap["y_column_name"] or [])
    sampling = snap["sampling"]
    if snap["materialized"]:
        key = "ctid" if rel["kind"] == "r" else None
    else:
        key = "random" if sampling in ("random", "stratified") else None
    features, label_attrs = _columns(db, rel, snap, labels)
    data = reader.read(db, rel, features, label_attrs, key, chunk_bytes, vector)
    _refuse_null_labels(data, label_attrs)
    n = data.n
    num_test = split.test_rows(float(snap["test_size"]), n)
    num_train = n - num_test
    data.put_in_order(_row_order(data, sampling, label_attrs, num_test))
    X, names, column_info, pending = _encode_features(data, features, num_train)
    y, label_classes = _encode_labels(data, label_attrs, num_train, column_info, pending)
    column_info.sort(key=lambda c: c["position"])
    dataset = Dataset(X_train=X[:num_train], y_train=None if y is None else y[:num_train],
                      X_test=X[num_train:], y_test=None if y is None else y[num_train:],
                      feature_names=names, num_features=X.shape[1], label_classes=label_classes,
                      columns=column_info, samples=n, X=X, vector_read=data.vector_read)
    dataset.statistics = statistics.Statistics(pending, background)
    if not background:
        save_columns(db, snapshot_id, dataset)
    return dataset


def _columns(db, rel, snap, labels):
    """(feature attributes, label attributes) of the relation, every type checked: a label that
    is gone or a column of a type pgml cannot encode is an ERROR naming it."""
    attrs = attributes(db, rel["oid"])
    by_name = {a["name"]: a for a in attrs}
    for label in labels:
        if label not in by_name:
            raise errors.UndefinedColumn(
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
    return [a for a in attrs if a["name"] not in labels], [by_name[name] for name in labels]


def _refuse_null_labels(data, label_attrs):
    for a in label_attrs:
        if data.nulls[a["name"]]:
            raise errors.NullValueNotAllowed(
                'label column "%s" contains NULL values' % a["name"],
                hint="Remove or fill the rows WHERE %s IS NULL (a view can filter them)." % a["quoted"])


def _row_order(data, sampling, label_attrs, num_test):
    """The row order: the sort ORDER BY random() (or ctid) would do, done here on the shipped
    keys (ties, as in PostgreSQL's sort, in no particular order), then the stratified split's
    permutation on top of it. None: the rows' own order."""
    order = np.argsort(data.keys.astype(np.float64)) if data.keys is not None else None
    if sampling == "stratified" and label_attrs and \
            all(a["base"] not in CONTINUOUS_TYPES for a in label_attrs):
        groups = [data.group_ids(a, order) for a in label_attrs]
        groups = groups[0] if len(groups) == 1 else np.unique(np.column_stack(groups), axis=0,
                                                               return_inverse=True)[1].reshape(-1)
        strata = split.stratified_groups(groups, num_test)
        order = strata if order is None else order[strata]
    return order


def _encode_features(data, features, num_train):
    """(X as float32, feature names, their snapshots.columns entries, [(entry, training values)]
    whose statistics are still to compute). Text becomes category codes, arrays are flattened;
    statistics are over the training rows."""
    widths = [data.width(a) if a["is_array"] else 1 for a in features]
    X = np.empty((data.n, sum(widths)), dtype=np.float32)
    names, column_info, numeric, start = [], [], [], 0
    for a, width in zip(features, widths):
        info = _column_info(a, label=False)
        if a["is_array"]:
            X[:, start:start + width] = data.array(a, width)
            info["size"] = width
            names += ["%s[%d]" % (a["name"], i) for i in range(width)]
        elif a["base"] in TEXT_TYPES:
            codes, categories = statistics.categorical(data.texts(a), num_train)
            X[:, start] = codes
            info["statistics"] = statistics.compute(codes[:num_train], categories)
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
    return X, names, column_info, pending


def _encode_label(data, a):
    """(one label column as float32, its classes or None): text as its index in sorted order,
    booleans as 0/1, numbers as themselves."""
    if a["base"] in TEXT_TYPES:
        values = data.texts(a)
        classes = sorted(set(values))
        code = {v: k for k, v in enumerate(classes)}
        return np.fromiter(map(code.__getitem__, values), dtype=np.float32, count=data.n), classes
    if a["base"] == "bool":
        values = data.values[:, data.column(a)]
        present = np.unique(values)
        return np.searchsorted(present, values).astype(np.float32), [bool(v) for v in present.tolist()]
    return np.ascontiguousarray(data.values[:, data.column(a)]), None


def _encode_labels(data, label_attrs, num_train, column_info, pending):
    """(y, label_classes); appends each label's snapshots.columns entry and its training values
    to column_info and pending."""
    if not label_attrs:
        return None, None
    encoded, classes = [], []
    for a in label_attrs:
        values, classes_ = _encode_label(data, a)
        encoded.append(values)
        classes.append(classes_)
        info = _column_info(a, label=True)
        info["statistics"] = None
        column_info.append(info)
        pending.append((info, values[:num_train].copy()))
    y = encoded[0] if len(encoded) == 1 else np.column_stack(encoded)
    if len(label_attrs) == 1:
        return y, classes[0]
    return y, classes if any(c is not None for c in classes) else None


def _column_info(a, label):
    """A snapshots.columns entry of attribute a, before its statistics."""
    return {"name": a["name"], "pg_type": a["pg_type"], "nullable": a["nullable"], "label": label,
            "position": a["position"], "size": 1, "array": a["is_array"],
            "preprocessor": dict(preprocess.DEFAULT)}


def save_columns(db, snapshot_id, dataset):
    """Writes snapshots.columns and analysis, once every column's statistics are there."""
    dataset.statistics.wait()
    write_columns(db, snapshot_id, dataset.columns, dataset.samples)


def write_columns(db, snapshot_id, columns, samples):
    catalog.write_snapshot_columns(db, snapshot_id, columns, samples)
