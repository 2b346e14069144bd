#!/usr/bin/env bash
# The image's smoke test, run by the Dockerfile's `test` stage (as root, inside the build: the
# build shares the host's network, so the server listens on PGML_IMAGE_TEST_PORT, not 5432).
#   1. an empty data directory without POSTGRES_PASSWORD: the entrypoint refuses to initialise it
#   2. POSTGRES_PASSWORD, POSTGRES_DB: initdb, the extension, demo/demo.sql and pgml.embed over TCP
#      with the password (scram-sha-256), a wrong password refused, the pgml settings
#   3. a restart on that data, with an empty model store "mounted" over the packaged one: the
#      packaged all-MiniLM-L6-v2 is linked into it and embeds
#   4. a restart with PGML_OFFLINE=off: the setting follows
set -euo pipefail

PORT=${PGML_IMAGE_TEST_PORT:-54329}
DIR=/tmp/pgml-test
PASSWORD=pgml-test-password
MODEL=sentence-transformers/all-MiniLM-L6-v2
SERVER_PID=

log() { echo "test-image: $*"; }
fail() { echo "test-image: FAIL: $*" >&2; [ -z "$SERVER_PID" ] || stop_server; exit 1; }

q() {  # q DB SQL: one value, over TCP with the password
    PGPASSWORD=$PASSWORD psql -X -q -tA -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$1" -c "$2"
}

start_server() {  # start_server LOG [VAR=value ...]: the entrypoint in the background, as docker run
    local logfile=$1; shift
    env "$@" docker-entrypoint.sh postgres -c port="$PORT" > "$logfile" 2>&1 &
    SERVER_PID=$!
    local i
    for i in $(seq 1 180); do
        if pg_isready -q -h 127.0.0.1 -p "$PORT"; then return 0; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$logfile" >&2; SERVER_PID=; fail "the server exited"; fi
        sleep 1
    done
    cat "$logfile" >&2
    fail "the server did not accept connections in 180 s"
}

stop_server() {
    kill -INT "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=
}

expect() {  # expect WHAT GOT WANT
    [ "$2" = "$3" ] || fail "$1: got \"$2\", want \"$3\""
    log "ok: $1 = $3"
}

rm -rf "$DIR/nopw" "$DIR/data" "$DIR/models"
mkdir -p "$DIR"

log "1. an uninitialised cluster without POSTGRES_PASSWORD"
rc=0
env -u POSTGRES_PASSWORD PGDATA="$DIR/nopw" docker-entrypoint.sh postgres > "$DIR/nopw.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$DIR/nopw.log" >&2; fail "the entrypoint exited with $rc, want 1"; }
grep -q "superuser password is not specified" "$DIR/nopw.log" || fail "no explanation: $(cat "$DIR/nopw.log")"
[ ! -e "$DIR/nopw/PG_VERSION" ] || fail "a cluster was initialised without a password"
log "ok: refused ($(head -n 1 "$DIR/nopw.log"))"

log "2. first start: POSTGRES_PASSWORD, POSTGRES_DB=app"
t0=$(date +%s)
start_server "$DIR/server1.log" PGDATA="$DIR/data" POSTGRES_PASSWORD="$PASSWORD" POSTGRES_DB=app
log "server up in $(( $(date +%s) - t0 )) s; entrypoint log:"
sed 's/^/    /' "$DIR/server1.log" | grep -v -e '^    $' | head -n 20
expect "extensions" "$(q app "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension")" \
    "pgml,plpgsql,plpython3u,vector"
expect "hba of TCP connections" "$(q app "SELECT DISTINCT auth_method FROM pg_hba_file_rules WHERE type = 'host'")" \
    "scram-sha-256"
if PGPASSWORD=wrong psql -X -h 127.0.0.1 -p "$PORT" -U postgres -d app -c 'SELECT 1' > "$DIR/wrong.log" 2>&1; then
    fail "a wrong password was accepted"
fi
grep -q "password authentication failed" "$DIR/wrong.log" || fail "wrong password: $(cat "$DIR/wrong.log")"
log "ok: a wrong password is refused"
expect "listen_addresses" "$(q app "SHOW listen_addresses")" "*"
expect "pgml.model_store" "$(q app "SELECT current_setting('pgml.model_store')")" "/var/lib/pgml/models"
expect "pgml.huggingface_offline" "$(q app "SELECT current_setting('pgml.huggingface_offline')")" "on"
log "pgml.version(): $(q app "SELECT pgml.version()")"

log "demo/demo.sql:"
PGPASSWORD=$PASSWORD psql -X -h 127.0.0.1 -p "$PORT" -U postgres -d app -f "$DIR/demo.sql" > "$DIR/demo.out" 2>&1 \
    || { cat "$DIR/demo.out" >&2; fail "demo/demo.sql failed"; }
cat "$DIR/demo.out"
grep -q "Machine learning models can run inside the database" "$DIR/demo.out" || fail "the demo's search found nothing"
grep -q "chunk_index" "$DIR/demo.out" || fail "the demo's chunks are missing"

expect "dimension of pgml.embed('$MODEL', 'hello')" \
    "$(q app "SELECT array_length(pgml.embed('$MODEL', 'hello'), 1)")" 384
expect "its L2 norm, normalize_embeddings" \
    "$(q app "SELECT round(pgml.norm_l2(pgml.embed('$MODEL', 'hello', '{\"normalize_embeddings\": true}'))::numeric, 3)")" 1.000
stop_server
log "stopped"

log "3. restart on that data (no POSTGRES_PASSWORD), an empty model store mounted at PGML_MODEL_STORE"
mkdir -p "$DIR/models/some-org"
start_server "$DIR/server2.log" PGDATA="$DIR/data" PGML_MODEL_STORE="$DIR/models"
grep -q "initializing" "$DIR/server2.log" && fail "the restart initialised the cluster again"
grep "linked the packaged" "$DIR/server2.log" | sed 's/^/    /' || fail "the packaged model was not linked: $(cat "$DIR/server2.log")"
expect "pgml.model_store" "$(q app "SELECT current_setting('pgml.model_store')")" "$DIR/models"
expect "dimension of pgml.embed from the mounted store" \
    "$(q app "SELECT array_length(pgml.embed('$MODEL', 'hello'), 1)")" 384
stop_server

log "4. restart with PGML_OFFLINE=off"
start_server "$DIR/server3.log" PGDATA="$DIR/data" PGML_OFFLINE=off
expect "pgml.huggingface_offline" "$(q app "SELECT current_setting('pgml.huggingface_offline')")" "off"
stop_server

rm -rf "$DIR"
log "PASSED"
