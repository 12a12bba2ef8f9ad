#!/usr/bin/env python3
"""Helpers of bench/poll_limits.sh (Python 3.11 standard library only).

Subcommands:
  seed      insert N completed operations by SQL (SQLite: one recursive-CTE
            INSERT through the sqlite3 CLI, or Python's sqlite3 module when
            the CLI is missing; PostgreSQL: INSERT ... SELECT
            gen_random_uuid() ... FROM generate_series through psql), then
            write every id of the table, shuffled, as "<id>\\t-" lines (the
            format of bench/poll.lua)
  ids       write ids that do not exist: random v4 UUIDs (404) or
            malformed ones, not-a-uuid-<n> (422)
  etags     GET each id once and write "<id>\\t<etag>" lines (for 304 runs)
  mem       record the server's VmRSS / VmHWM / threads
  hold      open N keep-alive connections, one GET on each, and hold them
            idle; record the server's memory meanwhile
  report    print the Markdown tables of a results directory

The helpers the drivers share (realistic results, /proc readings, psql,
the report's head and ending) come from bench/benchlib.py, which also runs
the steps every driver takes (ready, quiet, audit). Loopback only.
"""

import asyncio
import glob
import http.client
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

sys.dont_write_bytecode = True  # no bench/__pycache__ from the import below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (  # noqa: E402
    add_database, add_report, audit_cpu, command_line, finish_report, load, mib, proc_status, psql,
    report_head, result_sql, run, server_sockets,
)

# --------------------------------------------------------------------------
# seed


def sqlite_seed_sql(start, count):
    # A v4 UUID from 16 random bytes: version nibble 4, variant 8-b.
    return f"""
BEGIN;
WITH RECURSIVE seq(n) AS (
    SELECT {start} UNION ALL SELECT n + 1 FROM seq WHERE n < {start + count - 1}
), r(n, h) AS (
    SELECT n, lower(hex(randomblob(16))) FROM seq
)
INSERT INTO operations (id, operation_type, status, result, input, attempts)
SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-'
       || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(h, 18, 3) || '-' || substr(h, 21, 12),
       'question_generation', 'completed', {result_sql('n')}, '{{"role":"Backend developer"}}', 1
FROM r;
COMMIT;
"""


def pg_seed_sql(start, count):
    # The notify trigger is skipped (session_replication_role = replica): no
    # server is running while seeding, and 1,000,000 notifications would
    # only fill the queue.
    return f"""
SET session_replication_role = replica;
BEGIN;
INSERT INTO operations (id, operation_type, status, result, input, attempts)
SELECT gen_random_uuid(), 'question_generation', 'completed', {result_sql('n')}::jsonb,
       '{{"role":"Backend developer"}}'::jsonb, 1
FROM generate_series({start}, {start + count - 1}) AS n;
COMMIT;
VACUUM ANALYZE operations;
"""


def cmd_seed(args):
    started = time.time()
    if args.sqlite_db:
        sql = sqlite_seed_sql(args.start, args.count)
        if shutil.which("sqlite3"):
            tool = "sqlite3 CLI"
            subprocess.run(["sqlite3", "-bail", args.sqlite_db], input=sql, text=True, check=True, timeout=600)
            out = subprocess.run(["sqlite3", args.sqlite_db, "SELECT id FROM operations"],
                                 capture_output=True, text=True, check=True, timeout=600).stdout
        else:
            tool = "python sqlite3"
            con = sqlite3.connect(args.sqlite_db, isolation_level=None)
            con.executescript(sql)
            out = "\n".join(r[0] for r in con.execute("SELECT id FROM operations"))
            con.close()
    else:
        tool = "psql"
        psql(args.pg_db, input_text=pg_seed_sql(args.start, args.count))
        out = psql(args.pg_db, "-c", "SELECT id FROM operations")
    ids = out.split()
    seeded_s = time.time() - started
    bad = [i for i in ids[:1000] if str(uuid.UUID(i)) != i]
    if bad:
        raise SystemExit(f"ids not in lowercase hyphenated form: {bad[:3]}")
    random.shuffle(ids)
    with open(args.out, "w") as f:
        f.writelines(f"{i}\t-\n" for i in ids)
    info = {"inserted": args.count, "rows": len(ids), "seed_s": round(seeded_s, 1), "tool": tool}
    with open(args.json, "w") as f:
        json.dump(info, f)
    print(f"seeded {args.count:,} operations by SQL ({tool}) in {seeded_s:.1f}s; table has {len(ids):,} rows",
          file=sys.stderr)


