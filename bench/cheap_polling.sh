#!/usr/bin/env bash
# Cheap polling and push: what a poll costs the service, and what 10,000
# clients waiting for an operation cost it.
#
#   bench/cheap_polling.sh [sqlite|postgres|all]      (default: all)
#
# For each backend:
#   1. 304 vs 200: 1000 completed echo operations (200–500-byte results);
#      wrk GETs cycling over them, once plain (200) and once with
#      If-None-Match: <ETag> (304).
#   2. 10,000 long polls (?wait=60 with If-None-Match) on 100 echo
#      operations that complete 20 s after being claimed: server RSS and
#      database connections idle vs held, then completion -> response latency.
#   3. The same with 10,000 Server-Sent Events streams.
# Prints a Markdown table at the end (and writes it to $BENCH_REPORT if set).
#
# The server runs on core 0, the clients on core 1, all on 127.0.0.1.
# Needs: wrk, taskset, python3, and for postgres psql and a PostgreSQL
# server at 127.0.0.1:5432 (user postgres, trust auth). See bench/README.md.
set -euo pipefail

WAITERS=${BENCH_WAITERS:-10000}
WAIT_OPS=${BENCH_WAIT_OPS:-100}
DELAY_MS=${BENCH_DELAY_MS:-20000}
SEED_OPS=${BENCH_SEED_OPS:-1000}

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
select_backends "${1:-all}"

require_tools
# 10,000 sockets on each side, plus the database files.
raise_open_files $((WAITERS + 1000))
build_service
start_work longrun-bench

run_wrk() { # BACKEND MODE(200|304) IDS
  measure_wrk "$1-wrk$2" -s "$BENCH/poll.lua" "http://127.0.0.1:$PORT" -- "$3" "$2"
}

run_waiters() { # BACKEND MODE(longpoll|sse) URL DBARG...
  local backend=$1 mode=$2 url=$3 attempt
  shift 3
  local logfile="$WORK/server-$backend-$mode.log"
  for attempt in $(seq 1 $((RETRIES + 1))); do
    log "$backend: $WAITERS $mode waiters on $WAIT_OPS operations (delay ${DELAY_MS} ms, attempt $attempt)"
    # Enough workers to run every operation at once (each sleeps in its
    # handler); idle workers look for work once a second.
    start_server "$url" "$WAIT_OPS" 1000 "$logfile"
    quiet "$backend-$mode"
    run_child python3 "$BENCH/benchlib.py" audit --server-pid "$SERVER_PID" ${PG_DB:+--pg-db "$PG_DB"} \
      --out "$RESULTS/$backend-$mode-audit.json" -- \
      timeout $((DELAY_MS / 1000 + 180)) taskset -c 1 python3 "$BENCH/cheap_polling.py" waiters \
      --port "$PORT" --pid "$SERVER_PID" --mode "$mode" --ops "$WAIT_OPS" --waiters "$WAITERS" \
      --delay-ms "$DELAY_MS" --wait 60 "$@" --out "$RESULTS/$backend-$mode.json" \
      || echo "warning: the $mode phase reported problems or failed (exit $?)" >&2
    check_server "$logfile"
    stop_server
    echo "$attempt" >"$RESULTS/$backend-$mode-attempts"
    [[ -s "$RESULTS/$backend-$mode-audit.json" ]] || break
    disturbed "$RESULTS/$backend-$mode-audit.json" || break
    echo "other processes were busy during this run: $(cat "$RESULTS/$backend-$mode-audit.json")" >&2
  done
}

bench_backend() {
  local backend=$1
  prepare_database "$backend" longrun_bench
  local url=$DB_URL dbarg=("${DB_ARG[@]}")

  # 1. 304 vs 200: 4 workers looking for work every 100 ms.
  local logfile="$WORK/server-$backend-wrk.log"
  log "$backend: seeding $SEED_OPS completed echo operations"
  start_server "$url" 4 100 "$logfile"
  run_child python3 "$BENCH/cheap_polling.py" seed --port "$PORT" --count "$SEED_OPS" \
    --out "$WORK/ids-$backend.tsv" --json "$RESULTS/$backend-seed.json"
  run_wrk "$backend" 200 "$WORK/ids-$backend.tsv"
  run_wrk "$backend" 304 "$WORK/ids-$backend.tsv"
  check_server "$logfile"
  stop_server

  # 2 and 3: each on a freshly started server, so "idle" is not inflated by
  # what an earlier phase left in the allocator.
  run_waiters "$backend" longpoll "$url" "${dbarg[@]}"
  run_waiters "$backend" sse "$url" "${dbarg[@]}"

  touch "$RESULTS/$backend-done"
  drop_pg_db
}

START=$(date +%s)
for backend in "${BACKENDS[@]}"; do
  bench_backend "$backend"
done
log "done in $(( $(date +%s) - START )) s"
echo
python3 "$BENCH/cheap_polling.py" report --results "$RESULTS" --command "$COMMAND" \
  ${BENCH_REPORT:+--save "$BENCH_REPORT"}
