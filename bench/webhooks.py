#!/usr/bin/env python3
"""Helpers of bench/webhooks.sh (Python 3.11 standard library, and the
`standardwebhooks` package for the receiver, as tests/webhooks/receiver.py).

Subcommands:
  seed     create completed echo operations through the API, with a few
           clients at once; write "<id>\\t<etag>" lines
  receive  the webhook receiver (benchlib.serve: asyncio, HTTP/1.1
           keep-alive), every delivery verified with `standardwebhooks`,
           arrivals kept in memory; GET /_stats, GET /_arrivals, POST /_reset
  stats    the receiver's counts, to a file (and --reset)
  cache    the server's poll cache lookups so far (hits, misses), from
           /metrics: taken around each found-poll run
  warm     GET every operation of an ids file once (each then held in the
           server's memory), check that each is a 200
  deliver  put one event per operation of an ids file into the outbox by
           SQL, as the trigger of migration 0006 would, in one transaction;
           wait until the receiver has a delivery of each
  trickle  put N events into the outbox every T ms (one transaction each),
           for operations not used yet, until stopped (SIGTERM) or out of
           operations
  check    what arrived against what was expected: every webhook-id, none
           unverified, the duplicates; the server's delivery counters and
           the database's deliveries by state
  report   print the Markdown report of a results directory

The steps every driver takes (ready, quiet, audit) and the helpers the
drivers share come from bench/benchlib.py. Every subcommand talks to
127.0.0.1 only.
"""

import http.client
import json
import os
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

sys.dont_write_bytecode = True  # no bench/__pycache__ from the import below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (  # noqa: E402
    add_database, add_report, audit_cpu, command_line, finish_report, helper_call, load, percentile, psql,
    read_int, realistic_result, report_head, run, serve, table_rows, write_json,
)

LIST = "/api/v1/operations"
ENDPOINT = "bench"  # the name of the one configured endpoint (webhooks.sh)

# The statement of the outbox trigger (migrations/*/0006_webhooks.sql), for
# the operations of a temporary table of ids rather than for NEW.
INSERT_EVENTS = ("INSERT INTO webhook_events (operation_id, event_type) "
                 "SELECT id, 'operation.' || status FROM operations WHERE id IN (SELECT id FROM bench_ids)")


def webhook_id(op_id):
    """The webhook-id of an operation's deliveries (src/webhooks/targets.rs)."""
    return "msg_" + uuid.UUID(op_id).hex


def read_ids(path):
    with open(path) as f:
        return [line.split("\t", 1)[0].strip() for line in f if line.strip()]


# --------------------------------------------------------------------------
# HTTP (blocking; setup and checks only, never in a measured window)


class Api:
    def __init__(self, port, timeout=30.0):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None):
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(3):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                return response.status, response.getheader("etag"), response.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                # Rocket closes idle keep-alive connections: reconnect.
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                time.sleep(0.05)

    def get_json(self, path):
        status, _, payload = self.request("GET", path)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}: {payload[:300]!r}")
        return json.loads(payload)


# --------------------------------------------------------------------------
# seed


def cmd_seed(args):
    """Creates the operations with `concurrency` clients (a connection each),
    then GETs each until it is completed."""
    local = threading.local()

    def api():
        if not hasattr(local, "api"):
            local.api = Api(args.port)
        return local.api

    def create(i):
        body = {"operation_type": "echo", "input": {"delay_ms": 0, "result": realistic_result(i)}}
        status, _, payload = api().request("POST", LIST, body)
        if status != 202:
            raise SystemExit(f"POST {LIST} answered {status}: {payload[:300]!r}")
        return json.loads(payload)["id"]

    def finished(op_id):
        status, etag, payload = api().request("GET", f"{LIST}/{op_id}")
        if status != 200:
            raise SystemExit(f"GET {LIST}/{op_id} answered {status}: {payload[:300]!r}")
        body = json.loads(payload)
        if body["status"] == "failed":
            raise SystemExit(f"operation {op_id} failed: {body}")
        return (etag, len(payload)) if body["status"] == "completed" else None

    started = time.time()
    with ThreadPoolExecutor(args.concurrency) as pool:
        ids = list(pool.map(create, range(args.count), chunksize=64))
        created_s = time.time() - started
        done, pending = {}, list(ids)
        deadline = time.time() + args.timeout
        while pending:
            if time.time() > deadline:
                raise SystemExit(f"{len(pending)} operations not completed after {args.timeout}s")
            still = []
            for op_id, got in zip(pending, pool.map(finished, pending, chunksize=64)):
                if got is None:
                    still.append(op_id)
                else:
                    done[op_id] = got
            pending = still
            if pending:
                time.sleep(0.2)
    sizes = [size for _, size in done.values()]
    with open(args.out, "w") as f:
        f.writelines(f"{op_id}\t{done[op_id][0]}\n" for op_id in ids)
    info = {"operations": len(ids), "concurrency": args.concurrency, "create_s": round(created_s, 2),
            "seed_s": round(time.time() - started, 2), "body_bytes_min": min(sizes), "body_bytes_max": max(sizes)}
    write_json(args.json, info)
    print(f"{len(ids)} completed echo operations in {info['seed_s']:.1f}s (created in {created_s:.1f}s, "
          f"{args.concurrency} clients)", file=sys.stderr)


