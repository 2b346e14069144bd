#!/usr/bin/env bash
# Entrypoint of the pgml image, after the official postgres image's docker-entrypoint.sh.
#   Every start, as root: $PGDATA and the socket directory owned by postgres; the packaged models
#   linked into a model store mounted over them (when it is writable). Then, as postgres:
#   First start on an empty $PGDATA: initdb with POSTGRES_USER (default postgres) and
#   POSTGRES_PASSWORD; TCP connections (127.0.0.1 too) use POSTGRES_HOST_AUTH_METHOD (default
#   scram-sha-256; without a password only an explicit `trust` is accepted), the Unix socket inside
#   the container is trusted; POSTGRES_DB (default $POSTGRES_USER) created with
#   `CREATE EXTENSION pgml CASCADE`; /docker-entrypoint-initdb.d/*.sh, *.sql, *.sql.gz run.
#   Every start: $PGDATA/pgml.conf (included by postgresql.conf) written from PGML_MODEL_STORE and
#   PGML_OFFLINE; then the server in the foreground (exec). Each POSTGRES_* variable may instead be
#   read from a file named by POSTGRES_*_FILE (Docker secrets).
# `docker run pgml:1.3 -c name=value` passes server options; any other command runs as given.
set -Eeuo pipefail

PGDATA=${PGDATA:-/var/lib/postgresql/data}
PGML_MODEL_STORE=${PGML_MODEL_STORE:-/var/lib/pgml/models}
PGML_OFFLINE=${PGML_OFFLINE:-on}
PACKAGED_MODELS=/usr/share/pgml/packaged-models
export PGDATA

log() { echo "pgml-entrypoint: $*"; }
die() { echo "pgml-entrypoint: error: $*" >&2; exit 1; }

# file_env VAR [DEFAULT]: $VAR, or the contents of the file $VAR_FILE, or DEFAULT.
file_env() {
    local var=$1 fvar="${1}_FILE" def=${2:-} val
    if [ -n "${!var:-}" ] && [ -n "${!fvar:-}" ]; then die "both $var and $fvar are set (they are exclusive)"; fi
    val=$def
    if [ -n "${!var:-}" ]; then val=${!var}; elif [ -n "${!fvar:-}" ]; then val=$(< "${!fvar}"); fi
    export "$var"="$val"
    unset "$fvar"
}

