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
#      Lua client's own limit), and once more at the end of the run
# For each backend, on a database seeded by SQL:
#   1. poll, found: 100,000 completed operations, wrk cycling over all ids
#   2. the same on 1,000,000 rows (900,000 more inserted, fresh server)
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

MODE=${1:-all}
case "$MODE" in
  sqlite) BACKENDS=(sqlite) ;;
  postgres) BACKENDS=(postgres) ;;
  all) BACKENDS=(sqlite postgres) ;;
  *) echo "usage: $0 [sqlite|postgres|all]" >&2; exit 2 ;;
esac
COMMAND="bench/poll_limits.sh $MODE"
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BASE_DIR="$BENCH/hyper-baseline"
BASE_BIN="$BASE_DIR/target/release/hyper-baseline"

require_tools
# 10,000 sockets on each side (as bench/cheap_polling.sh does it).
raise_open_files $((CONNS + 1000))
build_if_stale "$BIN" "" src migrations resources Cargo.toml Cargo.lock
build_if_stale "$BASE_BIN" "--manifest-path $BASE_DIR/Cargo.toml" "$BASE_DIR/src" "$BASE_DIR/Cargo.toml"
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

# 0. The baseline, on the same core as the service: BASELINE KEY [IDS]
# (default: the static request; with IDS, through poll.lua like the polls).
baseline() {
  local key=$1 ids=${2:-static}
  log "baseline: hyper on core 0"
  port_free
  taskset -c 0 "$BASE_BIN" "$PORT" >"$WORK/baseline.log" 2>&1 &
  SERVER_PID=$!
  # It answers 200 to everything (cheap_polling.py ready wants a 404).
  python3 - "$PORT" <<'PY' || die "the hyper baseline did not answer"
import http.client, sys, time
for _ in range(100):
    try:
        c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=2)
        c.request("GET", "/")
        r = c.getresponse()
        if r.status == 200 and len(r.read()) > 300:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
PY
  run_wrk "$key" "$ids" 200
  stop_server
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
  run_wrk "$b-found" "$WORK/ids-$b.tsv" 200
  python3 "$BENCH/poll_limits.py" mem --pid "$SERVER_PID" --out "$RESULTS/$b-mem-after-found.json"
  run_wrk "$b-404" "$WORK/ids-random.tsv" 404
  run_wrk "$b-422" "$WORK/ids-malformed.tsv" 422
  log "$b: fetching the ETag of each of the $OPS operations"
  run_child timeout 300 taskset -c 1 python3 "$BENCH/poll_limits.py" etags --port "$PORT" \
    --ids "$WORK/ids-$b.tsv" --out "$WORK/etags-$b.tsv" --json "$RESULTS/$b-etags.json"
  run_wrk "$b-304" "$WORK/etags-$b.tsv" 304
  log "$b: holding $CONNS idle keep-alive connections"
  quiet "$b-hold"
  run_child timeout 120 taskset -c 1 python3 "$BENCH/poll_limits.py" hold --port "$PORT" --pid "$SERVER_PID" \
    --ids "$WORK/ids-$b.tsv" --conns "$CONNS" --out "$RESULTS/$b-hold.json" \
    || echo "warning: the hold phase failed (exit $?)" >&2
  check_server "$logfile"
  stop_server

  # 2. 1,000,000 rows: the rest inserted, a fresh server, wrk over every id.
  log "$b: seeding $((BIG_OPS - OPS)) more operations by SQL"
  run_child timeout 600 python3 "$BENCH/poll_limits.py" seed "${seedarg[@]}" --start "$OPS" \
    --count "$((BIG_OPS - OPS))" --out "$WORK/ids-$b-big.tsv" --json "$RESULTS/$b-seed1m.json"
  start_server "$url" 4 100 "$logfile"
  run_wrk "$b-found1m" "$WORK/ids-$b-big.tsv" 200
  python3 "$BENCH/poll_limits.py" mem --pid "$SERVER_PID" --out "$RESULTS/$b-mem-after-found1m.json"
  check_server "$logfile"
  stop_server
  rm -f "$WORK/ids-$b-big.tsv" "$WORK/ids-$b.tsv" "$WORK/etags-$b.tsv"
  rm -rf "$WORK/sqlite"
  drop_pg_db
}

START=$(date +%s)
python3 "$BENCH/poll_limits.py" ids --kind random --count "$OPS" --out "$WORK/ids-random.tsv"
python3 "$BENCH/poll_limits.py" ids --kind malformed --count "$OPS" --out "$WORK/ids-malformed.tsv"
baseline baseline-wrk
baseline baseline-lua "$WORK/ids-malformed.tsv"
for backend in "${BACKENDS[@]}"; do
  bench_backend "$backend"
done
baseline baseline-end
log "done in $(( $(date +%s) - START )) s"
echo
python3 "$BENCH/poll_limits.py" report --results "$RESULTS" --command "$COMMAND" \
  ${BENCH_REPORT:+--save "$BENCH_REPORT"}