# --------------------------------------------------------------------------
# receive


class Receiver:
    """Every delivery is verified (the signature, the timestamp's tolerance,
    the JSON body) and its arrival kept: (time, webhook-id, the payload's
    operation id). Nothing else is done while deliveries arrive."""

    def __init__(self, name, secret):
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError

        self.path = f"/hooks/{name}".encode()
        self.webhook = Webhook(secret)
        self.unverifiable = WebhookVerificationError
        self.reset()

    def reset(self):
        self.arrivals = []
        self.seen = set()
        self.unverified = 0
        self.first = self.last = self.last_new = None

    def run(self, headers, body):
        """A delivery, POSTed to self.path (benchlib.KeepAliveConnection)."""
        now = time.time()
        try:
            event = self.webhook.verify(body, headers)
        except (self.unverifiable, ValueError):
            self.unverified += 1
            return b"400 Bad Request", b""
        wid = headers.get("webhook-id", "")
        data = event.get("data") or {}
        self.arrivals.append((now, wid, data.get("id"), event.get("type")))
        if self.first is None:
            self.first = now
        self.last = now
        if wid not in self.seen:
            self.seen.add(wid)
            self.last_new = now
        return b"204 No Content", b""

    def stats(self):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {"count": len(self.arrivals), "distinct": len(self.seen), "unverified": self.unverified,
                "first": self.first, "last": self.last, "last_new": self.last_new,
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 3)}

    def control(self, method, path):
        if method == b"GET" and path == b"/_stats":
            return b"200 OK", json.dumps(self.stats()).encode()
        if method == b"GET" and path == b"/_arrivals":
            return b"200 OK", json.dumps(dict(self.stats(), arrivals=self.arrivals)).encode()
        if method == b"POST" and path == b"/_reset":
            self.reset()
            return b"200 OK", b"{}"
        return b"404 Not Found", b""


def cmd_receive(args):
    name, secret = args.secret.split("=", 1)
    serve(Receiver(name, secret), args.port)


def receiver_get(port, path, method="GET"):
    return helper_call(port, path, method, "the receiver")


def cmd_stats(args):
    write_json(args.json, receiver_get(args.receiver_port, "/_stats"))
    if args.reset:
        receiver_get(args.receiver_port, "/_reset", "POST")


# --------------------------------------------------------------------------
# warm


def cmd_warm(args):
    api = Api(args.port)
    sizes = []
    for op_id in read_ids(args.ids):
        status, _, payload = api.request("GET", f"{LIST}/{op_id}")
        if status != 200:
            raise SystemExit(f"GET {LIST}/{op_id} answered {status}")
        sizes.append(len(payload))
    write_json(args.json, {"operations": len(sizes), "body_bytes_min": min(sizes), "body_bytes_max": max(sizes)})
    print(f"warmed {len(sizes)} operations (200 each, bodies {min(sizes)}-{max(sizes)} B)", file=sys.stderr)


# --------------------------------------------------------------------------
# The outbox, by SQL


def count_events(args):
    sql = "SELECT count(*) FROM webhook_events"
    if args.sqlite_db:
        con = sqlite3.connect(args.sqlite_db, timeout=60)
        n = con.execute(sql).fetchone()[0]
        con.close()
        return n
    return int(psql(args.pg_db, "-c", sql))


def clear_deliveries(args):
    """A repeated run starts from no deliveries, as the first does (an
    operation's delivery is made once: a second event would make none)."""
    sql = "DELETE FROM webhook_attempts; DELETE FROM webhook_deliveries;"
    if args.sqlite_db:
        con = sqlite3.connect(args.sqlite_db, isolation_level=None, timeout=60)
        con.executescript(sql)
        con.close()
    else:
        psql(args.pg_db, "-c", sql)


