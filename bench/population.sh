#!/usr/bin/env bash
# A polling population: open-loop, fixed-rate polling of
# GET /api/v1/operations/{id} over 100,000 seeded completed operations, at
# the rates of 5,000, 25,000 and 62,500 users each polling every 2.5 s.
#
#   bench/population.sh [sqlite|postgres|all]      (default: all)
#
# 0. the client check: the same oha runs against bench/hyper-baseline (no
#    database), to show what oha and the loopback add on their own
# For each backend, on a fresh database seeded by SQL (poll_limits.py seed)
# and a fresh server:
#   1. warm-up: one closed-loop wrk pass over every id (poll.lua with a DONE_FILE)
#   2. for each rate (2,000, 10,000, 25,000 requests/s):
#        oha -n RATE*SECS -q RATE --latency-correction -c 64 --urls-from-file
#      i.e. requests sent on a fixed schedule whatever the server does,
#      latency measured from each request's scheduled time (no coordinated
#      omission), each request a URL picked at random from the 100,000
# Reports per rate: rate asked and achieved, p50/p99/p99.9/max, errors (any
# non-200, socket error or request never answered), status counts, the CPU
# of server, oha and PostgreSQL, and whether 25,000/s was served
# with p99 < 10 ms and no errors. Prints Markdown at the end (and writes it
# to $BENCH_REPORT if set). See bench/README.md.
set -euo pipefail

OPS=${BENCH_OPS:-100000}
RATES=${BENCH_RATES:-"2000 10000 25000"}
SECS=${BENCH_POP_SECS:-20}
CONNS=${BENCH_POP_CONNS:-64}
BASELINE=${BENCH_BASELINE:-1}
# Other load that makes a run "disturbed" (repeated, then reported), in
# cores on average over the run: stricter than the other drivers' 0.1,
# because a p99 over 20 s at 25,000/s moves with 200 ms of stalls in all.
MAX_OTHER=${BENCH_POP_MAX_OTHER:-0.02}

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
select_backends "${1:-all}"
OHA_FLAGS="--no-tui --output-format json --latency-correction --worker-threads 1 -c $CONNS"
OHA_COMMAND="taskset -c 1 oha -n RATE*$SECS -q RATE $OHA_FLAGS --urls-from-file URLS"

require_tools
command -v oha >/dev/null || die "oha not found (cargo install oha --locked; it goes to ~/.cargo/bin, which must be on PATH)"
[[ $SECS -ge 1 ]] || die "BENCH_POP_SECS must be at least 1"
raise_open_files $((CONNS + 1000))
build_service
if [[ $BASELINE != 0 ]]; then
  build_baseline
fi
start_work longrun-population

# run_rate KEY RATE URLS: oha at RATE requests/s for SECS seconds on core 1,
# audited for other load and repeated (BENCH_RETRIES) if disturbed. The run
# is a fixed number of requests (-n RATE*SECS), not a duration (-z): with -z
# oha drops the requests still queued at the deadline, which would hide a
# server that fell behind; with -n every scheduled request is sent and timed,
# and a server that falls behind shows as a longer run (rate achieved <
# asked) and as latency. No per-request timeout (-t costs oha a timer per
# request, which shows in its own latency at 25,000/s); instead the whole run
# gets SIGINT after 3 x SECS + 30 s, on which oha prints what it has: the
# requests it never finished are then counted as missing.
run_rate() {
  local key=$1 rate=$2 urls=$3 attempt rc n=$(($2 * SECS))
  for attempt in $(seq 1 $((RETRIES + 1))); do
    log "$key: oha at $rate requests/s for ${SECS}s ($n requests, attempt $attempt)"
    quiet "$key"
    rc=0
    # shellcheck disable=SC2086
    run_child python3 "$BENCH/benchlib.py" audit --server-pid "$SERVER_PID" ${PG_DB:+--pg-db "$PG_DB"} \
      --out "$RESULTS/$key-audit.json" -- \
      timeout -s INT -k 10 $((SECS * 3 + 30)) taskset -c 1 oha -n "$n" -q "$rate" $OHA_FLAGS \
        -o "$RESULTS/$key-oha.json" --urls-from-file "$urls" || rc=$?
    if [[ $rc == 124 ]]; then
      echo "warning: oha did not finish within $((SECS * 3 + 30)) s (the server stopped answering?);" \
        "stopped with SIGINT, its partial results are used" >&2
    elif [[ $rc != 0 ]]; then
      die "oha failed (exit $rc)"
    fi
    python3 "$BENCH/population.py" summarize --oha "$RESULTS/$key-oha.json" --rate "$rate" --requests "$n" \
      --out "$RESULTS/$key.json"
    echo "$attempt" >"$RESULTS/$key-attempts"
    pop_disturbed "$RESULTS/$key-audit.json" || break
    echo "other processes were busy during this run: $(cat "$RESULTS/$key-audit.json")" >&2
  done
}

