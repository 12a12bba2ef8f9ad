#!/usr/bin/env python3
"""Helpers of bench/work_throughput.sh (Python 3.11 standard library only).

Subcommands:
  build-info  record which server binary is measured: its modification time,
              the git commit, uncommitted changes to the sources, whether
              any source is newer than the binary
  counts      the operations in a benchmark database by status (and how many
              took more than one attempt): the database's own account of
              the run, set against the client's
  report      print the Markdown tables of a results directory

The helpers the drivers share (the results, psql, the report's head and
ending) come from bench/benchlib.py.
"""

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone

sys.dont_write_bytecode = True  # no bench/__pycache__ from the import below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (  # noqa: E402
    add_database, add_report, command_line, finish_report, load, psql, read_int, report_head, run,
)

TARGET_OPS_PER_SEC = 3000
SOURCES = ("src", "migrations", "resources", "Cargo.toml", "Cargo.lock")

# --------------------------------------------------------------------------
# build-info


def git(root, *args):
    try:
        # Not strip(): a porcelain line starts with a space.
        return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, timeout=20).stdout.rstrip("\n")
    except OSError:
        return ""


def newest_mtime(root):
    newest, newest_path = 0.0, None
    for name in SOURCES:
        top = os.path.join(root, name)
        paths = [top] if os.path.isfile(top) else (
            os.path.join(d, f) for d, _, files in os.walk(top) for f in files)
        for p in paths:
            try:
                m = os.path.getmtime(p)
            except OSError:
                continue
            if m > newest:
                newest, newest_path = m, os.path.relpath(p, root)
    return newest, newest_path


def utc(ts):
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def pools(results):
    """`8 sqlite, 16 postgres`: the pool of each backend run, from the
    server's own report of it."""
    sizes = []
    for backend in ("sqlite", "postgres"):
        try:
            with open(os.path.join(results, f"{backend}-pool")) as f:
                size = f.read().strip()
        except OSError:
            continue
        if size:
            sizes.append(f"{size} {backend}")
    return ", ".join(sizes)


def cmd_build_info(args):
    built = os.path.getmtime(args.bin)
    newest, newest_path = newest_mtime(args.root)
    dirty = [line[3:] for line in git(args.root, "status", "--porcelain", "--", *SOURCES).splitlines()]
    info = {
        "binary": os.path.relpath(args.bin, args.root),
        "built": utc(built),
        "commit": git(args.root, "log", "-1", "--format=%h %s"),
        "uncommitted": dirty,
        "sources_newer": newest > built,
        "newest_source": newest_path,
        "newest_source_time": utc(newest) if newest else None,
    }
    with open(args.out, "w") as f:
        json.dump(info, f)
    print(f"server: {info['binary']} built {info['built']} at {info['commit']}"
          + (f", {len(dirty)} files with uncommitted changes" if dirty else "")
          + (f"; {newest_path} is newer than the binary" if info["sources_newer"] else ""), file=sys.stderr)


# --------------------------------------------------------------------------
# counts

COUNT_SQL = ("SELECT status, count(*), sum(CASE WHEN attempts > 1 THEN 1 ELSE 0 END) "
             "FROM operations GROUP BY status ORDER BY status")


def cmd_counts(args):
    if args.sqlite_db:
        con = sqlite3.connect(f"file:{args.sqlite_db}?mode=ro", uri=True, timeout=30)
        rows = con.execute(COUNT_SQL).fetchall()
        con.close()
    else:
        out = psql(args.pg_db, "-F", "\t", "-c", COUNT_SQL, timeout=120)
        rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    by_status = {status: int(n) for status, n, _ in rows}
    retried = sum(int(r or 0) for _, _, r in rows)
    info = {"by_status": by_status, "total": sum(by_status.values()), "more_than_one_attempt": retried}
    with open(args.out, "w") as f:
        json.dump(info, f)
    print(f"database: {info['total']:,} operations, by status {by_status}, {retried} took more than one attempt",
          file=sys.stderr)


# --------------------------------------------------------------------------
# report


