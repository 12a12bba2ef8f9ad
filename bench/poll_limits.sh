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

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH="$ROOT/bench"
BIN="$ROOT/target/release/longrun"
BASE_DIR="$BENCH/hyper-baseline"
BASE_BIN="$BASE_DIR/target/release/hyper-baseline"
PORT=${BENCH_PORT:-18080}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
OPS=${BENCH_OPS:-100000}
BIG_OPS=${BENCH_BIG_OPS:-1000000}
CONNS=${BENCH_CONNS:-10000}
WRK_SECS=${BENCH_WRK_SECS:-10}
RETRIES=${BENCH_RETRIES:-1}   # reruns of a wrk run that other processes disturbed

MODE=${1:-all}
case "$MODE" in
  sqlite) BACKENDS=(sqlite) ;;
  postgres) BACKENDS=(postgres) ;;
  all) BACKENDS=(sqlite postgres) ;;
  *) echo "usage: $0 [sqlite|postgres|all]" >&2; exit 2 ;;
esac
COMMAND="bench/poll_limits.sh $MODE"

log() { printf '\n== %s  %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

for tool in wrk taskset python3 cargo; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y wrk util-linux python3)"
done
if [[ " ${BACKENDS[*]} " == *" postgres "* ]]; then
  command -v psql >/dev/null || die "psql not found (apt-get install -y postgresql-client)"
  psql -h 127.0.0.1 -U postgres -Atc 'select 1' >/dev/null || die "no PostgreSQL at 127.0.0.1:5432 (user postgres)"
fi
[[ $(nproc) -ge 2 ]] || die "needs 2 cores: the servers on core 0, the clients on core 1"

# 10,000 sockets on each side (as bench/cheap_polling.sh does it).
if ! ulimit -n 200000 2>/dev/null; then
  ulimit -n "$(ulimit -Hn)"
fi
if [[ $(ulimit -n) != unlimited && $(ulimit -n) -lt $((CONNS + 1000)) ]]; then
  die "the open-files limit is $(ulimit -n), below the $((CONNS + 1000)) needed"
fi

if [[ ! -x "$BIN" ]] || [[ -n $(find src migrations resources Cargo.toml Cargo.lock -newer "$BIN" -print -quit 2>/dev/null) ]]; then
  log "building the release binary"
  cargo build --release
fi
if [[ ! -x "$BASE_BIN" ]] || [[ -n $(find "$BASE_DIR/src" "$BASE_DIR/Cargo.toml" -newer "$BASE_BIN" -print -quit 2>/dev/null) ]]; then
  log "building the hyper baseline"
  cargo build --release --manifest-path "$BASE_DIR/Cargo.toml"
fi

WORK=$(mktemp -d /tmp/longrun-limits.XXXXXX)
RESULTS="$WORK/results"
mkdir -p "$RESULTS"
SERVER_PID=""
PG_DB=""
CHILD=""

# run_child CMD...: a long command in the background, waited for, so that a
# signal to this script is handled at once; cleanup stops it.
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

port_free() {
  python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $PORT)) == 0)" \
    || die "port $PORT is in use (set BENCH_PORT)"
}

# The rate limits raised out of the way (still checked on every request) and
# the per-request log line off, exactly as bench/cheap_polling.sh does.
LIMIT=1000000
EXTRA_OPERATIONS="log_format=\"off\", rate_limit={enabled=true, poll_per_second=$LIMIT, poll_burst=$LIMIT, create_per_second=$LIMIT, create_burst=$LIMIT}"

# start_server DB_URL LOG: the service on core 0; 4 workers looking for work
# every 100 ms (as in bench/cheap_polling.sh's wrk phase).
start_server() {
  local url=$1 logfile=$2
  port_free
  ROCKET_PORT=$PORT ROCKET_ADDRESS=127.0.0.1 ROCKET_LOG_LEVEL=off \
  ROCKET_DATABASES="{operations={url=\"$url\"}}" \
  ROCKET_OPERATIONS="{enable_echo=true, workers=4, idle_poll_ms=100, max_streams=20000, max_wait_secs=60, $EXTRA_OPERATIONS}" \
    taskset -c 0 "$BIN" >"$logfile" 2>&1 &
  SERVER_PID=$!
  if ! python3 "$BENCH/cheap_polling.py" ready --port "$PORT" --pid "$SERVER_PID" --timeout 30; then
    echo "--- server log ($logfile):" >&2
    tail -n 30 "$logfile" >&2 || true
    exit 1
  fi
}

