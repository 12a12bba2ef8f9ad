# Sourced by the bench/*.sh drivers: what every benchmark run needs — the
# checks, the build, a work directory cleaned up on any exit, the service
# started on core 0, a quiet machine, and wrk runs audited for other load.
# Each driver calls select_backends with its argument first.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH="$ROOT/bench"
BIN="$ROOT/target/release/longrun"
PORT=${BENCH_PORT:-18080}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
WRK_SECS=${BENCH_WRK_SECS:-10}
RETRIES=${BENCH_RETRIES:-1}   # reruns of a run that other processes disturbed

# select_backends MODE: sets BACKENDS (sqlite, postgres or both) and COMMAND
# (the command line the report names) from the driver's one argument.
select_backends() {
  MODE=$1
  case "$MODE" in
    sqlite) BACKENDS=(sqlite) ;;
    postgres) BACKENDS=(postgres) ;;
    all) BACKENDS=(sqlite postgres) ;;
    *) echo "usage: $0 [sqlite|postgres|all]" >&2; exit 2 ;;
  esac
  COMMAND="bench/$(basename "$0") $MODE"
}

log() { printf '\n== %s  %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

# require_tools: wrk, taskset, python3, cargo; psql and a server for postgres;
# two cores.
require_tools() {
  local tool
  for tool in wrk taskset python3 cargo; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y wrk util-linux python3)"
  done
  if [[ " ${BACKENDS[*]} " == *" postgres "* ]]; then
    command -v psql >/dev/null || die "psql not found (apt-get install -y postgresql-client)"
    psql -h 127.0.0.1 -U postgres -Atc 'select 1' >/dev/null || die "no PostgreSQL at 127.0.0.1:5432 (user postgres)"
  fi
  [[ $(nproc) -ge 2 ]] || die "needs 2 cores: the server on core 0, the clients on core 1"
}

# raise_open_files NEEDED: where the hard limit cannot be raised (no
# CAP_SYS_RESOURCE, e.g. in a container), take the hard limit.
raise_open_files() {
  if ! ulimit -n 200000 2>/dev/null; then
    ulimit -n "$(ulimit -Hn)"
  fi
  if [[ $(ulimit -n) != unlimited && $(ulimit -n) -lt $1 ]]; then
    die "the open-files limit is $(ulimit -n), below the $1 needed (ulimit -n 200000 failed)"
  fi
}

# build_if_stale BINARY CARGO_ARGS SOURCES...: builds when the binary is
# missing or older than any of its sources.
build_if_stale() {
  local binary=$1 args=$2
  shift 2
  if [[ ! -x "$binary" ]] || [[ -n $(find "$@" -newer "$binary" -print -quit 2>/dev/null) ]]; then
    log "building $binary"
    # shellcheck disable=SC2086
    cargo build --release $args
  fi
}

# build_service: the release binary of the service, when stale.
build_service() {
  build_if_stale "$BIN" "" src migrations resources build.rs Cargo.toml Cargo.lock
}

# The reference server of the drivers: hyper 1.x on one thread, answering
# every request with 200 and the same ~350-byte JSON body.
BASE_DIR="$BENCH/hyper-baseline"
BASE_BIN="$BASE_DIR/target/release/hyper-baseline"

build_baseline() {
  build_if_stale "$BASE_BIN" "--manifest-path $BASE_DIR/Cargo.toml" "$BASE_DIR/src" "$BASE_DIR/Cargo.toml"
}

# start_baseline PORT LOG PID_VAR: the hyper baseline on core 0, on PORT,
# its pid in the variable PID_VAR (SERVER_PID or REFERENCE_PID, which
# cleanup stops); returns once it answers.
start_baseline() {
  local port=$1
  PORT=$port port_free
  taskset -c 0 "$BASE_BIN" "$port" >"$2" 2>&1 &
  printf -v "$3" '%s' "$!"
  # It answers 200 to everything, an unknown operation too.
  python3 "$BENCH/benchlib.py" ready --port "$port" --pid "${!3}" --timeout 10 --status 200 \
    || die "the hyper baseline did not answer on port $port"
}

# copy_server_build: SERVER_BIN, a copy of the build measured, so that a
# rebuild during the run (the sources may move on meanwhile) does not change
# the server between phases; BUILD_NOTE, what the report says of it.
copy_server_build() {
  SERVER_BIN="$WORK/longrun"
  cp "$BIN" "$SERVER_BIN"
  BUILD_NOTE="\`target/release/longrun\` built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M UTC') at commit $(git log -1 --format=%h)"
  local dirty newer
  dirty=$(git status --porcelain -- src migrations Cargo.toml Cargo.lock | wc -l)
  [[ $dirty -gt 0 ]] && BUILD_NOTE+=" with uncommitted changes to $dirty files"
  newer=$(find src migrations resources build.rs Cargo.toml Cargo.lock -newer "$BIN" 2>/dev/null | wc -l)
  [[ $newer -gt 0 ]] && BUILD_NOTE+=" ($newer source files are newer than the binary)"
  BUILD_NOTE+=", copied at the start of the run"
}

