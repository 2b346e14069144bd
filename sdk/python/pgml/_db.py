"""Connection pools (psycopg_pool, one per database URL, on the SDK's loop) and the few facts
about a server the SDK looks up once per pool."""
import asyncio
import atexit
import concurrent.futures
import contextlib
import os

import psycopg
from psycopg.sql import Identifier
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from . import _sql, errors

_pools = {}


def database_url(url=None):
    """The explicit URL, else PGML_DATABASE_URL, else DATABASE_URL (as PostgresML's SDK)."""
    url = url or os.environ.get("PGML_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not url:
        raise errors.InvalidArgumentError(
            "no database URL", sqlstate="08001",
            hint="Set PGML_DATABASE_URL (or DATABASE_URL), or pass the URL to the constructor.")
    return url


def _int_env(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise errors.invalid("%s must be an integer. Got %r instead." % (name, value)) from None


class Database:
    """A pool plus what the SDK learned about its server."""

    def __init__(self, url):
        max_size = _int_env("PGML_POOL_MAX_CONNECTIONS", 10)
        min_size = min(_int_env("PGML_POOL_MIN_CONNECTIONS", 1), max_size)
        self.pool = AsyncConnectionPool(url, min_size=min_size, max_size=max_size, open=False,
                                        kwargs={"autocommit": False}, name="pgml")
        self._opened = None
        self._schema_function = None

    async def open(self):
        if self._opened is None:
            self._opened = asyncio.ensure_future(self._open())
        try:
            await asyncio.shield(self._opened)
        except psycopg.Error as e:
            self._opened = None
            raise errors.from_psycopg(e) from e

    async def _open(self):
        """One plain connection first: a wrong URL or a server down fails at once with the
        server's message, not after the pool's retries."""
        conn = await psycopg.AsyncConnection.connect(self.pool.conninfo)
        await conn.close()
        await self.pool.open(wait=True, timeout=30)

    @contextlib.asynccontextmanager
    async def transaction(self):
        """A pooled connection inside one transaction (committed when the block ends)."""
        await self.open()
        try:
            async with self.pool.connection() as conn:
                yield conn
        except psycopg.Error as e:
            raise errors.from_psycopg(e) from e

    async def fetch(self, query, params=None):
        async with self.transaction() as conn:
            return await (await conn.execute(query, params)).fetchall()

    async def fetchval(self, query, params=None):
        rows = await self.fetch(query, params)
        return rows[0][0] if rows else None

    async def has_schema_function(self, conn):
        """Whether the server has pgml.create_collection_schema (pgml >= 1.3): asked once."""
        if self._schema_function is None:
            row = await (await conn.execute(_sql.HAS_SCHEMA_FUNCTION)).fetchone()
            self._schema_function = bool(row[0])
        return self._schema_function

    async def ensure_schema(self, conn, collection, pipeline=None):
        """Creates the collection's (or a pipeline's) schema. Through pgml's own function where
        the server has it, which reserves the name for the caller; else CREATE SCHEMA."""
        if await self.has_schema_function(conn):
            await conn.execute(_sql.CREATE_COLLECTION_SCHEMA, (collection, pipeline))
        else:
            name = collection if pipeline is None else "%s_%s" % (collection, pipeline)
            await conn.execute(_sql.CREATE_SCHEMA.format(schema=Identifier(name)))


async def get(url=None):
    """The Database for `url` (created on first use). Runs on the SDK's loop."""
    url = database_url(url)
    db = _pools.get(url)
    if db is None:
        if not _pools:
            atexit.register(_close_at_exit, asyncio.get_running_loop())
        db = _pools[url] = Database(url)
    await db.open()
    return db


async def close_all():
    while _pools:
        _, db = _pools.popitem()
        await db.pool.close()


def _close_at_exit(loop):
    """Closes the pools before the interpreter ends (no pending pool tasks, clean disconnects)."""
    if loop.is_closed() or not loop.is_running():
        return
    try:
        asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout=5)
    except (concurrent.futures.TimeoutError, RuntimeError, psycopg.Error):
        pass
    loop.call_soon_threadsafe(loop.stop)


def jsonb(value):
    return Jsonb(value)
