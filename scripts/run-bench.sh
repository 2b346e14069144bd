#!/usr/bin/env bash
# Runs every bench/*.py (or those in $BENCH) with the test venv; each prints its own table.
# Arguments go to every benchmark, e.g. a quick run:
#   bash scripts/run-bench.sh --texts 1000 --rows 300
# Benchmarks never fail a build: a benchmark that fails is reported and the rest still run;
# the exit status is 0.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! python=$(bash scripts/test-venv.sh); then
    echo "run-bench: could not set up .venv-test; no benchmarks run" >&2
    exit 0
fi
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=false

failed=()
for bench in ${BENCH:-bench/*.py}; do
    case "$(basename "$bench")" in _*) continue ;; esac
    [ -f "$bench" ] || continue
    echo "=== $bench"
    if ! "$python" "$bench" "$@"; then
        failed+=("$bench")
    fi
    echo
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "run-bench: failed (not fatal): ${failed[*]}" >&2
fi
exit 0