# --------------------------------------------------------------------------
# ids / etags


def cmd_ids(args):
    with open(args.out, "w") as f:
        for n in range(args.count):
            op = str(uuid.uuid4()) if args.kind == "random" else f"not-a-uuid-{n}"
            f.write(f"{op}\t-\n")


def cmd_etags(args):
    with open(args.ids) as f:
        ids = [line.split("\t")[0] for line in f if line.strip()]
    out = [None] * len(ids)
    sizes = []
    errors = []

    def work(part):
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
        local_sizes = []
        for i in part:
            for attempt in range(3):
                try:
                    conn.request("GET", f"/api/v1/operations/{ids[i]}")
                    r = conn.getresponse()
                    body = r.read()
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()  # the server closed an idle connection: reconnect
                    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
                    if attempt == 2:
                        raise
            etag = r.getheader("etag")
            if r.status != 200 or not etag:
                errors.append(f"{ids[i]}: status {r.status}, etag {etag!r}")
                return
            out[i] = etag
            local_sizes.append(len(body))
        sizes.extend(local_sizes)

    started = time.time()
    threads = [threading.Thread(target=work, args=(range(k, len(ids), args.threads),)) for k in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors or any(e is None for e in out):
        raise SystemExit(f"ETag fetch failed: {errors[:3]}")
    with open(args.out, "w") as f:
        f.writelines(f"{i}\t{e}\n" for i, e in zip(ids, out))
    with open(args.json, "w") as f:
        json.dump({"ids": len(ids), "body_bytes_min": min(sizes), "body_bytes_max": max(sizes),
                   "fetch_s": round(time.time() - started, 1)}, f)
    print(f"{len(ids):,} ETags in {time.time() - started:.1f}s; 200 bodies {min(sizes)}-{max(sizes)} bytes",
          file=sys.stderr)


# --------------------------------------------------------------------------
# mem / hold


def snapshot(pid):
    s = proc_status(pid)
    return {"rss_kb": s["VmRSS"], "hwm_kb": s["VmHWM"], "threads": s["Threads"], "sockets": server_sockets(pid)}


def cmd_mem(args):
    time.sleep(args.settle)
    snap = snapshot(args.pid)
    with open(args.out, "w") as f:
        json.dump(snap, f)
    print(f"server memory ({os.path.basename(args.out)}): RSS {mib(snap['rss_kb'])} MiB, "
          f"HWM {mib(snap['hwm_kb'])} MiB", file=sys.stderr)


async def hold(args):
    with open(args.ids) as f:
        ids = [line.split("\t")[0] for line in f if line.strip()]
    before = snapshot(args.pid)
    sem = asyncio.Semaphore(args.concurrency)
    conns = []
    failures = []

    async def open_one(n):
        async with sem:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", args.port), 10)
                path = f"/api/v1/operations/{ids[n % len(ids)]}"
                writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await asyncio.wait_for(reader.readexactly(length), 10)
                if status != 200:
                    failures.append(f"status {status}")
                conns.append((reader, writer))
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
                failures.append(repr(e))

    started = time.time()
    await asyncio.gather(*(open_one(n) for n in range(args.conns)))
    connect_s = time.time() - started
    await asyncio.sleep(args.settle)
    held = snapshot(args.pid)
    held_at_s = time.time() - started
    await asyncio.sleep(max(0.0, args.hold - args.settle))
    still_open = sum(1 for r, _ in conns if not r.at_eof())
    for _, w in conns:
        w.close()
    result = {
        "conns": args.conns, "answered": len(conns), "failures": len(failures),
        "first_failure": failures[0] if failures else None,
        "connect_s": round(connect_s, 2), "measured_after_s": round(held_at_s, 2),
        "open_at_end": still_open, "before": before, "held": held,
    }
    with open(args.out, "w") as f:
        json.dump(result, f)
    print(f"{len(conns):,} connections answered in {connect_s:.1f}s ({len(failures)} failures); "
          f"server sockets {held['sockets']:,}, RSS {mib(before['rss_kb'])} -> {mib(held['rss_kb'])} MiB, "
          f"HWM {mib(held['hwm_kb'])} MiB", file=sys.stderr)


def cmd_hold(args):
    asyncio.run(hold(args))


# --------------------------------------------------------------------------
# report


FLOORS = {  # ratio of requests/s to the hyper baseline's measured around the run
    ("found", "sqlite"): 0.35, ("found", "postgres"): 0.30, ("404", None): 0.10, ("422", None): 0.45,
}


def cmd_report(args):
    R = args.results
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    base = load(f"{R}/baseline-wrk.json")
    base_lua, base_end = load(f"{R}/baseline-lua.json"), load(f"{R}/baseline-end.json")
    problems = []
    out = [*report_head(args.command, ["wrk"]),
           "Server (and baseline) pinned to core 0, wrk and the Python client to core 1; "
           "every run `wrk -t1 -c32 -d10s --latency`, keep-alive.", ""]

    def ms(us):
        return f"{us / 1000:.2f} ms"

    def reference(key):
        """The mean requests/s of the hyper baseline measured just before and
        just after the run KEY, or None when it was not bracketed."""
        try:
            with open(f"{R}/{key}-refs") as f:
                readings = [load(f"{R}/{ref}.json") for ref in f.read().split()]
        except FileNotFoundError:
            return None
        if len(readings) != 2 or None in readings:
            return None
        return sum(r["rps"] for r in readings) / 2

    def ratio(d, key):
        """The run's ratio to its bracketing reference, else to baseline 0."""
        ref = reference(key) or (base["rps"] if base else None)
        return d["rps"] / ref if d and ref else None

    def wrk_row(label, d, key, ratio_to=None, ratio_label=""):
        if d is None:
            return f"| {label} | — | — | — | — | — | not run | — |"
        rb = f"{d['rps'] / base['rps']:.3f}" if base else "—"
        ref = reference(key)
        adjacent = f"{d['rps'] / ref:.3f} (of {ref:,.0f})" if ref else "—"
        other = f"{d['rps'] / ratio_to['rps']:.3f} {ratio_label}" if ratio_to else ""
        return (f"| {label} | {d['rps']:,.0f} | {ms(d['p50_us'])} | {ms(d['p99_us'])} | {adjacent} | {rb} "
                f"| {other} | {audit_cpu(R, key)} |")

    def verdict(ok):
        return "**met**" if ok else "**missed**"

    def check_wrk(name, key, d, expected):
        if d is None:
            problems.append(f"{name} {key}: no result (the run failed; see the script's output)")
            return
        # wrk counts every answer >= 400 as a "status" error: expected for 404/422.
        socket_errors = sum(v for k, v in d["errors"].items() if k != "status" or expected < 400)
        if d["unexpected_status"] or socket_errors:
            problems.append(f"{name} {key}: {d['unexpected_status']:,} answers not {expected} "
                            f"(first {d['first_unexpected_status']}), socket errors {d['errors']}")
        a = load(f"{R}/{key}-audit.json")
        if a and a["other_cpu_s"] > 0.1 * a["window_s"]:
            problems.append(f"{name} {key}: other processes used {a['other_cpu_s']} core-s during the "
                            f"{a['window_s']} s run; the figures may be disturbed")

    check_wrk("baseline", "baseline-wrk", base, 200)
    check_wrk("baseline", "baseline-lua", base_lua, 200)
    check_wrk("baseline", "baseline-end", base_end, 200)
    check_wrk("baseline", "baseline-rocket", load(f"{R}/baseline-rocket.json"), 200)
    readings = set()
    for refs in glob.glob(f"{R}/*-refs"):
        with open(refs) as f:
            readings.update(f.read().split())
    for key in sorted(readings):
        check_wrk("reference", key, load(f"{R}/{key}.json"), 200)
    for b in ("sqlite", "postgres"):
        if not os.path.exists(f"{R}/{b}-started"):
            continue
        n = names[b]
        found, big = load(f"{R}/{b}-found.json"), load(f"{R}/{b}-found1m.json")
        first, rocket = load(f"{R}/{b}-first.json"), load(f"{R}/baseline-rocket.json")
        nf, bad, nm = load(f"{R}/{b}-404.json"), load(f"{R}/{b}-422.json"), load(f"{R}/{b}-304.json")
        seed, seed1m, etags = load(f"{R}/{b}-seed.json"), load(f"{R}/{b}-seed1m.json"), load(f"{R}/{b}-etags.json")
        idle, after, held = load(f"{R}/{b}-mem-idle.json"), load(f"{R}/{b}-mem-after-found.json"), load(f"{R}/{b}-hold.json")
        after1m = load(f"{R}/{b}-mem-after-found1m.json")
        rows1m = seed1m["rows"] if seed1m else None
        rows = seed["rows"] if seed else None
        for key, d, exp in ((f"{b}-first", first, 200), (f"{b}-found", found, 200), (f"{b}-found1m", big, 200), (f"{b}-404", nf, 404),
                            (f"{b}-422", bad, 422), (f"{b}-304", nm, 304)):
            check_wrk(n, key, d, exp)
        out.append(f"### {n}")
        out.append("")
        out.append("| scenario | requests/s | p50 | p99 | ratio to the hyper baseline around it "
                   "| ratio to 0. | other ratio "
                   "| CPU server / wrk" + (" / PostgreSQL" if b == "postgres" else "") + " (core-s) |")
        out.append("|---|---|---|---|---|---|---|---|")
        out.append(wrk_row("0. hyper baseline (fixed ~350-byte JSON; one static request, no Lua)", base,
                           "baseline-wrk"))
        out.append(wrk_row("0b. hyper baseline through poll.lua (the Lua client's own limit)", base_lua,
                           "baseline-lua", base, "to 0."))
        out.append(wrk_row("0c. hyper baseline again, at the end of the run", base_end, "baseline-end", base, "to 0."))
        out.append(wrk_row("0d. a plain Rocket route, the same body (the framework's own limit)", rocket,
                           "baseline-rocket", base, "to 0."))
        out.append(wrk_row("1f. first poll of each operation (not yet in memory)", first, f"{b}-first",
                           rocket, "to 0d."))
        out.append(wrk_row(f"1. poll, found ({rows:,} rows)" if rows else "1. poll, found", found, f"{b}-found",
                           rocket, "to 0d."))
        out.append(wrk_row(f"2. poll, found ({rows1m:,} rows, the same {rows or 0:,} polled)" if rows1m
                           else "2. poll, found (1,000,000 rows)", big, f"{b}-found1m", found, "to 1."))
        out.append(wrk_row("3a. not found (random UUIDs) → 404", nf, f"{b}-404", found, "to 1."))
        out.append(wrk_row("3b. malformed (`not-a-uuid-<n>`) → 422", bad, f"{b}-422", found, "to 1."))
        out.append(wrk_row("4. If-None-Match → 304", nm, f"{b}-304", found, "to 1."))
        out.append("")
        out.append("| memory (server) | VmRSS | VmHWM |")
        out.append("|---|---|---|")
        for label, m in (("5a. idle, after start", idle),
                         ("5b. after scenario 1", after),
                         ("5c. holding idle keep-alive connections", held["held"] if held else None),
                         (f"after scenario 2 (a fresh server on {rows1m or 0:,} rows)", after1m)):
            out.append(f"| {label} | {mib(m['rss_kb']) + ' MiB' if m else '—'} | "
                       f"{mib(m['hwm_kb']) + ' MiB' if m else '—'} |")
        out.append("")
        if held:
            out.append(f"5c: {held['answered']:,} of {held['conns']:,} connections opened and answered a GET in "
                       f"{held['connect_s']} s ({held['failures']} failures); measured {held['measured_after_s']} s "
                       f"after the first connect, when the server held {held['held']['sockets']:,} sockets; "
                       f"{held['open_at_end']:,} still open when released. Before connecting: RSS "
                       f"{mib(held['before']['rss_kb'])} MiB.  ")
            if held["answered"] < held["conns"]:
                problems.append(f"{n} hold: only {held['answered']:,} of {held['conns']:,} connections answered "
                                f"(first failure: {held['first_failure']})")
        if etags:
            out.append(f"200 bodies {etags['body_bytes_min']}–{etags['body_bytes_max']} B. ")
        if seed:
            out.append(f"Seeded by SQL ({seed['tool']}): {seed['inserted']:,} rows in {seed['seed_s']} s"
                       + (f", then {seed1m['inserted']:,} more in {seed1m['seed_s']} s." if seed1m else "."))
        out.append("")
        # The floors.
        checks = []

        def floor(label, ok_value, text):
            if ok_value is None:
                checks.append(f"| {label} | — | not measured |")
            else:
                checks.append(f"| {label} | {text} | {verdict(ok_value)} |")

        def ratio_floor(label, d, key, minimum):
            r = ratio(d, key)
            floor(f"{label} ≥ {minimum} × baseline", r is not None and r >= minimum,
                  f"{r:.3f}" if r is not None else "")

        ratio_floor("poll found", found, f"{b}-found", FLOORS[("found", b)])
        ratio_floor("first poll", first, f"{b}-first", FLOORS[("404", None)])
        ratio_floor("404", nf, f"{b}-404", FLOORS[("404", None)])
        ratio_floor("422", bad, f"{b}-422", FLOORS[("422", None)])
        floor("304 no slower than a found poll (requests/s)", nm and found and nm["rps"] >= found["rps"],
              f"{nm['rps'] / found['rps']:.3f} × found" if nm and found else "")
        floor(f"{rows1m or 0:,} rows within 10 % of {rows or 0:,} (requests/s)", big and found and big["rps"] >= 0.9 * found["rps"],
              f"{big['rps'] / found['rps']:.3f} × scenario 1" if big and found else "")
        floor("RSS < 128 MiB under scenario 1 (VmHWM after it)", after and after["hwm_kb"] < 128 * 1024,
              f"{mib(after['hwm_kb'])} MiB" if after else "")
        floor("RSS < 32 MiB idle", idle and idle["rss_kb"] < 32 * 1024,
              f"{mib(idle['rss_kb'])} MiB" if idle else "")
        out.append("| floor | measured | |")
        out.append("|---|---|---|")
        out.extend(c.replace("| False |", "| **missed** |") for c in checks)
        out.append("")
    finish_report(out, problems, args.save,
                  "No problems: every wrk answer had the expected status, no run was disturbed by other load.")


def main():
    p, sub = command_line(__doc__)

    s = sub.add_parser("seed")
    add_database(s)
    s.add_argument("--start", type=int, default=0)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--out", required=True, help="ids file")
    s.add_argument("--json", required=True)
    s.set_defaults(fn=cmd_seed)

    s = sub.add_parser("ids")
    s.add_argument("--kind", choices=["random", "malformed"], required=True)
    s.add_argument("--count", type=int, default=100000)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_ids)

    s = sub.add_parser("etags")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--ids", required=True)
    s.add_argument("--threads", type=int, default=4)
    s.add_argument("--out", required=True)
    s.add_argument("--json", required=True)
    s.set_defaults(fn=cmd_etags)

    s = sub.add_parser("mem")
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--settle", type=float, default=0)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_mem)

    s = sub.add_parser("hold")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--ids", required=True)
    s.add_argument("--conns", type=int, default=10000)
    s.add_argument("--concurrency", type=int, default=256)
    s.add_argument("--settle", type=float, default=1.0)
    s.add_argument("--hold", type=float, default=3.0)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_hold)

    add_report(sub, cmd_report)
    run(p)


if __name__ == "__main__":
    main()
