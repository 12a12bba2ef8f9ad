#!/usr/bin/env python3
"""What the Python drivers of bench/ share (Python 3.11 standard library only).

The drivers (cheap_polling.py, cold_polls.py, declared_types.py, owners.py,
poll_limits.py, population.py, webhooks.py, work_throughput.py) import from
here and from no other driver: the command line of a driver, the results of
a run (and writing them), a percentile, the realistic operation results
(also as SQL), the keep-alive HTTP server of a driver's local helper (a
webhook receiver, a declared type's target) and a call to it, /proc
readings, psql, and the pieces of a report (the machine, the CPU of an
audited run, the ending).

Run as a program, it holds the steps that every driver's shell script takes
through common.sh (subcommands):
  ready    wait until the server answers
  quiet    wait until the rest of the machine is idle
  audit    run a command and record the CPU that the server, the command,
           the driver's helpers, the benchmark database's PostgreSQL
           backends and everything else used meanwhile

Every subcommand talks to 127.0.0.1 only.
"""

import argparse
import asyncio
import http.client
import json
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone

# --------------------------------------------------------------------------
# The command line of a driver


def command_line(doc):
    """A driver's parser, described by its docstring, and its subcommands."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    return p, p.add_subparsers(dest="cmd", required=True)


def add_database(s):
    """--sqlite-db FILE or --pg-db NAME, one of them required."""
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--sqlite-db")
    g.add_argument("--pg-db")


def add_report(sub, fn, **options):
    """The `report` subcommand of a driver: --results and --command, then
    OPTIONS (each name, its underscores as dashes, with the keywords of
    add_argument), then --save."""
    s = sub.add_parser("report")
    s.add_argument("--results", required=True)
    s.add_argument("--command", required=True)
    for name, keywords in options.items():
        s.add_argument("--" + name.replace("_", "-"), **keywords)
    s.add_argument("--save")
    s.set_defaults(fn=fn)


def run(parser):
    args = parser.parse_args()
    args.fn(args)


# --------------------------------------------------------------------------
# Results of a run


def load(path):
    """A JSON result, or None when it is missing or unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def read_int(path, default=None):
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError):
        return default


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f)


def percentile(sorted_values, p):
    """The nearest-rank percentile P of SORTED_VALUES; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))  # nearest rank
    return sorted_values[int(rank) - 1]


# --------------------------------------------------------------------------
# The local HTTP helper of a driver (a webhook receiver, a declared type's
# target): one asyncio process, HTTP/1.1 keep-alive


class KeepAliveConnection(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, parsed from the bytes as they arrive (a
    Protocol rather than streams: fewer Python steps per request). A POST
    to `handler.path` goes to `handler.run(headers, body)`, any other
    request to `handler.control(method, path)`; each returns (status line,
    JSON payload), as bytes. Header names are lower-cased."""

    def __init__(self, handler):
        self.handler = handler
        self.buffer = b""
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buffer[:end].split(b"\r\n")
            headers = {}
            for line in lines[1:]:
                key, _, value = line.partition(b":")
                headers[key.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4:end + 4 + length]
            self.buffer = self.buffer[end + 4 + length:]
            method, target, _ = lines[0].split(b" ", 2)
            path = target.split(b"?", 1)[0]
            if path == self.handler.path and method == b"POST":
                status, payload = self.handler.run(headers, body)
            else:
                status, payload = self.handler.control(method, path)
            self.transport.write(b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\ncontent-length: "
                                 + str(len(payload)).encode() + b"\r\n\r\n" + payload)


def serve(handler, port):
    """Serves HANDLER (see KeepAliveConnection) on 127.0.0.1:PORT (0: a free
    port) until SIGTERM; prints `listening <port>` once it listens, the line
    the drivers wait for."""

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: KeepAliveConnection(handler), "127.0.0.1", port,
                                          reuse_address=True, backlog=1024)
        print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
        async with server:
            await server.serve_forever()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(main())


