#!/usr/bin/env bash
# A throwaway local PostgreSQL with pgml, for the demo, the tests and the benchmarks.
#   pgml-server.sh start   start (or reuse) it; the last line printed is its connection URL
#   pgml-server.sh stop    stop it
#   pgml-server.sh url     print the URL
#   pgml-server.sh psql    psql on it (extra arguments go to psql)
# Runs as a non-root OS user (postgres when started by root), TCP on 127.0.0.1 only,
# port $PGML_PORT (default below the ephemeral range 32768-60999, so no client socket holds it),
# data and socket under $PGML_RUN_DIR. Database "pgml" has the extension.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-pg_config}
PGML_PORT=${PGML_PORT:-15432}
PGML_RUN_DIR=${PGML_RUN_DIR:-/var/tmp/pgml-server-$PGML_PORT}
PGML_MODEL_STORE=${PGML_MODEL_STORE:-/var/lib/pgml/models}
BINDIR=$("$PG_CONFIG" --bindir)
# make install puts every pgml.* setting's default here (scripts/pgml-conf.py): SHOW works at once.
PGML_CONF=$("$PG_CONFIG" --sharedir)/pgml.conf
DATA=$PGML_RUN_DIR/data
URL="postgresql://postgres@127.0.0.1:$PGML_PORT/pgml"

# As root, every server command runs as the postgres OS user (initdb refuses root).
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The server outlives this script: it must not inherit the script's open files, such as the lock
# of a `flock LOCK make start` around it, which it would then hold for as long as it runs.
without_inherited_fds() {
    local fd
    for fd in /proc/$BASHPID/fd/*; do
        fd=${fd##*/}
        case "$fd" in 0|1|2|255) ;; *) eval "exec $fd>&-" 2>/dev/null || true ;; esac
    done
    "$@"
}

running() { as_owner "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

psql_admin() {
    "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGML_PORT" -U postgres "$@"
}

start() {
    mkdir -p "$PGML_RUN_DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$PGML_RUN_DIR"
    if [ ! -f "$DATA/PG_VERSION" ]; then
        as_owner "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
        cat >> "$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PGML_PORT
unix_socket_directories = '$PGML_RUN_DIR'
max_connections = 50
shared_buffers = 128MB
include_if_exists '$PGML_CONF'
pgml.model_store = '$PGML_MODEL_STORE'
pgml.huggingface_offline = ${PGML_OFFLINE:-on}
CONF
    elif ! grep -q "^include_if_exists '$PGML_CONF'" "$DATA/postgresql.conf"; then
        # a cluster made before pgml.conf existed: include it before the server's own pgml lines
        as_owner sed -i "0,/^pgml\./s||include_if_exists '$PGML_CONF'\n&|" "$DATA/postgresql.conf"
        if running; then as_owner "$BINDIR/pg_ctl" -D "$DATA" reload >/dev/null; fi
    fi
    if ! running; then
        (without_inherited_fds as_owner env HF_HUB_DISABLE_PROGRESS_BARS=1 "$BINDIR/pg_ctl" -D "$DATA" \
            -l "$PGML_RUN_DIR/server.log" -w -t 30 start >/dev/null)
    fi
    if ! psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'pgml'" | grep -q 1; then
        psql_admin -d postgres -c "CREATE DATABASE pgml"
    fi
    psql_admin -d pgml -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pgml CASCADE"
    echo "$URL"
}

stop() {
    if [ -f "$DATA/PG_VERSION" ] && running; then
        as_owner "$BINDIR/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    fi
    echo "stopped server on port $PGML_PORT"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) echo "$URL" ;;
    psql) shift; exec "$BINDIR/psql" -X "$URL" "$@" ;;
    *) echo "usage: $0 start|stop|url|psql [psql args]" >&2; exit 2 ;;
esac
