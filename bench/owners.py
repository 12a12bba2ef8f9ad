#!/usr/bin/env python3
"""Helpers of bench/owners.sh (Python 3.11 standard library only).

Subcommands:
  seed-polls    create completed echo operations through the API (none
                mode), write "<id>\\t<owner it will get>" lines
  own           give those operations their owners by SQL (UPDATE)
  mint          HS256 tokens (claims sub, iat, exp) signed with
                $LONGRUN_JWT_SECRET, "<sub>\\t<token>" lines
  targets       the wrk targets of the found poll: "<path>\\t-" (anonymous)
                and "<path>\\t<the owner's token>"
  warm          GET every target once (so the server holds each operation
                in memory), check that each is a 200
  seed-lists    insert N owners x M operations by SQL (SQLite: one
                recursive-CTE INSERT through the sqlite3 CLI; PostgreSQL:
                INSERT ... SELECT ... FROM generate_series through psql)
  list-targets  fetch each owner's first page (and, for a fraction, the
                second, following next_page_token), check them, and write
                the wrk targets of the lists: owners' pages, an admin's
                owner=, an admin's status=failed
  explain       the query plans of those list shapes, as the service's
                statement builds them (src/store/statements.rs `list`)
  report        print the Markdown report of a results directory

The steps every driver takes (ready, quiet, audit) and the helpers the
drivers share come from bench/benchlib.py. Every subcommand talks to
127.0.0.1 only.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from datetime import datetime, timezone

sys.dont_write_bytecode = True  # no bench/__pycache__ from the import below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (  # noqa: E402
    add_database, add_report, audit_cpu, command_line, finish_report, load, psql, read_int, realistic_result,
    report_head, result_sql, run, table_rows,
)

SECRET_VARIABLE = "LONGRUN_JWT_SECRET"
LIST = "/api/v1/operations"

# The columns every statement that returns operations reads
# (src/store/record.rs COLUMNS), for the plans of `explain`.
COLUMNS = ("id, operation_type, status, result, error_message, error_code, attempts, progress, "
           "created_at, updated_at, owner")

# --------------------------------------------------------------------------
# HTTP (blocking; setup only, never in a measured window)


class Api:
    def __init__(self, port, timeout=30.0):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None, token=None):
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in range(3):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                # Rocket closes idle keep-alive connections: reconnect.
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                time.sleep(0.05)

    def get_json(self, path, token=None):
        status, payload = self.request("GET", path, token=token)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}: {payload[:300]!r}")
        return json.loads(payload), len(payload)


# --------------------------------------------------------------------------
# 1. The found poll: seed, own, targets, warm


def cmd_seed_polls(args):
    api = Api(args.port)
    started = time.time()
    ids = []
    for i in range(args.count):
        status, payload = api.request("POST", LIST, {"operation_type": "echo",
                                                     "input": {"delay_ms": 0, "result": realistic_result(i)}})
        if status != 202:
            raise SystemExit(f"POST {LIST} answered {status}: {payload[:300]!r}")
        ids.append(json.loads(payload)["id"])
    created_s = time.time() - started
    pending = list(ids)
    deadline = time.time() + args.timeout
    while pending:
        if time.time() > deadline:
            raise SystemExit(f"{len(pending)} operations not completed after {args.timeout}s")
        still = []
        for op_id in pending:
            body, _ = api.get_json(f"{LIST}/{op_id}")
            if body["status"] == "failed":
                raise SystemExit(f"operation {op_id} failed: {body}")
            if body["status"] != "completed":
                still.append(op_id)
        pending = still
        if pending:
            time.sleep(0.2)
    with open(args.out, "w") as f:
        f.writelines(f"{op_id}\tpoll-owner-{i % args.owners}\n" for i, op_id in enumerate(ids))
    info = {"operations": len(ids), "owners": args.owners, "create_s": round(created_s, 2)}
    with open(args.json, "w") as f:
        json.dump(info, f)
    print(f"{len(ids)} completed echo operations in {time.time() - started:.1f}s", file=sys.stderr)


def read_pairs(path):
    with open(path) as f:
        return [tuple(line.rstrip("\n").split("\t", 1)) for line in f if line.strip()]


def cmd_own(args):
    pairs = read_pairs(args.ids)
    if args.sqlite_db:
        con = sqlite3.connect(args.sqlite_db, isolation_level=None, timeout=30)
        con.execute("BEGIN")
        con.executemany("UPDATE operations SET owner = ? WHERE id = ?", [(o, i) for i, o in pairs])
        con.execute("COMMIT")
        owned = con.execute("SELECT count(*) FROM operations WHERE owner LIKE 'poll-owner-%'").fetchone()[0]
        con.close()
    else:
        values = ",\n".join(f"('{i}'::uuid, '{o}')" for i, o in pairs)
        psql(args.pg_db, input_text=f"UPDATE operations o SET owner = v.owner FROM (VALUES {values}) "
                                    f"AS v(id, owner) WHERE o.id = v.id;")
        owned = int(psql(args.pg_db, "-c", "SELECT count(*) FROM operations WHERE owner LIKE 'poll-owner-%'"))
    if owned != len(pairs):
        raise SystemExit(f"{owned} operations owned, {len(pairs)} expected")
    print(f"{owned} operations given {len({o for _, o in pairs})} owners", file=sys.stderr)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(secret, sub, ttl_s, scope=None):
    """An HS256 JWT as the service's `longrun token` makes one."""
    now = int(time.time())
    claims = {"sub": sub, "exp": now + ttl_s, "iat": now}
    if scope:
        claims["scope"] = scope
    header = b64url(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def cmd_mint(args):
    secret = os.environ.get(SECRET_VARIABLE)
    if not secret:
        raise SystemExit(f"set {SECRET_VARIABLE}")
    # Owners spread evenly over prefix0 .. prefix{of-1}.
    subs = [f"{args.prefix}{i * args.of // args.count}" for i in range(args.count)]
    with open(args.out, "w") as f:
        f.writelines(f"{sub}\t{mint(secret, sub, args.ttl_secs)}\n" for sub in subs)


def cmd_targets(args):
    tokens = dict(read_pairs(args.tokens))
    pairs = read_pairs(args.ids)
    missing = {o for _, o in pairs} - tokens.keys()
    if missing:
        raise SystemExit(f"no token for {sorted(missing)[:3]}")
    with open(args.anon_out, "w") as f:
        f.writelines(f"{LIST}/{i}\t-\n" for i, _ in pairs)
    with open(args.token_out, "w") as f:
        f.writelines(f"{LIST}/{i}\t{tokens[o]}\n" for i, o in pairs)


def cmd_warm(args):
    api = Api(args.port)
    sizes = []
    owners = set()
    for path, token in read_pairs(args.targets):
        body, size = api.get_json(path, None if token == "-" else token)
        sizes.append(size)
        owners.add(body.get("owner"))
    info = {"targets": len(sizes), "body_bytes_min": min(sizes), "body_bytes_max": max(sizes),
            "body_bytes_mean": round(sum(sizes) / len(sizes)), "owners_seen": len(owners)}
    with open(args.json, "w") as f:
        json.dump(info, f)
    print(f"warmed {len(sizes)} operations (200 each, bodies {min(sizes)}-{max(sizes)} B, "
          f"{len(owners)} owners)", file=sys.stderr)


# --------------------------------------------------------------------------
# 2. Lists: seed-lists


def status_cases(n):
    """SQL of the status of row n and what goes with it, from a
    pseudo-random draw that does not follow the owner (n % owners) or the
    time (n): 80 % completed, 10 % failed, 5 % processing, 5 % pending."""
    draw = f"((({n} * 48271) % 2147483647) % 100)"
    return {
        "status": f"CASE WHEN {draw} < 80 THEN 'completed' WHEN {draw} < 90 THEN 'failed' "
                  f"WHEN {draw} < 95 THEN 'processing' ELSE 'pending' END",
        "draw": draw,
    }


def type_case(n):
    draw = f"((({n} * 69621) % 2147483647) % 10)"
    return (f"CASE WHEN {draw} < 7 THEN 'question_generation' WHEN {draw} < 9 THEN 'answer_feedback' "
            f"ELSE 'echo' END")


FAILURE = "The generator gave up: the upstream answered 502 three times."


def sqlite_lists_sql(count, owners, base_s, step_s):
    """One INSERT of `count` rows: owners owner-0 .. owner-{owners-1} in
    turn, created_at from base_s every step_s seconds, updated_at 2 s
    later; then the change log the insert trigger filled is cut back to its
    newest row, as the service itself does."""
    draw = status_cases("n")["draw"]
    status = status_cases("n")["status"]
    t = f"({base_s} + n * {step_s})"
    time_of = lambda expr: f"strftime('%Y-%m-%dT%H:%M:%fZ', {expr}, 'unixepoch')"  # noqa: E731
    return f"""
PRAGMA cache_size = -1048576;
BEGIN;
WITH RECURSIVE seq(n) AS (
    SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < {count - 1}
), r(n, h, s) AS (
    SELECT n, lower(hex(randomblob(16))), {draw} FROM seq
)
INSERT INTO operations (id, operation_type, status, result, error_message, error_code, input, attempts,
                        claimed_by, lease_expires_at, created_at, updated_at, available_at, owner)
SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-'
       || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(h, 18, 3) || '-' || substr(h, 21, 12),
       {type_case('n')},
       {status},
       CASE WHEN s < 80 THEN {result_sql('n')} END,
       CASE WHEN s >= 80 AND s < 90 THEN '{FAILURE}' END,
       CASE WHEN s >= 80 AND s < 90 THEN 'HANDLER_ERROR' END,
       '{{"role":"Backend developer"}}',
       CASE WHEN s < 90 THEN 1 + (n % 2) WHEN s < 95 THEN 1 ELSE 0 END,
       CASE WHEN s >= 90 AND s < 95 THEN 'bench-seed' END,
       CASE WHEN s >= 90 AND s < 95 THEN {time_of(f"{t} + 365 * 86400")} END,
       {time_of(t)},
       {time_of(f"{t} + 2")},
       {time_of(t)},
       'owner-' || (n % {owners})
FROM r;
DELETE FROM operation_changes WHERE seq < (SELECT max(seq) FROM operation_changes);
COMMIT;
"""


def pg_lists_sql(count, owners, base_s, step_s):
    # The notify trigger is skipped (session_replication_role = replica): no
    # server is running while seeding, and a million notifications would
    # only fill the queue.
    t = f"(to_timestamp({base_s}) + n * interval '{step_s * 1e6:.0f} microseconds')"
    return f"""
SET session_replication_role = replica;
SET maintenance_work_mem = '256MB';
BEGIN;
INSERT INTO operations (id, operation_type, status, result, error_message, error_code, input, attempts,
                        claimed_by, lease_expires_at, created_at, updated_at, available_at, owner)
SELECT gen_random_uuid(),
       {type_case('n')},
       {status_cases('n')['status']},
       CASE WHEN s < 80 THEN ({result_sql('n')})::jsonb END,
       CASE WHEN s >= 80 AND s < 90 THEN '{FAILURE}' END,
       CASE WHEN s >= 80 AND s < 90 THEN 'HANDLER_ERROR' END,
       '{{"role":"Backend developer"}}'::jsonb,
       CASE WHEN s < 90 THEN 1 + (n % 2) WHEN s < 95 THEN 1 ELSE 0 END,
       CASE WHEN s >= 90 AND s < 95 THEN 'bench-seed' END,
       CASE WHEN s >= 90 AND s < 95 THEN {t} + interval '365 days' END,
       {t},
       {t} + interval '2 seconds',
       {t},
       'owner-' || (n % {owners})
FROM (SELECT n, {status_cases('n')['draw']} AS s FROM generate_series(0::bigint, {count - 1}) AS n) AS g;
COMMIT;
VACUUM ANALYZE operations;
"""


def cmd_seed_lists(args):
    count = args.owners * args.per_owner
    # Spread over the span that ends a minute ago: every row stays well
    # inside the default retention (a day), so the sweeper deletes none.
    now = time.time()
    step_s = args.span_s / count
    base_s = round(now - 60 - args.span_s, 3)
    started = time.time()
    if args.sqlite_db:
        sql = sqlite_lists_sql(count, args.owners, base_s, step_s)
        if shutil.which("sqlite3"):
            tool = "sqlite3 CLI"
            subprocess.run(["sqlite3", "-bail", args.sqlite_db], input=sql, text=True, check=True,
                           timeout=args.timeout, stdout=subprocess.DEVNULL)
        else:
            tool = "python sqlite3"
            con = sqlite3.connect(args.sqlite_db, isolation_level=None)
            con.executescript(sql)
            con.close()
        seeded_s = time.time() - started
        con = sqlite3.connect(args.sqlite_db)
        by_status = dict(con.execute("SELECT status, count(*) FROM operations GROUP BY status").fetchall())
        owners_n = con.execute("SELECT count(DISTINCT owner) FROM operations WHERE owner LIKE 'owner-%'").fetchone()[0]
        span = con.execute("SELECT min(created_at), max(created_at) FROM operations").fetchone()
        con.close()
    else:
        tool = "psql"
        psql(args.pg_db, input_text=pg_lists_sql(count, args.owners, base_s, step_s), timeout=args.timeout)
        seeded_s = time.time() - started
        out = psql(args.pg_db, "-F", "\t", "-c", "SELECT status, count(*) FROM operations GROUP BY status")
        by_status = {s: int(c) for s, c in (line.split("\t") for line in out.splitlines() if line)}
        owners_n = int(psql(args.pg_db, "-c",
                            "SELECT count(DISTINCT owner) FROM operations WHERE owner LIKE 'owner-%'"))
        span = psql(args.pg_db, "-F", "\t", "-c",
                    "SELECT min(created_at), max(created_at) FROM operations").strip().split("\t")
    total = sum(by_status.values())
    info = {"inserted": count, "rows": total, "owners": owners_n, "per_owner": args.per_owner,
            "by_status": by_status, "created_from": span[0], "created_to": span[1],
            "span_h": round(args.span_s / 3600, 1), "seed_s": round(seeded_s, 1), "tool": tool}
    with open(args.json, "w") as f:
        json.dump(info, f)
    print(f"seeded {count:,} operations of {owners_n:,} owners by SQL ({tool}) in {seeded_s:.1f}s: "
          f"{by_status}", file=sys.stderr)
    if total < count or owners_n != args.owners:
        raise SystemExit(f"the table has {total} rows of {owners_n} owners; expected {count} of {args.owners}")


# --------------------------------------------------------------------------
# 2. Lists: list-targets


TIME_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def page_key(op):
    """Where an operation stands in a list: its created_at as a number
    (the API trims the fraction's trailing zeros, "…:12Z" for …:12.000, so
    the text does not sort as time does), then its id."""
    m = TIME_RE.match(op["created_at"])
    if not m:
        raise ValueError(f"not an RFC 3339 time: {op['created_at']!r}")
    base, frac, zone = m.groups()
    t = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone)).timestamp()
    return (t + (float("0." + frac) if frac else 0.0), op["id"])


