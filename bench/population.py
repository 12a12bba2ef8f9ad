#!/usr/bin/env python3
"""Helpers of bench/population.sh (Python 3.11 standard library only).

Subcommands:
  urls       turn an ids file ("<id>\\t..." lines, from poll_limits.py seed)
             into the URL file that `oha --urls-from-file` reads
  summarize  read oha's JSON output of one fixed-rate run and write the
             figures the report needs (rate asked and achieved, p50/p99/
             p99.9, status and error counts); print them on one line
  report     print the Markdown report of a results directory

The seeding is poll_limits.py seed's; the steps every driver takes (ready,
quiet, audit) and the helpers the drivers share come from
bench/benchlib.py. Loopback only.
"""

import json
import os
import sys

sys.dont_write_bytecode = True  # no bench/__pycache__ from the import below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (  # noqa: E402
    add_report, audit_cpu, command_line, finish_report, fmt_ms, load, read_int, report_head, run,
)

# The floor the service is meant to meet, at the top rate.
FLOOR_RATE = 25000
FLOOR_P99_MS = 10.0
# A run whose achieved rate is below this share of the asked rate did not
# hold the schedule (the server, or the client, fell behind): flagged.
RATE_TOLERANCE = 0.97
# The client's core busier than this share of the run: oha may have been
# the bottleneck; flagged.
CLIENT_CPU_LIMIT = 0.9
# The client check's p99 at the floor rate, as a share of the floor's p99,
# above which oha's own latency leaves too little of the budget to judge.
CLIENT_P99_LIMIT = 0.5
POLL_INTERVAL_S = 2.5  # what one user does: a poll every 2.5 s


# --------------------------------------------------------------------------
# urls


def cmd_urls(args):
    n = 0
    with open(args.ids) as f, open(args.out, "w") as out:
        for line in f:
            op = line.split("\t")[0].strip()
            if op:
                out.write(f"http://127.0.0.1:{args.port}/api/v1/operations/{op}\n")
                n += 1
    if n == 0:
        raise SystemExit(f"no ids in {args.ids}")
    print(f"{n:,} URLs written to {args.out}", file=sys.stderr)


# --------------------------------------------------------------------------
# summarize


