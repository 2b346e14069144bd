"""pgml: a pure-Python client SDK for pgml / PostgresML (collections, pipelines, vector and
hybrid search, RAG, OpenSourceAI) with the official SDK's async API. `pgml.sync` has the same
classes with blocking methods."""
from ._logging import init_logger, migrate
from .collection import Collection, RAGStream
from .errors import (ConnectionError, DatabaseError, InvalidArgumentError, NotFoundError, PermissionDeniedError,
                     PgmlError)
from .pipeline import Model, Pipeline, SingleFieldPipeline, Splitter
from .query_builder import QueryBuilder
from .transform import Builtins, OpenSourceAI, QueryRunner, TransformerPipeline

__version__ = "1.3.0"
__all__ = ["Builtins", "Collection", "ConnectionError", "DatabaseError", "InvalidArgumentError", "Model",
           "NotFoundError", "OpenSourceAI", "PermissionDeniedError", "PgmlError", "Pipeline", "QueryBuilder",
           "QueryRunner", "RAGStream", "SingleFieldPipeline", "Splitter", "TransformerPipeline", "init_logger",
           "migrate"]
