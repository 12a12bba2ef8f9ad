#!/usr/bin/env bash
# Declared operation types: how many operations of a declared `http` type
# (`[operations.types.<name>] kind = "http"`) a second the service creates
# and finishes against a local target that answers at once, with the
# built-in `echo` type measured the same way in the same run as the
# baseline.
#
#   bench/declared_types.sh [sqlite|postgres|all]      (default: all)
#
# The target (bench/declared_types.py target: one Python asyncio process,
# HTTP/1.1 keep-alive, on core 1) checks each request's credentials and
# answers 200 {"ok":true,"operation_id":…,"n":…} at once. Its ceiling is
# measured first: wrk on core 0 (no server running) POSTing to it.
#
# Then for each backend, echo then http, each on a fresh database and a
# fresh server (core 0, BENCH_WORKERS workers, idle_poll_ms=100, the type
# `remote` declared through ROCKET_OPERATIONS): the client
# (bench/declared_types.py run, core 1, BENCH_CONCURRENCY keep-alive
# connections) creates BENCH_OPS operations as fast as it can
# ({"operation_type":"remote","input":{"n":i}} or
# {"operation_type":"echo","input":{}}) while the workers run them, then
# reads the database until every one has finished. operations/s =
# N / (first create sent -> the last finish's updated_at); floor >= 2,000/s
# for http on each backend. Afterwards the database is checked: every
# operation completed, once, with the target's answer for it as its result.
# Prints a Markdown table at the end (and writes it to $BENCH_REPORT if set).
#
# Needs: wrk (for common.sh's checks and the target's ceiling), taskset,
# python3, and for postgres psql and a PostgreSQL server at 127.0.0.1:5432
# (user postgres, trust auth). See bench/README.md.
set -euo pipefail

OPS=${BENCH_OPS:-20000}
CONCURRENCY=${BENCH_CONCURRENCY:-32}
WORKERS=${BENCH_WORKERS:-16}
AUTH=${BENCH_AUTH:-bearer}               # bearer (bearer_token) or secret (signed as webhooks are)
CEILING=${BENCH_CEILING:-1}              # 0: no wrk run against the target alone
CEILING_SECS=${BENCH_CEILING_SECS:-5}
NO_BUILD=${BENCH_NO_BUILD:-0}            # 1: use target/release/longrun as it is, even when older than src/
TYPE=remote

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
select_backends "${1:-all}"
TARGET_PORT=${BENCH_TARGET_PORT:-$((PORT + 1))}
[[ $AUTH == bearer || $AUTH == secret ]] || die "BENCH_AUTH must be bearer or secret"

# The knobs that differ from their defaults go into the reported command.
for knob in BENCH_OPS BENCH_CONCURRENCY BENCH_WORKERS BENCH_AUTH BENCH_CEILING BENCH_NO_BUILD; do
  if [[ -n ${!knob:-} ]]; then COMMAND="$knob=${!knob} $COMMAND"; fi
done

require_tools
raise_open_files 4096
if [[ $NO_BUILD == 1 ]]; then
  [[ -x "$BIN" ]] || die "$BIN is missing (BENCH_NO_BUILD=1 does not build it)"
else
  build_service
fi
start_work longrun-declared

copy_server_build

# Fresh credentials per run, given to the server and the target.
RANDOM_KEY=$(python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(24)).decode())')
if [[ $AUTH == bearer ]]; then
  TOKEN="bench-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  CREDENTIAL="bearer_token=\"$TOKEN\""
  TARGET_ARGS=(--token "$TOKEN")
else
  SECRET="whsec_$RANDOM_KEY"
  CREDENTIAL="secret=\"$SECRET\""
  TARGET_ARGS=(--secret "$SECRET")
fi
# The type, as a deployer would declare it through the environment (TOML
# inline tables), beside the drivers' usual settings.
EXTRA_OPERATIONS="$EXTRA_OPERATIONS, allow_private_targets=true, types={$TYPE={kind=\"http\", \
url=\"http://127.0.0.1:$TARGET_PORT/run\", $CREDENTIAL, \
input_schema={type=\"object\", properties={n={type=\"integer\"}}}}}"

# start_target: the target on core 1, a helper until stopped.
start_target() {
  start_helper target "$TARGET_PORT" python3 "$BENCH/declared_types.py" target --port "$TARGET_PORT" "${TARGET_ARGS[@]}"
  TARGET_PID=$HELPER_PID
}

