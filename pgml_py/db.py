"""The one adapter over plpy: queries through cached prepared plans, settings, notices,
error reporting and the cancel check. Nothing else in pgml_py imports plpy."""
from . import errors

_plans = {}
# The catalog writer pgml's code is calling right now, and for which role (see write()).
_acting = {"operation": None, "role": None}


def _plpy():
    import plpy  # only importable inside PL/Python
    return plpy


class _Server:
    """pgml_bootstrap (the server's own functions through ctypes), imported at first use: it
    exists only inside a backend, and pgml_py (api's argument checks included) must import
    anywhere, for unit tests."""

    def __getattr__(self, name):
        import pgml_bootstrap
        value = getattr(pgml_bootstrap, name)
        setattr(self, name, value)  # later reads are plain attribute hits
        return value


pgml_bootstrap = _Server()


def execute(query, args=(), types=()):
    """Runs query with $1.. bound to args through a prepared plan cached per backend."""
    if pgml_bootstrap.in_parallel_mode():
        # PL/Python would start a subtransaction, which fails in a way that breaks the backend.
        raise errors.FeatureNotSupported(
            "this pgml function cannot query the database inside a parallel query",
            hint="Run it outside parallel plans: SET max_parallel_workers_per_gather = 0.")
    plpy = _plpy()
    if not args:
        return plpy.execute(query)
    key = (query, tuple(types))
    plan = _plans.get(key)
    if plan is None:
        plan = _plans[key] = plpy.prepare(query, list(types))
    return plpy.execute(plan, list(args))


def write(operation, query, args=(), types=()):
    """Runs query, which calls the SECURITY DEFINER catalog writer of operation (sql/functions/
    08-writers.sql), as that writer's one authorized caller: the writer asks caller() which role
    it acts for. Granted roles cannot write the catalog themselves; this is how pgml's own code,
    running a call as that role, does. Nothing but the writer's fixed SQL runs meanwhile."""
    _acting["operation"], _acting["role"] = operation, pgml_bootstrap.current_user_id()
    try:
        return execute(query, args, types)
    finally:
        _acting["operation"] = _acting["role"] = None


def caller(operation):
    """The role (oid) write() acts for, when the writer of operation asks; else 42501: a role
    called the writer itself."""
    if _acting["operation"] != operation or _acting["role"] is None:
        raise errors.InsufficientPrivilege(
            "pgml's catalog is written by pgml's own functions only",
            hint="Use pgml.train, pgml.deploy, pgml.tune or pgml.load_dataset.")
    return _acting["role"]


def current_role():
    """current_user's oid, read without a query: what per-connection caches are keyed by, so a
    connection that switches roles (SET ROLE, poolers, PostgREST) never serves one role another
    role's model."""
    return pgml_bootstrap.current_user_id()


def settings(names):
    """current_setting(name, true) for each name, read without a query (so it also works in
    parallel workers): {name: str or None}."""
    return {name: pgml_bootstrap.setting(name) for name in names}


def define_settings(rows):
    """Makes the pgml.* settings real in this backend (see settings.definitions)."""
    from .settings import CHECKS
    for row in rows:
        pgml_bootstrap.define_setting(*row, check=CHECKS.get(row[0]))
    pgml_bootstrap.reserve_prefix()


def statement_view():
    """Identifies what the running statement's snapshot sees, read without a query: equal values
    mean the same committed catalog. Each statement of a query string, DO block or function
    (read committed) takes a snapshot of its own. None when it cannot be told: query every time."""
    snapshot = pgml_bootstrap.snapshot_identity()
    return None if snapshot is None else (pgml_bootstrap.statement_started(),) + snapshot


def quote_ident(name):
    """An always-quoted SQL identifier, as psycopg's sql.Identifier writes it: for the names pgml
    creates (load_dataset's tables and columns). Existing objects are named by the catalog's
    own quote_ident, in SQL."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise errors.bad_argument("a column or table name", "a non-empty string", repr(name))
    return '"%s"' % name.replace('"', '""')


def notice(message):
    _plpy().notice(message)


def check_for_interrupts():
    """Lets a pending cancel, statement_timeout or terminate fire (the executor checks for
    interrupts). Reads one flag when none is pending, so it can run between any two batches."""
    if pgml_bootstrap.interrupt_pending() and not pgml_bootstrap.in_parallel_mode():
        _plpy().execute("SELECT 1")


def database_errors():
    """Exceptions raised by plpy itself (SPI errors, cancels); none outside a backend."""
    try:
        plpy = _plpy()
    except ImportError:
        return ()
    return (plpy.Error, plpy.Fatal, plpy.SPIError)


# Database errors users meet inside pgml calls: SQLSTATE -> (message, hint). {error} is the
# server's message, {function} the pgml function. Any other (a cancel included) passes through.
_USER_FACING = {
    "42501": ("{error}", "The object belongs to another role: ask its owner or a superuser "
                         "(pgml.grant_usage gives a role what pgml's own functions need)."),
    "25006": ("pgml.{function} writes the catalog and must run on the primary: {error}",
              "Connect to the primary, outside a READ ONLY transaction."),
}


def user_facing(error, function):
    """A PgmlError with pgml's message and a hint for an SPI error users meet (a permission
    denied, a write on a standby), else None: PL/Python would show it as
    "spiexceptions.X: ..." with no hint."""
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate not in _USER_FACING:
        return None
    message, hint = _USER_FACING[sqlstate]
    return errors.PgmlError(message.format(error=str(error).strip(), function=function), hint=hint,
                            sqlstate=sqlstate)


def report(error):
    """Raises a PgmlError as a PostgreSQL ERROR with its SQLSTATE, detail and hint."""
    kwargs = {"sqlstate": error.sqlstate}
    if error.detail:
        kwargs["detail"] = error.detail
    if error.hint:
        kwargs["hint"] = error.hint
    _plpy().error(error.message, **kwargs)