def check_page(page, label, want_size, owner=None, status=None, older_than=None):
    """Problems with a page: its size, its order (newest first), the owner
    or status of every operation."""
    ops = page["operations"]
    problems = []
    if len(ops) != want_size:
        problems.append(f"{label}: {len(ops)} operations, {want_size} expected")
    keys = [page_key(o) for o in ops]
    if keys != sorted(keys, reverse=True):
        problems.append(f"{label}: not newest first")
    if older_than and keys and keys[0] >= older_than:
        problems.append(f"{label}: the second page does not start after the first")
    if owner is not None and any(o.get("owner") != owner for o in ops):
        problems.append(f"{label}: an operation of another owner")
    if status is not None and any(o["status"] != status for o in ops):
        problems.append(f"{label}: an operation in another status")
    return problems


def cmd_list_targets(args):
    api = Api(args.port)
    rng = random.Random(7)
    size = args.page_size
    first = f"{LIST}?page_size={size}"
    owner_tokens = read_pairs(args.tokens)
    problems = []
    targets = []
    sizes = []
    seconds = 0
    started = time.time()
    for k, (sub, token) in enumerate(owner_tokens):
        page, n = api.get_json(first, token)
        sizes.append(n)
        problems += check_page(page, f"{sub} page 1", size, owner=sub)
        targets.append((first, token))
        if k % args.second_every == 0:
            if not page["next_page_token"]:
                problems.append(f"{sub} page 1: no next_page_token")
                continue
            second = f"{first}&page_token={urllib.parse.quote(page['next_page_token'], safe='')}"
            page2, n = api.get_json(second, token)
            sizes.append(n)
            last = page["operations"][-1]
            problems += check_page(page2, f"{sub} page 2", min(size, args.per_owner - size), owner=sub,
                                   older_than=page_key(last))
            if args.per_owner <= 2 * size and page2["next_page_token"] is not None:
                problems.append(f"{sub} page 2: a next_page_token after the last page")
            targets.append((second, token))
            seconds += 1
    rng.shuffle(targets)  # owners and pages interleaved
    with open(args.out, "w") as f:
        f.writelines(f"{path}\t{token}\n" for path, token in targets)

    # An admin: one owner's list (many owners in turn), and the failed ones.
    admin_targets = []
    admin_sizes = []
    for i in range(args.admin_owners):
        owner = f"owner-{(i * 7919) % args.owners}"
        path = f"{first}&owner={owner}"
        if i < 20:  # checked on a sample
            page, n = api.get_json(path, args.admin_token)
            admin_sizes.append(n)
            problems += check_page(page, f"admin owner={owner}", size, owner=owner)
        admin_targets.append((path, args.admin_token))
    with open(args.admin_owner_out, "w") as f:
        f.writelines(f"{path}\t{token}\n" for path, token in admin_targets)
    failed_path = f"{first}&status=failed"
    page, n = api.get_json(failed_path, args.admin_token)
    problems += check_page(page, "admin status=failed", size, status="failed")
    owners_on_failed_page = len({o.get("owner") for o in page["operations"]})
    with open(args.admin_status_out, "w") as f:
        f.write(f"{failed_path}\t{args.admin_token}\n")

    info = {
        "owner_tokens": len(owner_tokens), "first_pages": len(owner_tokens), "second_pages": seconds,
        "targets": len(targets), "page_bytes_min": min(sizes), "page_bytes_max": max(sizes),
        "admin_owner_targets": len(admin_targets), "admin_owner_page_bytes": max(admin_sizes),
        "failed_page_bytes": n, "failed_page_owners": owners_on_failed_page,
        "fetch_s": round(time.time() - started, 1), "problems": problems[:20],
        "problem_count": len(problems),
    }
    with open(args.json, "w") as f:
        json.dump(info, f)
    print(f"list targets: {len(targets)} ({len(owner_tokens)} first pages, {seconds} second pages), "
          f"pages {min(sizes)}-{max(sizes)} B, checked in {info['fetch_s']}s; {len(problems)} problems "
          f"{problems[:3]}", file=sys.stderr)


