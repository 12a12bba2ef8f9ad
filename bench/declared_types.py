#!/usr/bin/env python3
"""Helpers of bench/declared_types.sh (Python 3.11 standard library only).

Subcommands:
  target  the HTTP target of the declared `http` type (benchlib.serve:
          asyncio, HTTP/1.1 keep-alive): checks each request's credentials
          (the bearer token, or the Standard Webhooks signature verified
          with hmac) and answers at once 200
          {"ok":true,"operation_id":…,"n":…}; GET /_stats, POST /_reset
  run     the measured client: creates N operations of one type as fast as
          C keep-alive connections allow, then waits (reading the database,
          not the API) until every one has finished; first create sent →
          last finish (the rows' updated_at) gives operations/s
  check   the database's account of a run: operations by status, retried,
          and for the http type whether every result is the target's answer
          for that operation
  report  print the Markdown report of a results directory

The steps every driver takes (ready, quiet, audit) and the helpers the
drivers share come from bench/benchlib.py. Every subcommand talks to
127.0.0.1 only.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import resource
import sqlite3
import subprocess
import sys
import time
from datetime import datetime

sys.dont_write_bytecode = True  # no bench/__pycache__ from the import below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (  # noqa: E402
    add_database, add_report, audit_cpu, command_line, finish_report, helper_call, load, percentile, psql,
    read_int, report_head, run, serve, table_rows, write_json,
)

LIST = "/api/v1/operations"
FLOOR = 2000  # operations/s, on each backend, the server on one core


def expected_result(op_id, n):
    """What the target answers for an operation, and so its result."""
    return {"ok": True, "operation_id": op_id, "n": n}


# --------------------------------------------------------------------------
# target


class Target:
    """Checks the credentials of every request to /run and answers it at
    once; keeps counts only (no list grows per request but the ids seen,
    to count the distinct operations and the repeats)."""

    path = b"/run"  # POSTs to it go to run() (benchlib.KeepAliveConnection)

    def __init__(self, token, secret):
        self.token = f"Bearer {token}" if token else None
        self.key = base64.b64decode(secret.removeprefix("whsec_")) if secret else None
        self.reset()

    def reset(self):
        self.requests = 0
        self.refused = 0
        self.bad_body = 0
        self.retried = 0       # Longrun-Attempt > 1
        self.seen = set()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.cpu0 = usage.ru_utime + usage.ru_stime

    def authorised(self, headers, body):
        if self.token is not None:
            return headers.get("authorization") == self.token
        wid, ts, sigs = headers.get("webhook-id"), headers.get("webhook-timestamp"), headers.get("webhook-signature")
        if not (wid and ts and sigs):
            return False
        mac = hmac.new(self.key, f"{wid}.{ts}.".encode() + body, hashlib.sha256).digest()
        expected = "v1," + base64.b64encode(mac).decode()
        return any(hmac.compare_digest(expected, s) for s in sigs.split())

    def run(self, headers, body):
        self.requests += 1
        if not self.authorised(headers, body):
            self.refused += 1
            return b"401 Unauthorized", b'{"error_message":"bad credentials"}'
        op_id = headers.get("longrun-operation-id", "")
        if headers.get("longrun-attempt", "1") != "1":
            self.retried += 1
        self.seen.add(op_id)  # a repeat shows as requests > distinct
        try:
            n = json.loads(body).get("n")
        except (ValueError, AttributeError):
            self.bad_body += 1
            n = None
        return b"200 OK", json.dumps(expected_result(op_id, n), separators=(",", ":")).encode()

    def stats(self):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {"requests": self.requests, "distinct": len(self.seen), "refused": self.refused,
                "bad_body": self.bad_body, "retried_attempts": self.retried,
                "cpu_s": round(usage.ru_utime + usage.ru_stime - self.cpu0, 3)}

    def control(self, method, path):
        if method == b"GET" and path == b"/_stats":
            return b"200 OK", json.dumps(self.stats()).encode()
        if method == b"POST" and path == b"/_reset":
            self.reset()
            return b"200 OK", b"{}"
        return b"404 Not Found", b"{}"


def cmd_target(args):
    if bool(args.token) == bool(args.secret):
        raise SystemExit("give one of --token or --secret")
    serve(Target(args.token, args.secret), args.port)


def target_call(port, path, method="GET"):
    return helper_call(port, path, method, "the target")


# --------------------------------------------------------------------------
# The database: how many of the run's operations have finished


class Finished:
    """Counts the unfinished operations, and once all have finished, the
    last finish of a type. SQLite: a read-only connection of
    this process; PostgreSQL: one psql kept open (a psql per query would
    cost the client's core more than the queries)."""

    def __init__(self, args):
        self.sqlite_db = args.sqlite_db
        if self.sqlite_db:
            self.con = sqlite3.connect(f"file:{self.sqlite_db}?mode=ro", uri=True, timeout=30)
        else:
            self.proc = subprocess.Popen(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", args.pg_db, "-v", "ON_ERROR_STOP=1", "-qAt",
                 "-F", "\t"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def query(self, sql):
        if self.sqlite_db:
            return [tuple(str(v) if v is not None else "" for v in row) for row in self.con.execute(sql).fetchall()]
        self.proc.stdin.write(sql + ";\n")
        self.proc.stdin.flush()
        # Every query here returns exactly one row.
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("psql exited")
        return [tuple(line.rstrip("\n").split("\t"))]

    def unfinished(self):
        """The operations not finished yet: the database is the run's own
        (a fresh one per run), and near the end this counts few rows."""
        return int(self.query("SELECT count(*) FROM operations WHERE status IN ('pending', 'processing')")[0][0])

    def last_finish(self, op_type):
        """The last updated_at of the type's operations, in seconds since
        the epoch."""
        if self.sqlite_db:
            (last,), = self.query(f"SELECT max(updated_at) FROM operations WHERE operation_type = '{op_type}'")
            # SQLite's `2026-11-30T05:45:01.123Z` (or with more digits).
            return datetime.fromisoformat(last.replace("Z", "+00:00")).timestamp()
        (last,), = self.query(f"SELECT extract(epoch FROM max(updated_at)) FROM operations "
                              f"WHERE operation_type = '{op_type}'")
        return float(last)

    def close(self):
        if self.sqlite_db:
            self.con.close()
        else:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


# --------------------------------------------------------------------------
# run


class Creator:
    """One keep-alive connection creating operations one after another."""

    def __init__(self, port):
        self.port = port
        self.reader = self.writer = None

    async def connect(self):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def post(self, body):
        request = (f"POST {LIST} HTTP/1.1\r\nhost: 127.0.0.1:{self.port}\r\ncontent-type: application/json\r\n"
                   f"content-length: {len(body)}\r\n\r\n").encode() + body
        for attempt in range(2):
            try:
                if self.writer is None:
                    await self.connect()
                self.writer.write(request)
                head = await self.reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                payload = await self.reader.readexactly(length) if length else b""
                return status, payload
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                # A connection the server closed: one reconnect (a create
                # that was sent may have been made; the check counts them).
                if self.writer is not None:
                    self.writer.close()
                self.reader = self.writer = None
                if attempt == 1:
                    raise


async def create_all(args, bodies):
    """Creates every operation of BODIES, C connections at once; returns
    the ids in order, the create round trips and the statuses."""
    ids = [None] * len(bodies)
    rtts = []
    statuses = {}
    errors = []
    samples = []
    nxt = 0
    creators = [Creator(args.port) for _ in range(args.concurrency)]
    await asyncio.gather(*(c.connect() for c in creators))

    async def user(creator):
        nonlocal nxt
        while nxt < len(bodies):
            i = nxt
            nxt += 1
            t = time.perf_counter()
            try:
                status, payload = await creator.post(bodies[i])
            except (ConnectionError, asyncio.IncompleteReadError, OSError) as e:
                errors.append(f"{type(e).__name__}: {e}")
                continue
            rtts.append(time.perf_counter() - t)
            statuses[status] = statuses.get(status, 0) + 1
            if status == 202:
                ids[i] = json.loads(payload)["id"]
            elif len(samples) < 5:
                samples.append(f"{status} {payload[:300]!r}")

    first_sent = time.time()
    await asyncio.gather(*(user(c) for c in creators))
    last_created = time.time()
    for c in creators:
        if c.writer is not None:
            c.writer.close()
    return ids, rtts, statuses, errors, samples, first_sent, last_created


def cmd_run(args):
    if args.type == "echo":
        inputs = [{} for _ in range(args.count)]
    else:
        inputs = [{"n": i} for i in range(args.count)]
    bodies = [json.dumps({"operation_type": args.type, "input": x}, separators=(",", ":")).encode() for x in inputs]
    if args.target_port:
        target_call(args.target_port, "/_reset", "POST")
    finished = Finished(args)
    ids, rtts, statuses, errors, samples, first_sent, last_created = asyncio.run(create_all(args, bodies))
    created = sum(1 for i in ids if i)
    # Until every created operation has finished (or nothing new for
    # stall_s): the database read every poll_ms, from the last create on
    # only (no reads compete with the creates).
    done, last_done, last_progress = 0, -1, time.time()
    deadline = time.time() + args.timeout
    backlog = None
    while True:
        done = created - finished.unfinished()
        if backlog is None:
            backlog = created - done  # unfinished as the last create returned
        if done >= created:
            break
        now = time.time()
        if done != last_done:
            last_done, last_progress = done, now
        elif now - last_progress > args.stall_s or now > deadline:
            break
        time.sleep(args.poll_ms / 1000)
    last_finish = finished.last_finish(args.type)
    finished.close()
    target = target_call(args.target_port, "/_stats") if args.target_port else None
    with open(args.ids_out, "w") as f:
        f.writelines(f"{op_id}\t{x.get('n', '')}\n" for op_id, x in zip(ids, inputs) if op_id)
    span = last_finish - first_sent
    rtts.sort()
    info = {
        "type": args.type, "requested": args.count, "concurrency": args.concurrency, "created": created,
        "finished": done, "complete": done >= created == args.count and not errors,
        "statuses": {str(k): v for k, v in sorted(statuses.items())}, "errors": len(errors),
        "error_samples": errors[:5], "status_samples": samples,
        "first_sent": round(first_sent, 6), "last_created": round(last_created, 6),
        "last_finish": round(last_finish, 6),
        "create_s": round(last_created - first_sent, 3),
        "creates_per_s": round(created / (last_created - first_sent), 1),
        "span_s": round(span, 3),
        "ops_per_s": round(args.count / span, 1) if span > 0 and done >= args.count else None,
        "drain_s": round(last_finish - last_created, 3),
        "backlog_at_last_create": backlog,
        "create_rtt_ms": {"p50": round(percentile(rtts, 50) * 1000, 2), "p99": round(percentile(rtts, 99) * 1000, 2),
                          "max": round(rtts[-1] * 1000, 2)} if rtts else None,
        "target": target,
    }
    write_json(args.json, info)
    print(f"{args.type}: {created:,} created in {info['create_s']:.2f} s ({info['creates_per_s']:,.0f}/s), "
          f"{done:,} finished; first create → last finish {span:.2f} s: {info['ops_per_s'] or 0:,.0f} operations/s"
          + (f"; target: {target['requests']:,} requests, {target['distinct']:,} operations, "
             f"{target['refused']} refused, CPU {target['cpu_s']:.2f} s" if target else ""), file=sys.stderr)
    if not info["complete"]:
        sys.exit(3)


# --------------------------------------------------------------------------
# check


def cmd_check(args):
    """Every operation of the ids file, by status; for the http type, whether
    its result is the target's answer for it."""
    expected = {}
    with open(args.ids) as f:
        for line in f:
            if line.strip():
                op_id, _, n = line.rstrip("\n").partition("\t")
                expected[op_id] = int(n) if n else None
    sql = (f"SELECT id, status, attempts, coalesce(result, ''), coalesce(error_message, '') FROM operations "
           f"WHERE operation_type = '{args.type}'")
    if args.sqlite_db:
        con = sqlite3.connect(f"file:{args.sqlite_db}?mode=ro", uri=True, timeout=30)
        rows = [(i, s, int(a), r, e) for i, s, a, r, e in con.execute(sql).fetchall()]
        con.close()
    else:
        out = psql(args.pg_db, "-F", "\t", "-c", sql.replace("coalesce(result, '')", "coalesce(result::text, '')"),
                   timeout=300)
        rows = []
        for line in out.splitlines():
            if line:
                i, s, a, r, e = line.split("\t", 4)
                rows.append((i, s, int(a), r, e))
    by_status, retried, wrong, errors = {}, 0, [], {}
    for op_id, status, attempts, result, error in rows:
        by_status[status] = by_status.get(status, 0) + 1
        retried += attempts > 1
        if status == "failed":
            errors[error[:200]] = errors.get(error[:200], 0) + 1
        if args.type != "echo" and status == "completed" and op_id in expected:
            try:
                got = json.loads(result)
            except ValueError:
                got = None
            if got != expected_result(op_id, expected[op_id]):
                wrong.append(op_id)
    ids = {r[0] for r in rows}
    info = {"total": len(rows), "by_status": by_status, "more_than_one_attempt": retried,
            "missing": len(expected.keys() - ids), "unexpected": len(ids - expected.keys()),
            "wrong_result": len(wrong), "wrong_samples": wrong[:3],
            "failed_messages": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:3])}
    write_json(args.json, info)
    print(f"database: {info['total']:,} {args.type} operations, by status {by_status}, {retried} retried, "
          f"{info['missing']} missing, {info['wrong_result']} results not the target's", file=sys.stderr)


