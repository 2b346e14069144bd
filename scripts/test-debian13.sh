#!/usr/bin/env bash
# make test-debian13: the README's two commands (make demo, make test) on a fresh Debian 13
# (trixie: PostgreSQL 17, Python 3.13) in a debootstrapped root, from this tree's files.
#   test-debian13.sh prepare   the root, once per machine (cached in $PGML_DEBIAN13_ROOT)
#   test-debian13.sh run       copy the tree in; make demo, make stop, make test (CI=true)
#   test-debian13.sh           both
#   test-debian13.sh run|all PYTEST-ARGS...   make install, then only those tests (CI's subset)
# The root keeps what make install put there (PostgreSQL 17, pgvector, the venv), so later runs
# test the current tree without reinstalling what did not change. Needs root and debootstrap.
# The root shares this machine's network: its servers use PGML_PORT / PGML_TEST_PORT as given.
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT=${PGML_DEBIAN13_ROOT:-/var/cache/pgml/debian13-root}
SRC=/root/pgml   # the tree's copy inside the root
sources=/etc/apt/sources.list.d/debian.sources

log() { echo "test-debian13: $*"; }
die() { echo "test-debian13: $*" >&2; exit 1; }

# Runs a command in the root with a clean environment: the host's PIP_*/SSL_* variables name host paths.
in_root() {
    chroot "$ROOT" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        LANG=C.UTF-8 CI=true DEBIAN_FRONTEND=noninteractive \
        PGML_PORT="${PGML_PORT:-15432}" PGML_TEST_PORT="${PGML_TEST_PORT:-15433}" "$@"
}

mount_root() {
    local m
    for m in proc dev dev/shm; do
        mountpoint -q "$ROOT/$m" && continue
        if [ "$m" = proc ]; then mount -t proc proc "$ROOT/proc"; else mount --bind "/$m" "$ROOT/$m"; fi
    done
    trap umount_root EXIT
}

umount_root() {
    local m
    for m in dev/shm dev proc; do mountpoint -q "$ROOT/$m" && umount -l "$ROOT/$m"; done
    return 0
}

prepare() {
    [ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot)"
    if [ -f "$ROOT/.pgml-ready" ]; then
        log "reusing $ROOT ($(cat "$ROOT/etc/debian_version"))"
        return 0
    fi
    command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
    [ -f "$sources" ] || die "$sources not found (its URIs name the Debian mirror)"
    local mirror
    mirror=$(awk -F': ' '/^URIs:/{print $2; exit}' "$sources")
    rm -rf "$ROOT"
    mkdir -p "$(dirname "$ROOT")"
    log "debootstrap --variant=minbase trixie $ROOT $mirror"
    debootstrap --variant=minbase trixie "$ROOT" "$mirror" >"$ROOT.log" 2>&1 || { tail -20 "$ROOT.log" >&2; exit 1; }
    rm -f "$ROOT.log" "$ROOT/etc/apt/sources.list"
    # This machine's apt sources (main, -updates, -security) for trixie.
    sed -E 's/\bbookworm/trixie/g' "$sources" > "$ROOT/etc/apt/sources.list.d/debian.sources"
    # As on a machine without systemd: apt starts no service (the tests start their own servers).
    printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
    chmod +x "$ROOT/usr/sbin/policy-rc.d"
    # What a fresh Debian 13 system has and minbase lacks: make and git for the README's
    # commands, CA certificates for pip.
    mount_root
    in_root apt-get update -qq
    in_root apt-get install -y -qq make git ca-certificates >/dev/null
    # The registries sit behind a proxy with its own CA here: the host's bundle holds it.
    cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
    touch "$ROOT/.pgml-ready"
    log "ok ($ROOT, Debian $(cat "$ROOT/etc/debian_version"))"
}

run() {
    local started rc=0
    [ -f "$ROOT/.pgml-ready" ] || die "no root at $ROOT: run $0 prepare first"
    mount_root
    # A clone (test_upgrade reads the 1.0 release from git history), then the tree as git sees it
    # on top (tracked and new files, not the ignored build outputs and venvs).
    rm -rf "${ROOT:?}$SRC"
    git clone -q --no-hardlinks "$PWD" "$ROOT$SRC"
    git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -C "$ROOT$SRC" -xf -
    started=$(date +%s)
    if [ $# -gt 0 ]; then
        log "make install, then pytest $* (Debian $(cat "$ROOT/etc/debian_version"))"
        in_root bash -c 'cd "$0" && make install >/tmp/pgml-install.log 2>&1 || { tail -30 /tmp/pgml-install.log; exit 1; }
                         bash scripts/run-tests.sh "$@"' "$SRC" "$@" || rc=$?
        log "tests: rc=$rc after $(( $(date +%s) - started )) s"
        return $rc
    fi
    log "make demo (Debian $(cat "$ROOT/etc/debian_version"))"
    in_root bash -c "cd $SRC && make demo && make stop" || rc=$?
    log "make demo: rc=$rc after $(( $(date +%s) - started )) s"
    [ $rc = 0 ] || return $rc
    started=$(date +%s)
    in_root env PYTEST_ADDOPTS="${PYTEST_ADDOPTS:-}" bash -c "cd $SRC && make test" || rc=$?
    log "make test: rc=$rc after $(( $(date +%s) - started )) s"
    return $rc
}

command=${1:-all}
[ $# -gt 0 ] && shift
case "$command" in
    prepare) prepare ;;
    run) run "$@" ;;
    all) prepare && run "$@" ;;
    *) die "usage: $0 [prepare|run]" ;;
esac