# ceiling: the target alone, wrk on core 0 (no server runs then) POSTing
# what a worker POSTs, with the credentials: what the target can answer on
# its core, to be well above the floor.
ceiling() {
  local lua="$WORK/ceiling.lua" out="$WORK/wrk-ceiling.txt" auth
  if [[ $AUTH == bearer ]]; then
    auth="wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\""
  else
    # One signed request, sent over and over: the target verifies each.
    auth=$(python3 - "$SECRET" <<'EOF'
import base64, hashlib, hmac, sys
key = base64.b64decode(sys.argv[1].removeprefix("whsec_"))
wid, ts, body = "msg_ceiling_1", "1700000000", b'{"n":1}'
sig = base64.b64encode(hmac.new(key, f"{wid}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
print(f'wrk.headers["webhook-id"] = "{wid}"\nwrk.headers["webhook-timestamp"] = "{ts}"\n'
      f'wrk.headers["webhook-signature"] = "v1,{sig}"')
EOF
)
  fi
  cat >"$lua" <<EOF
wrk.method = "POST"
wrk.path = "/run"
wrk.body = '{"n":1}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Longrun-Operation-Id"] = "00000000-0000-4000-8000-000000000000"
wrk.headers["Longrun-Attempt"] = "1"
$auth
done = function(summary, latency, requests)
  local s = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format('WRK_RESULT {"secs":$CEILING_SECS,"rps":%.1f,"requests":%d,"p50":"%.2f ms","p99":"%.2f ms",' ..
    '"non2xx":%d,"socket_errors":%d}\n', summary.requests / s, summary.requests, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end
EOF
  log "the target alone: wrk -t1 -c16 -d${CEILING_SECS}s on core 0"
  quiet target-ceiling
  run_child timeout $((CEILING_SECS + 30)) taskset -c 0 wrk -t1 -c16 -d"${CEILING_SECS}s" --latency -s "$lua" \
    "http://127.0.0.1:$TARGET_PORT" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed against the target"; }
  grep -v '^WRK_RESULT' "$out" >&2
  grep '^WRK_RESULT ' "$out" | sed 's/^WRK_RESULT //' >"$RESULTS/target-ceiling.json"
  [[ -s "$RESULTS/target-ceiling.json" ]] || die "wrk printed no WRK_RESULT line"
}

# measure BACKEND KIND: KIND (echo or http) on a fresh database and server,
# audited for other load and repeated once if disturbed.
measure() {
  local b=$1 kind=$2 key="$1-$2" attempt op_type=echo target=()
  if [[ $kind == http ]]; then
    op_type=$TYPE
    target=(--target-port "$TARGET_PORT")
  fi
  local logfile="$WORK/server-$key.log"
  for attempt in $(seq 1 $((RETRIES + 1))); do
    log "$b: $OPS $kind operations ($op_type), $CONCURRENCY connections, $WORKERS workers (attempt $attempt)"
    rm -rf "$WORK/sqlite"
    prepare_database "$b" longrun_declared
    start_server "$DB_URL" "$WORKERS" 100 "$logfile" "$SERVER_BIN"
    quiet "$key"
    helper_options
    run_child python3 "$BENCH/benchlib.py" audit --server-pid "$SERVER_PID" ${PG_DB:+--pg-db "$PG_DB"} \
      "${HELPER_OPTIONS[@]}" --out "$RESULTS/$key-audit.json" -- \
      timeout 600 taskset -c 1 python3 "$BENCH/declared_types.py" run "${DB_ARG[@]}" --port "$PORT" \
      --type "$op_type" --count "$OPS" --concurrency "$CONCURRENCY" "${target[@]}" \
      --ids-out "$WORK/ids-$key.tsv" --json "$RESULTS/$key.json" \
      || echo "warning: not every operation was created and finished (exit $?)" >&2
    [[ -s "$RESULTS/$key.json" ]] || die "the client printed no result (see above)"
    check_server "$logfile"
    stop_server
    taskset -c 1 python3 "$BENCH/declared_types.py" check "${DB_ARG[@]}" --type "$op_type" \
      --ids "$WORK/ids-$key.tsv" --json "$RESULTS/$key-db.json"
    rm -rf "$WORK/sqlite"
    drop_pg_db
    echo "$attempt" >"$RESULTS/$key-attempts"
    disturbed "$RESULTS/$key-audit.json" || break
    echo "other processes were busy during this run: $(cat "$RESULTS/$key-audit.json")" >&2
  done
}

START=$(date +%s)
start_target
if [[ $CEILING == 1 ]]; then
  ceiling
fi
for backend in "${BACKENDS[@]}"; do
  touch "$RESULTS/$backend-started"
  measure "$backend" echo
  measure "$backend" http
done
stop_helper "$TARGET_PID"
log "done in $(( $(date +%s) - START )) s"
echo
python3 "$BENCH/declared_types.py" report --results "$RESULTS" --command "$COMMAND" --ops "$OPS" \
  --workers "$WORKERS" --target-port "$TARGET_PORT" --auth "$AUTH" --build "$BUILD_NOTE" \
  ${BENCH_REPORT:+--save "$BENCH_REPORT"}
