"""Metadata filters and order_by on documents (PostgresML SDK syntax) compiled to SQL.

{"a": {"b": {"$gt": 1}}} compares document #> '{a,b}' with '1'::jsonb; $eq/$ne use jsonb
containment (so they use the documents' GIN index); $in/$nin match any element of a value or
array. $and/$or take lists, $not an object. Values are quoted by psycopg (sql.Literal).
"""
import json

from psycopg.sql import SQL, Composed, Identifier, Literal

from .errors import invalid

COMPARISONS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
OPERATORS = frozenset(COMPARISONS) | {"$eq", "$ne", "$in", "$nin"}
HINT = ('A filter looks like {"key": {"$eq": value}}, {"$and": [filter, ...]}, '
        '{"$or": [...]} or {"$not": filter}.')


def _column(table):
    return SQL("{}.document").format(Identifier(table))


def _nest(path, value):
    for key in reversed(path):
        value = {key: value}
    return value


def _jsonpath(path):
    return "$" + "".join("." + json.dumps(key) for key in path) + "[*]"


def _as_text(value):
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _comparison(table, path, operator, value):
    column = _column(table)
    if operator in ("$eq", "$ne"):
        expr = SQL("{} @> {}::jsonb").format(column, Literal(json.dumps(_nest(path, value))))
        return expr if operator == "$eq" else SQL("NOT ({})").format(expr)
    if operator in ("$in", "$nin"):
        if not isinstance(value, list):
            raise invalid("%s must be a list. Got %s instead." % (operator, json.dumps(value)), HINT)
        expr = SQL("ARRAY(SELECT jsonb_array_elements_text(jsonb_path_query_array({}, {}::jsonpath))) "
                   "&& {}::text[]").format(column, Literal(_jsonpath(path)),
                                           Literal([_as_text(v) for v in value]))
        return expr if operator == "$in" else SQL("NOT ({})").format(expr)
    return SQL("({} #> {}::text[]) {} {}::jsonb").format(
        column, Literal(list(path)), SQL(COMPARISONS[operator]), Literal(json.dumps(value)))


def _is_operator_object(value):
    return isinstance(value, dict) and any(k in OPERATORS for k in value)


def _build(table, path, node):
    """The list of conditions (ANDed by the caller) for one filter object."""
    if not isinstance(node, dict):
        raise invalid("invalid filter at %s: expected an object. Got %s instead."
                      % (".".join(path) or "top level", json.dumps(node)), HINT)
    parts = []
    for key, value in node.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise invalid("%s must be a non-empty list of filters. Got %s instead."
                              % (key, json.dumps(value)), HINT)
            subs = [_join(_build(table, path, v), " AND ") for v in value]
            parts.append(_join(subs, " AND " if key == "$and" else " OR "))
        elif key == "$not":
            parts.append(SQL("NOT {}").format(_join(_build(table, path, value), " AND ")))
        elif key.startswith("$"):
            raise invalid("unknown filter operator %s" % key, HINT)
        elif _is_operator_object(value):
            for operator, operand in value.items():
                if operator not in OPERATORS:
                    raise invalid("unknown filter operator %s" % operator, HINT)
                parts.append(_comparison(table, path + [key], operator, operand))
        else:
            parts.extend(_build(table, path + [key], value))
    return parts


def _join(parts, separator):
    if not parts:
        return SQL("TRUE")
    return SQL("({})").format(SQL(separator).join(parts))


def where(filter, table="documents"):
    """SQL for a filter (TRUE for None or {})."""
    if filter is None:
        return SQL("TRUE")
    return _join(_build(table, [], filter), " AND ")


ORDER_HINT = 'order_by looks like {"key": "asc"} or {"a": {"b": "desc"}}.'
ORDER_COLUMNS = frozenset(("id", "created_at", "source_uuid"))


def _direction(value):
    if not isinstance(value, str) or value.lower() not in ("asc", "desc"):
        raise invalid("invalid order_by direction %s" % json.dumps(value), ORDER_HINT)
    return SQL(value.upper())


def _order_path(key, value):
    path = [key]
    while isinstance(value, dict):
        if len(value) != 1:
            raise invalid("invalid order_by %s" % json.dumps({key: value}), ORDER_HINT)
        (sub, value), = value.items()
        path.append(sub)
    return path, value


def order_by(spec, table="documents"):
    """ORDER BY terms for order_by (NULLS LAST, as PostgresML's SDK), then the row id."""
    terms = []
    if spec is not None:
        if not isinstance(spec, dict):
            raise invalid("order_by must be an object. Got %s instead." % json.dumps(spec), ORDER_HINT)
        for key, value in spec.items():
            if key.startswith("COLUMN_"):
                column = key[len("COLUMN_"):]
                if column not in ORDER_COLUMNS:
                    raise invalid("cannot order by column %s" % column,
                                  "Columns are %s." % ", ".join(sorted(ORDER_COLUMNS)))
                terms.append(SQL("{} {} NULLS LAST").format(Identifier(table, column), _direction(value)))
                continue
            path, direction = _order_path(key, value)
            terms.append(SQL("({} #> {}::text[]) {} NULLS LAST").format(
                _column(table), Literal(path), _direction(direction)))
    terms.append(SQL("{} ASC").format(Identifier(table, "id")))
    return SQL(", ").join(terms)


def keys_object(keys, table="documents"):
    """jsonb_build_object('k', document #> '{k}', ...) for document {"keys": [...]}."""
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise invalid("keys must be a list of strings. Got %s instead." % json.dumps(keys))
    if not keys:
        return SQL("'{}'::jsonb")
    args = [SQL("{}, {} #> {}::text[]").format(Literal(k), _column(table), Literal([k])) for k in keys]
    return SQL("jsonb_build_object({})").format(SQL(", ").join(args))


__all__ = ["where", "order_by", "keys_object", "Composed"]
