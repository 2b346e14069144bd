"""`preprocess`: per-column impute → encode → scale, fitted on the training rows.

Pure numpy, no database. A column is the snapshot's feature-column dict (name, size, array,
statistics with `categories` for text columns); its raw block is what snapshot.load makes of it
(float32, NULL → NaN for numbers; category codes for text, NULL → 0, unseen → NaN). fit() stores
the preprocessor and the statistics it used in the column dict, transform() reuses them, so the
row form of predict applies exactly what training applied.
"""
import numpy as np

from .. import errors

ENCODES = ("native", "target", "one_hot", "ordinal")
IMPUTES = ("error", "mean", "median", "mode", "min", "max", "zero")
SCALES = ("preserve", "standard", "min_max", "max_abs", "robust")
DEFAULT = {"encode": "native", "impute": "error", "scale": "preserve"}


def categorical(column):
    return "categories" in (column.get("statistics") or {})


def has_missing(column, block):
    """Whether the raw block has a missing value: NaN, or the NULL code 0 of a text column."""
    return bool(((block == 0) if categorical(column) else np.isnan(block)).any())


def _bad(message, hint):
    return errors.InvalidParameter(message, hint=hint)


def parse(spec, columns):
    """{name: {encode, impute, scale}} for every feature column, checked (ERROR 22023)."""
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        raise _bad("preprocess must be a JSON object", 'e.g. {"col": {"impute": "mean", "scale": "standard"}}')
    by_name = {c["name"]: c for c in columns}
    out = {name: dict(DEFAULT) for name in by_name}
    for name, options in spec.items():
        if name not in by_name:
            raise _bad('preprocess names column "%s", which is not a feature column' % name,
                       "The feature columns are: %s." % ", ".join(by_name))
        if not isinstance(options, dict):
            raise _bad('preprocess for column "%s" must be a JSON object' % name,
                       'e.g. {"%s": {"impute": "mean"}}' % name)
        for key, value in options.items():
            if key not in DEFAULT:
                raise _bad('unknown preprocess option "%s" for column "%s"' % (key, name),
                           "The options are encode, impute and scale.")
            choices = {"encode": ENCODES, "impute": IMPUTES, "scale": SCALES}[key]
            ok = value in choices[:3] + choices[4:] if key == "encode" else value in choices
            if key == "encode" and isinstance(value, dict):
                ok = list(value) == ["ordinal"] and isinstance(value["ordinal"], list) and all(
                    isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value["ordinal"])
            if not ok:
                raise _bad('invalid preprocess %s for column "%s": %s' % (key, name, _show(value)),
                           "Use one of: %s." % ", ".join(
                               '{"ordinal": [values...]}' if c == "ordinal" else c for c in choices))
            out[name][key] = value
        p, column = out[name], by_name[name]
        if not categorical(column) and p["encode"] != "native":
            raise _bad('column "%s" is numeric: encode must be native' % name,
                       "Encoding applies to text columns; drop encode for this column.")
        if categorical(column) and p["impute"] == "mean" and p["encode"] != "target":
            raise _bad('column "%s" is categorical: impute mean needs encode target' % name,
                       'Use {"encode": "target", "impute": "mean"}, or impute mode.')
    return out


def _show(value):
    return value if isinstance(value, str) else repr(value)


def _names(column):
    """Category code → category text for a text column (NULL code 0 → None)."""
    return {c["value"]: (None if k == "__NULL__" else k) for k, c in column["statistics"]["categories"].items()}


def _encode(column, codes):
    """Raw codes (n,) → encoded block (n, w); missing (code 0) and unseen (NaN) rows → NaN."""
    p, params = column["preprocessor"], column["preprocessing"]
    codes = np.asarray(codes, dtype=np.float64).reshape(-1)
    lookup = _names(column)
    if p["encode"] == "native":
        out = np.where(codes == 0, np.nan, codes)
        return out.reshape(-1, 1)
    texts = [None if np.isnan(c) else lookup.get(int(c)) for c in codes]
    if p["encode"] == "one_hot":
        dummies = params["one_hot"]
        out = np.array([[np.nan] * len(dummies) if t is None or t not in params["categories"] else
                        [float(t == d) for d in dummies] for t in texts], dtype=np.float64)
        return out.reshape(len(codes), len(dummies))
    table = params["target"] if p["encode"] == "target" else \
        {str(v): float(i + 1) for i, v in enumerate(p["encode"]["ordinal"])}
    return np.array([np.nan if t is None else table.get(t, np.nan) for t in texts], dtype=np.float64).reshape(-1, 1)


def _impute_values(how, train, encoded_mode=None):
    """Per-column fill values from the non-missing training values (train: (n, w))."""
    w = train.shape[1]
    if how == "zero":
        return np.zeros(w)
    if how == "mode" and encoded_mode is not None:
        return encoded_mode
    out = np.empty(w)
    for j in range(w):
        present = train[:, j][~np.isnan(train[:, j])]
        if present.size == 0:
            out[j] = 0.0
        elif how == "mode":
            values, counts = np.unique(present, return_counts=True)
            out[j] = values[np.argmax(counts)]
        else:
            out[j] = {"mean": np.mean, "median": np.median, "min": np.min, "max": np.max}[how](present)
    return out


def _scale_values(how, train):
    """(offset, factor) per column: x → (x − offset) / factor, zero spreads → 1 (as sklearn)."""
    w = train.shape[1]
    if how == "preserve" or train.shape[0] == 0:
        return np.zeros(w), np.ones(w)
    if how == "standard":
        offset, factor = train.mean(axis=0), train.std(axis=0)
    elif how == "min_max":
        offset, factor = train.min(axis=0), train.max(axis=0) - train.min(axis=0)
    elif how == "max_abs":
        offset, factor = np.zeros(w), np.abs(train).max(axis=0)
    else:  # robust
        p25, median, p75 = np.percentile(train, [25, 50, 75], axis=0)
        offset, factor = median, p75 - p25
    factor = np.where(factor == 0, 1.0, factor)
    return offset, factor


