#!/usr/bin/env bash
# Instructions per request, counted by callgrind: what the server's own code
# spends on a request, free of the noise that moves requests/s by up to 10 %
# between runs on a shared machine. A change of a few per cent shows here
# at once, where bench/poll_limits.sh would need many alternating runs.
# User space only: the kernel's TCP work and the cost of cache misses are
# not in it, so bench/poll_limits.sh remains the measure of the floors.
#
#   bench/instructions.sh [OTHER_BINARY]
#
# Each server runs alone under `valgrind --tool=callgrind` (every thread
# counted). After a warm-up, the counters are zeroed, oha sends
# $BENCH_IR_REQUESTS requests (default 20,000; 8 connections, keep-alive),
# and the total is divided by their number:
#   - the hyper baseline and the plain Rocket route (examples/rocket_baseline.rs)
#   - the service on SQLite, 2,000 seeded operations each polled once
#     before (so held in memory): found polls, random UUIDs (404) and
#     malformed ids (422)
#   - with OTHER_BINARY (an older build of the service, say), the same three
#     for it, on the same database.
# Prints a Markdown table (also to $BENCH_REPORT if set).
set -euo pipefail

REQUESTS=${BENCH_IR_REQUESTS:-20000}
OPS=2000
OTHER_BIN=${1:-}

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
select_backends sqlite
COMMAND="bench/$(basename "$0")${OTHER_BIN:+ $OTHER_BIN}"

require_tools
for tool in valgrind callgrind_control callgrind_annotate oha; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y valgrind; cargo install oha --locked)"
done
[[ -z $OTHER_BIN || -x $OTHER_BIN ]] || die "$OTHER_BIN is not an executable"
build_service
build_baseline
ROCKET_BIN="$ROOT/target/release/examples/rocket_baseline"
build_if_stale "$ROCKET_BIN" "--example rocket_baseline" examples Cargo.toml Cargo.lock
start_work longrun-instructions

# Under callgrind the service takes seconds, not milliseconds, to start.
READY_TIMEOUT=120

# callgrind NAME: what start_server and baseline run under, writing to
# $WORK/NAME.callgrind.
callgrind() {
  SERVER_WRAPPER=(valgrind --tool=callgrind --callgrind-out-file="$WORK/$1.callgrind")
}

# baseline NAME BINARY: a baseline server (it takes its port as argument and
# answers 200 to any path) on core 0 under callgrind, its pid in SERVER_PID.
baseline() {
  callgrind "$1"
  port_free
  taskset -c 0 "${SERVER_WRAPPER[@]}" "$2" "$PORT" >"$WORK/$1.log" 2>&1 &
  SERVER_PID=$!
  python3 "$BENCH/benchlib.py" ready --port "$PORT" --pid "$SERVER_PID" --timeout "$READY_TIMEOUT" \
    --status 200 || die "$1 did not start under callgrind (see $WORK/$1.log)"
}

# count KEY URLS EXPECTED: zeroes the counters, sends $REQUESTS requests
# (URLs drawn from the file URLS), dumps the counters and records the
# instructions per request in $RESULTS/KEY; every answer must be EXPECTED.
count() {
  local key=$1 urls=$2 expected=$3
  log "$key: $REQUESTS requests under callgrind"
  callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
  taskset -c 1 oha --no-tui -n "$REQUESTS" -c 8 --urls-from-file "$urls" >"$WORK/$key.oha" 2>&1
  callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
  local answered dump total
  answered=$(awk -v s="[$expected]" '$1 == s { print $2 }' "$WORK/$key.oha")
  [[ ${answered:-0} == "$REQUESTS" ]] || die "$key: $answered of $REQUESTS answers were $expected (see $WORK/$key.oha)"
  dump=$(ls -t "$WORK"/*.callgrind.* | head -n 1)
  total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
  [[ -n $total ]] || die "$key: no totals in $dump"
  echo $((total / REQUESTS)) >"$RESULTS/$key"
  rm -f "$dump"
}

# warm_up URLS: what the first requests cost (lazy statics, the allocator's
# first pages) stays out of the count.
warm_up() {
  taskset -c 1 oha --no-tui -n 2000 -c 8 --urls-from-file "$1" >/dev/null 2>&1
}

prepare_database sqlite longrun_instructions
log "seeding $OPS operations"
start_server "$DB_URL" 4 1000 "$WORK/schema.log"
stop_server
run_child timeout 300 python3 "$BENCH/poll_limits.py" seed "${DB_ARG[@]}" --start 0 --count "$OPS" \
  --out "$WORK/ids.tsv" --json "$RESULTS/seed.json" >/dev/null
python3 "$BENCH/poll_limits.py" ids --kind random --count "$OPS" --out "$WORK/random.tsv" >/dev/null
python3 "$BENCH/poll_limits.py" ids --kind malformed --count "$OPS" --out "$WORK/malformed.tsv" >/dev/null
for kind in ids random malformed; do
  python3 "$BENCH/population.py" urls --ids "$WORK/$kind.tsv" --port "$PORT" --out "$WORK/$kind.urls" 2>/dev/null
done

baseline hyper "$BASE_BIN"
warm_up "$WORK/ids.urls"
count hyper "$WORK/ids.urls" 200
stop_server

baseline rocket "$ROCKET_BIN"
warm_up "$WORK/ids.urls"
count rocket "$WORK/ids.urls" 200
stop_server

# service KEY BINARY: found, 404 and 422 for one build of the service,
# started as every driver starts it, under callgrind.
service() {
  local key=$1 binary=$2
  callgrind "$key"
  start_server "$DB_URL" 4 1000 "$WORK/$key.log" "$binary"
  log "$key: polling each of the $OPS operations once"
  run_child timeout 300 taskset -c 1 python3 "$BENCH/poll_limits.py" etags --port "$PORT" \
    --ids "$WORK/ids.tsv" --out "$WORK/$key-etags.tsv" --json "$RESULTS/$key-etags.json" >/dev/null
  warm_up "$WORK/ids.urls"
  count "$key-found" "$WORK/ids.urls" 200
  count "$key-404" "$WORK/random.urls" 404
  count "$key-422" "$WORK/malformed.urls" 422
  stop_server
}

service service "$BIN"
[[ -z $OTHER_BIN ]] || service other "$OTHER_BIN"

python3 - "$RESULTS" "$COMMAND" "$REQUESTS" "${OTHER_BIN:-}" <<'PY' | tee ${BENCH_REPORT:+"$BENCH_REPORT"}
import os, platform, subprocess, sys
results, command, requests, other = sys.argv[1:]
read = lambda key: int(open(os.path.join(results, key)).read())
hyper, rocket = read("hyper"), read("rocket")
rows = [("hyper baseline", "hyper"), ("plain Rocket route", "rocket")]
for key, name in [("service", "longrun")] + ([("other", other)] if other else []):
    rows += [(f"{name}: poll, found", f"{key}-found"), (f"{name}: 404", f"{key}-404"),
             (f"{name}: 422", f"{key}-422")]
print(f"Instructions per request (callgrind, user space, every thread of the server), "
      f"{int(requests):,} requests each.\n")
print("| server and request | instructions/request | hyper ÷ this | plain Rocket ÷ this |")
print("|---|---|---|---|")
for name, key in rows:
    n = read(key)
    print(f"| {name} | {n:,} | {hyper / n:.3f} | {rocket / n:.3f} |")
valgrind = subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()
print(f"\n`{command}`, {valgrind}, kernel {platform.release()}")
PY
