"""Typed exceptions. Every error the SDK raises is a PgmlError (a plain Exception subclass)
carrying the SQLSTATE: the server's for database errors, a standard one for bad arguments."""


class PgmlError(Exception):
    """Base class. `sqlstate` is a five-character SQLSTATE code; `hint` says what to do."""

    sqlstate = "XX000"

    def __init__(self, message, *, sqlstate=None, detail=None, hint=None):
        super().__init__(message)
        self.message = message
        if sqlstate:
            self.sqlstate = sqlstate
        self.detail = detail
        self.hint = hint

    def __str__(self):
        text = self.message
        if self.detail:
            text += "\nDETAIL:  " + self.detail
        if self.hint:
            text += "\nHINT:  " + self.hint
        return text


class InvalidArgumentError(PgmlError, ValueError):
    """A bad argument (query, filter, schema, document) caught before it reached the server."""

    sqlstate = "22023"


class NotFoundError(PgmlError, LookupError):
    """A collection, pipeline or file that does not exist."""

    sqlstate = "42704"


class DatabaseError(PgmlError):
    """An error reported by the server (SQLSTATE, detail and hint are the server's)."""


class PermissionDeniedError(DatabaseError):
    """The role lacks a privilege (SQLSTATE 42501)."""

    sqlstate = "42501"


class ConnectionError(DatabaseError):  # noqa: A001 - the SDK's own, a PgmlError
    """The server could not be reached (SQLSTATE class 08)."""

    sqlstate = "08000"


def invalid(message, hint=None):
    return InvalidArgumentError(message, hint=hint)


def from_psycopg(error):
    """The PgmlError for a psycopg exception (keeps SQLSTATE, detail and hint)."""
    diag = getattr(error, "diag", None)
    sqlstate = getattr(error, "sqlstate", None) or (diag.sqlstate if diag else None)
    message = (diag.message_primary if diag and diag.message_primary else str(error)).strip()
    detail = diag.message_detail if diag else None
    hint = diag.message_hint if diag else None
    if sqlstate == "42501":
        cls = PermissionDeniedError
    elif sqlstate is None or sqlstate.startswith("08"):
        cls = ConnectionError
    else:
        cls = DatabaseError
    return cls(message, sqlstate=sqlstate or "08000", detail=detail, hint=hint)
