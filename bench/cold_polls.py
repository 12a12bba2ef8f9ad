#!/usr/bin/env python3
"""The report of bench/cold_polls.sh (Python 3.11 standard library only).

Subcommand:
  report   print the Markdown report of a results directory: per server
           and phase, the rate asked and achieved, p50/p99/p99.9/max, errors,
           status counts and CPU; the service's poll-cache lookups; and the
           floors (cold p99 < 50 ms, no errors; warm p99 at most twice the
           plain Rocket route's in the same run)

The results are the JSON files of bench/open-loop (one per phase) and the
audits of benchlib.py; the seeding is poll_limits.py seed's.
"""

import os
import re
import sys

sys.dont_write_bytecode = True  # no bench/__pycache__ from the import below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import add_report, command_line, finish_report, fmt_ms, load, report_head, run  # noqa: E402

COLD_P99_MS = 50.0
WARM_P99_RATIO = 2.0
# A phase whose achieved rate is below this share of the asked rate did
# not hold the schedule (the server, or the client, fell behind).
RATE_TOLERANCE = 0.97
CLIENT_CPU_LIMIT = 0.9

SERVERS = {
    "hyper_sqlite": "hyper + SQLite, one primary-key read per poll, no cache",
    "rocket": "plain Rocket route, a fixed body",
    "sqlite": "longrun, SQLite",
    "postgres": "longrun, PostgreSQL",
}


def cache_lookups(results, backend):
    """The service's poll-cache hits and misses at the end of its run."""
    try:
        with open(f"{results}/{backend}-metrics.txt") as f:
            text = f.read()
    except OSError:
        return None
    found = dict(re.findall(r'poll_cache_lookups_total\{result="(\w+)"\} (\d+)', text))
    return {k: int(v) for k, v in found.items()} or None


def cmd_report(args):
    R = args.results
    backends = args.backends.split()
    problems = []
    out = [*report_head(args.command),
           f"Build: {args.build}.  ",
           f"Load: `bench/open-loop` on core 1, {args.connections:,} keep-alive connections opened before "
           f"the schedule starts; requests sent on a fixed schedule whatever the server does, each "
           f"request's latency counted from its scheduled time. **Cold:** {args.cold_rate:,} polls/s, each "
           f"of the {args.ops:,} seeded operations once, against a server that has just started. **Warm:** "
           f"{args.warm_rate:,} polls/s for {args.warm_secs} s, the same ids again in the same order. The "
           f"servers on core 0; CPU is the server's over the whole client run (connecting included), as a "
           f"share of its core.", "",
           "| server | phase | rate asked | achieved | p50 ms | p99 ms | p99.9 ms | max ms | errors "
           "| server CPU | PostgreSQL CPU |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    results = {}
    for server in ["hyper_sqlite", "rocket", *backends]:
        for phase in ("cold", "warm"):
            key = f"{server}-{phase}"
            d, a = load(f"{R}/{key}.json"), load(f"{R}/{key}-audit.json")
            results[key] = d
            if d is None:
                out.append(f"| {SERVERS[server]} | {phase} | — | not run | — | — | — | — | — | — | — |")
                problems.append(f"{SERVERS[server]}, {phase}: no result")
                continue
            cpu = pg = "—"
            if a:
                cpu = f"{a['server_cpu_s'] / a['window_s']:.0%}"
                if a.get("postgres_cpu_s") is not None:
                    pg = f"{a['postgres_cpu_s'] / a['window_s']:.0%}"
                if a["client_cpu_s"] > CLIENT_CPU_LIMIT * a["window_s"]:
                    problems.append(f"{SERVERS[server]}, {phase}: the client used {a['client_cpu_s']} core-s "
                                    f"in {a['window_s']} s; it may have been the bottleneck")
                if a["other_cpu_s"] > 0.1 * a["window_s"]:
                    problems.append(f"{SERVERS[server]}, {phase}: other processes used {a['other_cpu_s']} "
                                    f"core-s during the {a['window_s']} s run")
            out.append(f"| {SERVERS[server]} | {phase} | {d['rate_asked']:,.0f}/s | {d['rate_achieved']:,.0f}/s "
                       f"| {fmt_ms(d['p50_ms'])} | {fmt_ms(d['p99_ms'])} | {fmt_ms(d['p999_ms'])} "
                       f"| {fmt_ms(d['max_ms'])} | {d['errors']:,} | {cpu} | {pg} |")
            if d["connect_failures"]:
                problems.append(f"{SERVERS[server]}, {phase}: {d['connect_failures']:,} of "
                                f"{d['connections']:,} connections could not be opened")
            if server in ("hyper_sqlite", "rocket") and d["errors"]:
                problems.append(f"{SERVERS[server]}, {phase}: {d['errors']:,} errors ({d['statuses']})")
    out.append("")

    for b in backends:
        lookups = cache_lookups(R, b)
        if lookups:
            out.append(f"{SERVERS[b]}: poll cache hits {lookups.get('hit', 0):,}, misses "
                       f"{lookups.get('miss', 0):,} over both phases.  ")
    out.append("")

    rocket_warm = results.get("rocket-warm")
    out.append("| floor | " + " | ".join(SERVERS[b] for b in backends) + " |")
    out.append("|---|" + "---|" * len(backends))

    def held(d):
        return d["errors"] == 0 and d["rate_achieved"] >= RATE_TOLERANCE * d["rate_asked"]

    def cold_cell(b):
        d = results.get(f"{b}-cold")
        if d is None:
            return "not measured"
        ok = held(d) and d["p99_ms"] < COLD_P99_MS
        return (f"p99 {fmt_ms(d['p99_ms'])} ms, {d['errors']:,} errors, {d['rate_achieved']:,.0f}/s — "
                + ("met" if ok else "**missed**"))

    def warm_cell(b):
        d = results.get(f"{b}-warm")
        if d is None or rocket_warm is None:
            return "not measured"
        limit = WARM_P99_RATIO * rocket_warm["p99_ms"]
        ok = held(d) and d["p99_ms"] <= limit
        return (f"p99 {fmt_ms(d['p99_ms'])} ms against {fmt_ms(limit)} ms, {d['errors']:,} errors — "
                + ("met" if ok else "**missed**"))

    out.append(f"| cold, {args.cold_rate:,}/s: p99 < {COLD_P99_MS:g} ms, no errors | "
               + " | ".join(cold_cell(b) for b in backends) + " |")
    out.append(f"| warm, {args.warm_rate:,}/s: p99 ≤ {WARM_P99_RATIO:g} × the plain Rocket route's | "
               + " | ".join(warm_cell(b) for b in backends) + " |")
    out.append("")
    for b in backends:
        for phase in ("cold", "warm"):
            d = results.get(f"{b}-{phase}")
            if d is not None and d["errors"]:
                problems.append(f"{SERVERS[b]}, {phase}: {d['errors']:,} errors ({d['statuses']}, "
                                f"{d['missing']:,} never answered)")
    finish_report(out, problems, args.save, "No problems: every connection opened, no errors, no run disturbed.")


def main():
    p, sub = command_line(__doc__)
    add_report(
        sub, cmd_report,
        build=dict(required=True),
        ops=dict(type=int, required=True),
        connections=dict(type=int, required=True),
        cold_rate=dict(type=int, required=True),
        warm_rate=dict(type=int, required=True),
        warm_secs=dict(type=int, required=True),
        backends=dict(required=True, help="space-separated"),
    )
    run(p)


if __name__ == "__main__":
    main()
