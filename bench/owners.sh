#!/usr/bin/env bash
# Owners: what a bearer token costs the found poll, and what a page of an
# owner's list costs over a million operations.
#
#   bench/owners.sh [sqlite|postgres|all]      (default: all)
#
# For each backend:
#   1. Found poll, token vs anonymous: 1000 completed echo operations
#      (200–500-byte results), given by SQL to 10 owners (100 each). wrk
#      GETs cycling over them (-t1 -c32 -d10s), on a fresh server each time:
#      none mode without a token, jwt mode with each operation's owner's
#      token (`Authorization: Bearer`), none mode again. The ratio is token
#      over the mean of the two anonymous runs; floor >= 0.85.
#   2. Lists: 1,000,000 operations of 10,000 owners (100 each) inserted by
#      SQL, created over 20 hours, statuses mixed. jwt mode; wrk -c16 cycles
#      over 1000 owners' tokens, `GET /api/v1/operations?page_size=50`, and
#      for every 4th owner also its second page (next_page_token); floor
#      p99 < 20 ms. Then an admin token: `owner=owner-N` (1000 owners in
#      turn), and `status=failed` (once on the fresh server before the
#      owners' lists, once after them). The plans of these statements, as the
#      service builds them, are taken with EXPLAIN.
# Prints a Markdown table at the end (and writes it to $BENCH_REPORT if set).
#
# The server runs on core 0, the clients on core 1, all on 127.0.0.1.
# Needs: wrk, taskset, python3, sqlite3 (or Python's module), and for
# postgres psql and a PostgreSQL server at 127.0.0.1:5432 (user postgres,
# trust auth). See bench/README.md.
set -euo pipefail

POLL_OPS=${BENCH_POLL_OPS:-1000}
POLL_OWNERS=${BENCH_POLL_OWNERS:-10}
LIST_OWNERS=${BENCH_LIST_OWNERS:-10000}
PER_OWNER=${BENCH_PER_OWNER:-100}
LIST_TOKENS=${BENCH_LIST_TOKENS:-1000}
LIST_CONNS=${BENCH_LIST_CONNS:-16}
SECOND_EVERY=${BENCH_SECOND_EVERY:-4}

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
select_backends "${1:-all}"

require_tools
raise_open_files 4096
build_service
start_work longrun-owners

copy_server_build

# A fresh secret per run, exported to the script's children (the servers
# and the token minting need it); never written to a file.
LONGRUN_JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export LONGRUN_JWT_SECRET
NONE_EXTRA=$EXTRA_OPERATIONS

none_mode() {
  EXTRA_OPERATIONS=$NONE_EXTRA
  READY_STATUS=404
}

# jwt mode: the probe of an unknown id without a token gets 401.
jwt_mode() {
  EXTRA_OPERATIONS="$NONE_EXTRA, auth={mode=\"jwt\"}"
  READY_STATUS=401
}

run_wrk() { # KEY TARGETS [MIN_BYTES]
  measure_wrk "$1" -s "$BENCH/owners.lua" "http://127.0.0.1:$PORT" -- "$2" "$1" "${3:-0}"
}

owners() { # SUBCOMMAND ARGS...: the Python helpers, on core 1
  run_child timeout 900 taskset -c 1 python3 "$BENCH/owners.py" "$@"
}

# found_poll BACKEND MODE(none|jwt) KEY TARGETS: a fresh server in MODE,
# every operation polled once (so each is held in memory, as after the
# seeding of bench/cheap_polling.sh), then the wrk run.
found_poll() {
  local b=$1 mode=$2 key=$3 targets=$4 logfile="$WORK/server-$1-$3.log"
  "${mode}_mode"
  start_server "$URL" 4 100 "$logfile" "$SERVER_BIN"
  owners warm --port "$PORT" --targets "$targets" --json "$RESULTS/$b-warm-$key.json"
  run_wrk "$b-$key" "$targets"
  check_server "$logfile"
  stop_server
}