# pop_disturbed AUDIT_JSON: true when other processes used more than
# MAX_OTHER of a core on average during the run.
pop_disturbed() {
  python3 -c 'import json, sys; a = json.load(open(sys.argv[1])); sys.exit(0 if a["other_cpu_s"] > float(sys.argv[2]) * a["window_s"] else 1)' \
    "$1" "$MAX_OTHER"
}

run_rates() {
  local b=$1 urls=$2 rate
  for rate in $RATES; do
    run_rate "$b-r$rate" "$rate" "$urls"
    check_server "$WORK/server-$b.log"
  done
}

# 0. The client check: the same runs against the hyper baseline on core 0.
baseline() {
  touch "$RESULTS/baseline-started"
  log "baseline: hyper on core 0 (the client check)"
  start_baseline "$PORT" "$WORK/server-baseline.log" SERVER_PID
  python3 "$BENCH/poll_limits.py" ids --kind random --count "$OPS" --out "$WORK/ids-baseline.tsv"
  python3 "$BENCH/population.py" urls --ids "$WORK/ids-baseline.tsv" --port "$PORT" --out "$WORK/urls-baseline.txt"
  run_rates baseline "$WORK/urls-baseline.txt"
  stop_server
  rm -f "$WORK/ids-baseline.tsv" "$WORK/urls-baseline.txt"
}

bench_backend() {
  local b=$1
  touch "$RESULTS/$b-started"
  prepare_database "$b" longrun_population
  local url=$DB_URL seedarg=("${DB_ARG[@]}")
  local logfile="$WORK/server-$b.log"

  # The schema comes from the service's migrations: start it once, stop it.
  log "$b: creating the schema, seeding $OPS operations by SQL"
  start_server "$url" 4 100 "$logfile"
  stop_server
  run_child timeout 600 python3 "$BENCH/poll_limits.py" seed "${seedarg[@]}" --start 0 --count "$OPS" \
    --out "$WORK/ids-$b.tsv" --json "$RESULTS/$b-seed.json"
  python3 "$BENCH/population.py" urls --ids "$WORK/ids-$b.tsv" --port "$PORT" --out "$WORK/urls-$b.txt"

  start_server "$url" 4 100 "$logfile"
  # 1. Warm-up: every id once, in order, closed loop (not measured).
  log "$b: warm-up, one pass over the $OPS ids"
  # wrk's main thread sleeps for all of -d even once the script has stopped
  # the (only) thread: the script creates warm-done-$b when its pass is
  # complete, and wrk gets SIGINT then, on which it prints its summary.
  local rc=0 done_file="$WORK/warm-done-$b"
  timeout 300 taskset -c 1 wrk -t1 -c32 -d240s -s "$BENCH/poll.lua" \
    "http://127.0.0.1:$PORT" -- "$WORK/ids-$b.tsv" 200 "$done_file" >"$WORK/warm-$b.txt" 2>&1 &
  CHILD=$!
  while kill -0 "$CHILD" 2>/dev/null && [[ ! -e $done_file ]]; do
    sleep 0.2
  done
  if [[ -e $done_file ]]; then
    kill -INT "$CHILD" 2>/dev/null || true
  fi
  wait "$CHILD" || rc=$?
  CHILD=""
  if [[ $rc != 0 || ! -e $done_file ]]; then
    cat "$WORK/warm-$b.txt" >&2
    die "the warm-up wrk failed (exit $rc) or did not finish its pass"
  fi
  grep '^WRK_RESULT ' "$WORK/warm-$b.txt" | sed 's/^WRK_RESULT //' >"$RESULTS/$b-warm.json"
  [[ -s "$RESULTS/$b-warm.json" ]] || { cat "$WORK/warm-$b.txt" >&2; die "wrk printed no WRK_RESULT line"; }
  echo "warm-up: $(cat "$RESULTS/$b-warm.json")" >&2
  check_server "$logfile"

  # 2. The rates.
  run_rates "$b" "$WORK/urls-$b.txt"
  stop_server
  rm -f "$WORK/ids-$b.tsv" "$WORK/urls-$b.txt"
  rm -rf "$WORK/sqlite"
  drop_pg_db
}

START=$(date +%s)
if [[ $BASELINE != 0 ]]; then
  baseline
fi
for backend in "${BACKENDS[@]}"; do
  bench_backend "$backend"
done
log "done in $(( $(date +%s) - START )) s"
echo
python3 "$BENCH/population.py" report --results "$RESULTS" --command "$COMMAND" \
  --oha-command "$OHA_COMMAND" --rates "$RATES" --secs "$SECS" --ops "$OPS" --max-other "$MAX_OTHER" \
  ${BENCH_REPORT:+--save "$BENCH_REPORT"}
