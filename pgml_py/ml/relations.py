"""The relation a snapshot reads: resolved by name the way PostgreSQL resolves
it, checked for SELECT privilege, and its columns with their SQL-safe names and types.

SQL is never built from user text: relations are resolved with to_regclass on quote_ident'ed
parts and then named by the catalog's own quote_ident of the schema and table; columns are
named by quote_ident from pg_attribute; values go through prepared plans.
"""
from .. import errors

NUMERIC_TYPES = {"bool", "int2", "int4", "int8", "float4", "float8", "numeric"}
TEXT_TYPES = {"text", "varchar", "bpchar"}


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
            raise errors.UndefinedTable('relation "%s" could not be found' % relation_name,
                                 hint="Check the schema and table names; they are case-sensitive.")
        raise errors.UndefinedTable(
            'relation "%s" could not be found in the search_path' % relation_name,
            hint="Create it, or pass the table with its schema, e.g. 'my_schema.%s'." % relation_name)
    row = db.execute("""SELECT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.'
                               OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname) AS qualified,
                               n.nspname AS schema, c.relname AS table, c.relkind::pg_catalog.text AS kind,
                               pg_catalog.has_table_privilege(c.oid, 'SELECT') AS can_select
                        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                        WHERE c.oid = $1""", [oid], ["oid"])[0]
    if row["kind"] not in ("r", "v", "m", "p", "f"):
        raise errors.WrongObjectType('"%s" is not a table or view' % relation_name,
                                     hint="Pass a table, view or materialized view as relation_name.")
    if not row["can_select"]:
        raise errors.InsufficientPrivilege(
            'permission denied for relation "%s"' % relation_name,
            hint="Ask its owner to GRANT SELECT ON %s to you." % row["qualified"])
    return dict(row, oid=oid)


def stored_name(db, rel):
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


def order_by(sampling):
    """The ORDER BY that puts a relation's rows in the sampling's order ("last": as stored)."""
    return " ORDER BY pg_catalog.random()" if sampling in ("random", "stratified") else ""
