#!/usr/bin/env bash
# The poll against the machine's limit: what GET /api/v1/operations/{id}
# achieves next to a minimal hyper server on the same core, in the same run,
# so that later changes can be judged by ratios.
#
#   bench/poll_limits.sh [sqlite|postgres|all]      (default: all)
#
#   0. baseline: bench/hyper-baseline (hyper 1.x, one thread, a fixed
#      ~350-byte JSON answer): first with one static request (no Lua per
#      request; the reference of every ratio), then through poll.lua (the
#      Lua client's own limit), and once more at the end of the run;
#      0d: a plain Rocket route answering the same body
#      (examples/rocket_baseline.rs), what the framework alone costs
#   Every scenario below (and 0d) is bracketed by the same hyper baseline,
#   kept running on core 0 on the next port but one and measured for
#   $REF_SECS s just before and just after it (one reading serves both
#   neighbours when nothing ran in between): its ratio is to the mean of
#   the two, so the machine's drift over the run does not enter it.
# For each backend, on a database seeded by SQL:
#   1f. first poll: a fresh server, wrk cycling over all 100,000 ids once
#      they are in no memory yet (the run ends before the cycle does)
#   1. poll, found: 100,000 completed operations, each polled once before
#      (so held in memory), wrk cycling over all ids
#   2. the same on 1,000,000 rows (900,000 more inserted, fresh server,
#      the same 100,000 polled: the table grows, not what is polled)
#   3. random UUIDs (404) and malformed ids `not-a-uuid-<n>` (422)
#   4. If-None-Match: <ETag> on the 100,000 (304)
#   5. server VmRSS/VmHWM idle, after 1., and holding 10,000 idle keep-alive
#      connections
# Every wrk run: -t1 -c32 -d10s --latency, keep-alive. Prints Markdown tables
# at the end (and writes them to $BENCH_REPORT if set). See bench/README.md.
set -euo pipefail

OPS=${BENCH_OPS:-100000}
BIG_OPS=${BENCH_BIG_OPS:-1000000}
CONNS=${BENCH_CONNS:-10000}
REF_SECS=${BENCH_REF_SECS:-5}

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
select_backends "${1:-all}"

require_tools
# 10,000 sockets on each side (as bench/cheap_polling.sh does it).
raise_open_files $((CONNS + 1000))
build_service
build_baseline
ROCKET_BIN="$ROOT/target/release/examples/rocket_baseline"
build_if_stale "$ROCKET_BIN" "--example rocket_baseline" examples Cargo.toml Cargo.lock
start_work longrun-limits

# run_wrk KEY IDS EXPECTED: wrk cycling over IDS (bench/poll.lua), expecting
# the status EXPECTED (304: with If-None-Match); results in $RESULTS/KEY.json.
# IDS "static": one fixed request, no Lua per request (poll_limits_static.lua).
run_wrk() {
  local key=$1 ids=$2 expected=$3
  if [[ $ids == static ]]; then
    measure_wrk "$key" -s "$BENCH/poll_limits_static.lua" \
      "http://127.0.0.1:$PORT/api/v1/operations/6f1c9a52-3d0e-4b8a-9f47-2c5e8d7b1a30"
  else
    measure_wrk "$key" -s "$BENCH/poll.lua" "http://127.0.0.1:$PORT" -- "$ids" "$expected"
  fi
}

# The hyper baseline that brackets every scenario: started once, on core 0
# beside the service (idle while the service is measured), on REF_PORT.
REF_PORT=$((PORT + 2))
LAST_REF=""
LAST_REF_AT=0

start_reference() {
  log "the bracketing reference: hyper on core 0, port $REF_PORT"
  start_baseline "$REF_PORT" "$WORK/reference.log" REFERENCE_PID
}

# measure_reference KEY: the reference for REF_SECS s, results in KEY.json.
measure_reference() {
  # Audited as the server of its run: the service beside it should be idle.
  WRK_SECS=$REF_SECS SERVER_PID=$REFERENCE_PID measure_wrk "$1" -s "$BENCH/poll_limits_static.lua" \
    "http://127.0.0.1:$REF_PORT/api/v1/operations/6f1c9a52-3d0e-4b8a-9f47-2c5e8d7b1a30"
  LAST_REF=$1
  LAST_REF_AT=$(date +%s)
}

# bracketed KEY IDS EXPECTED: run_wrk between two readings of the reference,
# their keys written to $RESULTS/KEY-refs. The reading before is the last
# one when it was taken just before this (nothing ran in between).
bracketed() {
  local key=$1
  if [[ -z $LAST_REF ]] || (( $(date +%s) - LAST_REF_AT > 15 )); then
    measure_reference "$key-ref-before"
  fi
  local before=$LAST_REF
  run_wrk "$@"
  measure_reference "$key-ref-after"
  echo "$before $key-ref-after" >"$RESULTS/$key-refs"
}

# 0. The baseline, on the same core as the service: BASELINE KEY [IDS]
# (default: the static request; with IDS, through poll.lua like the polls).
baseline() {
  local key=$1 ids=${2:-static}
  log "baseline: hyper on core 0"
  start_baseline "$PORT" "$WORK/baseline.log" SERVER_PID
  run_wrk "$key" "$ids" 200
  stop_server
}