# start_work PREFIX: a fresh work directory, removed (with every process and
# database of the run) on any exit.
start_work() {
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  RESULTS="$WORK/results"
  mkdir -p "$RESULTS"
  SERVER_PID=""
  REFERENCE_PID=""
  PG_DB=""
  CHILD=""
  HELPER_PIDS=()
  trap cleanup EXIT
  trap 'exit 130' INT TERM
}

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

# Processes a driver runs beside the server and the measured command (a
# webhook receiver, a load helper; bench/webhooks.sh): their CPU is the
# benchmark's own, so quiet and the audit leave it out of the other load
# (helper_options), and cleanup stops them. BUSY_SERVER=1, for a driver
# whose server is busy on purpose between measured runs (bench/webhooks.sh:
# its dispatcher, a trickle of deliveries), has quiet leave out the server
# and the benchmark database's PostgreSQL backends too, as the audit does.
HELPER_PIDS=()
BUSY_SERVER=0

# helper_options: HELPER_OPTIONS, the --own-pid options of the helpers.
helper_options() {
  HELPER_OPTIONS=()
  local pid
  for pid in "${HELPER_PIDS[@]}"; do
    HELPER_OPTIONS+=(--own-pid "$pid")
  done
}

# start_helper NAME PORT COMMAND...: COMMAND on core 1, a helper until
# stopped, its output in $WORK/NAME.out and .err, once it prints its
# `listening` line on PORT. Sets HELPER_PID.
start_helper() {
  local name=$1
  PORT=$2 port_free
  shift 2
  taskset -c 1 "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  HELPER_PID=$!
  HELPER_PIDS+=("$HELPER_PID")
  for _ in $(seq 1 100); do
    grep -q '^listening' "$WORK/$name.out" 2>/dev/null && return
    kill -0 "$HELPER_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$WORK/$name.err" >&2
  die "the $name did not start"
}

# stop_helper PID: stops one helper and takes it off HELPER_PIDS.
stop_helper() {
  local pid=$1 kept=() p
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${HELPER_PIDS[@]}"; do
    [[ $p == "$pid" ]] || kept+=("$p")
  done
  HELPER_PIDS=("${kept[@]}")
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
  local rc=$? pid
  stop_child
  for pid in "${HELPER_PIDS[@]}"; do
    stop_helper "$pid"
  done
  stop_server
  if [[ -n "$REFERENCE_PID" ]]; then
    kill -TERM "$REFERENCE_PID" 2>/dev/null || true
    wait "$REFERENCE_PID" 2>/dev/null || true
  fi
  drop_pg_db
  rm -rf "$WORK"
  exit "$rc"
}

port_free() {
  python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $PORT)) == 0)" \
    || die "port $PORT is in use (set BENCH_PORT)"
}

# Every client of a benchmark is 127.0.0.1, which the per-address rate
# limits would count as one client: they are raised out of the way, not
# disabled, so the check stays on the measured path. The per-request log
# line is turned off like Rocket's own log. The warm-up at start is off:
# the seeded operations count as just finished, and the benchmarks measure
# polls that read them.
LIMIT=1000000
EXTRA_OPERATIONS="log_format=\"off\", cache_warm_up_secs=0, rate_limit={enabled=true, poll_per_second=$LIMIT, poll_burst=$LIMIT, create_per_second=$LIMIT, create_burst=$LIMIT}"

# The command the service runs under (none by default; bench/instructions.sh
# puts callgrind here), how long it may take to start, and the status its
# readiness probe (a GET of an unknown operation, without a token) gets:
# 404, or 401 in jwt mode (bench/owners.sh sets it).
SERVER_WRAPPER=()
READY_TIMEOUT=30
READY_STATUS=404