# --------------------------------------------------------------------------
# report


def cmd_report(args):
    R = args.results
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    backends = [b for b in ("sqlite", "postgres") if os.path.exists(os.path.join(R, f"{b}-started"))]

    def res(key):
        return load(os.path.join(R, f"{key}.json"))

    def rate(b, kind):
        return res(f"{b}-{kind}")["ops_per_s"]

    rows, row = table_rows(backends)

    def attempts(key):
        n = read_int(os.path.join(R, f"{key}-attempts"), 1)
        return f" (attempt {n})" if n > 1 else ""

    def verdict(b):
        r = rate(b, "http")
        return f"**{r:,.0f}** — {'met' if r >= FLOOR else 'MISSED'}{attempts(f'{b}-http')}"

    def both(label, fn):
        """A row of FN(backend, kind) for http and echo, "http; echo"."""
        row(f"{label} (http; echo)", lambda b: "; ".join(fn(b, k) for k in ("http", "echo")))

    def audit(b, kind):
        return load(os.path.join(R, f"{b}-{kind}-audit.json"))

    def per_op(b, kind, field):
        return audit(b, kind)[field] * 1e6 / res(f"{b}-{kind}")["finished"]

    def db_line(b, kind):
        d = res(f"{b}-{kind}-db")
        line = ", ".join(f"{s} {n:,}" for s, n in sorted(d["by_status"].items())) or "none"
        line += f"; {d['more_than_one_attempt']} retried; {d['missing']} missing"
        if kind == "http":
            line += f"; {d['wrong_result']} results not the target's"
        return line

    http0 = next((res(f"{b}-http") for b in backends if res(f"{b}-http")), {}) or {}
    n = http0.get("requested", args.ops)
    row(f"**http operations/s** (first create sent → last finish, {n:,} operations); floor ≥ {FLOOR:,}",
        verdict)
    row("echo operations/s (same run, same client: the baseline)",
        lambda b: f"{rate(b, 'echo'):,.0f}{attempts(f'{b}-echo')}")
    row("**ratio http / echo**", lambda b: f"**{rate(b, 'http') / rate(b, 'echo'):.2f}**")
    for kind in ("http", "echo"):
        row(f"{kind}: first create → last finish; creates alone (rate); last create → last finish",
            lambda b, k=kind: f"{res(f'{b}-{k}')['span_s']:.2f} s; {res(f'{b}-{k}')['create_s']:.2f} s "
                              f"({res(f'{b}-{k}')['creates_per_s']:,.0f}/s); {res(f'{b}-{k}')['drain_s']:.2f} s")
    both("operations not finished yet when the last create returned",
         lambda b, k: f"{res(f'{b}-{k}')['backlog_at_last_create']:,}")
    both("create round trip p50 / p99 / max, ms",
         lambda b, k: "{p50:.2f} / {p99:.2f} / {max:.1f}".format(**res(f"{b}-{k}")["create_rtt_ms"]))
    for kind in ("http", "echo"):
        row(f"{kind}: database afterwards", lambda b, k=kind: db_line(b, k))
    row("http: the target's requests / distinct operations / refused / later attempts",
        lambda b: "{requests:,} / {distinct:,} / {refused} / {retried_attempts}".format(**res(f"{b}-http")["target"]))
    row("http: the target's CPU (its core is shared with the client)",
        lambda b: f"{res(f'{b}-http')['target']['cpu_s']:.2f} s "
                  f"({res(f'{b}-http')['target']['cpu_s'] / res(f'{b}-http')['span_s']:.0%} of a core over the span)")
    # The audited window holds the client's start and the last database
    # reads too; the busy share is over first create → last finish.
    both("server CPU (core 0), its share of first create → last finish",
         lambda b, k: f"{audit(b, k)['server_cpu_s']:.2f} core-s "
                      f"({audit(b, k)['server_cpu_s'] / res(f'{b}-{k}')['span_s']:.0%})")
    both("server CPU per operation [/ PostgreSQL backends'], µs",
         lambda b, k: f"{per_op(b, k, 'server_cpu_s'):.0f}"
                      + (f" / {per_op(b, k, 'postgres_cpu_s'):.0f}" if b == "postgres" else ""))
    both("CPU server / client [/ PostgreSQL], audited window", lambda b, k: audit_cpu(R, f"{b}-{k}"))
    both("other processes' CPU", lambda b, k: f"{audit(b, k)['other_cpu_s']:.2f} core-s")

    problems = []
    for b in backends:
        B = names[b]
        for kind in ("http", "echo"):
            key = f"{b}-{kind}"
            r = res(key)
            if r is None:
                problems.append(f"{B} {kind}: no result (the run failed; see the script's output)")
                continue
            if not r["complete"]:
                problems.append(f"{B} {kind}: {r['created']:,} of {r['requested']:,} created, {r['finished']:,} "
                                f"finished, {r['errors']} request errors, statuses {r['statuses']}"
                                + (f" (first: {r['status_samples'][0]})" if r["status_samples"] else "")
                                + (f" (first error: {r['error_samples'][0]})" if r["error_samples"] else ""))
            d = res(f"{key}-db")
            if d is None:
                problems.append(f"{B} {kind}: the database was not checked")
            else:
                if set(d["by_status"]) - {"completed"} or d["missing"] or d["unexpected"]:
                    problems.append(f"{B} {kind}: operations by status {d['by_status']}, {d['missing']} missing, "
                                    f"{d['unexpected']} unexpected; failures: {d['failed_messages']}")
                if d["wrong_result"]:
                    problems.append(f"{B} {kind}: {d['wrong_result']} results are not the target's answer "
                                    f"(e.g. {d['wrong_samples']})")
                if d["more_than_one_attempt"]:
                    problems.append(f"{B} {kind}: {d['more_than_one_attempt']} operations took more than one attempt")
            if kind == "http" and r.get("target"):
                t = r["target"]
                if t["refused"] or t["bad_body"]:
                    problems.append(f"{B}: the target refused {t['refused']} requests ({t['bad_body']} bad bodies)")
                if t["requests"] != r["requested"] or t["distinct"] != r["requested"]:
                    problems.append(f"{B}: the target got {t['requests']:,} requests for {t['distinct']:,} "
                                    f"operations, {r['requested']:,} expected")
            a = audit(b, kind)
            if a and a["other_cpu_s"] > 0.1 * a["window_s"]:
                problems.append(f"{B} {kind}: other processes used {a['other_cpu_s']} core-s during the "
                                f"{a['window_s']} s run; the figures may be disturbed")
            q = load(os.path.join(R, f"{key}-quiet.json"))
            if q and not q["quiet"]:
                problems.append(f"{B} {kind}: the machine was not quiet before the run ({q['busy_cores']} cores busy)")
        try:
            if rate(b, "http") < FLOOR:
                problems.append(f"{B}: {rate(b, 'http'):,.0f} http operations/s < {FLOOR:,} (floor missed)")
        except (TypeError, KeyError):
            pass

    out = report_head(args.command, ["wrk"])
    if args.build:
        out.append(f"Server: {args.build}  ")
    ref = res("target-ceiling")
    auth = "a bearer token" if args.auth == "bearer" else "a Standard Webhooks signature (`secret`), verified with hmac"
    out.append(f"Server pinned to core 0 (`taskset -c 0`): `workers={args.workers}, idle_poll_ms=100`, pools of the "
               "`release` (SQLite) and `postgres` profiles, `enable_echo=true`, rate limits raised to 1,000,000/s "
               "(still checked), logs off; the declared type `remote` (`kind=\"http\"`, "
               f"`url=\"http://127.0.0.1:{args.target_port}/run\"`, {auth}, `input_schema` an object with an integer "
               "`n`; `allow_private_targets=true`). The target (`bench/declared_types.py target`, one Python "
               "asyncio process) and the client (`bench/declared_types.py run`, one Python asyncio process, "
               f"{http0.get('concurrency', '?')} keep-alive connections) on core 1; PostgreSQL not pinned. Per "
               f"backend and type, a fresh database and server: {n:,} `POST /api/v1/operations` "
               '(`{"operation_type":"remote","input":{"n":i}}`, or `{"operation_type":"echo","input":{}}`) as fast '
               "as the connections go, while the workers run them; the client then reads the database until every "
               "one has finished. operations/s = N ÷ (first create sent → the last finish's `updated_at`).")
    if ref:
        out.append("")
        out.append(f"The target alone (`wrk -t1 -c16 -d{ref['secs']}s`, POSTs with the credentials, wrk on core 0 "
                   f"while no server runs, the target on core 1): **{ref['rps']:,.0f} requests/s**, p50 "
                   f"{ref['p50']}, p99 {ref['p99']} — its ceiling, {ref['rps'] / FLOOR:.1f} × the floor.")
    out.append("")
    out.append("| | " + " | ".join(names[b] for b in backends) + " |")
    out.append("|---|" + "---|" * len(backends))
    out.extend(rows)
    out.append("")
    if ref and ref.get("non2xx"):
        problems.append(f"the target's ceiling run had {ref['non2xx']} answers not 2xx")
    finish_report(out, problems, args.save,
                  "No problems: every operation was created (202) and completed with the target's answer (echo: "
                  "completed), once, none retried; the target refused nothing; no run was disturbed; the floor is "
                  "met on every backend.")


def main():
    p, sub = command_line(__doc__)

    s = sub.add_parser("target")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--token", help="the bearer token every request must carry")
    s.add_argument("--secret", help="whsec_…: every request must be signed with it")
    s.set_defaults(fn=cmd_target)

    s = sub.add_parser("run")
    add_database(s)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--type", required=True, help="the operation type: echo, or the declared http type")
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--concurrency", type=int, default=32)
    s.add_argument("--target-port", type=int, help="reset the target first and record its counts")
    s.add_argument("--poll-ms", type=float, default=50, help="how often the database is read for the finished")
    s.add_argument("--timeout", type=float, default=300)
    s.add_argument("--stall-s", type=float, default=30, help="give up after this long without a new finish")
    s.add_argument("--ids-out", required=True)
    s.add_argument("--json", required=True)
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("check")
    add_database(s)
    s.add_argument("--type", required=True)
    s.add_argument("--ids", required=True)
    s.add_argument("--json", required=True)
    s.set_defaults(fn=cmd_check)

    add_report(sub, cmd_report, ops={"type": int, "default": 0}, workers={"required": True},
               target_port={"required": True}, auth={"default": "bearer"}, build={})
    run(p)


if __name__ == "__main__":
    main()
