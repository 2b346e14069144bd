#!/usr/bin/env bash
# make test-pg MAJOR=18: pgml on another PostgreSQL major on this machine. The server is built once
# per machine from Debian's source package (scripts/build-postgres.sh, /var/cache/pgml/pg<major>),
# pgml is installed on it with make install PG_CONFIG=..., and the tests every major must pass run
# against it: CREATE EXTENSION and the ctypes bindings, pg_regress, the upgrades (from 1.0, and
# 1.2's grants to 1.3's), embed, transform, train/deploy/predict/tune, statement_timeout, a
# prepared predict across a deploy (test_majors), a hot standby (test_replica) and the security
# tests as granted roles (test_security_roles, test_security_grants). Extra arguments go to pytest
# instead of that list.
#
# pgvector: Debian's sources give 0.8.0, which does not build on 18; PGVECTOR_SRC names a newer
# source tree or tarball (else the newest /var/cache/pgml/pgvector-*.tar.gz, if one is there).
set -euo pipefail
cd "$(dirname "$0")/.."

major=${1:?usage: test-pg.sh MAJOR [pytest args]}
shift
pg_config=$(bash scripts/build-postgres.sh "$major")
if [ -z "${PGVECTOR_SRC:-}" ]; then
    PGVECTOR_SRC=$(ls /var/cache/pgml/pgvector-*.tar.gz 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$PGVECTOR_SRC" ] && export PGVECTOR_SRC
fi
mkdir -p build
make install PG_CONFIG="$pg_config" >"build/test-pg$major-install.log" 2>&1 \
    || { tail -20 "build/test-pg$major-install.log" >&2; exit 1; }
grep -h "install-system: ok\|pgml_native:" "build/test-pg$major-install.log" || true

bindir=$("$pg_config" --bindir)
# The tests find the server's tools (pg_config, pg_basebackup, psql) on PATH.
export PATH="$bindir:$PATH" PG_CONFIG="$pg_config"
export PGML_TEST_PORT=${PGML_TEST_PORT:-15433} PGML_TEST_RUN_DIR=/var/tmp/pgml-test-pg$major-${PGML_TEST_PORT:-15433}
rm -rf "$PGML_TEST_RUN_DIR"
if [ $# -eq 0 ]; then
    set -- tests/integration/test_majors.py tests/integration/test_extension.py tests/integration/test_regress.py \
        tests/integration/test_upgrade.py tests/integration/test_upgrade_grants.py tests/integration/test_replica.py \
        tests/integration/test_security_roles.py tests/integration/test_security_grants.py
fi
exec bash scripts/run-tests.sh "$@"
