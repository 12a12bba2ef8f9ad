#!/usr/bin/env python3
"""Helpers of bench/cheap_polling.sh (Python 3.11 standard library only).

Subcommands:
  seed     create completed echo operations, write "<id>\\t<etag>" lines
  waiters  hold N long polls (?wait=) or N event streams on M operations that
           complete by themselves; measure the server's memory and database
           connections while they are held, then the completion -> response
           latency of every waiter
  report   print the Markdown report of a results directory

The steps every driver takes (ready, quiet, audit) and the helpers the
drivers share come from bench/benchlib.py. Every subcommand talks to
127.0.0.1 only.
"""

import asyncio
import http.client
import json
import os
import re
import resource
import socket
import struct
import sys
import time
from datetime import datetime, timezone

sys.dont_write_bytecode = True  # no bench/__pycache__ from the import below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (  # noqa: E402
    add_database, add_report, command_line, finish_report, fmt_ms, load, mib, percentile, proc_cpu_ticks,
    proc_fds, proc_status, psql, read_int, realistic_result, report_head, run, server_sockets, table_rows,
)

# --------------------------------------------------------------------------
# Small HTTP helpers (blocking; used for setup, never in a measured window)


class Api:
    def __init__(self, port, timeout=10.0):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
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
                payload = response.read()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, payload
            except (ConnectionError, http.client.HTTPException, OSError):
                # Rocket closes idle keep-alive connections; reconnect once or twice.
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                time.sleep(0.05)

    def create_echo(self, delay_ms, result):
        status, _, payload = self.request(
            "POST",
            "/api/v1/operations",
            {"operation_type": "echo", "input": {"delay_ms": delay_ms, "result": result}},
        )
        if status != 202:
            raise SystemExit(f"POST /api/v1/operations answered {status}: {payload[:300]!r}")
        return json.loads(payload)["id"]

    def get(self, op_id):
        status, headers, payload = self.request("GET", f"/api/v1/operations/{op_id}")
        if status != 200:
            raise SystemExit(f"GET /api/v1/operations/{op_id} answered {status}: {payload[:300]!r}")
        return json.loads(payload), headers.get("etag"), len(payload)


# --------------------------------------------------------------------------
# /proc and database probes


def db_connections(pid, sqlite_db=None, pg_db=None):
    """SQLite: the server's fds on the database files (main, -wal, -shm) and
    on the main file alone (one per open connection). PostgreSQL: the
    backends connected to the benchmark's database."""
    if sqlite_db:
        real = os.path.realpath(sqlite_db)
        links = proc_fds(pid)
        files = [l for l in links if l in (real, real + "-wal", real + "-shm")]
        main = [l for l in links if l == real]
        return {"kind": "sqlite fds", "fds": len(files), "main_file_fds": len(main)}
    out = psql("postgres", "-c", f"select count(*) from pg_stat_activity where datname = '{pg_db}'",
               timeout=20).strip()
    return {"kind": "pg_stat_activity", "connections": int(out)}