# The models the image ships (all-MiniLM-L6-v2) in the model store: a directory mounted at the
# store hides them, so they are linked into it when it lacks them and can be written.
link_packaged_models() {
    local link rel target
    [ -d "$PACKAGED_MODELS" ] || return 0
    for link in "$PACKAGED_MODELS"/*/*; do
        if [ ! -e "$link" ]; then continue; fi
        rel=${link#"$PACKAGED_MODELS"/}
        target=$(readlink -f "$link")
        if [ -e "$PGML_MODEL_STORE/$rel" ]; then continue; fi
        if mkdir -p "$PGML_MODEL_STORE/${rel%/*}" 2>/dev/null && ln -sfn "$target" "$PGML_MODEL_STORE/$rel" 2>/dev/null; then
            log "linked the packaged $rel into the model store $PGML_MODEL_STORE"
        else
            log "warning: $PGML_MODEL_STORE/$rel is missing and the model store cannot be written:" \
                "pgml.embed('$rel', ...) will fail. Mount models at $PGML_MODEL_STORE/<org> instead." >&2
        fi
    done
    # Hub downloads (PGML_OFFLINE=off) go to <store>/.hub-cache, written by the server.
    if [ ! -e "$PGML_MODEL_STORE/.hub-cache" ] && mkdir -p "$PGML_MODEL_STORE/.hub-cache" 2>/dev/null; then
        chown postgres:postgres "$PGML_MODEL_STORE/.hub-cache"
    fi
}

# $PGDATA/pgml.conf, rewritten at every start (ALTER SYSTEM still overrides it).
write_pgml_conf() {
    local offline store
    case "${PGML_OFFLINE,,}" in
        on|true|yes|1) offline=on ;;
        off|false|no|0) offline=off ;;
        *) die "PGML_OFFLINE must be on or off, not \"$PGML_OFFLINE\"" ;;
    esac
    store=${PGML_MODEL_STORE//\'/\'\'}
    cat > "$PGDATA/pgml.conf" <<CONF
# Written by the container's entrypoint at every start from PGML_MODEL_STORE and PGML_OFFLINE:
# edits here are lost (ALTER SYSTEM SET overrides these).
pgml.model_store = '$store'
pgml.huggingface_offline = $offline
CONF
}

psql_init() {
    psql -v ON_ERROR_STOP=1 -X -q --no-password --username "$POSTGRES_USER" "$@"
}

init_cluster() {
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    POSTGRES_HOST_AUTH_METHOD=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
        cat >&2 <<'EOM'
pgml-entrypoint: error: the database is uninitialized and the superuser password is not specified.
       Set POSTGRES_PASSWORD to a non-empty value for the superuser, for example
       "-e POSTGRES_PASSWORD=password" on "docker run".

       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all connections
       without a password. This is *not* recommended.
       See https://www.postgresql.org/docs/current/auth-trust.html
EOM
        exit 1
    fi
    if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
        log "WARNING: POSTGRES_HOST_AUTH_METHOD=trust: every TCP connection is accepted without a password" >&2
    fi
    if [ "${#POSTGRES_PASSWORD}" -gt 100 ]; then
        log "warning: passwords longer than 100 characters may not work with every client" >&2
    fi

    log "initializing $PGDATA (superuser $POSTGRES_USER, database $POSTGRES_DB)"
    local pwargs=() pwfile=""
    if [ -n "$POSTGRES_PASSWORD" ]; then
        pwfile=$(mktemp)  # mode 600, the postgres user's
        printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
        pwargs=(--pwfile="$pwfile")
    fi
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of options, as in the official image
    initdb --username="$POSTGRES_USER" "${pwargs[@]}" -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD" $POSTGRES_INITDB_ARGS >/dev/null \
        || { rm -f "$pwfile"; die "initdb failed"; }
    rm -f "$pwfile"
    printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"
    cat >> "$PGDATA/postgresql.conf" <<CONF

# pgml container (docker/entrypoint.sh)
listen_addresses = '*'
port = 5432
include_if_exists = 'pgml.conf'
CONF
    write_pgml_conf

    # A temporary server on the Unix socket only, for the database, the extension and the scripts.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w -t 60 -l "$PGDATA/init.log" start >/dev/null \
        || { cat "$PGDATA/init.log" >&2; die "the temporary server did not start"; }
    export PGHOST=/var/run/postgresql PGPORT=5432
    if [ "$POSTGRES_DB" != postgres ]; then
        psql_init --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    log "CREATE EXTENSION IF NOT EXISTS pgml CASCADE in $POSTGRES_DB"
    psql_init --dbname "$POSTGRES_DB" -c 'SET client_min_messages = warning' \
        -c 'CREATE EXTENSION IF NOT EXISTS pgml CASCADE'
    local f
    for f in /docker-entrypoint-initdb.d/*; do
        if [ ! -f "$f" ]; then continue; fi
        case "$f" in
            *.sh) log "running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
            *.sql) log "running $f"; psql_init --dbname "$POSTGRES_DB" -f "$f" ;;
            *.sql.gz) log "running $f"; gunzip -c "$f" | psql_init --dbname "$POSTGRES_DB" ;;
            *) log "ignoring $f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    rm -f "$PGDATA/init.log"
    unset PGHOST PGPORT
    log "initialized; the server starts"
}

if [ "${1:0:1}" = - ]; then
    set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
    exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chmod 00700 "$PGDATA"
    chown postgres:postgres "$PGDATA"
    find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
    chown postgres:postgres /var/run/postgresql
    chmod 3777 /var/run/postgresql
    link_packaged_models
    export HOME=/var/lib/postgresql USER=postgres LOGNAME=postgres
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

[ -s "$PGDATA/PG_VERSION" ] || init_cluster
write_pgml_conf
unset POSTGRES_PASSWORD
exec "$@"
