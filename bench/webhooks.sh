#!/usr/bin/env bash
# Webhooks: how many completion webhooks a second the service delivers, and
# what its dispatcher costs the found poll.
#
#   bench/webhooks.sh [sqlite|postgres|all]      (default: all)
#
# For each backend:
#   1. Seed: 20,000 + 5,000 completed echo operations (200–500-byte results)
#      created through the API by 16 clients, on a server without webhooks
#      (so that the outbox trigger records no event) and with 16 workers.
#   2. Deliveries/s: the receiver (bench/webhooks.py receive, one Python
#      asyncio process on core 1, verifying every delivery with the
#      `standardwebhooks` package) is started, then a server WITH one
#      endpoint on it (workers=4); one event per operation of the first
#      20,000 is put into the outbox by SQL in one transaction, as the
#      trigger would. Measured at the receiver: first to last delivery, and
#      20,000 / that time (floor >= 1000/s); every webhook-id must arrive,
#      verified, and duplicates are counted.
#   3. Found poll: wrk -t1 -c32 -d10s cycling over 1000 of those operations
#      (bench/poll.lua, 200 mode), each warmed first: (a) a fresh server
#      without webhooks; (b) a fresh server with the endpoint, dispatcher
#      running, nothing pending; (c) the same server while a helper on
#      core 1 puts 10 events every 100 ms into the outbox (the last 5,000
#      operations), delivered meanwhile; (a) again, without webhooks. The
#      ratios are to the mean of the two runs of (a); floor (c)/(a) >= 0.90.
# Prints a Markdown table at the end (and writes it to $BENCH_REPORT if set).
#
# The server runs on core 0, wrk and the Python helpers on core 1, all on
# 127.0.0.1. Needs: wrk, taskset, python3 with `standardwebhooks`
# (pip install standardwebhooks), and for postgres psql and a PostgreSQL
# server at 127.0.0.1:5432 (user postgres, trust auth). See bench/README.md.
set -euo pipefail

OPS=${BENCH_WEBHOOK_OPS:-20000}          # events delivered in phase 2
TRICKLE_OPS=${BENCH_TRICKLE_OPS:-5000}   # operations kept for the trickle of (c): 50 s of it
POLL_OPS=${BENCH_POLL_OPS:-1000}         # operations the found poll cycles over
SEED_CLIENTS=${BENCH_SEED_CLIENTS:-16}
PER_TICK=10                              # (c): 10 events every 100 ms, ~100/s
TICK_MS=100
NO_BUILD=${BENCH_NO_BUILD:-0}            # 1: use target/release/longrun as it is, even when older than src/

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
select_backends "${1:-all}"
RECEIVER_PORT=${BENCH_RECEIVER_PORT:-$((PORT + 1))}

# The knobs that differ from their defaults go into the reported command.
for knob in BENCH_WEBHOOK_OPS BENCH_TRICKLE_OPS BENCH_POLL_OPS BENCH_SEED_CLIENTS BENCH_NO_BUILD; do
  if [[ -n ${!knob:-} ]]; then COMMAND="$knob=${!knob} $COMMAND"; fi
done

require_tools
python3 -c 'import standardwebhooks' 2>/dev/null || die "the receiver needs the standardwebhooks package (pip install standardwebhooks)"
[[ $POLL_OPS -le $OPS ]] || die "BENCH_POLL_OPS ($POLL_OPS) must not exceed BENCH_WEBHOOK_OPS ($OPS)"
raise_open_files 4096
if [[ $NO_BUILD == 1 ]]; then
  [[ -x "$BIN" ]] || die "$BIN is missing (BENCH_NO_BUILD=1 does not build it)"
else
  build_service
fi
start_work longrun-webhooks
# The server is never idle here: its workers, its dispatcher and its change
# feed query the database some 90 times a second, and during (c) it
# delivers. On PostgreSQL, over the 25,000 operations just seeded, that
# keeps the backends about a tenth of a core busy, all that quiet allows
# for the whole machine. So quiet waits for the rest of the machine only
# (as the audit counts it).
BUSY_SERVER=1

