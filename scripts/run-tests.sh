#!/usr/bin/env bash
# Runs the whole test suite: unit tests, then tests against a throwaway server on its own
# port (PGML_TEST_PORT). The runner's venv sees the pgml venv's libraries through a .pth,
# so unit tests use exactly what the server uses.
set -euo pipefail
cd "$(dirname "$0")/.."

python=$(bash scripts/test-venv.sh)

export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=false
exec "$python" -m pytest "${@:-tests}"
