"""pgml: PostgresML's SQL API in PL/Python. Logic lives here; the SQL shims only call api."""

__version__ = "1.0.0"
# The extension version this package implements; checked by pgml_bootstrap.boot().
EXTENSION_VERSION = "1.0"