copy_server_build

# A fresh signing secret per run, given to the servers and the receiver.
SECRET="whsec_$(python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(24)).decode())')"
# Short retries: a failed delivery shows as a duplicate or a late one
# within the run rather than waiting the default 5 s.
RETRY_SECS="[0.5, 1, 2, 5]"
PLAIN_EXTRA=$EXTRA_OPERATIONS
WEBHOOK_EXTRA="$PLAIN_EXTRA, allow_private_targets=true, webhook_retry_secs=$RETRY_SECS, \
webhooks=[{name=\"bench\", url=\"http://127.0.0.1:$RECEIVER_PORT/hooks/bench\", secret=\"$SECRET\"}]"

# Every measured server has 4 workers looking for work every 100 ms (the
# dispatcher runs in a process with workers). The seeding server has 16, so
# that on PostgreSQL, where each operation's commits wait for the WAL flush,
# 25,000 echo operations complete in seconds rather than minutes.
plain_server() { # LOG [WORKERS]
  EXTRA_OPERATIONS=$PLAIN_EXTRA
  start_server "$URL" "${2:-4}" 100 "$1" "$SERVER_BIN"
}

webhook_server() { # LOG
  EXTRA_OPERATIONS=$WEBHOOK_EXTRA
  start_server "$URL" 4 100 "$1" "$SERVER_BIN"
}

hooks() { # SUBCOMMAND ARGS...: the Python helpers, on core 1
  run_child timeout 900 taskset -c 1 python3 "$BENCH/webhooks.py" "$@"
}

# start_receiver: the receiver on core 1, a helper until stopped.
start_receiver() {
  start_helper receiver "$RECEIVER_PORT" python3 "$BENCH/webhooks.py" receive --port "$RECEIVER_PORT" --secret "bench=$SECRET"
  RECEIVER_PID=$HELPER_PID
}

# run_poll KEY: the wrk run, with the server's poll cache lookups before and
# after it (a poll the cache misses reads the database).
run_poll() {
  hooks cache --port "$PORT" --json "$RESULTS/$KEY_PREFIX-$1-cache-before.json"
  measure_wrk "$KEY_PREFIX-$1" -s "$BENCH/poll.lua" "http://127.0.0.1:$PORT" -- "$WORK/poll-ids.tsv" 200
  hooks cache --port "$PORT" --json "$RESULTS/$KEY_PREFIX-$1-cache-after.json"
}

warm() { # KEY
  hooks warm --port "$PORT" --ids "$WORK/poll-ids.tsv" --json "$RESULTS/$KEY_PREFIX-warm-$1.json"
}

# (a): a fresh server without webhooks.
poll_without() { # KEY
  local logfile="$WORK/server-$KEY_PREFIX-$1.log"
  plain_server "$logfile"
  warm "$1"
  run_poll "$1"
  check_server "$logfile"
  stop_server
}

# Phase 2, on a fresh server with the endpoint each attempt: the audited
# command inserts the events and waits until each has arrived; a run that
# other processes disturbed is repeated (from no deliveries again).
deliveries() {
  local b=$1 logfile="$WORK/server-$1-deliver.log" attempt
  for attempt in $(seq 1 $((RETRIES + 1))); do
    log "$b: $OPS deliveries (attempt $attempt)"
    webhook_server "$logfile"
    quiet "$b-deliver"
    helper_options
    run_child python3 "$BENCH/benchlib.py" audit --server-pid "$SERVER_PID" ${PG_DB:+--pg-db "$PG_DB"} \
      "${HELPER_OPTIONS[@]}" --out "$RESULTS/$b-deliver-audit.json" -- \
      timeout 600 taskset -c 1 python3 "$BENCH/webhooks.py" deliver "${DB_ARG[@]}" --ids "$WORK/deliver-ids.tsv" \
      --receiver-port "$RECEIVER_PORT" --json "$RESULTS/$b-deliver.json" \
      || echo "warning: not every delivery arrived (exit $?)" >&2
    hooks check "${DB_ARG[@]}" --ids "$WORK/deliver-ids.tsv" --receiver-port "$RECEIVER_PORT" \
      --server-port "$PORT" --json "$RESULTS/$b-deliver-check.json"
    check_server "$logfile"
    stop_server
    echo "$attempt" >"$RESULTS/$b-deliver-attempts"
    disturbed "$RESULTS/$b-deliver-audit.json" || break
    echo "other processes were busy during this run: $(cat "$RESULTS/$b-deliver-audit.json")" >&2
  done
}

