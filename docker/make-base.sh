#!/usr/bin/env bash
# Builds the local base image for docker/Dockerfile where no registry can be reached: a minimal
# Debian $2 (trixie or bookworm; debootstrap --variant=minbase) from this machine's own Debian
# mirror, with this machine's apt sources for that release, imported into podman as $1
# (default localhost/pgml-base-$2).
# Reuses an existing image of that name. Needs root, debootstrap and podman.
set -euo pipefail

suite=${2:-trixie}
name=${1:-localhost/pgml-base-$suite}
PODMAN=${PODMAN:-podman}
sources=/etc/apt/sources.list.d/debian.sources

log() { echo "make-base: $*"; }

if $PODMAN image exists "$name"; then
    log "reusing $name"
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "make-base: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "make-base: apt-get install -y debootstrap podman" >&2; exit 1; }
[ -f "$sources" ] || { echo "make-base: $sources not found; build with IMAGE_BASE=debian:bookworm-slim instead" >&2; exit 1; }
mirror=$(awk -F': ' '/^URIs:/{print $2; exit}' "$sources")

root=$(mktemp -d /var/tmp/pgml-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
log "debootstrap --variant=minbase $suite from $mirror"
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
# The same apt sources as this machine (main, -updates, -security) for $suite, deb822 like
# debian:$suite-slim.
rm -f "$root/etc/apt/sources.list"
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
sed -E "s/\\b$codename/$suite/g" "$sources" > "$root/etc/apt/sources.list.d/debian.sources"
rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
log "podman import $name"
tar -C "$root" -c . | $PODMAN import -q --change 'CMD ["bash"]' - "$name" >/dev/null
log "ok ($name)"
