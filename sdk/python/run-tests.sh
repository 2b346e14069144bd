#!/usr/bin/env bash
# Runs the SDK's tests against a throwaway pgml server (scripts/pgml-server.sh) on
# PGML_TEST_PORT: our own tests (sdk/python/tests) and PostgresML SDK 1.1.1's own test.py and
# stress_test.py run unchanged with this package imported as `pgml` (tests/official.py).
#
#   bash sdk/python/run-tests.sh [ours|official|all|venv|reference] [pytest args...]
# reference: the same official suite with the official wheel (to compare results).
#
# Needs the extension installed (make install). Uses sdk/python/.venv (made here) for the SDK;
# PGML_SDK_PYTHON picks the interpreter (e.g. python3.13) and PGML_SDK_VENV the venv's place.
# With PGML_SDK_ADMIN_URL (a superuser URL) it uses that server instead of starting one.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WHAT=${1:-all}; shift || true
PORT=${PGML_TEST_PORT:-15433}
RUN_DIR=${PGML_SDK_RUN_DIR:-/var/tmp/pgml-sdk-test-$PORT}
STORE=$RUN_DIR-models
PYTHON=${PGML_SDK_PYTHON:-/usr/bin/python3}
VENV=${PGML_SDK_VENV:-$HERE/.venv}

if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$HERE/pyproject.toml" "$VENV/.pyproject"; then
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -e "$HERE[test]" 2>&1 | grep -v "is ignored" >&2 || true
    cp "$HERE/pyproject.toml" "$VENV/.pyproject"
fi

[ "$WHAT" = venv ] && exit 0   # only (re)make the SDK's venv

server() { PGML_PORT=$PORT PGML_RUN_DIR=$RUN_DIR bash "$ROOT/scripts/pgml-server.sh" "$@"; }
if [ -n "${PGML_SDK_ADMIN_URL:-}" ]; then
    ADMIN_URL=$PGML_SDK_ADMIN_URL   # a server someone else started (tests/integration/test_sdk_ours.py)
else
    server stop >/dev/null 2>&1 || true
    rm -rf "$RUN_DIR"
    ADMIN_URL=$(server start | tail -1)
    trap 'server stop >/dev/null 2>&1 || true' EXIT
fi
PGML_VENV=${PGML_VENV:-/var/lib/pgml/venv}
"$PGML_VENV/bin/python" "$HERE/tests/setup_server.py" store "$STORE"
read -r SDK_ADMIN_URL APP_URL < <("$VENV/bin/python" "$HERE/tests/setup_server.py" database "$ADMIN_URL" "$STORE" | tail -1)
export PGML_SDK_ADMIN_URL=$SDK_ADMIN_URL PGML_DATABASE_URL=$APP_URL HF_HUB_OFFLINE=1

rc=0
if [ "$WHAT" = ours ] || [ "$WHAT" = all ]; then
    (cd "$HERE" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests "$@") || rc=$?
fi
if [ "$WHAT" = official ] || [ "$WHAT" = all ]; then
    "$VENV/bin/python" "$HERE/tests/official.py" "$@" || rc=$?
fi
if [ "$WHAT" = reference ]; then
    # The same suite with the official wheel (.venv-sdk, requirements-sdk.txt) and the same
    # offline stand-ins: what the official SDK itself gives with them, to compare.
    REF=$ROOT/.venv-sdk
    [ -x "$REF/bin/python" ] || { /usr/bin/python3 -m venv "$REF"; "$REF/bin/pip" install -q -r "$ROOT/requirements-sdk.txt"; }
    "$REF/bin/python" -c "import pytest_asyncio" 2>/dev/null || "$REF/bin/pip" install -q -r "$ROOT/requirements-sdk-test.txt"
    PGML_SDK_OFFICIAL_PYTHON=$REF/bin/python "$VENV/bin/python" "$HERE/tests/official.py" "$@" || rc=$?
fi
exit $rc
