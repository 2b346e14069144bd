"""pgml.load_dataset: the six toy datasets bundled with scikit-learn (no
network), or anything Hugging Face's `datasets` library can load, into a table in schema pgml.

Every row is in memory or on local disk before the table is touched. The table is then
dropped, recreated and filled with one INSERT ... SELECT FROM unnest(one array parameter per
column) per batch. An error aborts the caller's transaction, so nothing is left half-made.
"""
import json
import os
from collections import namedtuple

from . import errors, server_files, signals
from .db import quote_ident

# name: column name; type: element SQL type; shape: None for a scalar, (rows, cols) for a matrix
Column = namedtuple("Column", "name type shape")

BATCH_ROWS = 10000  # rows per INSERT for Hugging Face datasets


def _floats(*names):
    return [Column(name, "FLOAT4", None) for name in names]


_MEASURES = ("radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
             "concave points", "symmetry", "fractal dimension")
BREAST_CANCER_FEATURES = (["mean " + m for m in _MEASURES] + [m + " error" for m in _MEASURES]
                          + ["worst " + m for m in _MEASURES])
# PostgresML's column order (hue before color_intensity, unlike scikit-learn's); values go by name.
WINE_FEATURES = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
                 "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "hue", "color_intensity",
                 "od280/od315_of_diluted_wines", "proline"]

BUILTINS = {
    "breast_cancer": _floats(*BREAST_CANCER_FEATURES) + [Column("malignant", "BOOLEAN", None)],
    "diabetes": _floats("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6", "target"),
    "digits": [Column("image", "SMALLINT", (8, 8)), Column("target", "SMALLINT", None)],
    "iris": _floats("sepal_length", "sepal_width", "petal_length", "petal_width")
    + [Column("target", "INT4", None)],
    "linnerud": _floats("chins", "situps", "jumps", "weight", "waist", "pulse"),
    "wine": _floats(*WINE_FEATURES) + [Column("target", "INT4", None)],
}

_NUMPY_TYPES = {"FLOAT4": "float32", "INT4": "int32", "SMALLINT": "int16", "BOOLEAN": "bool"}

# Hugging Face Value dtypes; ClassLabel is int64, nested values are JSON.
HF_TYPES = {"string": "TEXT", "large_string": "TEXT", "int64": "INT8", "int32": "INT4",
            "int16": "INT2", "int8": "INT2", "float64": "FLOAT8", "float32": "FLOAT4",
            "float16": "FLOAT4", "bool": "BOOLEAN"}
_HF_JSON_FEATURES = {"List", "LargeList", "Sequence", "Json", "Translation",
                     "TranslationVariableLanguages"}


def column_types(columns):
    """Each column's SQL type, a matrix column as a 2-D array."""
    return [c.type + "[]" * len(c.shape or ()) for c in columns]


def insert_query(table, columns):
    """(query, parameter types): parameter $i is column i's values as one array. The scalar
    columns are unnested side by side; a matrix column comes as one flat array of all its
    rows' elements and each row's matrix is cut out of it by row number."""
    values, unnested, aliases = [], [], []
    for i, column in enumerate(columns, 1):
        if column.shape is None:
            unnested.append("$%d" % i)
            aliases.append("c%d" % i)
            values.append("u.c%d" % i)
        else:
            rows, cols = column.shape
            start = "(u.n - 1) * %d + r * %d" % (rows * cols, cols)
            values.append("(SELECT pg_catalog.array_agg($%d[%s + 1 : %s + %d] ORDER BY r) "
                          "FROM pg_catalog.generate_series(0, %d) AS r)" % (i, start, start, cols, rows - 1))
    # Every function named with its schema: load_dataset runs with the caller's search_path.
    query = "INSERT INTO %s (%s) SELECT %s FROM ROWS FROM (%s) WITH ORDINALITY AS u(%s, n)" % (
        table, ", ".join(quote_ident(c.name) for c in columns), ", ".join(values),
        ", ".join("pg_catalog.unnest(%s)" % p for p in unnested), ", ".join(aliases))
    return query, [c.type + "[]" for c in columns]