bench_backend() {
  local b=$1
  rm -rf "$WORK/sqlite"
  prepare_database "$b" longrun_owners
  URL=$DB_URL
  local dbarg=("${DB_ARG[@]}") logfile="$WORK/server-$b.log"

  # 1. The found poll: operations made through the API, then given owners.
  log "$b: seeding $POLL_OPS completed echo operations, $POLL_OWNERS owners"
  none_mode
  start_server "$URL" 4 100 "$logfile" "$SERVER_BIN"
  owners seed-polls --port "$PORT" --count "$POLL_OPS" --owners "$POLL_OWNERS" \
    --out "$WORK/poll-ids.tsv" --json "$RESULTS/$b-polls.json"
  check_server "$logfile"
  stop_server
  owners own "${dbarg[@]}" --ids "$WORK/poll-ids.tsv"
  # One token per owner, by the service's own `longrun token`.
  : >"$WORK/poll-tokens.tsv"
  for i in $(seq 0 $((POLL_OWNERS - 1))); do
    printf 'poll-owner-%s\t%s\n' "$i" "$("$SERVER_BIN" token "poll-owner-$i" --ttl-secs 3600)" >>"$WORK/poll-tokens.tsv"
  done
  owners targets --ids "$WORK/poll-ids.tsv" --tokens "$WORK/poll-tokens.tsv" \
    --anon-out "$WORK/poll-anon.tsv" --token-out "$WORK/poll-token.tsv"
  found_poll "$b" none anon1 "$WORK/poll-anon.tsv"
  found_poll "$b" jwt token "$WORK/poll-token.tsv"
  found_poll "$b" none anon2 "$WORK/poll-anon.tsv"

  # 2. Lists over a million operations, on a fresh database whose schema
  # the service's migrations make (started once, stopped), seeded by SQL.
  rm -rf "$WORK/sqlite"
  prepare_database "$b" longrun_owners
  URL=$DB_URL
  dbarg=("${DB_ARG[@]}")
  log "$b: creating the schema, seeding $((LIST_OWNERS * PER_OWNER)) operations of $LIST_OWNERS owners by SQL"
  jwt_mode
  start_server "$URL" 0 1000 "$logfile" "$SERVER_BIN"
  stop_server
  owners seed-lists "${dbarg[@]}" --owners "$LIST_OWNERS" --per-owner "$PER_OWNER" \
    --json "$RESULTS/$b-seed-lists.json"
  owners explain "${dbarg[@]}" --out "$RESULTS/$b-plans.json"
  owners mint --prefix owner- --count "$LIST_TOKENS" --of "$LIST_OWNERS" --out "$WORK/list-tokens.tsv"
  local admin
  admin=$("$SERVER_BIN" token bench-admin --admin --ttl-secs 3600)
  # No workers: the seeded pending operations stay as they are.
  start_server "$URL" 0 1000 "$logfile" "$SERVER_BIN"
  log "$b: fetching and checking the pages to request"
  owners list-targets --port "$PORT" --tokens "$WORK/list-tokens.tsv" --admin-token "$admin" \
    --owners "$LIST_OWNERS" --per-owner "$PER_OWNER" --second-every "$SECOND_EVERY" \
    --out "$WORK/lists.tsv" --admin-owner-out "$WORK/admin-owner.tsv" \
    --admin-status-out "$WORK/admin-failed.tsv" --json "$RESULTS/$b-list-targets.json"
  check_server "$logfile"
  stop_server
  # A fresh server again: the admin's status=failed first, before any other
  # list has filled the connections' page caches (on SQLite that matters),
  # then the owners' lists, then both admin shapes.
  start_server "$URL" 0 1000 "$logfile" "$SERVER_BIN"
  WRK_CONNS=$LIST_CONNS run_wrk "$b-admin-failed-first" "$WORK/admin-failed.tsv" 1000
  WRK_CONNS=$LIST_CONNS run_wrk "$b-lists" "$WORK/lists.tsv" 1000
  WRK_CONNS=$LIST_CONNS run_wrk "$b-admin-owner" "$WORK/admin-owner.tsv" 1000
  WRK_CONNS=$LIST_CONNS run_wrk "$b-admin-failed" "$WORK/admin-failed.tsv" 1000
  check_server "$logfile"
  stop_server

  touch "$RESULTS/$b-done"
  rm -rf "$WORK/sqlite"
  drop_pg_db
}

START=$(date +%s)
for backend in "${BACKENDS[@]}"; do
  bench_backend "$backend"
done
log "done in $(( $(date +%s) - START )) s"
echo
python3 "$BENCH/owners.py" report --results "$RESULTS" --command "$COMMAND" --list-conns "$LIST_CONNS" \
  --build "$BUILD_NOTE" ${BENCH_REPORT:+--save "$BENCH_REPORT"}