def cmd_report(args):
    R = args.results
    names = {"reference": "reference: hyper baseline (answers at once, already completed)",
             "sqlite": "SQLite", "postgres": "PostgreSQL"}
    keys = [k for k in ("reference", "sqlite", "postgres") if os.path.exists(f"{R}/{k}.json")]
    for b in ("sqlite", "postgres"):
        if os.path.exists(f"{R}/{b}-started") and b not in keys:
            keys.append(b)
    res = {k: load(f"{R}/{k}.json") for k in keys}
    audit = {k: load(f"{R}/{k}-audit.json") for k in keys}
    db = {k: load(f"{R}/{k}-db.json") for k in keys}
    build = load(f"{R}/build.json")
    problems = []

    first = next((r for r in res.values() if r), None) or {}
    size = (f"{first['ops_requested']:,} operations" if first.get("ops_requested")
            else f"{first.get('duration_s', 0):g} s past the warm-up")
    out = report_head(args.command)
    if build:
        dirty = build["uncommitted"]
        out.append(f"Server: `{build['binary']}` built {build['built']} at commit {build['commit']}"
                   + (f", with uncommitted changes to {len(dirty)} files ({', '.join(dirty[:6])}"
                      + (", …" if len(dirty) > 6 else "") + ")" if dirty else ", no uncommitted changes")
                   + (f"; **{build['newest_source']} was changed after the build** "
                      f"({build['newest_source_time']})" if build["sources_newer"] else "") + "  ")
    out.append(f"Server on core 0 (`taskset -c 0`): `workers={args.workers}, idle_poll_ms={args.idle_poll_ms}`, "
               f"pools of {pools(args.results) or '?'} (as the server's `/metrics` reports them), "
               f"`enable_echo=true`, rate limits raised to 1,000,000/s, logs off. "
               f"Client `bench/work-throughput` on core 1: {first.get('concurrency', '?')} users, one keep-alive "
               f"connection each; per user: `POST /api/v1/operations` "
               '`{"operation_type":"echo","input":{}}` → 202, then `GET /api/v1/operations/{id}` every '
               f"{first.get('poll_ms', '?')} ms until `completed`/`failed`; {size}, the first "
               f"{first.get('warmup', 0):,} to finish are the warm-up. Fresh database per backend.")
    out.append("")

    def fmt(v, digits=2):
        return "—" if v is None else f"{v:,.{digits}f}"

    def verdict(k, r):
        if k == "reference":
            return "(ceiling of the client)"
        return "**met**" if r["ops_per_sec"] >= TARGET_OPS_PER_SEC else "**missed**"

    out.append(f"| run | operations/s | target ≥ {TARGET_OPS_PER_SEC:,}/s | end-to-end p50 / p99 (max) "
               "| polls per op | completed / failed / errors / timeouts / bad status | server CPU |")
    out.append("|---|---|---|---|---|---|---|")
    for k in keys:
        r, a = res[k], audit[k]
        if r is None:
            out.append(f"| {names[k]} | — | not run | — | — | — | — |")
            problems.append(f"{names[k]}: no result (the run failed; see the script's output)")
            continue
        e = r["e2e_ms"]
        cpu = "—"
        if a:
            cpu = (f"{a['server_cpu_s']:.1f} core-s in {a['window_s']:.1f} s "
                   f"({a['server_cpu_s'] / a['window_s']:.2f} cores)" if a["window_s"] else "—")
        out.append(f"| {names[k]} | **{r['ops_per_sec']:,.0f}** | {verdict(k, r)} "
                   f"| {fmt(e['p50'])} / {fmt(e['p99'])} ms ({fmt(e['max'], 1)}) | {r['polls_per_op']:.2f} "
                   f"| {r['completed']:,} / {r['failed']} / {r['errors']} / {r['timeouts']} / {r['unexpected_status']} "
                   f"| {cpu} |")
    out.append("")

    out.append("| details | " + " | ".join(names[k].split(":")[0] for k in keys) + " |")
    out.append("|---|" + "---|" * len(keys))

    def row(label, fn):
        cells = []
        for k in keys:
            try:
                cells.append(fn(k))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("—")
        out.append(f"| {label} | " + " | ".join(cells) + " |")

    row("measured: operations / window", lambda k: f"{res[k]['measured_completed']:,} in {res[k]['window_s']:.2f} s")
    row("end-to-end mean / p90 (ms)", lambda k: f"{fmt(res[k]['e2e_ms']['mean'])} / {fmt(res[k]['e2e_ms']['p90'])}")
    row("operations in flight (ops/s × mean latency)", lambda k: f"{res[k]['in_flight']:.1f} of {res[k]['concurrency']}")
    row("requests/s (creates + polls)", lambda k: f"{res[k]['requests_per_sec']:,.0f}")
    row("create round trip p50 / p99 (ms)",
        lambda k: f"{fmt(res[k]['create_rtt_ms']['p50'])} / {fmt(res[k]['create_rtt_ms']['p99'])}")
    row("poll round trip p50 / p99 (ms)",
        lambda k: f"{fmt(res[k]['poll_rtt_ms']['p50'])} / {fmt(res[k]['poll_rtt_ms']['p99'])}")
    row("statuses: create / poll", lambda k: (
        ", ".join(f"{s}×{n:,}" for s, n in res[k]["status_counts"]["create"].items()) + " / "
        + ", ".join(f"{s}×{n:,}" for s, n in res[k]["status_counts"]["poll"].items())))
    row("connections opened", lambda k: f"{res[k]['connects']}")
    row("server CPU per operation (whole run, warm-up included)",
        lambda k: f"{audit[k]['server_cpu_s'] * 1000 / res[k]['finished']:.3f} ms")
    row("PostgreSQL backends' CPU (of the benchmark's database)", lambda k: "—" if audit[k].get("postgres_cpu_s") is None
        else f"{audit[k]['postgres_cpu_s']:.1f} core-s ({audit[k]['postgres_cpu_s'] * 1000 / res[k]['finished']:.3f} ms "
             "per operation)")
    row("client CPU", lambda k: f"{audit[k]['client_cpu_s']:.1f} core-s")
    row("other processes' CPU", lambda k: f"{audit[k]['other_cpu_s']:.1f} core-s"
        + (f" (attempt {read_int(f'{R}/{k}-attempts')})" if read_int(f"{R}/{k}-attempts", 1) > 1 else ""))
    row("database afterwards: operations by status", lambda k: "—" if k == "reference" else (
        ", ".join(f"{s} {n:,}" for s, n in db[k]["by_status"].items()) or "none")
        + f"; {db[k]['more_than_one_attempt']} retried")
    out.append("")

    for k in keys:
        r, a = res[k], audit[k]
        if r is None:
            continue
        n = names[k].split(":")[0]
        if not r["ok"] or read_int(f"{R}/{k}-exit", 0) != 0:
            problems.append(f"{n}: the client failed: {'; '.join(r['problems']) or 'exit ' + str(read_int(f'{R}/{k}-exit'))}"
                            + (f" (first: {r['samples'][0]})" if r["samples"] else ""))
        if a and a["other_cpu_s"] > 0.1 * a["window_s"]:
            problems.append(f"{n}: other processes used {a['other_cpu_s']} core-s during the "
                            f"{a['window_s']} s run; the figures may be disturbed")
        if k != "reference":
            d = db[k]
            created = r["status_counts"]["create"].get("202", 0)
            if d is None:
                problems.append(f"{n}: the database was not counted")
            elif d["total"] != created or d["by_status"].get("completed", 0) != r["completed"]:
                problems.append(f"{n}: the database holds {d['total']:,} operations ({d['by_status']}); the client "
                                f"had {created:,} created and saw {r['completed']:,} completed")
    finish_report(out, problems, args.save,
                  "No problems: every operation was created (202), polled with 200s and completed; the database "
                  "agrees; no run was disturbed by other load.")


def main():
    p, sub = command_line(__doc__)

    s = sub.add_parser("build-info")
    s.add_argument("--root", required=True)
    s.add_argument("--bin", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_build_info)

    s = sub.add_parser("counts")
    add_database(s)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_counts)

    add_report(sub, cmd_report, workers=dict(required=True), idle_poll_ms=dict(required=True))
    run(p)


if __name__ == "__main__":
    main()