# start_server DB_URL WORKERS IDLE_POLL_MS LOG [BINARY]: the service (this
# tree's release build unless BINARY) on core 0, through SERVER_WRAPPER, in
# the Rocket.toml profile of its backend (`postgres` for a PostgreSQL URL,
# else `release`), with the URL replaced.
start_server() {
  local url=$1 workers=$2 idle_poll=$3 logfile=$4 binary=${5:-$BIN} profile=release
  [[ $url == postgres* ]] && profile=postgres
  port_free
  ROCKET_PROFILE=$profile ROCKET_PORT=$PORT ROCKET_ADDRESS=127.0.0.1 ROCKET_LOG_LEVEL=off \
  ROCKET_DATABASES="{operations={url=\"$url\"}}" \
  ROCKET_OPERATIONS="{enable_echo=true, workers=$workers, idle_poll_ms=$idle_poll, max_streams=20000, max_wait_secs=60, $EXTRA_OPERATIONS}" \
    taskset -c 0 "${SERVER_WRAPPER[@]}" "$binary" >"$logfile" 2>&1 &
  SERVER_PID=$!
  if ! python3 "$BENCH/benchlib.py" ready --port "$PORT" --pid "$SERVER_PID" --timeout "$READY_TIMEOUT" \
    --status "$READY_STATUS"; then
    echo "--- server log ($logfile):" >&2
    tail -n 30 "$logfile" >&2 || true
    exit 1
  fi
}

# check_server LOG: the server must still be running after a phase.
check_server() {
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "--- the server died; its log:" >&2
    tail -n 30 "$1" >&2 || true
    exit 1
  fi
}

# quiet PHASE: wait (up to BENCH_QUIET_TIMEOUT s) until the rest of the
# machine is idle, so other work does not skew the figures; recorded either way.
quiet() {
  helper_options
  if [[ $BUSY_SERVER == 1 ]]; then
    HELPER_OPTIONS+=(--own-pid "$SERVER_PID" ${PG_DB:+--pg-db "$PG_DB"})
  fi
  run_child python3 "$BENCH/benchlib.py" quiet --max-busy 0.1 --window 3 \
    --timeout "${BENCH_QUIET_TIMEOUT:-30}" "${HELPER_OPTIONS[@]}" --out "$RESULTS/$1-quiet.json"
}

# disturbed AUDIT_JSON: true when other processes used more than a tenth of
# a core on average during the run the audit file describes.
disturbed() {
  python3 -c 'import json, sys; a = json.load(open(sys.argv[1])); sys.exit(0 if a["other_cpu_s"] > 0.1 * a["window_s"] else 1)' "$1"
}

# measure_wrk KEY WRK_TARGET...: `wrk -t1 -c32 --latency` on core 1 against
# WRK_TARGET (a script and URL, with its arguments), audited for other load
# and repeated once if disturbed. WRK_CONNS, when set, replaces the 32
# connections. The script's WRK_RESULT line goes to
# $RESULTS/KEY.json, the audit to KEY-audit.json, the attempt to KEY-attempts.
measure_wrk() {
  local key=$1 out="$WORK/wrk-$1.txt" attempt
  shift
  for attempt in $(seq 1 $((RETRIES + 1))); do
    log "$key: wrk (attempt $attempt)"
    quiet "$key"
    helper_options
    run_child python3 "$BENCH/benchlib.py" audit --server-pid "$SERVER_PID" ${PG_DB:+--pg-db "$PG_DB"} \
      "${HELPER_OPTIONS[@]}" --out "$RESULTS/$key-audit.json" -- \
      timeout $((WRK_SECS + 60)) taskset -c 1 wrk -t1 -c"${WRK_CONNS:-32}" -d"${WRK_SECS}s" --latency "$@" >"$out" 2>&1 || {
        cat "$out" >&2
        die "wrk failed"
      }
    grep -v '^WRK_RESULT' "$out" >&2
    grep '^WRK_RESULT ' "$out" | sed 's/^WRK_RESULT //' >"$RESULTS/$key.json"
    [[ -s "$RESULTS/$key.json" ]] || die "wrk printed no WRK_RESULT line"
    echo "$attempt" >"$RESULTS/$key-attempts"
    disturbed "$RESULTS/$key-audit.json" || break
    echo "other processes were busy during this run: $(cat "$RESULTS/$key-audit.json")" >&2
  done
}

# prepare_database BACKEND PREFIX: a fresh database for BACKEND. Sets DB_URL
# (for the service) and DB_ARG (the Python helpers' --sqlite-db or --pg-db).
prepare_database() {
  if [[ $1 == sqlite ]]; then
    mkdir -p "$WORK/sqlite"
    DB_URL="sqlite://$WORK/sqlite/ops.db"
    DB_ARG=(--sqlite-db "$WORK/sqlite/ops.db")
  else
    PG_DB="$2_$$"
    psql -h 127.0.0.1 -U postgres -qAtc "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null
    psql -h 127.0.0.1 -U postgres -qAtc "CREATE DATABASE \"$PG_DB\"" >/dev/null
    DB_URL="$PG_URL/$PG_DB"
    DB_ARG=(--pg-db "$PG_DB")
  fi
}