# --------------------------------------------------------------------------
# explain


def list_sql(placeholder, owner=False, status=False, after_row=False):
    """The service's list statement for this shape (src/store/statements.rs
    `list`), with placeholder(n) for its n-th parameter."""
    terms, n = [], 0

    def nxt():
        nonlocal n
        n += 1
        return placeholder(n)

    if owner:
        terms.append(f"owner = {nxt()}")
    if status:
        terms.append(f"status = {nxt()}")
    if after_row:
        time_p, id_p = nxt(), nxt()
        terms.append(f"(created_at, id) < ({time_p}, {id_p})")
    where = f"WHERE {' AND '.join(terms)} " if terms else ""
    return f"SELECT {COLUMNS} FROM operations {where}ORDER BY created_at DESC, id DESC LIMIT {nxt()}"


def pg_nodes(plan):
    """The nodes of a PostgreSQL plan's text, outermost first, Limit left
    out: "Sort → Bitmap Heap Scan on operations → …"."""
    nodes = []
    for line in plan.splitlines():
        text = line.strip()
        if not text or "(cost=" not in text:
            continue
        node = text.removeprefix("->").strip().split("  (cost=")[0]
        if node != "Limit":
            nodes.append(node)
    return " → ".join(nodes)


def cmd_explain(args):
    """EXPLAIN (SQLite: QUERY PLAN; PostgreSQL: ANALYZE with the parameters
    bound, and the generic plan of the prepared statement) of the shapes
    measured: owner, owner after a row, status."""
    plans = {}
    if args.sqlite_db:
        con = sqlite3.connect(args.sqlite_db)
        owner = "owner-4242"
        t, i = con.execute("SELECT created_at, id FROM operations WHERE owner = ? ORDER BY created_at DESC, id DESC "
                           "LIMIT 1 OFFSET 49", (owner,)).fetchone()
        shapes = {
            "owner": (list_sql(lambda k: f"?{k}", owner=True), (owner, args.page_size + 1)),
            "owner_after_row": (list_sql(lambda k: f"?{k}", owner=True, after_row=True),
                                (owner, t, i, args.page_size + 1)),
            "status": (list_sql(lambda k: f"?{k}", status=True), ("failed", args.page_size + 1)),
        }
        for name, (sql, params) in shapes.items():
            rows = con.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            detail = "; ".join(r[-1] for r in rows)
            t0 = time.perf_counter()
            for _ in range(20):
                got = con.execute(sql, params).fetchall()
            ms = (time.perf_counter() - t0) / 20 * 1000
            plans[name] = {"plan": detail, "rows": len(got), "python_sqlite3_ms": round(ms, 3)}
        con.close()
    else:
        owner = "owner-4242"
        t, i = psql(args.pg_db, "-F", "\t", "-c",
                    f"SELECT created_at, id FROM operations WHERE owner = '{owner}' "
                    "ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET 49").strip().split("\t")
        shapes = {
            "owner": (list_sql(lambda k: f"${k}", owner=True), ["text", "bigint"], [f"'{owner}'", str(args.page_size + 1)]),
            "owner_after_row": (list_sql(lambda k: f"${k}", owner=True, after_row=True),
                                ["text", "timestamptz", "uuid", "bigint"],
                                [f"'{owner}'", f"'{t}'", f"'{i}'", str(args.page_size + 1)]),
            "status": (list_sql(lambda k: f"${k}", status=True), ["text", "bigint"], ["'failed'", str(args.page_size + 1)]),
        }
        for name, (sql, types, values) in shapes.items():
            script = (f"PREPARE q({', '.join(types)}) AS {sql};\n"
                      f"SET plan_cache_mode = force_custom_plan;\n"
                      f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE q({', '.join(values)});\n"
                      f"SET plan_cache_mode = force_generic_plan;\n"
                      f"EXPLAIN EXECUTE q({', '.join(values)});\n")
            out = psql(args.pg_db, input_text=script)
            custom_text, _, generic_text = out.partition("Execution Time")
            execution = [line for line in out.splitlines() if "Execution Time" in line]
            plans[name] = {"plan": pg_nodes(custom_text), "generic_plan": pg_nodes(generic_text.partition("\n")[2]),
                           "execution": execution[0].strip() if execution else None,
                           "full": out}
    with open(args.out, "w") as f:
        json.dump(plans, f, indent=1)
    for name, p in plans.items():
        print(f"plan {name}: {p['plan']} {p.get('execution') or ''}"
              + (f"; generic: {p['generic_plan']}" if "generic_plan" in p else ""), file=sys.stderr)


