#!/usr/bin/env bash
# One check of pgml's CUDA paths, for a machine with an NVIDIA GPU (docs/embedding.md "GPU"):
# device choice (pgml.device), pgml.embed in fp32 and fp16, a pgml.transform with
# "device_map": "auto", and a tiny pgml.tune. Prints a pass/fail table; exit status 1 if any
# check failed. Budget: under 8 minutes on a warm machine (each step has its own timeout).
#
#   bash scripts/gpu-check.sh            # as root, from the repository root
#
# What it installs: pgml (make install) when the extension is not installed yet, and, when the
# venv's torch cannot see the GPU, the CUDA build of the same torch version from
# $PGML_TORCH_WHEELS (a directory of wheels, for machines without network) or else
# $PGML_TORCH_INDEX (default https://download.pytorch.org/whl/cu128). On a machine without a
# GPU it runs every check on the CPU and marks the CUDA expectations "skip": that is how the
# script itself is tested.
set -uo pipefail
cd "$(dirname "$0")/.."

PGML_VENV=${PGML_VENV:-/var/lib/pgml/venv}
PGML_PORT=${PGML_PORT:-15479}
export PGML_PORT PGML_RUN_DIR=${PGML_RUN_DIR:-/var/tmp/pgml-gpu-check-$PGML_PORT}
STORE=${PGML_GPU_STORE:-/var/tmp/pgml-gpu-check-store}
PY="$PGML_VENV/bin/python"
MINILM=sentence-transformers/all-MiniLM-L6-v2
STARTED=$(date +%s)
RESULTS=()

record() {  # name status detail
    RESULTS+=("$(printf '%-28s %-5s %s' "$1" "$2" "$3")")
    printf '[%4ds] %-28s %-5s %s\n' "$(( $(date +%s) - STARTED ))" "$1" "$2" "$3" >&2
}

has_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }

install_pgml() {
    if [ -x "$PY" ] && [ -f "$(pg_config --sharedir 2>/dev/null)/extension/pgml.control" ]; then
        record install pass "pgml already installed ($PGML_VENV)"
        return
    fi
    if timeout 600 make install >/tmp/pgml-gpu-check-install.log 2>&1; then
        record install pass "make install"
    else
        record install FAIL "make install: see /tmp/pgml-gpu-check-install.log"
        print_table
        exit 1
    fi
}

install_cuda_torch() {
    local cuda version
    cuda=$("$PY" -c 'import torch; print(torch.cuda.is_available())' 2>/dev/null)
    if [ "$cuda" = True ] || ! has_gpu; then
        record cuda-torch "$([ "$cuda" = True ] && echo pass || echo skip)" \
            "torch $("$PY" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)' 2>/dev/null)"
        return
    fi
    version=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
    if [ -n "${PGML_TORCH_WHEELS:-}" ]; then
        timeout 300 "$PY" -m pip install -q --no-index --find-links "$PGML_TORCH_WHEELS" "torch==$version" >&2
    else
        timeout 300 "$PY" -m pip install -q --index-url "${PGML_TORCH_INDEX:-https://download.pytorch.org/whl/cu128}" \
            "torch==$version" >&2
    fi
    cuda=$("$PY" -c 'import torch; print(torch.cuda.is_available())' 2>/dev/null)
    record cuda-torch "$([ "$cuda" = True ] && echo pass || echo FAIL)" "torch $version with CUDA: $cuda"
}

tiny_models() {  # a tiny GPT-2 (device_map auto) and a tiny classifier with a table (tune)
    PYTHONPATH=tests "$PY" - "$STORE" <<'PY' >&2
import sys
from pathlib import Path
from fixtures import tiny_pipelines
store = Path(sys.argv[1])
if not (store / "t" / "gpt2" / "config.json").exists():
    tiny_pipelines.gpt2(store / "t" / "gpt2")
if not (store / "t" / "bert" / "config.json").exists():
    tiny_pipelines.text_classifier(store / "t" / "bert")
store.chmod(0o755)
PY
}

sql() {  # one query, its single value on stdout
    timeout "${SQL_TIMEOUT:-120}" "$(pg_config --bindir)/psql" -X -A -t -v ON_ERROR_STOP=1 \
        "postgresql://postgres@127.0.0.1:$PGML_PORT/pgml" -c "SET pgml.model_store = '/var/lib/pgml/models'" -c "$1" \
        2>/tmp/pgml-gpu-check-sql.err | tail -1
}