def insert_events(args, ids):
    """One transaction: one event per operation of IDS. The commit's time
    (SQLite: as the commit returns; PostgreSQL: clock_timestamp() after
    the statement, which committed on its own)."""
    if args.sqlite_db:
        con = sqlite3.connect(args.sqlite_db, isolation_level=None, timeout=60)
        # A temporary table is the connection's own: no lock on the database.
        con.execute("CREATE TEMP TABLE bench_ids (id TEXT PRIMARY KEY)")
        con.executemany("INSERT INTO bench_ids VALUES (?)", ((i,) for i in ids))
        con.execute("BEGIN IMMEDIATE")
        inserted = con.execute(INSERT_EVENTS).rowcount
        con.execute("COMMIT")
        committed = time.time()
        con.close()
        return inserted, committed
    script = ("CREATE TEMP TABLE bench_ids (id uuid PRIMARY KEY);\nCOPY bench_ids FROM STDIN;\n"
              + "".join(f"{i}\n" for i in ids) + "\\.\n"
              f"WITH inserted AS ({INSERT_EVENTS} RETURNING 1) SELECT count(*) FROM inserted;\n"
              "SELECT extract(epoch FROM clock_timestamp());\n")
    out = psql(args.pg_db, input_text=script).split()
    return int(out[0]), float(out[1])


def cmd_deliver(args):
    ids = read_ids(args.ids)
    expected = {webhook_id(i) for i in ids}
    clear_deliveries(args)
    receiver_get(args.receiver_port, "/_reset", "POST")
    before = count_events(args)
    started = time.time()
    inserted, committed = insert_events(args, ids)
    # Until every webhook-id has arrived, or nothing new for `stall_s`.
    deadline = time.time() + args.timeout
    last_progress, last_distinct, stats = time.time(), -1, {}
    while time.time() < deadline:
        stats = receiver_get(args.receiver_port, "/_stats")
        if stats["distinct"] >= len(expected):
            break
        if stats["distinct"] != last_distinct:
            last_distinct, last_progress = stats["distinct"], time.time()
        elif time.time() - last_progress > args.stall_s:
            break
        time.sleep(0.05)
    span = (stats["last_new"] - stats["first"]) if stats.get("first") else None
    info = {
        "operations": len(ids), "events_before": before, "inserted": inserted,
        "insert_s": round(committed - started, 3),
        "commit_to_first_s": round(stats["first"] - committed, 3) if stats.get("first") else None,
        "first_to_last_s": round(span, 3) if span else None,
        "deliveries_per_s": round(len(ids) / span, 1) if span else None,
        "arrived": stats.get("count", 0), "distinct": stats.get("distinct", 0),
        "complete": stats.get("distinct", 0) >= len(expected),
    }
    write_json(args.json, info)
    print(f"{inserted} events inserted in {info['insert_s']}s; {info['distinct']} of {len(ids)} webhook-ids "
          f"arrived, first to last {info['first_to_last_s']}s: {info['deliveries_per_s']} deliveries/s",
          file=sys.stderr)
    if not info["complete"]:
        sys.exit(3)