def helper_call(port, path, method="GET", name="the helper"):
    """The JSON answer of the local helper NAME at PORT to METHOD PATH (its
    controls: /_stats, /_reset, ...); exits unless it is a 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    if response.status != 200:
        raise SystemExit(f"{name} answered {method} {path} with {response.status}")
    return json.loads(payload)


# --------------------------------------------------------------------------
# Realistic operation results

QUESTIONS = [
    "Walk me through how you would design an idempotent payment endpoint that is retried by "
    "clients over an unreliable mobile network. Which guarantees do you give, and where do they live?",
    "Tell me about a time a production incident was caused by a change you made. How did you find "
    "out, what did you do in the first hour, and what changed in your process afterwards?",
    "How would you paginate a large, frequently updated table in a public REST API so that clients "
    "neither miss nor duplicate rows while they page through it?",
    "Describe how you would migrate a busy PostgreSQL table to a new schema without downtime. "
    "Which steps can be rolled back, and how do you know each one is safe?",
    "A dashboard that used to load in two seconds now takes twenty. Explain how you would find "
    "the cause, starting from the user's report, and which measurements you would trust.",
    "Explain the trade-offs between polling, long polling and server-sent events for a client "
    "that waits for a slow background job to finish.",
]
TOPICS = ["api design", "incident response", "pagination", "databases", "performance", "real-time"]
DIFFICULTIES = ["junior", "middle", "senior"]


def realistic_result(i):
    """An interview-question-like result of 200-500 bytes of JSON."""
    result = {
        "question_text": QUESTIONS[i % len(QUESTIONS)],
        "question_type": "behavioral" if i % 3 == 1 else "technical",
        "difficulty": DIFFICULTIES[i % len(DIFFICULTIES)],
        "topic": TOPICS[i % len(TOPICS)],
        "generator": "builtin",
        "seq": i,
    }
    size = len(json.dumps(result, separators=(",", ":")))
    assert 200 <= size <= 500, size
    return result


def result_sql(n_expr):
    """A SQL expression (SQLite and PostgreSQL alike) of the JSON text of
    realistic_result(n), for drivers that seed by SQL: its fields depend on n % 6 only, but
    for "seq", which is last."""
    marker = 987654321
    whens = []
    for k in range(6):
        text = json.dumps(dict(realistic_result(k), seq=marker), separators=(",", ":"))
        prefix, suffix = text.split(str(marker))
        assert suffix == "}", suffix
        whens.append(f"WHEN {k} THEN '{prefix.replace(chr(39), chr(39) * 2)}'")
    return f"(CASE ({n_expr}) % 6 {' '.join(whens)} END || ({n_expr}) || '}}')"


# --------------------------------------------------------------------------
# /proc readings and psql


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                fields[key] = int(value.split()[0])  # kB for Vm*, a count for Threads
    return fields


def stat_ticks(stat):
    """utime + stime of the text of /proc/<pid>/stat."""
    # Fields after the parenthesised command name; utime and stime are 14 and 15.
    rest = stat[stat.rindex(")") + 2 :].split()
    return int(rest[11]) + int(rest[12])


def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        return stat_ticks(f.read())


def proc_fds(pid):
    links = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return links


def server_sockets(pid):
    return sum(1 for l in proc_fds(pid) if l.startswith("socket:"))


def cpu_busy_ticks():
    """user + nice + system ticks of all CPUs (softirq and steal apart)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[1]) + int(fields[2]) + int(fields[3])


def top_processes(n=3):
    """The processes that used the most CPU over the last second."""
    def snapshot():
        ticks = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    stat = f.read()
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:80]
            except OSError:
                continue
            ticks[pid] = (stat_ticks(stat), cmd or stat[stat.index("(") : stat.rindex(")") + 1])
        return ticks

    a = snapshot()
    time.sleep(1)
    b = snapshot()
    used = sorted(((b[p][0] - a[p][0], b[p][1]) for p in b if p in a), reverse=True)
    hz = os.sysconf("SC_CLK_TCK")
    return [f"{t * 100 // hz}% {cmd}" for t, cmd in used[:n] if t > 0]


def psql(db, *args, input_text=None, timeout=600, check=True):
    """The output of psql on database DB of the PostgreSQL at 127.0.0.1
    (user postgres): unaligned, tuples only, stopping at the first error."""
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-qAt", *args],
        input=input_text, capture_output=True, text=True, timeout=timeout, check=check,
    ).stdout


def pg_backend_ticks(pg_db):
    """CPU ticks of the PostgreSQL backends connected to pg_db, by pid."""
    out = psql("postgres", "-c", f"select pid from pg_stat_activity where datname = '{pg_db}'",
               timeout=20, check=False).split()
    ticks = {}
    for pid in out:
        try:
            ticks[pid] = proc_cpu_ticks(int(pid))
        except (OSError, ValueError):
            pass
    return ticks


# --------------------------------------------------------------------------
# ready / quiet / audit


