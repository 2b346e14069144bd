#!/usr/bin/env bash
# Creates (or refreshes, when requirements-test.txt changed) the runner's venv .venv-test for
# the tests and the benchmarks, and points it at the pgml venv's packages through a .pth, so
# they use exactly the libraries the server uses. Prints the venv's python.
set -euo pipefail
cd "$(dirname "$0")/.."

PGML_VENV=${PGML_VENV:-/var/lib/pgml/venv}
VENV=.venv-test
if [ ! -x "$VENV/bin/python" ] || ! cmp -s requirements-test.txt "$VENV/.requirements"; then
    rm -rf "$VENV"
    /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-test.txt 2>&1 | grep -v "is ignored" >&2 || true
    cp requirements-test.txt "$VENV/.requirements"
fi
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$PGML_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$site/pgml-venv.pth"
echo "$PWD/$VENV/bin/python"
