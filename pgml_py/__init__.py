"""pgml: PostgresML's SQL API in PL/Python. Logic lives here; the SQL shims only call api."""

# The one version number: pgml.control's default_version, the CHANGELOG's newest heading and
# pyproject.toml (which reads it from here) agree on it; tests/unit/test_version.py checks.
__version__ = "1.3"
# The extension version this package implements; checked by pgml_bootstrap.boot().
EXTENSION_VERSION = __version__
