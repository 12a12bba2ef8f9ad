#!/usr/bin/env bash
# Throughput of work: how many operations per second go from
# POST /api/v1/operations to `completed`, run by the service's own
# background workers, as a polling client sees them.
#
#   bench/work_throughput.sh [sqlite|postgres|all]      (default: all)
#
# For each backend, on a fresh database, a fresh server (BENCH_WORKERS
# workers, idle_poll_ms=100) on core 0 and the load client
# bench/work-throughput (its own crate) on core 1: 32 users, each with its
# own keep-alive connection, each creating an `echo` operation with no delay
# ({"operation_type":"echo","input":{}}) and polling it every 5 ms until it
# has finished, 30,000 operations in all; the first 1000 to finish are a
# warm-up. Reports operations/s over the measured window, end-to-end latency
# (create sent -> finished seen) p50/p99, polls per operation, every
# failure, error and status, the CPU used by the server (and PostgreSQL),
# and checks the database's own count of completed operations afterwards.
# A same-run reference: the same client against bench/hyper-baseline, which
# answers every request at once with a completed operation (the ceiling
# the client's users and poll interval allow).
# Prints Markdown tables at the end (and writes them to $BENCH_REPORT if
# set). See bench/README.md.
set -euo pipefail

OPS=${BENCH_OPS:-30000}
WARMUP=${BENCH_WARMUP:-1000}
CONCURRENCY=${BENCH_CONCURRENCY:-32}
POLL_MS=${BENCH_POLL_MS:-5}
WORKERS=${BENCH_WORKERS:-16}
IDLE_POLL_MS=100
DURATION_S=${BENCH_DURATION_S:-}   # when set: measure this many seconds past the warm-up instead of BENCH_OPS
MAX_RUN_S=${BENCH_MAX_RUN_S:-300}  # the client stops starting operations after this and fails
REFERENCE=${BENCH_REFERENCE:-1}    # 0: no hyper-baseline reference run
NO_BUILD=${BENCH_NO_BUILD:-0}      # 1: use target/release/longrun as it is, even when older than src/

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
select_backends "${1:-all}"
CLIENT_DIR="$BENCH/work-throughput"
CLIENT_BIN="$CLIENT_DIR/target/release/work-throughput"

# The knobs that differ from their defaults go into the reported command.
for knob in BENCH_OPS BENCH_WARMUP BENCH_CONCURRENCY BENCH_POLL_MS BENCH_WORKERS BENCH_DURATION_S BENCH_REFERENCE BENCH_NO_BUILD; do
  if [[ -n ${!knob:-} ]]; then COMMAND="$knob=${!knob} $COMMAND"; fi
done

require_tools
raise_open_files $((CONCURRENCY + 1000))
if [[ $NO_BUILD == 1 ]]; then
  [[ -x "$BIN" ]] || die "$BIN is missing (BENCH_NO_BUILD=1 does not build it)"
else
  build_service
fi
build_if_stale "$CLIENT_BIN" "--manifest-path $CLIENT_DIR/Cargo.toml" "$CLIENT_DIR/src" "$CLIENT_DIR/Cargo.toml"
if [[ $REFERENCE == 1 ]]; then
  build_baseline
fi
start_work longrun-work
# Which server build is measured (the sources may move on during the run).
python3 "$BENCH/work_throughput.py" build-info --root "$ROOT" --bin "$BIN" --out "$RESULTS/build.json"

CLIENT_ARGS=(--port "$PORT" --concurrency "$CONCURRENCY" --poll-ms "$POLL_MS" --warmup "$WARMUP"
  --max-run-s "$MAX_RUN_S" --op-timeout-s 30 --request-timeout-s 10)
if [[ -n $DURATION_S ]]; then
  CLIENT_ARGS+=(--duration-s "$DURATION_S")
else
  CLIENT_ARGS+=(--ops "$OPS")
fi

# run_client KEY CLIENT_ARGS...: the client on core 1 against $PORT, audited
# for other load. Its JSON result goes to $RESULTS/KEY.json, its exit status
# to KEY-exit, the audit to KEY-audit.json.
run_client() {
  local key=$1 rc=0
  shift
  quiet "$key"
  run_child python3 "$BENCH/benchlib.py" audit --server-pid "$SERVER_PID" ${PG_DB:+--pg-db "$PG_DB"} \
    --out "$RESULTS/$key-audit.json" -- \
    timeout $((MAX_RUN_S + 120)) taskset -c 1 "$CLIENT_BIN" "${CLIENT_ARGS[@]}" "$@" \
    --out "$RESULTS/$key.json" >"$WORK/client-$key.txt" || rc=$?
  echo "$rc" >"$RESULTS/$key-exit"
  [[ -s "$RESULTS/$key.json" ]] || die "the client printed no result (exit $rc; see above)"
  [[ $rc == 0 ]] || echo "warning: the client reported problems (exit $rc)" >&2
}

# The reference: the same client against a server that answers at once
# with a completed operation (the hyper baseline, core 0).
reference() {
  log "reference: the client against the hyper baseline on core 0"
  start_baseline "$PORT" "$WORK/baseline.log" SERVER_PID
  # Its create answer is a 200 (not a 202) with an operation already completed.
  run_client reference --create-status 200
  stop_server
}

bench_backend() {
  local b=$1 attempt
  touch "$RESULTS/$b-started"
  local logfile="$WORK/server-$b.log"
  for attempt in $(seq 1 $((RETRIES + 1))); do
    log "$b: $([[ -n $DURATION_S ]] && echo "${DURATION_S} s" || echo "$OPS operations"), $CONCURRENCY users polling every $POLL_MS ms, $WORKERS workers (attempt $attempt)"
    prepare_database "$b" longrun_work
    start_server "$DB_URL" "$WORKERS" "$IDLE_POLL_MS" "$logfile"
    # The pool the server runs with, as it reports it.
    curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^longrun_db_connections\{state="max"\}/ { print $2 }' \
      >"$RESULTS/$b-pool"
    run_client "$b"
    check_server "$logfile"
    stop_server
    # The database's own account: every operation the client created, by status.
    python3 "$BENCH/work_throughput.py" counts "${DB_ARG[@]}" --out "$RESULTS/$b-db.json"
    rm -rf "$WORK/sqlite"
    drop_pg_db
    echo "$attempt" >"$RESULTS/$b-attempts"
    disturbed "$RESULTS/$b-audit.json" || break
    echo "other processes were busy during this run: $(cat "$RESULTS/$b-audit.json")" >&2
  done
}

START=$(date +%s)
if [[ $REFERENCE == 1 ]]; then
  reference
fi
for backend in "${BACKENDS[@]}"; do
  bench_backend "$backend"
done
log "done in $(( $(date +%s) - START )) s"
echo
python3 "$BENCH/work_throughput.py" report --results "$RESULTS" --command "$COMMAND" \
  --workers "$WORKERS" --idle-poll-ms "$IDLE_POLL_MS" ${BENCH_REPORT:+--save "$BENCH_REPORT"}