def listen_overflows():
    """TcpExt ListenOverflows + ListenDrops of the host (SYNs dropped because
    an accept queue was full; the client retries them after a second)."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], map(int, values.split()[1:])))
            return table.get("ListenOverflows", 0) + table.get("ListenDrops", 0)
    return 0


TIME_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def parse_time(text):
    """RFC 3339 to epoch seconds, keeping every fractional digit."""
    m = TIME_RE.match(text)
    if not m:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    y, mo, d, h, mi, s, frac, zone = m.groups()
    base = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=timezone.utc).timestamp()
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        base -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return base + (float("0." + frac) if frac else 0.0)


def latency_summary(values_s):
    values = sorted(v * 1000.0 for v in values_s)
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "min_ms": round(values[0], 2),
        "p50_ms": round(percentile(values, 50), 2),
        "p90_ms": round(percentile(values, 90), 2),
        "p99_ms": round(percentile(values, 99), 2),
        "max_ms": round(values[-1], 2),
    }


# --------------------------------------------------------------------------
# seed


def wait_finished(api, ids, timeout, want="completed"):
    deadline = time.time() + timeout
    pending = list(ids)
    bodies = {}
    while pending:
        if time.time() > deadline:
            raise SystemExit(f"{len(pending)} operations not {want} after {timeout}s")
        still = []
        for op_id in pending:
            body, etag, size = api.get(op_id)
            if body["status"] == want:
                bodies[op_id] = (body, etag, size)
            elif body["status"] == "failed":
                raise SystemExit(f"operation {op_id} failed: {body}")
            else:
                still.append(op_id)
        pending = still
        if pending:
            time.sleep(0.2)
    return bodies


def cmd_seed(args):
    api = Api(args.port)
    started = time.time()
    ids = [api.create_echo(0, realistic_result(i)) for i in range(args.count)]
    created_s = time.time() - started
    bodies = wait_finished(api, ids, args.timeout)
    sizes = []
    with open(args.out, "w") as f:
        for op_id in ids:
            body, etag, size = bodies[op_id]
            if not etag:
                raise SystemExit(f"GET of {op_id} has no ETag header")
            sizes.append(size)
            f.write(f"{op_id}\t{etag}\n")
    info = {
        "operations": len(ids),
        "create_s": round(created_s, 2),
        "body_bytes_min": min(sizes),
        "body_bytes_max": max(sizes),
        "body_bytes_mean": round(sum(sizes) / len(sizes)),
    }
    with open(args.json, "w") as f:
        json.dump(info, f)
    print(f"seeded {len(ids)} completed echo operations in {created_s:.1f}s; "
          f"200 bodies {info['body_bytes_min']}-{info['body_bytes_max']} bytes")


# --------------------------------------------------------------------------
# waiters


# SO_TIMESTAMPNS (= SCM_TIMESTAMPNS) on Linux: every recvmsg() carries the
# CLOCK_REALTIME time the kernel received the data, unaffected by how late
# the client's event loop reads it.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


class Waiter:
    """One keep-alive HTTP/1.1 connection with one request. Receiving only
    stores (user-space time, kernel time, bytes); everything is parsed after
    the run, so the client does as little as possible while answers arrive."""

    def __init__(self, index, op_id, request, mode, state):
        self.index = index
        self.op_id = op_id
        self.request = request
        self.mode = mode
        self.state = state
        self.sock = None
        self.chunks = []  # (time.time() when read, kernel receive time or None, bytes)
        self.size = 0
        self.total = None  # long poll: header + Content-Length
        self.tail = b""
        self.first_event = False
        self.finished = False
        self.lost = None

    async def connect(self, loop, port):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        try:
            await loop.sock_connect(sock, ("127.0.0.1", port))
            await loop.sock_sendall(sock, self.request)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.state.sent += 1
        loop.add_reader(sock.fileno(), self.readable, loop)

    def readable(self, loop):
        while True:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(65536, 64)
            except BlockingIOError:
                return
            except OSError as e:
                self.close(loop, lost=repr(e))
                return
            now = time.time()
            if not data:
                self.close(loop, lost="closed by the server")
                return
            kernel = None
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
                    sec, nsec = struct.unpack("qq", payload[:16])
                    kernel = sec + nsec / 1e9
            self.received(loop, now, kernel, data)
            if self.sock is None:
                return

    def received(self, loop, now, kernel, data):
        self.chunks.append((now, kernel, data))
        self.size += len(data)
        state = self.state
        if not state.held_measured and self.mode == "longpoll" and len(self.chunks) == 1:
            state.early_bytes += 1  # a long poll answered before the held measurement
        if self.finished:
            return
        if self.mode == "longpoll":
            if self.total is None:
                buf = b"".join(c for _, _, c in self.chunks)
                end = buf.find(b"\r\n\r\n")
                if end >= 0:
                    m = re.search(rb"(?im)^content-length:\s*(\d+)", buf[:end])
                    # 0-length bodies (304) are complete with the header.
                    self.total = end + 4 + (int(m.group(1)) if m else 0)
            if self.total is not None and self.size >= self.total:
                self.finish(loop)
        else:
            if not self.first_event:
                buf = b"".join(c for _, _, c in self.chunks)
                head_end = buf.find(b"\r\n\r\n")
                if head_end >= 0 and b"\n\n" in buf[head_end + 4 :] and b"data:" in buf:
                    self.first_event = True
                    state.first_events += 1
            tail = (self.tail + data)[-16:]
            self.tail = tail
            if tail.endswith(b"\r\n0\r\n\r\n") or tail == b"0\r\n\r\n":
                self.finish(loop)

    def finish(self, loop):
        self.finished = True
        self.close(loop)
        state = self.state
        state.finished += 1
        if state.finished + state.lost >= state.expected:
            state.all_finished.set()

    def close(self, loop, lost=None):
        if self.sock is None:
            return
        loop.remove_reader(self.sock.fileno())
        self.sock.close()
        self.sock = None
        if lost and not self.finished:
            self.lost = lost
            self.state.lost += 1
            if self.state.finished + self.state.lost >= self.state.expected:
                self.state.all_finished.set()


class State:
    def __init__(self, expected):
        self.expected = expected
        self.sent = 0
        self.finished = 0
        self.lost = 0
        self.first_events = 0
        self.early_bytes = 0
        self.held_measured = False
        self.all_finished = asyncio.Event()


def decode_longpoll(waiter):
    raw = b"".join(c for _, _, c in waiter.chunks)
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        return None, None, raw
    head = raw[:end].decode("latin-1")
    status = int(head.split()[1])
    return status, raw[end + 4 :], head


def decode_sse(waiter):
    """(status, [(arrival, kernel arrival, event, data)], ended) from the
    recorded chunks."""
    pending = b""
    text = b""
    status = None
    headers_done = False
    chunked = False
    ended = False
    events = []
    for t, kt, data in waiter.chunks:
        pending += data
        if not headers_done:
            end = pending.find(b"\r\n\r\n")
            if end < 0:
                continue
            head = pending[:end].decode("latin-1")
            status = int(head.split()[1])
            chunked = bool(re.search(r"(?im)^transfer-encoding:.*chunked", head))
            pending = pending[end + 4 :]
            headers_done = True
        if chunked:
            while not ended:
                line_end = pending.find(b"\r\n")
                if line_end < 0:
                    break
                size = int(pending[:line_end].split(b";")[0], 16)
                if len(pending) < line_end + 2 + size + 2:
                    break
                payload = pending[line_end + 2 : line_end + 2 + size]
                pending = pending[line_end + 2 + size + 2 :]
                if size == 0:
                    ended = True
                    break
                text += payload
        else:
            text += pending
            pending = b""
        text = text.replace(b"\r\n", b"\n")
        while True:
            cut = text.find(b"\n\n")
            if cut < 0:
                break
            block, text = text[:cut], text[cut + 2 :]
            name, data_lines = "message", []
            for line in block.decode().split("\n"):
                if not line or line.startswith(":"):
                    continue
                field, _, value = line.partition(":")
                if value.startswith(" "):
                    value = value[1:]
                if field == "event":
                    name = value
                elif field == "data":
                    data_lines.append(value)
            if data_lines:
                events.append((t, kt, name, "\n".join(data_lines)))
    return status, events, ended


async def hold_waiters(args, ops, etags):
    loop = asyncio.get_running_loop()
    n = args.waiters
    state = State(n)
    waiters = []
    for i in range(n):
        op_id = ops[i % len(ops)]
        if args.mode == "longpoll":
            path = f"/api/v1/operations/{op_id}?wait={args.wait}"
            accept = "application/json"
        else:
            path = f"/api/v1/operations/{op_id}/events"
            accept = "text/event-stream"
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\nAccept: {accept}\r\n"
            + (f"If-None-Match: {etags[op_id]}\r\n" if args.mode == "longpoll" else "")
            + "Connection: keep-alive\r\n\r\n"
        ).encode()
        waiters.append(Waiter(i, op_id, request, args.mode, state))

    connect_errors = []
    gate = asyncio.Semaphore(args.connect_concurrency)

    async def connect(w):
        async with gate:
            for attempt in range(5):
                try:
                    await asyncio.wait_for(w.connect(loop, args.port), timeout=10)
                    return
                except (OSError, asyncio.TimeoutError) as e:
                    if attempt == 4:
                        connect_errors.append(repr(e))
                        return
                    await asyncio.sleep(0.2 * (attempt + 1))

    t_connect = time.time()
    overflows_before = listen_overflows()
    await asyncio.gather(*(connect(w) for w in waiters))
    connect_s = time.time() - t_connect
    connect_overflows = listen_overflows() - overflows_before

    # Settle: every request sent, and (for event streams) every first event
    # received; then the server's CPU is idle, then a short grace.
    settle_deadline = time.time() + args.settle_timeout
    if args.mode == "sse":
        while state.first_events < n - len(connect_errors) and time.time() < settle_deadline:
            await asyncio.sleep(0.1)
    prev = proc_cpu_ticks(args.pid)
    quiet = 0
    while time.time() < settle_deadline:
        await asyncio.sleep(0.5)
        cur = proc_cpu_ticks(args.pid)
        quiet = quiet + 1 if cur - prev <= 2 else 0  # <= 20 ms of CPU in 500 ms
        prev = cur
        if quiet >= 2:
            break
    settled = quiet >= 2
    await asyncio.sleep(args.grace)
    all_waiting_s = time.time() - t_connect

    # Held: the measurements.
    cpu_before_hold = proc_cpu_ticks(args.pid)
    held_status = proc_status(args.pid)
    held_db = db_connections(args.pid, args.sqlite_db, args.pg_db)
    held_sockets = server_sockets(args.pid)
    t_hold = time.time()
    await asyncio.sleep(args.hold_cpu_window)
    held_cpu_ticks = proc_cpu_ticks(args.pid) - cpu_before_hold
    hold_cpu_window = time.time() - t_hold
    held = {
        "sent": state.sent,
        "connect_errors": len(connect_errors),
        "connect_error_examples": connect_errors[:3],
        "answered_before_measurement": state.finished + state.lost,
        "longpoll_bytes_before_measurement": state.early_bytes,
        "sse_first_events": state.first_events,
        "settled": settled,
        "rss_kb": held_status["VmRSS"],
        "hwm_kb": held_status["VmHWM"],
        "threads": held_status["Threads"],
        "db": held_db,
        "server_sockets": held_sockets,
        "server_cpu_ms_while_held": held_cpu_ticks * 1000 // os.sysconf("SC_CLK_TCK"),
        "held_cpu_window_s": round(hold_cpu_window, 2),
        "measured_at": t_hold + hold_cpu_window,
    }
    state.held_measured = True
    answered_early = state.finished + state.lost

    # Then wait for the operations to complete and every waiter to hear it.
    remaining = max(0.0, args.expected_completion - time.time())
    try:
        await asyncio.wait_for(state.all_finished.wait(), timeout=remaining + args.answer_timeout)
        timed_out = False
    except asyncio.TimeoutError:
        timed_out = True
    end_status = proc_status(args.pid)
    for w in waiters:
        w.close(loop)
    await asyncio.sleep(0.1)
    return waiters, state, {
        "connect_s": round(connect_s, 2),
        "listen_overflows_while_connecting": connect_overflows,
        "all_waiting_after_s": round(all_waiting_s, 2),
        "held": held,
        "answered_before_held_measurement": answered_early,
        "timed_out_waiting_for_answers": timed_out,
        "finished": state.finished,
        "lost": state.lost,
        "hwm_kb_end": end_status["VmHWM"],
        "rss_kb_end": end_status["VmRSS"],
    }


def cmd_waiters(args):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.waiters + 1000:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.waiters + 10000), hard))
    api = Api(args.port)
    problems = []

    t0 = time.time()
    ops = [api.create_echo(args.delay_ms, realistic_result(i)) for i in range(args.ops)]
    create_s = time.time() - t0
    # Each must be running (claimed) so its ETag stays put until it completes.
    running = wait_finished(api, ops, timeout=10, want="processing")
    etags = {op_id: running[op_id][1] for op_id in ops}
    # Completion is due delay_ms after the last claim at the latest.
    expected_completion = time.time() + args.delay_ms / 1000.0
    args.expected_completion = expected_completion

    idle_status = proc_status(args.pid)
    idle_db = db_connections(args.pid, args.sqlite_db, args.pg_db)
    idle_sockets = server_sockets(args.pid)

    waiters, state, run = asyncio.run(hold_waiters(args, ops, etags))
    api = Api(args.port)  # the old keep-alive connection has been closed by the server meanwhile

    held = run["held"]
    if held["connect_errors"]:
        problems.append(f"{held['connect_errors']} connections failed: {held['connect_error_examples']}")
    if run["answered_before_held_measurement"] or held["longpoll_bytes_before_measurement"]:
        problems.append(
            f"{run['answered_before_held_measurement']} waiters were answered (and "
            f"{held['longpoll_bytes_before_measurement']} long-poll responses began) before the held measurement"
        )
    if args.mode == "sse" and held["sse_first_events"] < args.waiters:
        problems.append(f"only {held['sse_first_events']} of {args.waiters} streams had their first event when measured")
    if not held["settled"]:
        problems.append("the server's CPU did not settle before the held measurement (measured anyway)")
    if held["measured_at"] > expected_completion - 1:
        problems.append("the held measurement ran into the operations' completion: raise --delay-ms")
    if run["timed_out_waiting_for_answers"]:
        problems.append(f"timed out: {run['finished']} finished, {run['lost']} lost of {args.waiters}")

    # Per waiter: completion -> arrival latency, as the client read it
    # (time.time()) and as the kernel received it (SO_TIMESTAMPNS).
    latencies = []
    kernel_latencies = []
    committed_at = {}  # op id -> its completion's updated_at
    arrivals = []
    ok = 0
    statuses = {}
    other = []
    first_statuses = {}

    def answered(op_id, t, kt, updated_at):
        """A waiter that got the completed state, read at t (kernel time kt)."""
        committed = parse_time(updated_at)
        committed_at[op_id] = committed
        arrivals.append(t)
        latencies.append(t - committed)
        if kt is not None:
            kernel_latencies.append(kt - committed)

    for w in waiters:
        try:
            if args.mode == "longpoll":
                status, body, _ = decode_longpoll(w)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200 and w.finished:
                    doc = json.loads(body)
                    if doc.get("status") == "completed" and doc.get("id") == w.op_id:
                        ok += 1
                        t, kt, _ = w.chunks[-1]  # the read that completed the response
                        answered(w.op_id, t, kt, doc["updated_at"])
                        continue
                    other.append(f"200 with status {doc.get('status')}")
                else:
                    other.append(f"status {status}, finished={w.finished}, lost={w.lost}")
            else:
                status, events, ended = decode_sse(w)
                statuses[status] = statuses.get(status, 0) + 1
                docs = [(t, kt, name, json.loads(data)) for t, kt, name, data in events]
                if docs:
                    first = docs[0][3].get("status")
                    first_statuses[first] = first_statuses.get(first, 0) + 1
                done = [(t, kt, d) for t, kt, name, d in docs
                        if name == "operation" and d.get("status") == "completed"]
                if status == 200 and done and ended:
                    ok += 1
                    t, kt, d = done[0]
                    answered(w.op_id, t, kt, d["updated_at"])
                    continue
                other.append(f"status {status}, events {[d.get('status') for _, _, _, d in docs]}, "
                             f"ended={ended}, lost={w.lost}")
        except Exception as e:  # a malformed answer is reported, not fatal
            other.append(f"unparsable answer: {e!r}")
    if ok != args.waiters:
        problems.append(f"{args.waiters - ok} of {args.waiters} waiters did not get the completed state; e.g. {other[:3]}")

    result = {
        "mode": args.mode,
        "waiters": args.waiters,
        "operations": args.ops,
        "delay_ms": args.delay_ms,
        "wait_s": args.wait if args.mode == "longpoll" else None,
        "create_s": round(create_s, 2),
        "idle": {"rss_kb": idle_status["VmRSS"], "hwm_kb": idle_status["VmHWM"],
                 "threads": idle_status["Threads"], "db": idle_db, "server_sockets": idle_sockets},
        **run,
        "http_statuses": {str(k): v for k, v in statuses.items()},
        "sse_first_event_statuses": first_statuses,
        "completed_ok": ok,
        "latency": latency_summary(latencies),
        "kernel_latency": latency_summary(kernel_latencies),
        "negative_latencies": sum(1 for l in latencies if l < 0),
        # The burst: over how long the operations completed, and from the
        # first completion until the last waiter had its answer.
        "completions_span_ms": round((max(committed_at.values()) - min(committed_at.values())) * 1000, 1)
        if committed_at else None,
        "answers_done_after_first_completion_ms": round((max(arrivals) - min(committed_at.values())) * 1000, 1)
        if arrivals else None,
        "problems": problems,
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    lat = result["latency"]
    print(
        f"{args.mode}: {ok}/{args.waiters} completed; RSS {idle_status['VmRSS']} -> {held['rss_kb']} kB "
        f"(HWM {held['hwm_kb']} kB held, {run['hwm_kb_end']} kB at the end); DB {idle_db} -> {held['db']}; "
        f"latency p50 {lat.get('p50_ms')} ms p99 {lat.get('p99_ms')} ms max {lat.get('max_ms')} ms "
        f"(kernel timestamps: p50 {result['kernel_latency'].get('p50_ms')} ms p99 {result['kernel_latency'].get('p99_ms')} ms)"
    )
    for p in problems:
        print(f"PROBLEM ({args.mode}): {p}", file=sys.stderr)


# --------------------------------------------------------------------------
# report


def db_text(db):
    if db is None:
        return "—"
    if db["kind"] == "sqlite fds":
        return f"{db['fds']} fds ({db['main_file_fds']} on the .db)"
    return f"{db['connections']}"


def cmd_report(args):
    backends = [b for b in ("sqlite", "postgres") if os.path.exists(os.path.join(args.results, f"{b}-done"))]
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    rows, row = table_rows(backends)

    phases = ("wrk200", "wrk304", "longpoll", "sse")
    r = {b: {k: load(os.path.join(args.results, f"{b}-{k}.json"))
             for k in ("seed",) + phases} for b in backends}
    audit = {b: {k: load(os.path.join(args.results, f"{b}-{k}-audit.json")) for k in phases} for b in backends}
    quiet = {b: {k: load(os.path.join(args.results, f"{b}-{k}-quiet.json")) for k in phases} for b in backends}

    def other(b, k):
        a = audit[b][k]
        n = read_int(os.path.join(args.results, f"{b}-{k}-attempts"), 1)
        return f"{a['other_cpu_s']:.1f} core-s in {a['window_s']:.0f} s" + (f" (attempt {n})" if n > 1 else "")

    def us(v):
        return f"{v / 1000:.2f} ms" if v < 10_000 else f"{v / 1000:.1f} ms"

    def first(key):
        for b in backends:
            if r[b][key]:
                return r[b][key]
        return None

    wrk = first("wrk200") or {}
    seed = first("seed") or {}
    row(f"**1. Plain polls, 304 vs 200** (wrk -t1 -c32 -d{wrk.get('duration_s', 0):.0f}s, "
        f"{seed.get('operations', '?')} completed operations)", lambda b: "")
    row("200 body size", lambda b: f"{r[b]['seed']['body_bytes_min']}–{r[b]['seed']['body_bytes_max']} B")
    row("GET → 200: requests/s", lambda b: f"{r[b]['wrk200']['rps']:,.0f}")
    row("GET → 200: p50 / p99 latency", lambda b: f"{us(r[b]['wrk200']['p50_us'])} / {us(r[b]['wrk200']['p99_us'])}")
    row("GET + If-None-Match → 304: requests/s", lambda b: f"{r[b]['wrk304']['rps']:,.0f}")
    row("GET + If-None-Match → 304: p50 / p99 latency", lambda b: f"{us(r[b]['wrk304']['p50_us'])} / {us(r[b]['wrk304']['p99_us'])}")
    row("ratio 304 / 200 requests/s", lambda b: f"{r[b]['wrk304']['rps'] / r[b]['wrk200']['rps']:.2f}")
    row("transfer per request, 200 / 304", lambda b: f"{r[b]['wrk200']['bytes'] / r[b]['wrk200']['requests']:.0f} B / {r[b]['wrk304']['bytes'] / r[b]['wrk304']['requests']:.0f} B")
    row("answers not 200 (run a) / not 304 (run b)", lambda b: f"{r[b]['wrk200']['unexpected_status']} / {r[b]['wrk304']['unexpected_status']}")
    def cpu(b, k, client="wrk"):
        a = audit[b][k]
        text = f"server {a['server_cpu_s']:.1f}, {client} {a['client_cpu_s']:.1f}"
        if a.get("postgres_cpu_s") is not None:
            text += f", PostgreSQL {a['postgres_cpu_s']:.1f}"
        return text + " core-s"

    row("CPU used during run a", lambda b: cpu(b, "wrk200"))
    row("CPU used during run b", lambda b: cpu(b, "wrk304"))
    row("other processes' CPU during run a / b", lambda b: f"{other(b, 'wrk200')} / {other(b, 'wrk304')}")
    row("wrk socket errors (a / b)", lambda b: f"{sum(r[b]['wrk200']['errors'].values())} / {sum(r[b]['wrk304']['errors'].values())}")
    lp = first("longpoll") or {}
    ss = first("sse") or {}
    for key, title in (
        ("longpoll", f"**2. {lp.get('waiters', 0):,} long polls** (`?wait={lp.get('wait_s')}` + If-None-Match, "
                     f"{lp.get('operations')} operations, echo {lp.get('delay_ms', 0) / 1000:g} s)"),
        ("sse", f"**3. {ss.get('waiters', 0):,} SSE streams** (`/events`, {ss.get('operations')} operations, "
                f"echo {ss.get('delay_ms', 0) / 1000:g} s)"),
    ):
        row(title, lambda b: "")
        row("waiters connected / time to connect all", lambda b, k=key: f"{r[b][k]['held']['sent'] - r[b][k]['held']['connect_errors']:,} / {r[b][k]['connect_s']:.1f} s")
        row("SYNs dropped by a full accept queue while connecting", lambda b, k=key: f"{r[b][k]['listen_overflows_while_connecting']:,}")
        row("server RSS idle → held (MiB)", lambda b, k=key: f"{mib(r[b][k]['idle']['rss_kb'])} → {mib(r[b][k]['held']['rss_kb'])}")
        row("≈ memory per waiter", lambda b, k=key: f"{(r[b][k]['held']['rss_kb'] - r[b][k]['idle']['rss_kb']) / r[b][k]['waiters']:.1f} KiB")
        row("server VmHWM held / after answering (MiB)", lambda b, k=key: f"{mib(r[b][k]['held']['hwm_kb'])} / {mib(r[b][k]['hwm_kb_end'])}")
        row("server threads idle / held", lambda b, k=key: f"{r[b][k]['idle']['threads']} / {r[b][k]['held']['threads']}")
        row("DB connections idle / held", lambda b, k=key: f"{db_text(r[b][k]['idle']['db'])} / {db_text(r[b][k]['held']['db'])}")
        row("server CPU while held", lambda b, k=key: f"{r[b][k]['held']['server_cpu_ms_while_held']} ms in {r[b][k]['held']['held_cpu_window_s']:.0f} s")
        row("completion → response read by the client (time.time()) p50 / p99 / max", lambda b, k=key: f"{fmt_ms(r[b][k]['latency']['p50_ms'])} / {fmt_ms(r[b][k]['latency']['p99_ms'])} / {fmt_ms(r[b][k]['latency']['max_ms'])} ms")
        row("completion → in the client's socket (kernel timestamp) p50 / p99 / max", lambda b, k=key: f"{fmt_ms(r[b][k]['kernel_latency']['p50_ms'])} / {fmt_ms(r[b][k]['kernel_latency']['p99_ms'])} / {fmt_ms(r[b][k]['kernel_latency']['max_ms'])} ms")
        row("operations completed within / last answer after the first completion", lambda b, k=key: f"{r[b][k]['completions_span_ms']:.0f} ms / {r[b][k]['answers_done_after_first_completion_ms']:.0f} ms")
        row("got 200 + the completed state", lambda b, k=key: f"{r[b][k]['completed_ok']:,} / {r[b][k]['waiters']:,}")
        row("CPU used during the phase", lambda b, k=key: cpu(b, k, "client"))
        row("other processes' CPU during the phase", lambda b, k=key: other(b, k))

    problems = []
    for b in backends:
        for k in ("wrk200", "wrk304", "longpoll", "sse", "seed"):
            d = r[b][k]
            if d is None:
                problems.append(f"{names[b]} {k}: no result (the phase failed; see the script's output)")
                continue
            for p in d.get("problems", []):
                problems.append(f"{names[b]} {k}: {p}")
            q, a = (quiet[b].get(k), audit[b].get(k)) if k != "seed" else (None, None)
            if a is not None and a["other_cpu_s"] > 0.1 * a["window_s"]:
                problems.append(f"{names[b]} {k}: other processes used {a['other_cpu_s']} core-seconds during the "
                                f"{a['window_s']} s run; the figures may be disturbed")
            if k.startswith("wrk") and (d["unexpected_status"] or sum(d["errors"].values())):
                problems.append(f"{names[b]} {k}: {d['unexpected_status']} unexpected statuses (first {d['first_unexpected_status']}), errors {d['errors']}")

    out = report_head(args.command, ["wrk"])
    out.append("Server pinned to core 0 (`taskset -c 0`), clients (wrk, the Python waiters) to core 1.")
    out.append("")
    out.append("| | " + " | ".join(names[b] for b in backends) + " |")
    out.append("|---|" + "---|" * len(backends))
    out.extend(rows)
    out.append("")
    finish_report(out, problems, args.save,
                  "No problems: every wrk answer had the expected status, every waiter got the completed state.")


def main():
    p, sub = command_line(__doc__)

    s = sub.add_parser("seed")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--count", type=int, default=1000)
    s.add_argument("--out", required=True)
    s.add_argument("--json", required=True)
    s.add_argument("--timeout", type=float, default=60)
    s.set_defaults(fn=cmd_seed)

    s = sub.add_parser("waiters")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--pid", type=int, required=True, help="the server's pid")
    s.add_argument("--mode", choices=["longpoll", "sse"], required=True)
    s.add_argument("--ops", type=int, default=100)
    s.add_argument("--waiters", type=int, default=10000)
    s.add_argument("--delay-ms", type=int, default=20000)
    s.add_argument("--wait", type=int, default=60, help="?wait= of the long polls, seconds")
    s.add_argument("--connect-concurrency", type=int, default=256)
    s.add_argument("--settle-timeout", type=float, default=12)
    s.add_argument("--grace", type=float, default=1.0)
    s.add_argument("--hold-cpu-window", type=float, default=2.0)
    s.add_argument("--answer-timeout", type=float, default=60, help="seconds past the expected completion")
    add_database(s)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_waiters)

    add_report(sub, cmd_report)
    run(p)


if __name__ == "__main__":
    main()
