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

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH="$ROOT/bench"
BIN="$ROOT/target/release/longrun"
PORT=${BENCH_PORT:-18080}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
WAITERS=${BENCH_WAITERS:-10000}
WAIT_OPS=${BENCH_WAIT_OPS:-100}
DELAY_MS=${BENCH_DELAY_MS:-20000}
SEED_OPS=${BENCH_SEED_OPS:-1000}
WRK_SECS=${BENCH_WRK_SECS:-10}
RETRIES=${BENCH_RETRIES:-1}   # reruns of a phase that other processes disturbed

MODE=${1:-all}
case "$MODE" in
  sqlite) BACKENDS=(sqlite) ;;
  postgres) BACKENDS=(postgres) ;;
  all) BACKENDS=(sqlite postgres) ;;
  *) echo "usage: $0 [sqlite|postgres|all]" >&2; exit 2 ;;
esac
COMMAND="bench/cheap_polling.sh $MODE"

log() { printf '\n== %s  %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

for tool in wrk taskset python3; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y wrk util-linux python3)"
done
if [[ " ${BACKENDS[*]} " == *" postgres "* ]]; then
  command -v psql >/dev/null || die "psql not found (apt-get install -y postgresql-client)"
  psql -h 127.0.0.1 -U postgres -Atc 'select 1' >/dev/null || die "no PostgreSQL at 127.0.0.1:5432 (user postgres)"
fi
[[ $(nproc) -ge 2 ]] || die "needs 2 cores: the server on core 0, the clients on core 1"

# 10,000 sockets on each side, plus the database files. Where the hard limit
# cannot be raised (no CAP_SYS_RESOURCE, e.g. in a container), take the hard
# limit: each process needs only a little more than $WAITERS descriptors.
if ! ulimit -n 200000 2>/dev/null; then
  ulimit -n "$(ulimit -Hn)"
fi
if [[ $(ulimit -n) != unlimited && $(ulimit -n) -lt $((WAITERS + 1000)) ]]; then
  die "the open-files limit is $(ulimit -n), below the $((WAITERS + 1000)) needed (ulimit -n 200000 failed)"
fi

# Build when the binary is missing or older than its sources.
if [[ ! -x "$BIN" ]] || [[ -n $(find src migrations resources Cargo.toml Cargo.lock -newer "$BIN" -print -quit 2>/dev/null) ]]; then
  log "building the release binary"
  cargo build --release
fi

WORK=$(mktemp -d /tmp/longrun-bench.XXXXXX)
RESULTS="$WORK/results"
mkdir -p "$RESULTS"
SERVER_PID=""
PG_DB=""
CHILD=""

# run_child CMD...: runs a long command in the background and waits for it,
# so that a signal to this script is handled at once (bash defers traps
# while a foreground command runs); cleanup stops the command.
run_child() {
  "$@" &
  CHILD=$!
  local rc=0
  wait "$CHILD" || rc=$?
  CHILD=""
  return "$rc"
}

stop_child() {
  if [[ -n "$CHILD" ]] && kill -0 "$CHILD" 2>/dev/null; then
    kill -TERM "$CHILD" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$CHILD" 2>/dev/null || break
      sleep 0.1
    done
  fi
  CHILD=""
}

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}

drop_pg_db() {
  if [[ -n "$PG_DB" ]]; then
    psql -h 127.0.0.1 -U postgres -qAtc "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
    PG_DB=""
  fi
}