def cmd_summarize(args):
    d = load(args.oha)
    if d is None:
        raise SystemExit(f"no oha JSON output in {args.oha}")
    statuses = {str(k): int(v) for k, v in (d.get("statusCodeDistribution") or {}).items()}
    errors = {str(k): int(v) for k, v in (d.get("errorDistribution") or {}).items()}
    answered = sum(statuses.values())
    failed = sum(errors.values())
    elapsed = float(d["summary"]["total"])
    pct = d.get("latencyPercentiles") or {}

    def ms(key):  # oha's percentiles are in seconds, over every answered request
        v = pct.get(key)
        return None if v is None or v != v else round(v * 1000, 3)  # NaN: no answers

    not_200 = sum(v for k, v in statuses.items() if k != "200")
    # Requests oha never sent or never saw answered: 0 in -n mode unless oha
    # was stopped early (population.sh's timeout, SIGINT). They are errors
    # (a request that got no answer), and the percentiles, taken over the
    # answered requests only, then understate the latency.
    missing = max(0, args.requests - answered - failed)
    result = {
        "rate_asked": args.rate,
        "requests_planned": args.requests,
        "answered": answered,
        "socket_errors": failed,
        "not_200": not_200,
        "missing": missing,
        "errors": not_200 + failed + missing,
        "elapsed_s": round(elapsed, 3),
        "rate_achieved": round((answered + failed) / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": ms("p50"),
        "p90_ms": ms("p90"),
        "p99_ms": ms("p99"),
        "p999_ms": ms("p99.9"),
        "p9999_ms": ms("p99.99"),
        "max_ms": round(float(d["summary"]["slowest"]) * 1000, 3) if answered else None,
        "statuses": statuses,
        "error_kinds": errors,
        "bytes_per_answer": d["summary"].get("sizePerRequest"),
    }
    with open(args.out, "w") as f:
        json.dump(result, f)

    def fmt(v):
        return "—" if v is None else f"{v:.2f}"

    print(f"{args.rate:,}/s asked, {result['rate_achieved']:,.0f}/s achieved over {elapsed:.1f}s: "
          f"p50 {fmt(result['p50_ms'])} ms, p99 {fmt(result['p99_ms'])} ms, "
          f"p99.9 {fmt(result['p999_ms'])} ms, max {fmt(result['max_ms'])} ms; "
          f"statuses {statuses}, socket errors {errors or 0}"
          + (f", {missing:,} requests never answered (oha stopped early)" if missing else ""), file=sys.stderr)


# --------------------------------------------------------------------------
# report


def cmd_report(args):
    R = args.results
    names = {"baseline": "hyper baseline (client check)", "sqlite": "SQLite", "postgres": "PostgreSQL"}
    rates = [int(r) for r in args.rates.split()]
    problems = []
    out = [*report_head(args.command, ["oha", "wrk"]),
           f"Load: `{args.oha_command}` per rate (RATE requests/s for {args.secs} s; "
           f"URLS: {args.ops:,} seeded completed operations, one picked at random per request), "
           f"pinned to core 1; the server on core 0. Latency is measured from the moment oha's "
           f"scheduler released each request on its fixed schedule (`--latency-correction`), so "
           f"time spent waiting for a free connection or behind a late server counts. A run is "
           f"disturbed (repeated, then listed) when other processes used more than "
           f"{args.max_other:g} of a core on average during it.", ""]

    def statuses_text(d):
        parts = [f"{k}: {v:,}" for k, v in sorted(d["statuses"].items())]
        parts += [f"{k}: {v:,}" for k, v in sorted(d["error_kinds"].items())]
        if d["missing"]:
            parts.append(f"never answered: {d['missing']:,}")
        return ", ".join(parts) or "none"

    for b in ("baseline", "sqlite", "postgres"):
        if not os.path.exists(f"{R}/{b}-started"):
            continue
        n = names[b]
        out.append(f"### {n}")
        out.append("")
        if b != "baseline":
            seed, warm = load(f"{R}/{b}-seed.json"), load(f"{R}/{b}-warm.json")
            if seed:
                out.append(f"Seeded by SQL ({seed['tool']}): {seed['rows']:,} completed operations "
                           f"in {seed['seed_s']} s.  ")
            if warm:
                out.append(f"Warm-up (closed loop, `wrk -t1 -c32`, every id once in order): "
                           f"{warm['requests']:,} requests at {warm['rps']:,.0f}/s, p50 "
                           f"{warm['p50_us'] / 1000:.2f} ms, p99 {warm['p99_us'] / 1000:.2f} ms.  ")
                e = warm["errors"]
                if warm["unexpected_status"] or e["connect"] or e["read"] or e["write"] or e["timeout"]:
                    problems.append(f"{n} warm-up: {warm['unexpected_status']:,} answers not 200 "
                                    f"(first {warm['first_unexpected_status']}), socket errors {e}")
                if warm["responses_seen"] < (seed["rows"] if seed else 0):
                    problems.append(f"{n} warm-up: only {warm['responses_seen']:,} answers for "
                                    f"{seed['rows']:,} ids (it stopped at its time limit)")
            else:
                problems.append(f"{n}: no warm-up result")
            out.append("")
        else:
            out.append("oha against `bench/hyper-baseline` (a fixed ~350-byte JSON answer, no database) "
                       "on core 0: what the client and the loopback add on their own at each rate.")
            out.append("")
        out.append("| rate asked | users (one poll / 2.5 s) | rate achieved | p50 ms | p99 ms | p99.9 ms "
                   "| max ms | errors | status counts | CPU server / oha"
                   + (" / PostgreSQL" if b == "postgres" else "") + " (core-s) |")
        out.append("|---|---|---|---|---|---|---|---|---|---|")
        top = None
        notes = []
        for rate in rates:
            key = f"{b}-r{rate}"
            d = load(f"{R}/{key}.json")
            users = f"{int(rate * POLL_INTERVAL_S):,}"
            if d is None:
                out.append(f"| {rate:,}/s | {users} | not run | — | — | — | — | — | — | — |")
                problems.append(f"{n} {rate:,}/s: no result (the run failed; see the script's output)")
                continue
            attempts = read_int(f"{R}/{key}-attempts", 1)
            note = f" (attempt {attempts})" if attempts > 1 else ""
            out.append(f"| {rate:,}/s{note} | {users} | {d['rate_achieved']:,.0f}/s | {fmt_ms(d['p50_ms'])} "
                       f"| {fmt_ms(d['p99_ms'])} | {fmt_ms(d['p999_ms'])} | {fmt_ms(d['max_ms'])} "
                       f"| {d['errors']:,} | {statuses_text(d)} | {audit_cpu(R, key)} |")
            if rate == FLOOR_RATE:
                top = d
            if d["errors"]:
                problems.append(f"{n} {rate:,}/s: {d['errors']:,} errors ({d['not_200']:,} answers not 200, "
                                f"{d['socket_errors']:,} socket errors, {d['missing']:,} never answered: "
                                f"{statuses_text(d)})")
            if d["missing"]:
                problems.append(f"{n} {rate:,}/s: oha was stopped before {d['missing']:,} of the "
                                f"{d['requests_planned']:,} requests were answered; its percentiles cover the "
                                f"answered ones only and understate the latency")
            if d["rate_achieved"] < RATE_TOLERANCE * rate:
                # A server that cannot keep up is a result (the floor says
                # so); a client that cannot, even against the baseline, is a
                # problem of the measurement.
                notes.append(f"At {rate:,}/s the rate was not held: {d['rate_achieved']:,.0f}/s achieved, the "
                             f"run took {d['elapsed_s']:.1f} s instead of {d['requests_planned'] / rate:.0f} s; "
                             f"the requests queued meanwhile count in the latencies.")
                if b == "baseline":
                    problems.append(f"client check {rate:,}/s: oha did not hold the rate even against the "
                                    f"baseline ({d['rate_achieved']:,.0f}/s): figures at this rate measure the "
                                    f"client")
            if b == "baseline" and rate == FLOOR_RATE and d["p99_ms"] is not None \
                    and d["p99_ms"] >= CLIENT_P99_LIMIT * FLOOR_P99_MS:
                problems.append(f"client check {rate:,}/s: oha and the loopback alone give p99 "
                                f"{fmt_ms(d['p99_ms'])} ms, {CLIENT_P99_LIMIT:.0%} or more of the "
                                f"{FLOOR_P99_MS:g} ms budget: the floor cannot be judged on this machine now")
            a = load(f"{R}/{key}-audit.json")
            if a:
                if a["other_cpu_s"] > args.max_other * a["window_s"]:
                    problems.append(f"{n} {rate:,}/s: other processes used {a['other_cpu_s']} core-s during "
                                    f"the {a['window_s']} s run; the figures may be disturbed")
                if a["client_cpu_s"] > CLIENT_CPU_LIMIT * a["window_s"]:
                    problems.append(f"{n} {rate:,}/s: oha used {a['client_cpu_s']} core-s of its one core in "
                                    f"{a['window_s']} s: the client may have been the bottleneck")
        out.append("")
        if notes:
            out.extend(f"{x}  " for x in notes)
            out.append("")
        if b != "baseline":
            if top is None:
                out.append(f"Floor, {FLOOR_RATE:,} requests/s with p99 < {FLOOR_P99_MS:g} ms and no errors: "
                           "**not measured**.")
            else:
                ok = (top["p99_ms"] is not None and top["p99_ms"] < FLOOR_P99_MS and top["errors"] == 0
                      and top["rate_achieved"] >= RATE_TOLERANCE * FLOOR_RATE)
                out.append(f"Floor, {FLOOR_RATE:,} requests/s with p99 < {FLOOR_P99_MS:g} ms and no errors: "
                           f"{top['rate_achieved']:,.0f}/s achieved, p99 {fmt_ms(top['p99_ms'])} ms, "
                           f"{top['errors']:,} errors — {'**met**' if ok else '**missed**'}.")
            out.append("")
    if os.path.exists(f"{R}/baseline-started"):
        client = "the client held every rate against the baseline"
    else:
        client = "the client check against the baseline was not run (BENCH_BASELINE=0)"
        out.append("The client check was not run (BENCH_BASELINE=0): nothing here shows how much of the "
                   "latency is oha's own.")
        out.append("")
    finish_report(out, problems, args.save,
                  f"No problems: every answer was a 200, every request was answered, {client}, no run was "
                  f"disturbed by other load.")


def main():
    p, sub = command_line(__doc__)

    s = sub.add_parser("urls")
    s.add_argument("--ids", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_urls)

    s = sub.add_parser("summarize")
    s.add_argument("--oha", required=True, help="oha's JSON output")
    s.add_argument("--rate", type=int, required=True)
    s.add_argument("--requests", type=int, required=True, help="the -n given to oha")
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_summarize)

    add_report(
        sub, cmd_report,
        oha_command=dict(required=True, help="the oha command line, with RATE, N and URLS"),
        rates=dict(required=True, help="space-separated"),
        secs=dict(type=int, required=True),
        ops=dict(type=int, required=True),
        max_other=dict(type=float, default=0.02,
                       help="cores of other load on average above which a run counts as disturbed"),
    )
    run(p)


if __name__ == "__main__":
    main()