check_server() {
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "--- the server died; its log:" >&2
    tail -n 30 "$1" >&2 || true
    exit 1
  fi
}

quiet() {
  run_child python3 "$BENCH/cheap_polling.py" quiet --max-busy 0.1 --window 3 \
    --timeout "${BENCH_QUIET_TIMEOUT:-30}" --out "$RESULTS/$1-quiet.json"
}

disturbed() {
  python3 -c 'import json, sys; a = json.load(open(sys.argv[1])); sys.exit(0 if a["other_cpu_s"] > 0.1 * a["window_s"] else 1)' "$1"
}

# run_wrk KEY IDS EXPECTED: wrk cycling over IDS (bench/poll.lua), expecting
# the status EXPECTED (304: with If-None-Match); results in $RESULTS/KEY.json.
# IDS "static": one fixed request, no Lua per request (poll_limits_static.lua).
run_wrk() {
  local key=$1 ids=$2 expected=$3 out="$WORK/wrk-$1.txt" attempt
  local target=(-s "$BENCH/poll.lua" "http://127.0.0.1:$PORT" -- "$ids" "$expected")
  if [[ $ids == static ]]; then
    target=(-s "$BENCH/poll_limits_static.lua" "http://127.0.0.1:$PORT/api/v1/operations/6f1c9a52-3d0e-4b8a-9f47-2c5e8d7b1a30")
  fi
  for attempt in $(seq 1 $((RETRIES + 1))); do
    log "$key: wrk, expecting $expected (attempt $attempt)"
    quiet "$key"
    run_child python3 "$BENCH/cheap_polling.py" audit --server-pid "$SERVER_PID" ${PG_DB:+--pg-db "$PG_DB"} \
      --out "$RESULTS/$key-audit.json" -- \
      timeout $((WRK_SECS + 60)) taskset -c 1 wrk -t1 -c32 -d"${WRK_SECS}s" --latency \
      "${target[@]}" >"$out" 2>&1 || {
        cat "$out" >&2
        die "wrk failed"
      }
    grep -v '^WRK_RESULT' "$out" >&2
    grep '^WRK_RESULT ' "$out" | sed 's/^WRK_RESULT //' >"$RESULTS/$key.json"
    [[ -s "$RESULTS/$key.json" ]] || die "wrk printed no WRK_RESULT line"
    disturbed "$RESULTS/$key-audit.json" || break
    echo "other processes were busy during this run: $(cat "$RESULTS/$key-audit.json")" >&2
  done
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
  local b=$1 url seedarg
  touch "$RESULTS/$b-started"
  if [[ $b == sqlite ]]; then
    mkdir -p "$WORK/sqlite"
    url="sqlite://$WORK/sqlite/ops.db"
    seedarg=(--sqlite-db "$WORK/sqlite/ops.db")
  else
    PG_DB="longrun_limits_$$"
    psql -h 127.0.0.1 -U postgres -qAtc "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null
    psql -h 127.0.0.1 -U postgres -qAtc "CREATE DATABASE \"$PG_DB\"" >/dev/null
    url="$PG_URL/$PG_DB"
    seedarg=(--pg-db "$PG_DB")
  fi
  local logfile="$WORK/server-$b.log"

  # The schema comes from the service's migrations: start it once, stop it.
  log "$b: creating the schema, seeding $OPS operations by SQL"
  start_server "$url" "$logfile"
  stop_server
  run_child timeout 600 python3 "$BENCH/poll_limits.py" seed "${seedarg[@]}" --start 0 --count "$OPS" \
    --out "$WORK/ids-$b.tsv" --json "$RESULTS/$b-seed.json"

  start_server "$url" "$logfile"
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
  start_server "$url" "$logfile"
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