# 0d. A plain Rocket route on core 0: what the framework alone costs.
rocket_baseline() {
  log "baseline: a plain Rocket route on core 0"
  port_free
  taskset -c 0 "$ROCKET_BIN" "$PORT" >"$WORK/rocket-baseline.log" 2>&1 &
  SERVER_PID=$!
  python3 "$BENCH/benchlib.py" ready --port "$PORT" --pid "$SERVER_PID" --timeout 30 --status 200 \
    || die "the Rocket baseline did not answer"
  bracketed baseline-rocket static 200
  stop_server
}

# fetch_etags IDS OUT KEY: GET every id once (so that the server holds them
# in memory), writing "<id>\t<etag>" lines to OUT for the 304 run.
fetch_etags() {
  run_child timeout 600 taskset -c 1 python3 "$BENCH/poll_limits.py" etags --port "$PORT" \
    --ids "$1" --out "$2" --json "$RESULTS/$3.json"
}

bench_backend() {
  local b=$1
  touch "$RESULTS/$b-started"
  prepare_database "$b" longrun_limits
  local url=$DB_URL seedarg=("${DB_ARG[@]}")
  local logfile="$WORK/server-$b.log"

  # The schema comes from the service's migrations: start it once, stop it.
  log "$b: creating the schema, seeding $OPS operations by SQL"
  start_server "$url" 4 100 "$logfile"
  stop_server
  run_child timeout 600 python3 "$BENCH/poll_limits.py" seed "${seedarg[@]}" --start 0 --count "$OPS" \
    --out "$WORK/ids-$b.tsv" --json "$RESULTS/$b-seed.json"

  start_server "$url" 4 100 "$logfile"
  python3 "$BENCH/poll_limits.py" mem --pid "$SERVER_PID" --settle 2 --out "$RESULTS/$b-mem-idle.json"
  bracketed "$b-first" "$WORK/ids-$b.tsv" 200
  log "$b: polling each of the $OPS operations once, keeping its ETag"
  fetch_etags "$WORK/ids-$b.tsv" "$WORK/etags-$b.tsv" "$b-etags"
  bracketed "$b-found" "$WORK/ids-$b.tsv" 200
  python3 "$BENCH/poll_limits.py" mem --pid "$SERVER_PID" --out "$RESULTS/$b-mem-after-found.json"
  bracketed "$b-404" "$WORK/ids-random.tsv" 404
  bracketed "$b-422" "$WORK/ids-malformed.tsv" 422
  bracketed "$b-304" "$WORK/etags-$b.tsv" 304
  log "$b: holding $CONNS idle keep-alive connections"
  quiet "$b-hold"
  run_child timeout 120 taskset -c 1 python3 "$BENCH/poll_limits.py" hold --port "$PORT" --pid "$SERVER_PID" \
    --ids "$WORK/ids-$b.tsv" --conns "$CONNS" --out "$RESULTS/$b-hold.json" \
    || echo "warning: the hold phase failed (exit $?)" >&2
  check_server "$logfile"
  stop_server

  # 2. 1,000,000 rows: the rest inserted, a fresh server, the same ids.
  log "$b: seeding $((BIG_OPS - OPS)) more operations by SQL"
  run_child timeout 600 python3 "$BENCH/poll_limits.py" seed "${seedarg[@]}" --start "$OPS" \
    --count "$((BIG_OPS - OPS))" --out "$WORK/ids-$b-big.tsv" --json "$RESULTS/$b-seed1m.json"
  start_server "$url" 4 100 "$logfile"
  fetch_etags "$WORK/ids-$b.tsv" "$WORK/etags-$b-again.tsv" "$b-etags1m"
  bracketed "$b-found1m" "$WORK/ids-$b.tsv" 200
  python3 "$BENCH/poll_limits.py" mem --pid "$SERVER_PID" --out "$RESULTS/$b-mem-after-found1m.json"
  check_server "$logfile"
  stop_server
  rm -f "$WORK/ids-$b-big.tsv" "$WORK/ids-$b.tsv" "$WORK/etags-$b.tsv" "$WORK/etags-$b-again.tsv"
  rm -rf "$WORK/sqlite"
  drop_pg_db
}

START=$(date +%s)
python3 "$BENCH/poll_limits.py" ids --kind random --count "$OPS" --out "$WORK/ids-random.tsv"
python3 "$BENCH/poll_limits.py" ids --kind malformed --count "$OPS" --out "$WORK/ids-malformed.tsv"
baseline baseline-wrk
baseline baseline-lua "$WORK/ids-malformed.tsv"
start_reference
rocket_baseline
for backend in "${BACKENDS[@]}"; do
  bench_backend "$backend"
done
baseline baseline-end
log "done in $(( $(date +%s) - START )) s"
echo
python3 "$BENCH/poll_limits.py" report --results "$RESULTS" --command "$COMMAND" \
  ${BENCH_REPORT:+--save "$BENCH_REPORT"}
