#!/usr/bin/env bash
# Installs what pgml needs from Debian (PL/Python, server headers, venv support, pgbouncer) and builds
# pgvector from Debian's source package when the server lacks it. Idempotent and quick when
# everything is already there: it checks before it touches apt.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-pg_config}
PG_MAJOR=$("$PG_CONFIG" --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')
# pgbouncer: the pooler of the README's production section and of tests/integration/test_pgbouncer.py
# (never started by apt here; the test starts its own).
PACKAGES=("postgresql-plpython3-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" python3-venv python3-dev make gcc pgbouncer)

log() { echo "install-system: $*"; }

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "install-system: need root to install ${missing[*]}" >&2; exit 1; }
    log "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# pgvector is not in bookworm: build trixie's source package (environment.md).
SHAREDIR=$("$PG_CONFIG" --sharedir)
if [ ! -f "$SHAREDIR/extension/vector.control" ]; then
    [ "$(id -u)" = 0 ] || { echo "install-system: need root to build pgvector" >&2; exit 1; }
    src=/etc/apt/sources.list.d/pgml-src.sources
    if [ ! -f "$src" ]; then
        first=/etc/apt/sources.list.d/debian.sources
        uris=$(awk -F': ' '/^URIs:/{print $2; exit}' "$first")
        signed=$(awk -F': ' '/^Signed-By:/{print $2; exit}' "$first")
        log "adding deb-src for trixie (URIs: $uris)"
        printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' "$uris" "$signed" > "$src"
    fi
    apt-get update -qq
    work=$(mktemp -d)
    (cd "$work" && apt-get source --download-only pgvector >/dev/null 2>&1 && tar xzf pgvector_*.orig.tar.gz)
    dir=$(find "$work" -maxdepth 1 -type d -name 'pgvector-*' | head -n 1)
    log "building $(basename "$dir")"
    make -s -C "$dir" PG_CONFIG="$PG_CONFIG" OPTFLAGS="" -j"$(nproc)" >/dev/null
    make -s -C "$dir" PG_CONFIG="$PG_CONFIG" install >/dev/null
    rm -rf "$work"
fi
log "ok (PostgreSQL $PG_MAJOR, pgvector $(awk -F"'" '/default_version/{print $2}' "$SHAREDIR/extension/vector.control"))"
