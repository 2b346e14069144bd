"""The blocking twin of the async API: same classes, same method names, same arguments; each
method returns its result instead of an awaitable, and streams are plain iterators.

    from pgml.sync import Collection, Pipeline
    collection = Collection("docs")
    collection.upsert_documents([{"id": 1, "text": "..."}])

Generated from the async classes (no logic of its own): each call runs the async method on the
SDK's event loop thread and waits for it.
"""
import functools
import inspect

from . import _logging, collection as _collection, query_builder as _query_builder, transform as _transform
from ._logging import init_logger
from ._runtime import AsyncStream, SyncStream, run_sync
from .errors import (ConnectionError, DatabaseError, InvalidArgumentError, NotFoundError,  # noqa: F401
                     PermissionDeniedError, PgmlError)
from .pipeline import Model, Pipeline, SingleFieldPipeline, Splitter  # noqa: F401 - no I/O: shared as is

_WRAPPERS = {}


def _to_sync(value):
    if inspect.isawaitable(value):
        value = run_sync(value)
    if isinstance(value, AsyncStream):
        return SyncStream(value._agen)
    wrapper = _WRAPPERS.get(type(value))
    if wrapper is not None:
        return wrapper._wrap(value)
    return value


def _to_async(value):
    return value._obj if isinstance(value, _Sync) else value


class _Sync:
    """Wraps one async object; every method call is run to completion."""

    _async_class = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _WRAPPERS[cls._async_class] = cls
        cls.__doc__ = cls._async_class.__doc__

    def __init__(self, *args, **kwargs):
        object.__setattr__(self, "_obj", self._async_class(*args, **kwargs))

    @classmethod
    def _wrap(cls, obj):
        self = cls.__new__(cls)
        object.__setattr__(self, "_obj", obj)
        return self

    def __getattr__(self, name):
        attr = getattr(self._obj, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args, **kwargs):
            args = [_to_async(a) for a in args]
            kwargs = {k: _to_async(v) for k, v in kwargs.items()}
            return _to_sync(attr(*args, **kwargs))
        return call

    def __setattr__(self, name, value):
        setattr(self._obj, name, value)

    def __dir__(self):
        return sorted(set(dir(self._obj)) | set(object.__dir__(self)))

    def __repr__(self):
        return repr(self._obj)


class Collection(_Sync):
    _async_class = _collection.Collection


class RAGStream(_Sync):
    _async_class = _collection.RAGStream


class QueryBuilder(_Sync):
    _async_class = _query_builder.QueryBuilder


class Builtins(_Sync):
    _async_class = _transform.Builtins


class QueryRunner(_Sync):
    _async_class = _transform.QueryRunner


class TransformerPipeline(_Sync):
    _async_class = _transform.TransformerPipeline


class OpenSourceAI(_Sync):
    _async_class = _transform.OpenSourceAI


def migrate(database_url=None):
    return run_sync(_logging.migrate(database_url))


__all__ = ["Builtins", "Collection", "Model", "OpenSourceAI", "Pipeline", "QueryBuilder", "QueryRunner",
           "RAGStream", "SingleFieldPipeline", "Splitter", "TransformerPipeline", "init_logger", "migrate"]
