#!/usr/bin/env bash
# Builds a PostgreSQL major that this Debian release does not package (18 on Debian 12) from
# Debian's own source package, into $PGML_PG_CACHE/<major> (default /var/cache/pgml/pg<major>),
# once per machine, and prints its pg_config. The tests of other majors use it
# (make test-pg MAJOR=18). Source: a deb-src entry for suite sid, in its own sources list and
# lists directory, so the system's apt state stays its own release's.
#   build-postgres.sh 18
set -euo pipefail

major=${1:?usage: build-postgres.sh MAJOR}
cache=${PGML_PG_CACHE:-/var/cache/pgml}
prefix=$cache/pg$major
suite=${PGML_PG_SUITE:-sid}

log() { echo "build-postgres: $*" >&2; }

if [ -x "$prefix/bin/pg_config" ] && [ -f "$prefix/lib/postgresql/plpython3.so" ]; then
    echo "$prefix/bin/pg_config"
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "build-postgres: need root (apt-get, $prefix)" >&2; exit 1; }

# Build tools: bison and flex besides what install-system.sh installs.
need=()
for p in bison flex make gcc python3-dev libssl-dev zlib1g-dev pkg-config; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

apt_dir=$cache/apt-$suite
mkdir -p "$apt_dir/lists/partial"
first=/etc/apt/sources.list.d/debian.sources
uris=$(awk -F': ' '/^URIs:/{print $2; exit}' "$first")
signed=$(awk -F': ' '/^Signed-By:/{print $2; exit}' "$first")
printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' "$uris" "$suite" "$signed" \
    > "$apt_dir/src.sources"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/src.sources" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$apt_dir/lists")
apt-get "${apt_opts[@]}" update -qq
work=$(mktemp -d /var/tmp/pgml-pg$major.XXXXXX)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get "${apt_opts[@]}" source --download-only "postgresql-$major" >/dev/null 2>&1) \
    || { echo "build-postgres: apt-get source postgresql-$major ($suite) failed" >&2; exit 1; }
tar -C "$work" -xjf "$work"/postgresql-"$major"_*.orig.tar.bz2
src=$(find "$work" -maxdepth 1 -type d -name "postgresql-$major*" | head -n 1)
log "building $(basename "$src") into $prefix ($(nproc) jobs)"
(cd "$src" && ./configure -q --prefix="$prefix" --with-python PYTHON=/usr/bin/python3 --with-openssl \
    --without-icu --without-readline >"$work/configure.log" 2>&1) \
    || { tail -20 "$work/configure.log" >&2; exit 1; }
make -s -C "$src" -j"$(nproc)" world-bin >"$work/make.log" 2>&1 || { tail -30 "$work/make.log" >&2; exit 1; }
make -s -C "$src" install-world-bin >"$work/install.log" 2>&1 || { tail -30 "$work/install.log" >&2; exit 1; }
chmod -R a+rX "$prefix"
log "ok ($("$prefix/bin/pg_config" --version))"
echo "$prefix/bin/pg_config"