# --------------------------------------------------------------------------
# report


def cmd_report(args):
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    backends = [b for b in ("sqlite", "postgres") if os.path.exists(os.path.join(args.results, f"{b}-done"))]
    R = args.results

    def res(b, key):
        return load(os.path.join(R, f"{b}-{key}.json"))

    rows, row = table_rows(backends)

    def ms(us):
        return f"{us / 1000:.2f}" if us < 10_000 else f"{us / 1000:.1f}"

    def lat(b, key):
        d = res(b, key)
        return f"{ms(d['p50_us'])} / {ms(d['p99_us'])} / {ms(d['max_us'])} ms"

    def rps(b, key):
        return f"{res(b, key)['rps']:,.0f}"

    def bad(b, key):
        d = res(b, key)
        text = f"{d['unexpected_status']} / {sum(d['errors'].values())}"
        if d.get("short_bodies"):
            text += f" ({d['short_bodies']} short)"
        return text

    def attempts(b, key):
        n = read_int(os.path.join(R, f"{b}-{key}-attempts"), 1)
        return f" (attempt {n})" if n > 1 else ""

    def ratio(b):
        anon = [res(b, "anon1")["rps"], res(b, "anon2")["rps"]]
        return res(b, "token")["rps"] / (sum(anon) / 2)

    def p99_ms(b):
        return res(b, "lists")["p99_us"] / 1000

    first = next((res(b, "polls") for b in backends if res(b, "polls")), {}) or {}
    seed = next((res(b, "seed-lists") for b in backends if res(b, "seed-lists")), {}) or {}
    wrk1 = next((res(b, "token") for b in backends if res(b, "token")), {}) or {}
    lists = next((res(b, "list-targets") for b in backends if res(b, "list-targets")), {}) or {}

    row(f"**1. Found poll, token vs anonymous** (wrk -t1 -c32 -d{wrk1.get('duration_s', 0):.0f}s, "
        f"{first.get('operations', '?')} completed echo operations of {first.get('owners', '?')} owners, "
        f"one token each)", lambda b: "")
    row("200 body size", lambda b: f"{res(b, 'warm-token')['body_bytes_min']}–{res(b, 'warm-token')['body_bytes_max']} B")
    row("anonymous (none mode), before: requests/s", lambda b: rps(b, "anon1") + attempts(b, "anon1"))
    row("anonymous, before: p50 / p99 / max", lambda b: lat(b, "anon1"))
    row("token (jwt mode): requests/s", lambda b: rps(b, "token") + attempts(b, "token"))
    row("token: p50 / p99 / max", lambda b: lat(b, "token"))
    row("anonymous (none mode), after: requests/s", lambda b: rps(b, "anon2") + attempts(b, "anon2"))
    row("anonymous, after: p50 / p99 / max", lambda b: lat(b, "anon2"))
    row("**ratio token / anonymous** (mean of before and after); floor ≥ 0.85",
        lambda b: f"**{ratio(b):.3f}** — {'met' if ratio(b) >= 0.85 else 'MISSED'}")
    row("ratio token / anonymous before; / after",
        lambda b: f"{res(b, 'token')['rps'] / res(b, 'anon1')['rps']:.3f}; {res(b, 'token')['rps'] / res(b, 'anon2')['rps']:.3f}")
    row("answers not 200 / socket errors (before, token, after)",
        lambda b: ", ".join(bad(b, k) for k in ("anon1", "token", "anon2")))
    row("CPU server / wrk [/ PostgreSQL] (before; token; after)",
        lambda b: "; ".join(audit_cpu(R, f"{b}-{k}") for k in ("anon1", "token", "anon2")))

    row(f"**2. Lists over {seed.get('rows', 0):,} operations** ({seed.get('owners', 0):,} owners × "
        f"{seed.get('per_owner', '?')}, created over {seed.get('span_h', '?')} h; "
        f"wrk -t1 -c{args.list_conns} -d{wrk1.get('duration_s', 0):.0f}s, page_size=50)", lambda b: "")
    row("seeded by SQL in", lambda b: f"{res(b, 'seed-lists')['seed_s']:.0f} s ({res(b, 'seed-lists')['tool']})")
    row("statuses", lambda b: ", ".join(f"{k} {v:,}" for k, v in sorted(res(b, "seed-lists")["by_status"].items())))
    row(f"owners' lists: {lists.get('owner_tokens', '?')} tokens, first pages + "
        f"{lists.get('second_pages', '?')} second pages (next_page_token): requests/s",
        lambda b: rps(b, "lists") + attempts(b, "lists"))
    row("owners' lists: p50 / p99 / max", lambda b: lat(b, "lists"))
    row("**owners' lists: p99 < 20 ms**",
        lambda b: f"**{p99_ms(b):.2f} ms** — {'met' if p99_ms(b) < 20 else 'MISSED'}")
    row("owners' lists: answers not 200 / socket errors", lambda b: bad(b, "lists"))
    row("page size (bytes)", lambda b: f"{res(b, 'list-targets')['page_bytes_min']:,}–{res(b, 'list-targets')['page_bytes_max']:,}")
    row(f"admin, `owner=owner-N` ({lists.get('admin_owner_targets', '?')} owners in turn): requests/s",
        lambda b: rps(b, "admin-owner") + attempts(b, "admin-owner"))
    row("admin, `owner=`: p50 / p99 / max", lambda b: lat(b, "admin-owner"))
    row("admin, `owner=`: answers not 200 / socket errors", lambda b: bad(b, "admin-owner"))
    row("admin, `status=failed` (the newest page), first on the fresh server: requests/s",
        lambda b: rps(b, "admin-failed-first") + attempts(b, "admin-failed-first"))
    row("admin, `status=failed`, first: p50 / p99 / max", lambda b: lat(b, "admin-failed-first"))
    row("admin, `status=failed`, after the lists above: requests/s",
        lambda b: rps(b, "admin-failed") + attempts(b, "admin-failed"))
    row("admin, `status=failed`, after: p50 / p99 / max", lambda b: lat(b, "admin-failed"))
    row("admin, `status=failed`: answers not 200 / socket errors (first; after)",
        lambda b: f"{bad(b, 'admin-failed-first')}; {bad(b, 'admin-failed')}")
    row("CPU server / wrk [/ PostgreSQL] (failed first; owners; admin owner=; failed after)",
        lambda b: "; ".join(audit_cpu(R, f"{b}-{k}")
                            for k in ("admin-failed-first", "lists", "admin-owner", "admin-failed")))
    for shape, label in (("owner", "owner = $1"), ("owner_after_row", "owner = $1 AND (created_at, id) < ($2, $3)"),
                         ("status", "status = $1")):
        def plan(b, shape=shape):
            p = res(b, "plans")[shape]
            text = p["plan"]
            if b == "sqlite":
                return f"`{text}` ({p['python_sqlite3_ms']} ms in Python's sqlite3)"
            execution = (p["execution"] or "").replace("Execution Time: ", "")
            return f"`{text}` ({execution}); generic plan: `{p['generic_plan']}`"
        row(f"plan of `{label}`", plan)

    problems = []
    for b in backends:
        for key in ("anon1", "token", "anon2", "admin-failed-first", "lists", "admin-owner", "admin-failed"):
            d = res(b, key)
            if d is None:
                problems.append(f"{names[b]} {key}: no result (the phase failed; see the script's output)")
                continue
            if d["unexpected_status"] or sum(d["errors"].values()) or d.get("short_bodies"):
                problems.append(f"{names[b]} {key}: {d['unexpected_status']} answers not 200 (first "
                                f"{d['first_unexpected_status']}), {d.get('short_bodies', 0)} short, errors {d['errors']}")
            a = load(os.path.join(R, f"{b}-{key}-audit.json"))
            if a and a["other_cpu_s"] > 0.1 * a["window_s"]:
                problems.append(f"{names[b]} {key}: other processes used {a['other_cpu_s']} core-seconds during "
                                f"the {a['window_s']} s run; the figures may be disturbed")
        lt = res(b, "list-targets")
        if lt and lt["problem_count"]:
            problems.append(f"{names[b]} list pages: {lt['problem_count']} problems, e.g. {lt['problems'][:3]}")
        try:
            if ratio(b) < 0.85:
                problems.append(f"{names[b]}: token / anonymous {ratio(b):.3f} < 0.85 (floor missed)")
            if p99_ms(b) >= 20:
                problems.append(f"{names[b]}: owners' lists p99 {p99_ms(b):.2f} ms ≥ 20 ms (floor missed)")
        except (TypeError, KeyError, ZeroDivisionError):
            pass

    out = report_head(args.command, ["wrk"])
    if args.build:
        out.append(f"Server: {args.build}  ")
    out.append("Server pinned to core 0 (`taskset -c 0`), wrk to core 1; rate limits raised to 1,000,000/s "
               "(still checked), logs off. 1: `workers=4`; none mode, then jwt mode (HS256, "
               f"`{SECRET_VARIABLE}`), then none mode again, on the same database. 2: jwt mode, `workers=0` "
               "(the seeded pending rows stay pending).")
    out.append("")
    out.append("| | " + " | ".join(names[b] for b in backends) + " |")
    out.append("|---|" + "---|" * len(backends))
    out.extend(rows)
    out.append("")
    finish_report(out, problems, args.save,
                  "No problems: every answer was a 200 with a full page, every check of the pages passed, "
                  "no run was disturbed, both floors met.")