check() {  # name, expected-when-gpu, expected-on-cpu, query
    local got want
    want=$([ "$GPU" = 1 ] && echo "$2" || echo "$3")
    got=$(sql "$4")
    if [ -n "$got" ] && [[ "$got" == $want ]]; then
        record "$1" pass "$got"
    elif [ "$GPU" = 0 ] && [ "$3" = "-" ]; then
        record "$1" skip "no GPU (got ${got:-an error})"
    else
        record "$1" FAIL "${got:-$(head -c 300 /tmp/pgml-gpu-check-sql.err | tr '\n' ' ')} (wanted $want)"
    fi
}

print_table() {
    echo
    echo "pgml GPU check on $(hostname): $(has_gpu && nvidia-smi -L | head -1 || echo 'no GPU: CPU path')," \
         "$(( $(date +%s) - STARTED )) s"
    printf '%-28s %-5s %s\n' check result detail
    printf '%s\n' "${RESULTS[@]}"
}

GPU=0
has_gpu && GPU=1
install_pgml
install_cuda_torch
tiny_models
PGML_MODEL_STORE=/var/lib/pgml/models bash scripts/pgml-server.sh start >/dev/null || { record server FAIL "start"; print_table; exit 1; }
trap 'bash scripts/pgml-server.sh stop >/dev/null 2>&1' EXIT

# cosine of pgml.embed (torch, on the default device) against the CPU's fp32 vectors
cosine() {
    echo "SELECT round(min(pgml.cosine_similarity(a, b))::numeric, 4) FROM (SELECT
      pgml.embed('$MINILM', t, '$1') a, pgml.embed('$MINILM', t, '{\"device\": \"cpu\", \"backend\": \"torch\"}') b
      FROM unnest(ARRAY['PostgreSQL is a database.', 'The cat sat on the mat.', 'hello']) t) x"
}
check "device auto -> cuda" "cuda*" "cpu" \
    "SELECT pgml.embed('$MINILM', 'hello') IS NULL; SELECT device FROM pgml.cached_models() WHERE kind = 'embed' LIMIT 1"
check "embed fp32 (cosine to cpu)" "1.0000" "1.0000" "$(cosine '{"backend": "torch"}')"
check "embed fp16 (cosine to cpu)" "0.99[0-9][0-9]" "[01].[09]*" \
    "$(cosine '{"backend": "torch", "model_kwargs": {"torch_dtype": "float16"}}')"
check "embed fp16 on cuda" "cuda*" "-" \
    "SELECT pgml.embed('$MINILM', 'hello', '{\"backend\": \"torch\", \"model_kwargs\": {\"torch_dtype\": \"float16\"}}') IS NULL;
     SELECT coalesce((SELECT device FROM pgml.cached_models() WHERE kind = 'embed' AND device <> 'cpu' LIMIT 1), 'none')"
check "transform device_map auto" "cuda*" "cpu" \
    "SET pgml.model_store = '$STORE'; SELECT pgml.transform('{\"task\": \"text-generation\", \"model\": \"t/gpt2\",
       \"device_map\": \"auto\"}'::jsonb, '{\"max_new_tokens\": 4}', ARRAY['hello']) IS NULL;
     SELECT device FROM pgml.cached_models() WHERE kind <> 'embed' LIMIT 1"
SQL_TIMEOUT=240 check "tune (tiny classifier)" "gpu_check" "gpu_check" \
    "SET pgml.model_store = '$STORE';
     CREATE TABLE IF NOT EXISTS gpu_check_reviews AS SELECT CASE WHEN i % 2 = 0 THEN 'the cat is good' ELSE
       'the dog is bad' END AS text, CASE WHEN i % 2 = 0 THEN 'positive' ELSE 'negative' END AS class
       FROM generate_series(1, 40) i;
     SELECT status FROM pgml.tune('gpu_check', task => 'text-classification', relation_name => 'gpu_check_reviews',
       model_name => '$STORE/t/bert', hyperparams => '{\"training_args\": {\"max_steps\": 4,
       \"per_device_train_batch_size\": 8}}', test_sampling => 'last')"
print_table
! printf '%s\n' "${RESULTS[@]}" | grep -q ' FAIL '