# ---- builtins ----------------------------------------------------------------------------

def builtin_arrays(name):
    """The columns of builtin `name` as numpy arrays, in table order and scikit-learn's row order."""
    from sklearn import datasets as sk
    bunch = getattr(sk, "load_" + name)()

    def by_name(names):
        index = list(bunch.feature_names)
        return [bunch.data[:, index.index(n)] for n in names]
    if name == "breast_cancer":
        return by_name(BREAST_CANCER_FEATURES) + [bunch.target == 0]  # scikit-learn: 0 = malignant
    if name == "digits":
        return [bunch.images, bunch.target]
    if name == "linnerud":
        return list(bunch.data.T) + list(bunch.target.T)
    if name == "wine":
        return by_name(WINE_FEATURES) + [bunch.target]
    return list(bunch.data.T) + [bunch.target]  # diabetes (scaled), iris


def builtin_values(name, limit=None):
    """(rows, one list per column) ready to bind: values cast to the column's type, a matrix
    column flattened row after row."""
    import numpy as np
    values = [np.asarray(array)[:limit].astype(_NUMPY_TYPES[column.type]).reshape(-1).tolist()
              for column, array in zip(BUILTINS[name], builtin_arrays(name))]
    scalar = next(v for c, v in zip(BUILTINS[name], values) if c.shape is None)
    return len(scalar), values


# ---- Hugging Face ------------------------------------------------------------------------

def hf_type(name, feature):
    """The SQL type of a Hugging Face feature, or ERROR for one without a mapping."""
    kind = type(feature).__name__
    if isinstance(feature, dict) or kind in _HF_JSON_FEATURES:
        return "JSONB"
    if kind == "ClassLabel":
        return "INT8"
    if kind == "Value" and feature.dtype in HF_TYPES:
        return HF_TYPES[feature.dtype]
    raise errors.FeatureNotSupported(
        'unhandled dataset feature while reading dataset: column "%s" is %s'
        % (name, "Value(%s)" % feature.dtype if kind == "Value" else kind),
        hint="Only string, bool, int8-int64, float16-float64, class label, list and dict "
             "columns load; remove or cast that column first, or load the data with COPY.")


def hf_columns(features):
    if not features:
        raise errors.FeatureNotSupported(
            "the dataset's columns are unknown", hint="Load it without streaming.")
    return [Column(name, hf_type(name, feature), None) for name, feature in features.items()]


def hf_not_found(source, offline, cause):
    reason = ("and the Hugging Face hub is disabled (pgml.huggingface_offline = on or HF_HUB_OFFLINE)"
              if offline else "and could not be loaded with Hugging Face datasets")
    return errors.UndefinedObject(
        'dataset "%s" is not a pgml builtin %s' % (source, reason),
        detail="%s: %s" % (type(cause).__name__, str(cause).strip()[:500]),
        hint="Load a builtin (%s), load it on a server that can reach the hub, "
             "or copy your own rows into a table with COPY." % ", ".join(sorted(BUILTINS)))


def check_server_files(db, source, kwargs):
    """A local folder or file as the source, data_files/data_dir, or any path in kwargs reads the
    server's disk: that takes superuser or pg_read_server_files (server_files)."""
    paths = [("the source", source)] if server_files.is_server_path(source) else []
    server_files.check(db, paths + server_files.named_paths(kwargs, "kwargs"),
                       hint="Load the rows with COPY FROM STDIN (psql's \\copy) instead, or ask a superuser "
                            "to GRANT %s to your role." % server_files.ROLE)