cleanup() {
  local rc=$?
  stop_child
  stop_server
  drop_pg_db
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Every client of the benchmark is 127.0.0.1, which the per-address rate
# limits (10 polls/s by default) would count as one client: they are raised
# out of the way, not disabled, so the check stays on the measured path. The
# per-request log line is turned off like Rocket's own log. Keys a binary
# does not know are ignored.
LIMIT=1000000
EXTRA_OPERATIONS="log_format=\"off\", rate_limit={enabled=true, poll_per_second=$LIMIT, poll_burst=$LIMIT, create_per_second=$LIMIT, create_burst=$LIMIT}"

# start_server DB_URL WORKERS IDLE_POLL_MS LOG
start_server() {
  local url=$1 workers=$2 idle_poll=$3 logfile=$4
  if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $PORT)) != 0)"; then
    die "port $PORT is in use (set BENCH_PORT)"
  fi
  ROCKET_PORT=$PORT ROCKET_ADDRESS=127.0.0.1 ROCKET_LOG_LEVEL=off \
  ROCKET_DATABASES="{operations={url=\"$url\"}}" \
  ROCKET_OPERATIONS="{enable_echo=true, workers=$workers, idle_poll_ms=$idle_poll, max_streams=20000, max_wait_secs=60, $EXTRA_OPERATIONS}" \
    taskset -c 0 "$BIN" >"$logfile" 2>&1 &
  SERVER_PID=$!
  if ! python3 "$BENCH/cheap_polling.py" ready --port "$PORT" --pid "$SERVER_PID" --timeout 30; then
    echo "--- server log ($logfile):" >&2
    tail -n 30 "$logfile" >&2 || true
    exit 1
  fi
}

# quiet PHASE: wait (up to BENCH_QUIET_TIMEOUT s) until the rest of the
# machine is idle, so other work does not skew the figures; recorded either way.
quiet() {
  run_child python3 "$BENCH/cheap_polling.py" quiet --max-busy 0.1 --window 3 \
    --timeout "${BENCH_QUIET_TIMEOUT:-30}" --out "$RESULTS/$1-quiet.json"
}

# check_server: the server must still be running after a phase.
check_server() {
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "--- the server died; its log:" >&2
    tail -n 30 "$1" >&2 || true
    exit 1
  fi
}

# disturbed AUDIT_JSON: true when other processes used more than a tenth of
# a core on average during the run the audit file describes.
disturbed() {
  python3 -c 'import json, sys; a = json.load(open(sys.argv[1])); sys.exit(0 if a["other_cpu_s"] > 0.1 * a["window_s"] else 1)' "$1"
}

run_wrk() { # BACKEND MODE(200|304) IDS
  local backend=$1 mode=$2 ids=$3 out="$WORK/wrk-$1-$2.txt" attempt
  for attempt in $(seq 1 $((RETRIES + 1))); do
    log "$backend: wrk, GETs expecting $mode (attempt $attempt)"
    quiet "$backend-wrk$mode"
    run_child python3 "$BENCH/cheap_polling.py" audit --server-pid "$SERVER_PID" ${PG_DB:+--pg-db "$PG_DB"} \
      --out "$RESULTS/$backend-wrk$mode-audit.json" -- \
      timeout $((WRK_SECS + 60)) taskset -c 1 wrk -t1 -c32 -d"${WRK_SECS}s" --latency \
      -s "$BENCH/poll.lua" "http://127.0.0.1:$PORT" -- "$ids" "$mode" >"$out" 2>&1 || {
        cat "$out" >&2
        die "wrk failed"
      }
    grep -v '^WRK_RESULT' "$out" >&2
    grep '^WRK_RESULT ' "$out" | sed 's/^WRK_RESULT //' >"$RESULTS/$backend-wrk$mode.json"
    [[ -s "$RESULTS/$backend-wrk$mode.json" ]] || die "wrk printed no WRK_RESULT line"
    echo "$attempt" >"$RESULTS/$backend-wrk$mode-attempts"
    disturbed "$RESULTS/$backend-wrk$mode-audit.json" || break
    echo "other processes were busy during this run: $(cat "$RESULTS/$backend-wrk$mode-audit.json")" >&2
  done
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
    run_child python3 "$BENCH/cheap_polling.py" audit --server-pid "$SERVER_PID" ${PG_DB:+--pg-db "$PG_DB"} \
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
  local backend=$1 url dbarg
  if [[ $backend == sqlite ]]; then
    mkdir -p "$WORK/sqlite"
    url="sqlite://$WORK/sqlite/ops.db"
    dbarg=(--sqlite-db "$WORK/sqlite/ops.db")
  else
    PG_DB="longrun_bench_$$"
    psql -h 127.0.0.1 -U postgres -qAtc "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null
    psql -h 127.0.0.1 -U postgres -qAtc "CREATE DATABASE \"$PG_DB\"" >/dev/null
    url="$PG_URL/$PG_DB"
    dbarg=(--pg-db "$PG_DB")
  fi

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