def main():
    p, sub = command_line(__doc__)

    s = sub.add_parser("seed-polls")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--count", type=int, default=1000)
    s.add_argument("--owners", type=int, default=10)
    s.add_argument("--out", required=True)
    s.add_argument("--json", required=True)
    s.add_argument("--timeout", type=float, default=60)
    s.set_defaults(fn=cmd_seed_polls)

    s = sub.add_parser("own")
    add_database(s)
    s.add_argument("--ids", required=True)
    s.set_defaults(fn=cmd_own)

    s = sub.add_parser("mint")
    s.add_argument("--prefix", default="owner-")
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--of", type=int, required=True, help="owners prefix0 .. prefix{of-1}, spread evenly")
    s.add_argument("--ttl-secs", type=int, default=3600)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_mint)

    s = sub.add_parser("targets")
    s.add_argument("--ids", required=True)
    s.add_argument("--tokens", required=True)
    s.add_argument("--anon-out", required=True)
    s.add_argument("--token-out", required=True)
    s.set_defaults(fn=cmd_targets)

    s = sub.add_parser("warm")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--targets", required=True)
    s.add_argument("--json", required=True)
    s.set_defaults(fn=cmd_warm)

    s = sub.add_parser("seed-lists")
    add_database(s)
    s.add_argument("--owners", type=int, default=10000)
    s.add_argument("--per-owner", type=int, default=100)
    s.add_argument("--span-s", type=float, default=72000, help="created_at spread over this many seconds")
    s.add_argument("--timeout", type=float, default=600)
    s.add_argument("--json", required=True)
    s.set_defaults(fn=cmd_seed_lists)

    s = sub.add_parser("list-targets")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--tokens", required=True)
    s.add_argument("--admin-token", required=True)
    s.add_argument("--owners", type=int, default=10000)
    s.add_argument("--per-owner", type=int, default=100)
    s.add_argument("--page-size", type=int, default=50)
    s.add_argument("--second-every", type=int, default=4, help="follow next_page_token for every Nth owner")
    s.add_argument("--admin-owners", type=int, default=1000)
    s.add_argument("--out", required=True)
    s.add_argument("--admin-owner-out", required=True)
    s.add_argument("--admin-status-out", required=True)
    s.add_argument("--json", required=True)
    s.set_defaults(fn=cmd_list_targets)

    s = sub.add_parser("explain")
    add_database(s)
    s.add_argument("--page-size", type=int, default=50)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_explain)

    add_report(sub, cmd_report, list_conns={"type": int, "default": 16}, build={})
    run(p)


if __name__ == "__main__":
    main()
