#!/usr/bin/env bash
# Cold polls after a restart: a fresh server, 100,000 operations it has never
# read, and a polling population over 10,000 keep-alive connections.
#
#   bench/cold_polls.sh [sqlite|postgres|all]      (default: all)
#
# In one run, each server on core 0, the client (bench/open-loop) on core 1:
#   - hyper + SQLite: bench/hyper-baseline --sqlite, one prepared primary-key
#     read per poll, no cache (the seeded SQLite file);
#   - the plain Rocket route: examples/rocket_baseline.rs, a fixed body;
#   - the service, on each backend asked for, started fresh on the seeded
#     database.
# Against each, two open-loop phases over 10,000 connections (opened before
# the schedule starts), latency measured from each request's scheduled time:
#   cold: 20,000 polls/s, every id once (the service's first read of each);
#   warm: 25,000 polls/s for 20 s, the ids again, in the same order.
# Reports p50/p99/p99.9/max, errors and the CPU used, and judges the floors:
# cold p99 < 50 ms with no errors; warm p99 at most twice the plain Rocket
# route's. Prints Markdown (and writes it to $BENCH_REPORT if set). See
# bench/README.md.
set -euo pipefail

OPS=${BENCH_OPS:-100000}
CONNS=${BENCH_CONNS:-10000}
COLD_RATE=${BENCH_COLD_RATE:-20000}
WARM_RATE=${BENCH_WARM_RATE:-25000}
WARM_SECS=${BENCH_WARM_SECS:-20}

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
select_backends "${1:-all}"

CLIENT_DIR="$BENCH/open-loop"
CLIENT_BIN="$CLIENT_DIR/target/release/open-loop"
ROCKET_BIN="$ROOT/target/release/examples/rocket_baseline"

require_tools
raise_open_files $((CONNS + 1000))
build_service
build_baseline
build_if_stale "$CLIENT_BIN" "--manifest-path $CLIENT_DIR/Cargo.toml" "$CLIENT_DIR/src" "$CLIENT_DIR/Cargo.toml"
build_if_stale "$ROCKET_BIN" "--example rocket_baseline" examples Cargo.toml Cargo.lock
start_work longrun-cold-polls
copy_server_build

# phase KEY RATE REQUESTS: the client at RATE for REQUESTS requests over
# CONNS connections against the server on PORT, audited for other load.
phase() {
  local key=$1 rate=$2 requests=$3
  log "$key: $requests requests at $rate/s over $CONNS connections"
  quiet "$key"
  run_child python3 "$BENCH/benchlib.py" audit --server-pid "$SERVER_PID" ${PG_DB:+--pg-db "$PG_DB"} \
    --out "$RESULTS/$key-audit.json" -- \
    timeout -k 10 $((requests / rate * 3 + 120)) taskset -c 1 "$CLIENT_BIN" --port "$PORT" \
      --ids "$IDS" --connections "$CONNS" --rate "$rate" --requests "$requests" --out "$RESULTS/$key.json" \
    || die "the client failed on $key"
}

# both_phases NAME: the cold phase, then the warm phase, against the server
# running on PORT.
both_phases() {
  phase "$1-cold" "$COLD_RATE" "$OPS"
  phase "$1-warm" "$WARM_RATE" $((WARM_RATE * WARM_SECS))
}

# seed BACKEND: a fresh database of OPS completed operations, made by SQL
# with the service's own schema. Sets DB_URL and IDS.
seed() {
  local b=$1
  prepare_database "$b" longrun_cold_polls
  log "$b: creating the schema, seeding $OPS operations by SQL"
  start_server "$DB_URL" 4 100 "$WORK/schema-$b.log" "$SERVER_BIN"
  stop_server
  IDS="$WORK/ids-$b.tsv"
  run_child timeout 600 python3 "$BENCH/poll_limits.py" seed "${DB_ARG[@]}" --start 0 --count "$OPS" \
    --out "$IDS" --json "$RESULTS/$b-seed.json"
}

# reference NAME STATUS COMMAND...: COMMAND (given the port) fresh on core
# 0, both phases once it answers STATUS, then stopped.
reference() {
  local name=$1 status=$2
  shift 2
  PORT=$PORT port_free
  taskset -c 0 "$@" >"$WORK/$name.log" 2>&1 &
  SERVER_PID=$!
  python3 "$BENCH/benchlib.py" ready --port "$PORT" --pid "$SERVER_PID" --timeout 10 --status "$status" \
    || die "$name did not answer"
  both_phases "$name"
  stop_server
}

# baselines: hyper reading the seeded SQLite file (an unknown path is its
# 404), then the plain Rocket route.
baselines() {
  log "hyper + SQLite: one primary-key read per poll"
  reference hyper_sqlite 404 "$BASE_BIN" "$PORT" --sqlite "$SQLITE_FILE"
  log "the plain Rocket route"
  reference rocket 200 "$ROCKET_BIN" "$PORT"
}

# service BACKEND: the service started fresh on the seeded database of
# BACKEND, both phases.
service() {
  local b=$1
  log "$b: the service, fresh"
  start_server "$DB_URL" 4 100 "$WORK/server-$b.log" "$SERVER_BIN"
  both_phases "$b"
  check_server "$WORK/server-$b.log"
  curl -s "http://127.0.0.1:$PORT/metrics" >"$RESULTS/$b-metrics.txt" 2>/dev/null || true
  stop_server
}

START=$(date +%s)
# The baselines read the SQLite seed, which is made even for a PostgreSQL-only run.
seed sqlite
SQLITE_URL=$DB_URL SQLITE_IDS=$IDS SQLITE_FILE="$WORK/sqlite/ops.db"
baselines
for backend in "${BACKENDS[@]}"; do
  if [[ $backend == sqlite ]]; then
    DB_URL=$SQLITE_URL IDS=$SQLITE_IDS
  else
    seed postgres
  fi
  service "$backend"
done
drop_pg_db
log "done in $(( $(date +%s) - START )) s"
echo
python3 "$BENCH/cold_polls.py" report --results "$RESULTS" --command "$COMMAND" --build "$BUILD_NOTE" \
  --ops "$OPS" --connections "$CONNS" --cold-rate "$COLD_RATE" --warm-rate "$WARM_RATE" \
  --warm-secs "$WARM_SECS" --backends "${BACKENDS[*]}" ${BENCH_REPORT:+--save "$BENCH_REPORT"}