def _missing_error(column):
    name = column["name"]
    return errors.NullValueNotAllowed(
        'column "%s" contains NULL values and its preprocess impute is "error"' % name,
        hint='Impute them, e.g. preprocess => \'{"%s": {"impute": "%s"}}\', or filter the rows.'
             % (name, "mode" if categorical(column) else "mean"))


def fit(columns, X, num_train, y_train, spec=None):
    """Fits every feature column on rows [:num_train] of the raw matrix X and returns the
    transformed matrix and its column names; the columns gain preprocessor + preprocessing."""
    chosen = parse(spec, columns)
    start = 0
    for column in columns:
        width = column.get("size", 1)
        raw = X[:, start:start + width]
        start += width
        p = column["preprocessor"] = chosen[column["name"]]
        params = column["preprocessing"] = {}
        if p["impute"] == "error" and has_missing(column, raw):
            raise _missing_error(column)
        if p == DEFAULT and not categorical(column):  # nothing to fit: the values pass through
            params["scale_offset"], params["scale_factor"] = [0.0] * width, [1.0] * width
            continue
        block = np.asarray(raw, dtype=np.float64)
        if categorical(column):
            categories = column["statistics"]["categories"]
            seen = sorted((c["value"], k) for k, c in categories.items() if k != "__NULL__" and c["members"])
            params["categories"] = [k for _, k in seen]
            codes = block[:, 0]
            if isinstance(p["encode"], dict):
                allowed = {str(v) for v in p["encode"]["ordinal"]}
                for k in params["categories"]:
                    if k not in allowed:
                        raise _bad('column "%s" has the value "%s", which its ordinal list lacks' % (column["name"], k),
                                   "List every value of the column in the ordinal encoding.")
            elif p["encode"] == "one_hot":
                params["one_hot"] = params["categories"][1:]
            elif p["encode"] == "target":
                if y_train is None or not len(y_train):
                    raise _bad('encode target for column "%s" needs a label' % column["name"],
                               "Target encoding is for supervised tasks; use one_hot or ordinal.")
                y = np.asarray(y_train, dtype=np.float64).reshape(len(y_train), -1)[:, 0]
                train_codes = codes[:num_train]
                params["target"] = {k: float(np.mean(y[train_codes == v])) for v, k in seen}
            encoded = _encode(column, codes)
            mode = None
            if p["impute"] == "mode" and seen:
                best = max(seen, key=lambda vk: (categories[vk[1]]["members"], -vk[0]))
                mode = _encode(column, [best[0]])[0]
        else:
            encoded, mode = block, None
        if p["impute"] != "error":
            params["impute"] = _impute_values(p["impute"], encoded[:num_train], mode).tolist()
        imputed = _fill(encoded, params.get("impute"))
        offset, factor = _scale_values(p["scale"], imputed[:num_train][~np.isnan(imputed[:num_train]).any(axis=1)])
        params["scale_offset"], params["scale_factor"] = offset.tolist(), factor.tolist()
    return transform(columns, X), output_names(columns)


def _fill(block, values):
    if values is None:
        return block
    return np.where(np.isnan(block), np.asarray(values, dtype=np.float64)[None, :], block)


def transform(columns, X, check_missing=False):
    """The raw matrix X → the estimator's matrix (float32), with each column's fitted params.
    check_missing: a missing value in a column whose impute is "error" is an ERROR."""
    blocks, start, raw = [], 0, 0
    X = np.asarray(X)
    for column in columns:
        width = column.get("size", 1)
        block = X[:, start:start + width]
        start += width
        p = column.get("preprocessor") or DEFAULT
        params = column.get("preprocessing")
        if check_missing and params is not None and p["impute"] == "error" and has_missing(column, block):
            raise _missing_error(column)
        if params is None or _passes_through(column, p, params):  # raw values, as they are
            blocks.append(block)
            raw += 1
            continue
        block = np.asarray(block, dtype=np.float64)
        if categorical(column):
            encoded = _encode(column, block[:, 0])
            if p["encode"] == "native" and p["impute"] == "error":
                encoded = np.where(block[:, :1] == 0, 0.0, encoded)   # keep the NULL code
        else:
            encoded = block
        encoded = _fill(encoded, params.get("impute"))
        offset = np.asarray(params["scale_offset"], dtype=np.float64)
        factor = np.asarray(params["scale_factor"], dtype=np.float64)
        blocks.append((encoded - offset[None, :]) / factor[None, :])
    if not blocks:
        return np.zeros((len(X), 0), dtype=np.float32)
    if raw == len(blocks) and start == X.shape[1]:
        return X.astype(np.float32, copy=False)  # nothing transformed
    return np.hstack(blocks).astype(np.float32, copy=False)


def _passes_through(column, p, params):
    """True when transform leaves the column's values exactly as they are: numbers with no
    imputation and scale 0/1, or text codes kept native with impute error (NULL stays 0)."""
    if "impute" in params or any(params["scale_offset"]) or any(f != 1 for f in params["scale_factor"]):
        return False
    return not categorical(column) or (p["encode"] == "native" and p["impute"] == "error")


def output_names(columns):
    names = []
    for column in columns:
        params = column.get("preprocessing") or {}
        if "one_hot" in params:
            names += ["%s=%s" % (column["name"], v) for v in params["one_hot"]]
        elif column.get("array"):
            names += ["%s[%d]" % (column["name"], i) for i in range(column.get("size", 1))]
        else:
            names.append(column["name"])
    return names
