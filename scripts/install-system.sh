#!/usr/bin/env bash
# Installs what pgml needs from Debian (PL/Python, server headers, venv support, pgbouncer) and
# pgvector for the server. Idempotent and quick when everything is already there: it checks
# before it touches apt.
#
# Which server:
# - PG_CONFIG set (make install PG_CONFIG=/path/to/pg_config): that server, whatever its major
#   and origin (Debian, PGDG, a source build). Debian packages named after a major are
#   installed only when that pg_config is Debian's own (/usr/lib/postgresql/<major>/bin).
# - none set and no pg_config on PATH (a fresh system): Debian's own server, from /etc/os-release:
#   PostgreSQL 15 on Debian 12 (bookworm), 17 on Debian 13 (trixie).
# pgvector: Debian's binary package where the release has one for this server (Debian 13), else
# built from source: PGVECTOR_SRC (a source tree or .tar.gz) if set, else Debian's source package
# (trixie's 0.8.0, which builds for 13-17; PostgreSQL 18 needs 0.8.1 or later).
set -euo pipefail

log() { echo "install-system: $*"; }
die() { echo "install-system: $*" >&2; exit 1; }

apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "need root to install ${missing[*]}"
    log "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Debian's own PostgreSQL major for this release (the one `apt-get install postgresql` gives).
debian_major() {
    . /etc/os-release
    case "${VERSION_CODENAME:-}" in
        bookworm) echo 15 ;;
        trixie) echo 17 ;;
        *) die "Debian '${VERSION_CODENAME:-unknown}' is not one pgml installs a server on (12 bookworm: 15, 13 trixie: 17); install PostgreSQL and run make install PG_CONFIG=/path/to/pg_config" ;;
    esac
}

if [ -z "${PG_CONFIG:-}" ] || [ "$PG_CONFIG" = pg_config ]; then
    if ! command -v pg_config >/dev/null || ! pg_config --pgxs >/dev/null 2>&1; then
        major=$(debian_major)
        # postgresql-common's pg_config wrapper needs the server-dev package to answer --pgxs
        apt_install "postgresql-$major" "postgresql-server-dev-$major"
        PG_CONFIG=/usr/lib/postgresql/$major/bin/pg_config
    else
        PG_CONFIG=pg_config
    fi
fi
PG_MAJOR=$("$PG_CONFIG" --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')
BINDIR=$("$PG_CONFIG" --bindir)
SHAREDIR=$("$PG_CONFIG" --sharedir)
PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
# Debian's server (or PGDG's apt packages, same paths): its PL/Python and headers are packages.
debian_server=no
[ "$BINDIR" = "/usr/lib/postgresql/$PG_MAJOR/bin" ] && debian_server=yes

# pgbouncer: the pooler of the README's production section and of tests/integration/test_pgbouncer.py
# (never started by apt here; the test starts its own).
packages=(python3-venv python3-dev make gcc pgbouncer)
[ $debian_server = yes ] && packages+=("postgresql-plpython3-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR")
apt_install "${packages[@]}"
[ -f "$PKGLIBDIR/plpython3.so" ] \
    || die "PostgreSQL $PG_MAJOR at $BINDIR has no PL/Python ($PKGLIBDIR/plpython3.so): build it with --with-python PYTHON=/usr/bin/python3"
"$PG_CONFIG" --pgxs >/dev/null 2>&1 && [ -f "$("$PG_CONFIG" --pgxs)" ] \
    || die "PostgreSQL $PG_MAJOR at $BINDIR has no PGXS (server headers); install its development files"

vector_version() { awk -F"'" '/default_version/{print $2}' "$SHAREDIR/extension/vector.control"; }

# Debian's own pgvector package for Debian's own server, where the release has one (trixie).
if [ ! -f "$SHAREDIR/extension/vector.control" ] && [ $debian_server = yes ] \
        && apt-cache show "postgresql-$PG_MAJOR-pgvector" >/dev/null 2>&1; then
    apt_install "postgresql-$PG_MAJOR-pgvector"
fi

# Otherwise from source: PGVECTOR_SRC, else trixie's source package (not in bookworm).
fetch_debian_source() {
    local work=$1 src=/etc/apt/sources.list.d/pgml-src.sources
    if [ ! -f "$src" ]; then
        local first=/etc/apt/sources.list.d/debian.sources uris signed
        uris=$(awk -F': ' '/^URIs:/{print $2; exit}' "$first")
        signed=$(awk -F': ' '/^Signed-By:/{print $2; exit}' "$first")
        log "adding deb-src for trixie (URIs: $uris)"
        printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' "$uris" "$signed" > "$src"
    fi
    apt-get update -qq
    (cd "$work" && apt-get source --download-only pgvector >/dev/null 2>&1 && tar xzf pgvector_*.orig.tar.gz)
}

if [ ! -f "$SHAREDIR/extension/vector.control" ]; then
    [ "$(id -u)" = 0 ] || die "need root to build pgvector"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    if [ -n "${PGVECTOR_SRC:-}" ]; then
        if [ -d "$PGVECTOR_SRC" ]; then cp -r "$PGVECTOR_SRC" "$work/pgvector-src"; else tar -C "$work" -xzf "$PGVECTOR_SRC"; fi
    else
        fetch_debian_source "$work"
    fi
    dir=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
    [ -f "$dir/vector.control" ] || die "no pgvector source in ${PGVECTOR_SRC:-the pgvector source package of Debian 13}"
    version=$(awk -F"'" '/default_version/{print $2}' "$dir/vector.control")
    # 0.8.0 does not compile on 18 (TupleDescData has no attrs); 0.8.1 is the first that does.
    if [ "$PG_MAJOR" -ge 18 ] && [ "$(printf '%s\n0.8.1\n' "$version" | sort -V | head -n 1)" != 0.8.1 ]; then
        die "pgvector $version does not build on PostgreSQL $PG_MAJOR (0.8.1 or later is needed; Debian's trixie source is 0.8.0 and sid's 0.8.7 is not downloadable here): set PGVECTOR_SRC to a pgvector >= 0.8.1 source tree or tarball (https://github.com/pgvector/pgvector/archive/refs/tags/v0.8.1.tar.gz)"
    fi
    log "building pgvector $version for PostgreSQL $PG_MAJOR"
    # OPTFLAGS="": no -march=native, so the build runs on any x86-64 (images move between machines)
    make -s -C "$dir" PG_CONFIG="$PG_CONFIG" OPTFLAGS="" -j"$(nproc)" >"$work/make.log" 2>&1 \
        || { tail -20 "$work/make.log" >&2; die "pgvector $version did not build for PostgreSQL $PG_MAJOR"; }
    make -s -C "$dir" PG_CONFIG="$PG_CONFIG" install >/dev/null
fi
log "ok (PostgreSQL $PG_MAJOR at $BINDIR, pgvector $(vector_version))"