def cmd_ready(args):
    deadline = time.time() + args.timeout
    probe = f"/api/v1/operations/{uuid.uuid4()}"
    last = None
    while time.time() < deadline:
        if args.pid and not os.path.exists(f"/proc/{args.pid}"):
            raise SystemExit(f"the server (pid {args.pid}) exited during start-up")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=2)
            conn.request("GET", probe)
            status = conn.getresponse().status
            conn.close()
            if status == args.status:
                return
            last = f"status {status}"
        except OSError as e:
            last = str(e)
        time.sleep(0.1)
    raise SystemExit(f"the server did not answer on port {args.port} within {args.timeout}s ({last})")


def own_ticks(pids, pg_db=None):
    """CPU ticks of the benchmark's own processes (PIDS, and the backends of
    the PostgreSQL database PG_DB), by pid; those that are gone are left out."""
    ticks = {}
    for pid in pids:
        try:
            ticks[str(pid)] = proc_cpu_ticks(pid)
        except (OSError, ValueError):
            pass
    if pg_db:
        ticks.update(pg_backend_ticks(pg_db))
    return ticks


def ticks_used(before, after):
    """The ticks each process of AFTER used since BEFORE, summed."""
    return sum(t - before.get(pid, 0) for pid, t in after.items())


def cmd_quiet(args):
    """Waits until the machine is quiet: over a window of args.window seconds
    all cores together are busy less than args.max_busy of one core, not
    counting the benchmark's own processes (--own-pid, --pg-db) when given:
    a driver that keeps its server busy on purpose waits for the rest only."""
    started = time.time()
    hz = os.sysconf("SC_CLK_TCK")
    busy = None
    while True:
        a, own_a = cpu_busy_ticks(), own_ticks(args.own_pid, args.pg_db)
        time.sleep(args.window)
        own = ticks_used(own_a, own_ticks(args.own_pid, args.pg_db))
        busy = (cpu_busy_ticks() - a - own) / hz / args.window  # in cores
        if busy <= args.max_busy:
            print(f"machine quiet ({busy:.2f} cores busy) after {time.time() - started:.0f}s", file=sys.stderr)
            waited_ok = True
            break
        if time.time() - started > args.timeout:
            waited_ok = False
            print(f"WARNING: the machine is still busy ({busy:.2f} cores) after {args.timeout:.0f}s; "
                  f"going on, the figures may be disturbed. Top: {top_processes()}", file=sys.stderr)
            break
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"quiet": waited_ok, "busy_cores": round(busy, 2),
                       "waited_s": round(time.time() - started, 1)}, f)


def cmd_audit(args):
    """Runs a command and measures the CPU that processes other than the
    server, the command, the driver's helpers (--own-pid) and (on
    PostgreSQL) the backends of the benchmark's database used meanwhile:
    other load on the machine, which disturbs the figures."""
    hz = os.sysconf("SC_CLK_TCK")
    pg0 = pg_backend_ticks(args.pg_db) if args.pg_db else {}
    helpers = [pid for pid in args.own_pid if pid != args.server_pid]
    helpers0 = own_ticks(helpers)
    busy0, server0, t0 = cpu_busy_ticks(), proc_cpu_ticks(args.server_pid), time.time()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    child = subprocess.Popen(command)

    def forward(signum, _frame):  # stopping the benchmark stops the command too
        child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        try:
            _, status, usage = os.wait4(child.pid, 0)
            break
        except InterruptedError:
            continue
    busy1, t1 = cpu_busy_ticks(), time.time()
    server1 = proc_cpu_ticks(args.server_pid) if os.path.exists(f"/proc/{args.server_pid}") else server0
    pg1 = pg_backend_ticks(args.pg_db) if args.pg_db else {}
    helpers_s = ticks_used(helpers0, own_ticks(helpers)) / hz
    postgres_s = sum(ticks - pg0.get(pid, 0) for pid, ticks in pg1.items()) / hz
    client_s = usage.ru_utime + usage.ru_stime
    server_s = (server1 - server0) / hz
    other_s = (busy1 - busy0) / hz - server_s - client_s - postgres_s - helpers_s
    result = {
        "window_s": round(t1 - t0, 2),
        "server_cpu_s": round(server_s, 2),
        "client_cpu_s": round(client_s, 2),
        "postgres_cpu_s": round(postgres_s, 2) if args.pg_db else None,
        "other_cpu_s": round(max(0.0, other_s), 2),
        "started_at": round(t0, 3),
        "ended_at": round(t1, 3),
    }
    if helpers:
        result["helpers_cpu_s"] = round(helpers_s, 2)
    with open(args.out, "w") as f:
        json.dump(result, f)
    sys.exit(os.waitstatus_to_exitcode(status))


