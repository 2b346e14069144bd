-- pgml 1.0: PostgresML's SQL API as a PL/Python extension.
-- Built from sql/*.sql by the Makefile; install with CREATE EXTENSION pgml CASCADE.
\echo Use "CREATE EXTENSION pgml CASCADE" to load this file. \quit

