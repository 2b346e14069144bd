#!/usr/bin/env bash
# Runs the whole test suite: unit tests, then tests against a throwaway server on its own
# port (PGML_TEST_PORT). The runner's venv sees the pgml venv's libraries through a .pth,
# so unit tests use exactly what the server uses.
set -euo pipefail
cd "$(dirname "$0")/.."

PGML_VENV=${PGML_VENV:-/var/lib/pgml/venv}
VENV=.venv-test
if [ ! -x "$VENV/bin/python" ] || ! cmp -s requirements-test.txt "$VENV/.requirements"; then
    rm -rf "$VENV"
    /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-test.txt 2>&1 | grep -v "is ignored" || true
    cp requirements-test.txt "$VENV/.requirements"
fi
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$PGML_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$site/pgml-venv.pth"

export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=false
exec "$VENV/bin/python" -m pytest "${@:-tests}"
