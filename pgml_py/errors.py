"""Errors the core raises. Each carries the SQLSTATE, detail and hint the SQL edge reports,
so a client gets a specific code (never PL/Python's generic XX000) and a way to fix it."""
import json


# The style of every message: short, lowercase, naming the thing (`project "fraud" does not
# exist`), no final period, and a hint saying what to do; a bad argument reads "X must be Y. Got Z
# instead." (bad_argument below). The exceptions are the texts below, kept as PostgresML 2.10
# words them, on purpose: code written for PostgresML matches on them. Each entry is the start of
# a message template. tests/unit/test_error_style.py checks every message raised in pgml_py
# against the style and this list, and that each entry is still raised somewhere.
POSTGRESML_TEXTS = (
    "Project named `%s` does not exist.",
    "No qualified models exist for this deployment.",
    "No deployed model exists for the project named: `%s`",
    "No GPU available",
    "You must pass a `relation_name` and `y_column_name` to snapshot the first time",
    "You must pass a `y_column_name` when you pass a `relation_name` for a supervised task",
    "You can't predict probabilities for a",
    "`%s` cannot be present in both hyperparams and search_params. Please choose one or the other.",
    "test_size = %g is too large. There are only %d samples",
    "cv = %d is too large. There are only %d samples.",   # test_size's words, for the same check
    'Unknown splitter "%s"',
    "Type information missing for column",
    "Mismatched array length for feature",
    'project "%s" does not exist. To create a new project, you must specify a `task`.',
)


class PgmlError(Exception):
    sqlstate = "XX000"

    def __init__(self, message, *, detail=None, hint=None, sqlstate=None):
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.hint = hint
        if sqlstate:
            self.sqlstate = sqlstate


class InvalidParameter(PgmlError):
    """An argument has a bad value (22023 invalid_parameter_value)."""
    sqlstate = "22023"


class DataError(PgmlError):
    """Data that cannot be computed on, such as vectors of different lengths (22000)."""
    sqlstate = "22000"


class NullValueNotAllowed(PgmlError):
    """A NULL where a value is needed, such as a NULL vector element (22004)."""
    sqlstate = "22004"


class UndefinedObject(PgmlError):
    """A model, splitter or project that does not exist (42704 undefined_object)."""
    sqlstate = "42704"


class UndefinedTable(PgmlError):
    """A relation that cannot be found (42P01 undefined_table)."""
    sqlstate = "42P01"


class UndefinedColumn(PgmlError):
    """A column the relation does not have (42703 undefined_column)."""
    sqlstate = "42703"


class WrongObjectType(PgmlError):
    """An object of the wrong kind, such as an index where a table is needed (42809)."""
    sqlstate = "42809"


class InsufficientPrivilege(PgmlError):
    """A model outside the whitelist, or remote code that is not trusted (42501)."""
    sqlstate = "42501"


class CharacterNotInRepertoire(DataError):
    """Text PostgreSQL cannot store, such as a NUL character (22021)."""
    sqlstate = "22021"


class InvalidRegularExpression(PgmlError):
    """A separator that is not a valid regular expression (2201B invalid_regular_expression)."""
    sqlstate = "2201B"


class StatementTooComplex(PgmlError):
    """Work that would not end in reasonable time, such as a backtracking regex (54001)."""
    sqlstate = "54001"


class OutOfMemory(PgmlError):
    """A library call that ran out of memory (53200 out_of_memory)."""
    sqlstate = "53200"


class ObjectNotInPrerequisiteState(PgmlError):
    """An object that exists but is not ready, such as a model whose training failed (55000)."""
    sqlstate = "55000"


class IoError(PgmlError):
    """Files on the server that cannot be read or used, such as a partial model folder (58030)."""
    sqlstate = "58030"


class DataCorrupted(PgmlError):
    """Stored bytes that are not what they claim to be, such as a pickle for weights (XX001)."""
    sqlstate = "XX001"


class FeatureNotSupported(PgmlError):
    """Something this build or machine cannot do, such as a GPU call without a GPU (0A000)."""
    sqlstate = "0A000"


class MissingDependency(PgmlError):
    """A Python package or data file that is not installed (58P01 undefined_file)."""
    sqlstate = "58P01"


class Interrupted(BaseException):
    """A cancel that came while library code had control. A BaseException, so a library's
    `except Exception` lets it through; api.entry raises the database ERROR it carries (57014)."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


def bad_argument(name, expected, got, hint=None):
    """The "must be X. Got Y instead." pattern of conventions.md."""
    return InvalidParameter("%s must be %s. Got %s instead." % (name, expected, got),
                            hint=hint or "Pass %s as %s." % (name, expected))


def check_positive_int(name, value, hint=None):
    """A JSON option that must be absent or an integer >= 1 (true is not 1)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise bad_argument(name, "a positive integer", json.dumps(value), hint=hint)