# --------------------------------------------------------------------------
# Reports


def machine_facts():
    def sh(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
        except OSError:
            return ""

    model = ""
    for line in sh(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    wrk_version = [sh(["wrk", "-v"]).split("[")[0].replace("debian/", "")]
    return {
        "nproc": sh(["nproc"]).strip(),
        "cpu": model,
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "os": _os_name(),
        "python": platform.python_version(),
        "wrk": wrk_version[0].strip() if wrk_version else "",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _os_name():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def oha_version():
    try:
        return subprocess.run(["oha", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return "oha (version unknown)"


def report_head(command, tools=()):
    """The first lines of a report: the command, the machine with the
    versions of TOOLS ("oha", "wrk") and of Python, the date."""
    facts = machine_facts()
    versions = {"wrk": lambda: facts["wrk"], "oha": oha_version}
    software = [versions[tool]() for tool in tools] + [f"Python {facts['python']}"]
    return [f"Command: `{command}`  ",
            f"Machine: {facts['nproc']} cores ({facts['cpu']}), {facts['memory']} RAM, {facts['os']}, "
            f"kernel {facts['kernel']}; {', '.join(software)}  ",
            f"Date: {facts['date']}  "]


def mib(kb):
    return f"{kb / 1024:.1f}"


def fmt_ms(v):
    if v is None:
        return "—"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def audit_cpu(results, key):
    """The CPU of the audited run KEY in core-seconds, "server / client
    [/ PostgreSQL] in N s", or a dash when it was not audited."""
    a = load(f"{results}/{key}-audit.json")
    if not a:
        return "—"
    pg = f" / {a['postgres_cpu_s']}" if a.get("postgres_cpu_s") is not None else ""
    return f"{a['server_cpu_s']} / {a['client_cpu_s']}{pg} in {a['window_s']:.0f} s"


def table_rows(columns):
    """The rows of a report's table, and the function that adds one:
    row(label, fn) puts LABEL, then fn(column) for each of COLUMNS (a
    backend), a dash where fn fails (a missing or failed phase)."""
    rows = []

    def row(label, fn):
        cells = []
        for c in columns:
            try:
                cells.append(fn(c))
            except Exception:  # a missing or failed phase shows as a dash
                cells.append("—")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")

    return rows, row


def finish_report(out, problems, save, no_problems):
    """Ends a report with its problems (or `no_problems`), prints it, saves
    it to `save` if given, and exits 3 when there were problems."""
    if problems:
        out.append("Problems:")
        out.extend(f"- {p}" for p in problems)
    else:
        out.append(no_problems)
    text = "\n".join(out)
    print(text)
    if save:
        with open(save, "w") as f:
            f.write(text + "\n")
    if problems:
        sys.exit(3)


def main():
    p, sub = command_line(__doc__)

    s = sub.add_parser("ready")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--pid", type=int)
    s.add_argument("--timeout", type=float, default=30)
    s.add_argument("--status", type=int, default=404, help="the status an unknown operation gets")
    s.set_defaults(fn=cmd_ready)

    s = sub.add_parser("quiet")
    s.add_argument("--max-busy", type=float, default=0.1, help="cores")
    s.add_argument("--window", type=float, default=3)
    s.add_argument("--timeout", type=float, default=120)
    s.add_argument("--own-pid", type=int, action="append", default=[],
                   help="a process of the benchmark itself, not counted as load (repeatable)")
    s.add_argument("--pg-db", help="also leave out the CPU of this database's backends")
    s.add_argument("--out")
    s.set_defaults(fn=cmd_quiet)

    s = sub.add_parser("audit")
    s.add_argument("--server-pid", type=int, required=True)
    s.add_argument("--pg-db", help="also count the CPU of this database's backends as the benchmark's own")
    s.add_argument("--own-pid", type=int, action="append", default=[],
                   help="a helper of the driver (a receiver, a load helper) whose CPU is the benchmark's own "
                        "(repeatable); reported as helpers_cpu_s")
    s.add_argument("--out", required=True)
    s.add_argument("command", nargs=argparse.REMAINDER)
    s.set_defaults(fn=cmd_audit)

    run(p)


if __name__ == "__main__":
    main()