class PgSession:
    """One psql kept open, each statement written to it as it is due: a
    psql started per statement would cost the helper's core more than the
    statements."""

    def __init__(self, db):
        self.proc = subprocess.Popen(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-qAt"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def execute(self, sql):
        if self.proc.poll() is not None:
            raise SystemExit(f"psql exited: {self.proc.stderr.read()}")
        self.proc.stdin.write(sql + ";\n")
        self.proc.stdin.flush()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def cmd_trickle(args):
    """Every `tick_ms`, `per_tick` events in one transaction, on a fixed
    schedule (a late tick does not shift the ones after it)."""
    ids = read_ids(args.ids)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    if args.sqlite_db:
        con = sqlite3.connect(args.sqlite_db, isolation_level=None, timeout=60)

        def insert(batch):
            con.execute("BEGIN IMMEDIATE")
            con.execute("INSERT INTO webhook_events (operation_id, event_type) SELECT id, 'operation.' || status "
                        f"FROM operations WHERE id IN ({','.join('?' * len(batch))})", batch)
            con.execute("COMMIT")
    else:
        session = PgSession(args.pg_db)

        def insert(batch):
            listed = ",".join(f"'{i}'" for i in batch)
            session.execute("INSERT INTO webhook_events (operation_id, event_type) SELECT id, 'operation.' || status "
                            f"FROM operations WHERE id IN ({listed})")
    tick = args.tick_ms / 1000
    started = time.time()
    inserted, late, worst_late, k = [], 0, 0.0, 0
    while not stopping and len(inserted) < len(ids):
        due = started + k * tick
        wait = due - time.time()
        if wait > 0:
            time.sleep(wait)
            if stopping:
                break
        elif -wait > tick:
            late += 1
        worst_late = max(worst_late, -wait)
        batch = ids[len(inserted):len(inserted) + args.per_tick]
        insert(batch)
        sent = time.time()
        inserted.extend((i, sent) for i in batch)
        k += 1
    ended = time.time()
    if not args.sqlite_db:
        session.close()
    with open(args.log, "w") as f:
        f.writelines(f"{i}\t{t:.6f}\n" for i, t in inserted)
    write_json(args.json, {"inserted": len(inserted), "ticks": k, "per_tick": args.per_tick,
                           "tick_ms": args.tick_ms, "started_at": round(started, 3), "ended_at": round(ended, 3),
                           "rate_per_s": round(len(inserted) / (ended - started), 1) if ended > started else None,
                           "late_ticks": late, "worst_late_ms": round(worst_late * 1000, 1),
                           "ran_out": len(inserted) >= len(ids)})
    print(f"trickle: {len(inserted)} events in {ended - started:.1f}s"
          + (" (ran out of operations)" if len(inserted) >= len(ids) else ""), file=sys.stderr)


# --------------------------------------------------------------------------
# check


def counters(port, name):
    """The labels and values of the server's counter NAME, from /metrics."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    found = []
    for labels, value in re.findall(rf'^{name}\{{([^}}]*)\}}\s+(\S+)$', text, re.M):
        found.append((dict(re.findall(r'(\w+)="([^"]*)"', labels)), int(float(value))))
    return found


def delivery_counters(port):
    """The server's longrun_webhook_deliveries_total of the endpoint, by outcome."""
    return {labels.get("outcome", "?"): value
            for labels, value in counters(port, "longrun_webhook_deliveries_total")
            if labels.get("endpoint") == ENDPOINT}


def cmd_cache(args):
    """A poll served from memory is a hit; a miss reads the database (the
    operation is not held, or the change feed has not confirmed the cache
    within cache_max_staleness_ms)."""
    write_json(args.json, {labels.get("result", "?"): value
                           for labels, value in counters(args.port, "longrun_poll_cache_lookups_total")})


def delivery_states(args):
    sql = ("SELECT state, count(*) FROM webhook_deliveries GROUP BY state ORDER BY state",
           "SELECT count(*) FROM webhook_events")
    if args.sqlite_db:
        con = sqlite3.connect(args.sqlite_db, timeout=60)
        states = dict(con.execute(sql[0]).fetchall())
        events = con.execute(sql[1]).fetchone()[0]
        con.close()
    else:
        out = psql(args.pg_db, "-F", "\t", "-c", sql[0])
        states = {s: int(n) for s, n in (line.split("\t") for line in out.splitlines() if line)}
        events = int(psql(args.pg_db, "-c", sql[1]))
    return states, events


def cmd_check(args):
    """Waits until every expected webhook-id has arrived and then `grace_s`
    more (a duplicate would come from a retry), or until the timeout."""
    inserted = {}
    with open(args.ids) as f:
        for line in f:
            if line.strip():
                op_id, _, rest = line.rstrip("\n").partition("\t")
                # The trickle's log has the time each was inserted.
                inserted[op_id] = float(rest) if args.timed else None
    expected = {webhook_id(i): i for i in inserted}
    deadline = time.time() + args.timeout
    while time.time() < deadline and receiver_get(args.receiver_port, "/_stats")["distinct"] < len(expected):
        time.sleep(0.1)
    time.sleep(args.grace_s)
    got = receiver_get(args.receiver_port, "/_arrivals")
    arrivals = got["arrivals"]
    first_arrival = {}
    bad_payload = 0
    for t, wid, op_id, event_type in arrivals:
        first_arrival.setdefault(wid, t)
        if op_id is None or webhook_id(op_id) != wid or event_type != "operation.completed":
            bad_payload += 1
    seen = set(first_arrival)
    info = {
        "expected": len(expected), "arrivals": len(arrivals), "distinct": len(seen),
        "missing": len(expected.keys() - seen), "unexpected": len(seen - expected.keys()),
        "duplicates": len(arrivals) - len(seen), "unverified": got["unverified"], "bad_payload": bad_payload,
        "receiver_cpu_s": got["cpu_s"], "counters": delivery_counters(args.server_port),
    }
    info["states"], info["events_left"] = delivery_states(args)
    if args.timed:
        lags = sorted((first_arrival[w] - inserted[i]) * 1000 for w, i in expected.items() if w in first_arrival)
        info["lag_ms"] = {"p50": round(percentile(lags, 50), 1), "p99": round(percentile(lags, 99), 1),
                          "max": round(lags[-1], 1)} if lags else None
    window = load(args.window) if args.window else None
    if window:
        n = sum(1 for t, *_ in arrivals if window["started_at"] <= t <= window["ended_at"])
        span = window["ended_at"] - window["started_at"]
        info["during_window"] = {"deliveries": n, "window_s": round(span, 2), "per_s": round(n / span, 1)}
    write_json(args.json, info)
    print(f"check: {info['distinct']} of {info['expected']} webhook-ids arrived, {info['missing']} missing, "
          f"{info['duplicates']} duplicates, {info['unverified']} unverified; server counters {info['counters']}; "
          f"deliveries by state {info['states']}, {info['events_left']} events left", file=sys.stderr)


# --------------------------------------------------------------------------
# report

DELIVERIES_FLOOR = 1000  # per second
POLL_FLOOR = 0.90        # the found poll with deliveries over without


def cmd_report(args):
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    R = args.results
    backends = [b for b in ("sqlite", "postgres") if os.path.exists(os.path.join(R, f"{b}-done"))]

    def res(b, key):
        return load(os.path.join(R, f"{b}-{key}.json"))

    rows, row = table_rows(backends)

    def ms(us):
        return f"{us / 1000:.2f}" if us < 10_000 else f"{us / 1000:.1f}"

    def attempts(b, key):
        n = read_int(os.path.join(R, f"{b}-{key}-attempts"), 1)
        return f" (attempt {n})" if n > 1 else ""

    def poll(b, key):
        d = res(b, key)
        return f"{d['rps']:,.0f}; {ms(d['p50_us'])} / {ms(d['p99_us'])} ms" + attempts(b, key)

    def without(b):
        return (res(b, "poll-a1")["rps"] + res(b, "poll-a2")["rps"]) / 2

    def ratio(b, key):
        return res(b, key)["rps"] / without(b)

    def bad(b, key):
        d = res(b, key)
        return f"{d['unexpected_status']} / {sum(d['errors'].values())}"

    def misses(b, key):
        before, after = res(b, f"{key}-cache-before"), res(b, f"{key}-cache-after")
        missed = after.get("miss", 0) - before.get("miss", 0)
        total = missed + after.get("hit", 0) - before.get("hit", 0)
        return f"{missed:,} ({missed / total:.2%})" if total else "—"

    def rate(b):
        return res(b, "deliver")["deliveries_per_s"]

    def cpu_per(b, field):
        a = load(os.path.join(R, f"{b}-deliver-audit.json"))
        return a[field] / res(b, "deliver")["operations"] * 1e6

    def helpers_cpu(b, key):
        a = load(os.path.join(R, f"{b}-{key}-audit.json"))
        return f"{a.get('helpers_cpu_s', 0)}"

    seed = next((res(b, "seed") for b in backends if res(b, "seed")), {}) or {}
    wrk = next((res(b, "poll-a1") for b in backends if res(b, "poll-a1")), {}) or {}
    trickle = next((res(b, "trickle") for b in backends if res(b, "trickle")), {}) or {}
    n = args.ops

    row(f"**1. Seed**: {seed.get('operations', '?'):,} completed echo operations (200–500-byte results) "
        f"through the API, {seed.get('concurrency', '?')} clients, server without webhooks", lambda b: "")
    row("seeded in", lambda b: f"{res(b, 'seed')['seed_s']:.1f} s")
    row("outbox events after seeding (none expected: no endpoints, nothing recorded)",
        lambda b: f"{res(b, 'deliver')['events_before']}")

    row(f"**2. Deliveries**: {n:,} events put into the outbox by SQL in one transaction, the server "
        f"(`workers=4`, `webhook_concurrency={args.concurrency}`) delivering to the receiver", lambda b: "")
    row("insert of the events; commit → first delivery",
        lambda b: f"{res(b, 'deliver')['insert_s'] * 1000:.0f} ms; {res(b, 'deliver')['commit_to_first_s'] * 1000:.0f} ms")
    row("first → last delivery", lambda b: f"{res(b, 'deliver')['first_to_last_s']:.2f} s")
    row(f"**deliveries/s** (N ÷ first → last); floor ≥ {DELIVERIES_FLOOR:,}",
        lambda b: f"**{rate(b):,.0f}** — {'met' if rate(b) >= DELIVERIES_FLOOR else 'MISSED'}"
                  + attempts(b, "deliver"))
    row("webhook-ids arrived (distinct) / expected; missing; other ids",
        lambda b: f"{res(b, 'deliver-check')['distinct']:,} / {res(b, 'deliver-check')['expected']:,}; "
                  f"{res(b, 'deliver-check')['missing']}; {res(b, 'deliver-check')['unexpected']}")
    row("duplicates; unverified; payloads not matching their webhook-id",
        lambda b: f"{res(b, 'deliver-check')['duplicates']}; {res(b, 'deliver-check')['unverified']}; "
                  f"{res(b, 'deliver-check')['bad_payload']}")
    row("server's `longrun_webhook_deliveries_total{endpoint=\"bench\"}` by outcome",
        lambda b: ", ".join(f"{k} {v:,}" for k, v in sorted(res(b, "deliver-check")["counters"].items())) or "none")
    row("database: deliveries by state; events left in the outbox",
        lambda b: ", ".join(f"{k} {v:,}" for k, v in res(b, "deliver-check")["states"].items())
                  + f"; {res(b, 'deliver-check')['events_left']}")
    row("CPU per delivery: server [/ PostgreSQL]",
        lambda b: f"{cpu_per(b, 'server_cpu_s'):.0f}"
                  + (f" / {cpu_per(b, 'postgres_cpu_s'):.0f}" if b == "postgres" else "") + " µs")
    row("CPU server / inserting client [/ PostgreSQL] (whole window)", lambda b: audit_cpu(R, f"{b}-deliver"))
    row("receiver (1 Python process, core 1, verifying every delivery): CPU over first → last",
        lambda b: f"{load(os.path.join(R, f'{b}-deliver-audit.json'))['helpers_cpu_s']:.2f} s of "
                  f"{res(b, 'deliver')['first_to_last_s']:.2f} s "
                  f"({load(os.path.join(R, f'{b}-deliver-audit.json'))['helpers_cpu_s'] / res(b, 'deliver')['first_to_last_s']:.0%} of a core)")

    row(f"**3. Found poll** (wrk -t1 -c32 -d{wrk.get('duration_s', 0):.0f}s over {args.poll_ops:,} completed "
        f"operations, each warmed first): requests/s; p50 / p99", lambda b: "")
    row("(a) server without webhooks, before", lambda b: poll(b, "poll-a1"))
    row("(b) webhooks configured, dispatcher running, nothing pending", lambda b: poll(b, "poll-b"))
    row(f"(c) the same server, deliveries trickling ({trickle.get('per_tick', '?')} events every "
        f"{trickle.get('tick_ms', 0):.0f} ms)", lambda b: poll(b, "poll-c"))
    row("(a) server without webhooks, after", lambda b: poll(b, "poll-a2"))
    row("ratio (b) / (a) (mean of before and after)", lambda b: f"{ratio(b, 'poll-b'):.3f}")
    row(f"**ratio (c) / (a)** (mean of before and after); floor ≥ {POLL_FLOOR:.2f}",
        lambda b: f"**{ratio(b, 'poll-c'):.3f}** — {'met' if ratio(b, 'poll-c') >= POLL_FLOOR else 'MISSED'}")
    row("ratio (c) / (a) before; / after",
        lambda b: f"{res(b, 'poll-c')['rps'] / res(b, 'poll-a1')['rps']:.3f}; "
                  f"{res(b, 'poll-c')['rps'] / res(b, 'poll-a2')['rps']:.3f}")
    row("p99 (c) ÷ p99 (a) (mean of before and after)",
        lambda b: f"{res(b, 'poll-c')['p99_us'] / ((res(b, 'poll-a1')['p99_us'] + res(b, 'poll-a2')['p99_us']) / 2):.2f}")
    row("(c) deliveries during the wrk run", lambda b: f"{res(b, 'trickle-check')['during_window']['deliveries']:,} "
        f"in {res(b, 'trickle-check')['during_window']['window_s']:.1f} s "
        f"({res(b, 'trickle-check')['during_window']['per_s']:.0f}/s)")
    row("(c) trickle: events inserted, all delivered? event → delivery p50 / p99 / max",
        lambda b: f"{res(b, 'trickle')['inserted']:,}, "
                  f"{'yes' if res(b, 'trickle-check')['missing'] == 0 else 'NO'}; "
                  f"{res(b, 'trickle-check')['lag_ms']['p50']:.0f} / {res(b, 'trickle-check')['lag_ms']['p99']:.0f} / "
                  f"{res(b, 'trickle-check')['lag_ms']['max']:.0f} ms")
    row("(c) trickle: duplicates; unverified", lambda b: f"{res(b, 'trickle-check')['duplicates']}; "
        f"{res(b, 'trickle-check')['unverified']}")
    row("(b) deliveries the receiver got (none expected)", lambda b: f"{res(b, 'poll-b-received')['count']}")
    row("polls the poll cache missed (read from the database) (a before; b; c; a after)",
        lambda b: "; ".join(misses(b, k) for k in ("poll-a1", "poll-b", "poll-c", "poll-a2")))
    row("answers not 200 / socket errors (a before; b; c; a after)",
        lambda b: ", ".join(bad(b, k) for k in ("poll-a1", "poll-b", "poll-c", "poll-a2")))
    row("CPU server / wrk [/ PostgreSQL] (a before; b; c; a after)",
        lambda b: "; ".join(audit_cpu(R, f"{b}-{k}") for k in ("poll-a1", "poll-b", "poll-c", "poll-a2")))
    row("CPU of the receiver and trickle helper on core 1 (b; c)",
        lambda b: f"{helpers_cpu(b, 'poll-b')}; {helpers_cpu(b, 'poll-c')} s")

    problems = []
    for b in backends:
        B = names[b]
        d = res(b, "deliver")
        if d is None:
            problems.append(f"{B} deliveries: no result (the phase failed; see the script's output)")
        else:
            if d["events_before"]:
                problems.append(f"{B}: {d['events_before']} outbox events after seeding without webhooks")
            if not d["complete"]:
                problems.append(f"{B} deliveries: only {d['distinct']} of {d['operations']} webhook-ids arrived")
            elif rate(b) < DELIVERIES_FLOOR:
                problems.append(f"{B}: {rate(b):,.0f} deliveries/s < {DELIVERIES_FLOOR:,} (floor missed)")
        for key in ("deliver-check", "trickle-check"):
            c = res(b, key)
            if c is None:
                problems.append(f"{B} {key}: no result")
                continue
            if c["missing"] or c["unexpected"] or c["unverified"] or c["bad_payload"]:
                problems.append(f"{B} {key}: {c['missing']} missing, {c['unexpected']} unexpected ids, "
                                f"{c['unverified']} unverified, {c['bad_payload']} bad payloads")
            if c["duplicates"]:
                problems.append(f"{B} {key}: {c['duplicates']} duplicate deliveries")
            if set(c["states"]) - {"delivered"} or c["events_left"]:
                problems.append(f"{B} {key}: deliveries by state {c['states']}, {c['events_left']} events left")
            if set(c["counters"]) - {"delivered"}:
                problems.append(f"{B} {key}: the server counted {c['counters']}")
        t = res(b, "trickle")
        c = res(b, "trickle-check") or {}
        if t and c.get("during_window") and t["ended_at"] < load(os.path.join(R, f"{b}-poll-c-audit.json"))["ended_at"]:
            problems.append(f"{B}: the trickle ran out of operations before the end of run (c)")
        if t and t["late_ticks"]:
            problems.append(f"{B}: the trickle was more than a tick late {t['late_ticks']} times "
                            f"(worst {t['worst_late_ms']} ms)")
        received = res(b, "poll-b-received")
        if received and received["count"]:
            problems.append(f"{B} (b): the receiver got {received['count']} deliveries with nothing pending")
        for key in ("deliver", "poll-a1", "poll-b", "poll-c", "poll-a2"):
            if key != "deliver":
                w = res(b, key)
                if w is None:
                    problems.append(f"{B} {key}: no result (the phase failed; see the script's output)")
                    continue
                if w["unexpected_status"] or sum(w["errors"].values()):
                    problems.append(f"{B} {key}: {w['unexpected_status']} answers not 200 (first "
                                    f"{w['first_unexpected_status']}), errors {w['errors']}")
            a = load(os.path.join(R, f"{b}-{key}-audit.json"))
            if a and a["other_cpu_s"] > 0.1 * a["window_s"]:
                problems.append(f"{B} {key}: other processes used {a['other_cpu_s']} core-seconds during "
                                f"the {a['window_s']} s run; the figures may be disturbed")
            q = load(os.path.join(R, f"{b}-{key}-quiet.json"))
            if q and not q["quiet"]:
                problems.append(f"{B} {key}: the machine was not quiet before the run ({q['busy_cores']} cores busy)")
        try:
            if ratio(b, "poll-c") < POLL_FLOOR:
                problems.append(f"{B}: found poll with deliveries / without {ratio(b, 'poll-c'):.3f} < "
                                f"{POLL_FLOOR:.2f} (floor missed)")
        except (TypeError, KeyError, ZeroDivisionError):
            pass

    out = report_head(args.command, ["wrk"])
    if args.build:
        out.append(f"Server: {args.build}  ")
    out.append("Server pinned to core 0 (`taskset -c 0`); wrk, the receiver (`bench/webhooks.py receive`, "
               "asyncio, every delivery verified with the `standardwebhooks` package) and the trickle helper on "
               "core 1; rate limits raised to 1,000,000/s (still checked), logs off; `workers=4`, "
               "`idle_poll_ms=100`. With webhooks: one endpoint on the receiver (`allow_private_targets=true`, "
               f"`webhook_retry_secs={args.retry_secs}`). Events are inserted by SQL as the outbox trigger "
               "records them, for operations completed earlier. Without webhooks (a) there is no endpoint, "
               "but the dispatcher still looks at the (empty) outbox every 100 ms, as in every process with "
               "workers.")
    out.append("")
    out.append("| | " + " | ".join(names[b] for b in backends) + " |")
    out.append("|---|" + "---|" * len(backends))
    out.extend(rows)
    out.append("")
    finish_report(out, problems, args.save,
                  "No problems: every webhook-id arrived once and verified, every poll answer was a 200, "
                  "no run was disturbed, both floors met.")


def main():
    p, sub = command_line(__doc__)

    s = sub.add_parser("seed")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--concurrency", type=int, default=16)
    s.add_argument("--timeout", type=float, default=120, help="for the last to complete, after the creation")
    s.add_argument("--out", required=True)
    s.add_argument("--json", required=True)
    s.set_defaults(fn=cmd_seed)

    s = sub.add_parser("receive")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--secret", required=True, help="NAME=whsec_...: deliveries to /hooks/NAME")
    s.set_defaults(fn=cmd_receive)

    s = sub.add_parser("stats")
    s.add_argument("--receiver-port", type=int, required=True)
    s.add_argument("--reset", action="store_true", help="then forget what arrived")
    s.add_argument("--json", required=True)
    s.set_defaults(fn=cmd_stats)

    s = sub.add_parser("cache")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--json", required=True)
    s.set_defaults(fn=cmd_cache)

    s = sub.add_parser("warm")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--ids", required=True)
    s.add_argument("--json", required=True)
    s.set_defaults(fn=cmd_warm)

    s = sub.add_parser("deliver")
    add_database(s)
    s.add_argument("--ids", required=True)
    s.add_argument("--receiver-port", type=int, required=True)
    s.add_argument("--timeout", type=float, default=300)
    s.add_argument("--stall-s", type=float, default=30, help="give up after this long without a new webhook-id")
    s.add_argument("--json", required=True)
    s.set_defaults(fn=cmd_deliver)

    s = sub.add_parser("trickle")
    add_database(s)
    s.add_argument("--ids", required=True)
    s.add_argument("--per-tick", type=int, default=10)
    s.add_argument("--tick-ms", type=float, default=100)
    s.add_argument("--log", required=True, help="written at the end: <id>\\t<time inserted>")
    s.add_argument("--json", required=True)
    s.set_defaults(fn=cmd_trickle)

    s = sub.add_parser("check")
    add_database(s)
    s.add_argument("--ids", required=True, help="the operations whose deliveries are expected")
    s.add_argument("--timed", action="store_true", help="--ids is the trickle's log, with insertion times")
    s.add_argument("--window", help="an audit JSON: count the arrivals during its run")
    s.add_argument("--receiver-port", type=int, required=True)
    s.add_argument("--server-port", type=int, required=True)
    s.add_argument("--timeout", type=float, default=30)
    s.add_argument("--grace-s", type=float, default=2)
    s.add_argument("--json", required=True)
    s.set_defaults(fn=cmd_check)

    add_report(sub, cmd_report, ops={"type": int, "required": True}, poll_ops={"type": int, "required": True},
               concurrency={"default": "16"}, retry_secs={"default": ""}, build={})
    run(p)


if __name__ == "__main__":
    main()