bench_backend() {
  local b=$1
  KEY_PREFIX=$b
  rm -rf "$WORK/sqlite"
  prepare_database "$b" longrun_webhooks
  URL=$DB_URL

  # 1. Seed, without webhooks: no event is recorded.
  log "$b: seeding $((OPS + TRICKLE_OPS)) completed echo operations"
  plain_server "$WORK/server-$b-seed.log" 16
  hooks seed --port "$PORT" --count $((OPS + TRICKLE_OPS)) --concurrency "$SEED_CLIENTS" \
    --out "$WORK/ids.tsv" --json "$RESULTS/$b-seed.json"
  check_server "$WORK/server-$b-seed.log"
  stop_server
  head -n "$OPS" "$WORK/ids.tsv" >"$WORK/deliver-ids.tsv"
  head -n "$POLL_OPS" "$WORK/ids.tsv" >"$WORK/poll-ids.tsv"
  tail -n +$((OPS + 1)) "$WORK/ids.tsv" >"$WORK/trickle-ids.tsv"

  # 3a, before.
  poll_without poll-a1

  # 2. Deliveries/s.
  start_receiver
  deliveries "$b"
  hooks stats --receiver-port "$RECEIVER_PORT" --reset --json "$RESULTS/$b-receiver-after-deliver.json"

  # 3b: webhooks configured, nothing pending; the receiver should get nothing.
  local logfile="$WORK/server-$b-poll-bc.log"
  webhook_server "$logfile"
  warm poll-b
  run_poll poll-b
  hooks stats --receiver-port "$RECEIVER_PORT" --reset --json "$RESULTS/$b-poll-b-received.json"

  # 3c: the same server while ~100 events a second are recorded and
  # delivered. The trickle runs from before the warm-up until after wrk.
  taskset -c 1 python3 "$BENCH/webhooks.py" trickle "${DB_ARG[@]}" --ids "$WORK/trickle-ids.tsv" \
    --per-tick "$PER_TICK" --tick-ms "$TICK_MS" --log "$WORK/trickle-log.tsv" --json "$RESULTS/$b-trickle.json" &
  local trickle_pid=$!
  HELPER_PIDS+=("$trickle_pid")
  warm poll-c
  run_poll poll-c
  stop_helper "$trickle_pid"
  [[ -s "$RESULTS/$b-trickle.json" ]] || die "the trickle helper failed"
  hooks check "${DB_ARG[@]}" --ids "$WORK/trickle-log.tsv" --timed --window "$RESULTS/$b-poll-c-audit.json" \
    --receiver-port "$RECEIVER_PORT" --server-port "$PORT" --json "$RESULTS/$b-trickle-check.json"
  check_server "$logfile"
  stop_server
  stop_helper "$RECEIVER_PID"

  # 3a, after: the machine's drift over the backend's run shows between the two.
  poll_without poll-a2

  touch "$RESULTS/$b-done"
  rm -rf "$WORK/sqlite"
  drop_pg_db
}

START=$(date +%s)
for backend in "${BACKENDS[@]}"; do
  bench_backend "$backend"
done
log "done in $(( $(date +%s) - START )) s"
echo
python3 "$BENCH/webhooks.py" report --results "$RESULTS" --command "$COMMAND" --ops "$OPS" --poll-ops "$POLL_OPS" \
  --retry-secs "$RETRY_SECS" --build "$BUILD_NOTE" ${BENCH_REPORT:+--save "$BENCH_REPORT"}