def hf_load(source, subset, limit, kwargs, offline):
    """(columns, batches): the splits of a Hugging Face dataset, concatenated, capped at limit."""
    import datasets
    call = dict(kwargs)
    if limit is not None and "split" not in call:
        call["split"] = "train[:%d]" % limit
    if source == "csv":
        # pandas' C parser calls parser_init(), which the postgres executable also exports and
        # wins inside a backend ("C error: out of memory"): use pandas' Python parser.
        call.setdefault("engine", "python")
    datasets.disable_progress_bars()  # else they fill the server log
    if not offline:
        from .hf import hub
        hub.cancellable_downloads()
    try:
        loaded = datasets.load_dataset(source, subset, **call)
    except OSError as e:  # ConnectionError, FileNotFoundError, the hub's HTTP errors
        raise hf_not_found(source, offline, e) from e
    except datasets.exceptions.DatasetGenerationError as e:  # files the builder cannot parse
        cause = e.__cause__ or e
        raise errors.DataError('dataset "%s" could not be read' % source,
                               detail="%s: %s" % (type(cause).__name__, str(cause).strip()[:500]),
                               hint="Check its files and the options in kwargs.") from e
    splits = list(loaded.values()) if isinstance(loaded, dict) else [loaded]
    columns = hf_columns(splits[0].features)
    for split in splits[1:]:
        if list(split.features or ()) != [c.name for c in columns]:
            raise errors.DataError('the splits of dataset "%s" have different columns' % source,
                                   hint="Pick one split with kwargs => '{\"split\": \"train\"}'.")
    return columns, hf_batches(splits, columns, limit)


def hf_batches(splits, columns, limit):
    left = limit
    for split in splits:
        for batch in split.iter(batch_size=BATCH_ROWS):
            rows = len(batch[columns[0].name])
            if left is not None:
                rows = min(rows, left)
                left -= rows
            if rows:
                yield rows, [hf_values(c, batch[c.name][:rows]) for c in columns]
            if left == 0:
                return


def hf_values(column, values):
    if column.type == "JSONB":
        return [None if v is None else json.dumps(v, default=str) for v in values]
    if column.type == "TEXT" and any(v is not None and "\x00" in v for v in values):
        # PL/Python would silently cut the string at the NUL
        raise errors.CharacterNotInRepertoire('column "%s" has text with a NUL character, which PostgreSQL '
                                              'cannot store' % column.name,
                                              hint="Remove the NUL characters from the data first.")
    return list(values)


# ---- the load ----------------------------------------------------------------------------

def load(db, source, subset=None, limit=None, kwargs=None, offline=False):
    """Loads `source` into pgml."<source>" (replacing it); returns [(table_name, rows)]."""
    if source is None:
        raise errors.NullValueNotAllowed(
            "source must not be NULL", hint="Pass a builtin name (%s) or a Hugging Face "
                                            "dataset name." % ", ".join(sorted(BUILTINS)))
    if limit is not None and limit < 1:
        raise errors.bad_argument("limit", "at least 1", limit,
                                  hint="Pass NULL (the default) to load every row.")
    if source in BUILTINS:
        columns, batches, result = BUILTINS[source], [builtin_values(source, limit)], "pgml." + source
    else:
        check_server_files(db, source, kwargs or {})
        offline = offline or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "on", "true", "yes")
        with signals.preserved():
            columns, batches = hf_load(source, subset, limit, kwargs or {}, offline)
        result = source
    table = "pgml." + quote_ident(source)
    # pgml's writer replaces the table (CASCADE, as PostgresML: views on it go too) and records
    # it for this role, which fills it: no granted role creates anything in schema pgml.
    db.write("dataset_table", "SELECT pgml._write_dataset_table($1, $2, $3)",
             [source, [c.name for c in columns], column_types(columns)], ["text", "text[]", "text[]"])
    query, types = insert_query(table, columns)
    total = 0
    for rows, values in batches:
        db.execute(query, values, types)
        total += rows
    db.notice("loaded %d rows into %s" % (total, table))
    return [(result, total)]
