"""init_logger and migrate, module-level functions of PostgresML's SDK."""
import logging
import os
import sys

from . import _db, _sql
from ._runtime import bridged
from .errors import DatabaseError

LEVELS = {"TRACE": logging.DEBUG, "DEBUG": logging.DEBUG, "INFO": logging.INFO,
          "WARN": logging.WARNING, "WARNING": logging.WARNING, "ERROR": logging.ERROR}


def init_logger(level=None, format=None):
    """Logs the SDK's messages to stderr; level from the argument or LOG_LEVEL (default ERROR),
    format "json" or plain (LOG_FORMAT)."""
    level = (level or os.environ.get("LOG_LEVEL") or "ERROR").upper()
    fmt = (format or os.environ.get("LOG_FORMAT") or "").lower()
    logger = logging.getLogger("pgml")
    logger.setLevel(LEVELS.get(level, logging.ERROR))
    if not any(getattr(h, "_pgml", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._pgml = True
        if fmt == "json":
            handler.setFormatter(logging.Formatter(
                '{"time": "%(asctime)s", "level": "%(levelname)s", "message": "%(message)s"}'))
        else:
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s pgml: %(message)s"))
        logger.addHandler(handler)


@bridged
async def migrate(database_url=None):
    """Nothing to migrate for collections made by SDK 1.x; checks the server has pgml."""
    db = await _db.get(database_url)
    version = await db.fetchval(_sql.PGML_VERSION)
    if version is None:
        raise DatabaseError("the pgml extension is not installed in this database", sqlstate="42704",
                            hint="Run CREATE EXTENSION pgml; as a superuser.")
