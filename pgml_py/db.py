"""The one adapter over plpy: queries through cached prepared plans, settings, notices,
error reporting and the cancel check. Nothing else in pgml_py imports plpy."""

_plans = {}


def _plpy():
    import plpy  # only importable inside PL/Python
    return plpy


def execute(query, args=(), types=()):
    """Runs query with $1.. bound to args through a prepared plan cached per backend."""
    plpy = _plpy()
    if not args:
        return plpy.execute(query)
    key = (query, tuple(types))
    plan = _plans.get(key)
    if plan is None:
        plan = _plans[key] = plpy.prepare(query, list(types))
    return plpy.execute(plan, list(args))


def settings(names):
    """current_setting(name, true) for each name in one query: {name: str or None}."""
    if not names:
        return {}
    query = "SELECT " + ", ".join(
        "pg_catalog.current_setting($%d, true) AS s%d" % (i + 1, i) for i in range(len(names)))
    row = execute(query, names, ["text"] * len(names))[0]
    return {name: row["s%d" % i] for i, name in enumerate(names)}


def notice(message):
    _plpy().notice(message)


def check_for_interrupts():
    """Lets a pending cancel or statement_timeout fire (the executor checks for interrupts)."""
    _plpy().execute("SELECT 1")


def database_errors():
    """Exceptions raised by plpy itself (SPI errors, cancels): they pass through untouched."""
    plpy = _plpy()
    return (plpy.Error, plpy.Fatal, plpy.SPIError)


def report(error):
    """Raises a PgmlError as a PostgreSQL ERROR with its SQLSTATE, detail and hint."""
    kwargs = {"sqlstate": error.sqlstate}
    if error.detail:
        kwargs["detail"] = error.detail
    if error.hint:
        kwargs["hint"] = error.hint
    _plpy().error(error.message, **kwargs)
