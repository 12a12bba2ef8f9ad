//! The load client of `bench/work_throughput.sh`: how many operations per
//! second the service takes from `POST /api/v1/operations` to `completed`,
//! run by its own background workers, as a client sees it.
//!
//! C users, each with its own keep-alive HTTP/1.1 connection (hyper 1.x on a
//! current-thread tokio runtime: the client is meant to be pinned to one
//! core), run this loop until N operations have been started (or, with
//! `--duration-s`, until D seconds past the warm-up):
//!
//! 1. `POST /api/v1/operations` with the body (default
//!    `{"operation_type":"echo","input":{}}`: echo without a delay), expecting
//!    202 and the new operation's `id`;
//! 2. every P ms (0: at once again), `GET /api/v1/operations/{id}`, expecting
//!    200, until `status` is `completed` or `failed`, or the per-operation
//!    timeout has passed.
//!
//! Each operation's end-to-end latency runs from just before the POST is
//! sent to the moment the GET showing it finished has been read. The
//! measured window excludes a warm-up: it starts when the W-th operation has
//! finished and ends when the last one has; the operations finished in it
//! are the measured ones (ops/s = measured completed / window).
//!
//! Prints progress to stderr and, at the end, one line `RESULT {json}` to
//! stdout (also written to `--out FILE`). Exits 1 when anything went wrong:
//! an operation failed or did not finish within `--op-timeout-s`, a request
//! errored or timed out (`--request-timeout-s`), an answer had an
//! unexpected status or body, the run passed `--max-run-s`, or fewer
//! operations than the warm-up finished. Once `--max-problems` operations
//! have not completed, it starts no more (a dead or refusing server fails
//! the run quickly). Exits 2 on bad arguments.
//!
//!   work-throughput [--port 18080] [--concurrency 32] [--ops 30000]
//!                   [--duration-s D] [--poll-ms 5] [--warmup 1000]
//!                   [--op-timeout-s 30] [--request-timeout-s 10]
//!                   [--max-run-s 600] [--max-problems 100] [--create-status 202]
//!                   [--body JSON] [--progress-s 5] [--out FILE]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::task::LocalSet;

const USAGE: &str = "usage: work-throughput [--host 127.0.0.1] [--port 18080] [--concurrency 32] \
[--ops 30000] [--duration-s D] [--poll-ms 5] [--warmup 1000] [--op-timeout-s 30] \
[--request-timeout-s 10] [--max-run-s 600] [--max-problems 100] [--create-status 202] [--body JSON] \
[--progress-s 5] [--out FILE]";

/// At most this many problem descriptions are kept (the counts are exact).
const MAX_SAMPLES: usize = 10;

#[derive(Clone)]
struct Args {
    addr: SocketAddr,
    host_header: HeaderValue,
    concurrency: usize,
    ops: u64,
    duration: Option<Duration>,
    poll: Duration,
    warmup: u64,
    op_timeout: Duration,
    request_timeout: Duration,
    max_run: Duration,
    max_problems: u64,
    create_status: u16,
    body: Bytes,
    progress: Option<Duration>,
    out: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut host = "127.0.0.1".to_string();
    let mut port: u16 = 18080;
    let mut concurrency: usize = 32;
    let mut ops: u64 = 30_000;
    let mut duration_s: Option<f64> = None;
    let mut poll_ms: u64 = 5;
    let mut warmup: u64 = 1000;
    let mut op_timeout_s: f64 = 30.0;
    let mut request_timeout_s: f64 = 10.0;
    let mut max_run_s: f64 = 600.0;
    let mut max_problems: u64 = 100;
    let mut create_status: u16 = 202;
    let mut body = r#"{"operation_type":"echo","input":{}}"#.to_string();
    let mut progress_s: f64 = 5.0;
    let mut out = None;

    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--host" => host = value,
            "--port" => port = value.parse().map_err(|e| bad(&e))?,
            "--concurrency" => concurrency = value.parse().map_err(|e| bad(&e))?,
            "--ops" => ops = value.parse().map_err(|e| bad(&e))?,
            "--duration-s" => duration_s = Some(value.parse().map_err(|e| bad(&e))?),
            "--poll-ms" => poll_ms = value.parse().map_err(|e| bad(&e))?,
            "--warmup" => warmup = value.parse().map_err(|e| bad(&e))?,
            "--op-timeout-s" => op_timeout_s = value.parse().map_err(|e| bad(&e))?,
            "--request-timeout-s" => request_timeout_s = value.parse().map_err(|e| bad(&e))?,
            "--max-run-s" => max_run_s = value.parse().map_err(|e| bad(&e))?,
            "--max-problems" => max_problems = value.parse().map_err(|e| bad(&e))?,
            "--create-status" => create_status = value.parse().map_err(|e| bad(&e))?,
            "--body" => body = value,
            "--progress-s" => progress_s = value.parse().map_err(|e| bad(&e))?,
            "--out" => out = Some(value),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    if duration_s.is_none() && warmup >= ops {
        return Err(format!("--warmup ({warmup}) must be below --ops ({ops})"));
    }
    for (name, v) in [
        ("--op-timeout-s", op_timeout_s),
        ("--request-timeout-s", request_timeout_s),
        ("--max-run-s", max_run_s),
    ] {
        if !(v > 0.0 && v.is_finite()) {
            return Err(format!("{name} must be a positive number of seconds"));
        }
    }
    if let Some(d) = duration_s {
        if !(d > 0.0 && d.is_finite()) {
            return Err("--duration-s must be a positive number of seconds".into());
        }
    }
    serde_json::from_str::<Value>(&body).map_err(|e| format!("--body is not JSON: {e}"))?;
    let ip = host
        .parse()
        .map_err(|e| format!("--host {host}: {e} (an IP address)"))?;
    let addr = SocketAddr::new(ip, port);
    Ok(Args {
        addr,
        host_header: HeaderValue::from_str(&addr.to_string()).map_err(|e| e.to_string())?,
        concurrency,
        ops: if duration_s.is_some() { u64::MAX } else { ops },
        duration: duration_s.map(Duration::from_secs_f64),
        poll: Duration::from_millis(poll_ms),
        warmup,
        op_timeout: Duration::from_secs_f64(op_timeout_s),
        request_timeout: Duration::from_secs_f64(request_timeout_s),
        max_run: Duration::from_secs_f64(max_run_s),
        max_problems,
        create_status,
        body: Bytes::from(body),
        progress: (progress_s > 0.0).then(|| Duration::from_secs_f64(progress_s)),
        out,
    })
}

/// How an operation ended, as the client saw it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Completed,
    /// The service reported `failed`.
    Failed,
    /// Not finished within `--op-timeout-s`.
    Timeout,
    /// A request failed (connection, timeout) or an answer could not be read.
    Error,
    /// An answer with a status other than the expected one.
    BadStatus,
}

struct OpRecord {
    start: Instant,
    end: Instant,
    polls: u32,
    outcome: Outcome,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Create,
    Poll,
}

#[derive(Default)]
struct State {
    started: u64,
    finished: u64,
    /// When the W-th operation finished (the start of the measured window).
    window_start: Option<Instant>,
    /// No more operations are started (duration reached, or --max-run-s).
    stop: bool,
    ran_out_of_time: bool,
    /// Operations that did not complete; at --max-problems the run gives up.
    problem_ops: u64,
    gave_up: bool,
    records: Vec<OpRecord>,
    /// (end of the request, round trip in ms, kind) of every answered request.
    rtts: Vec<(Instant, f32, Kind)>,
    create_status: BTreeMap<u16, u64>,
    poll_status: BTreeMap<u16, u64>,
    transport_errors: u64,
    connects: u64,
    samples: Vec<String>,
    sample_overflow: u64,
}

impl State {
    fn problem(&mut self, text: String) {
        if self.samples.len() < MAX_SAMPLES {
            eprintln!("problem: {text}");
            self.samples.push(text);
        } else {
            self.sample_overflow += 1;
        }
    }
}

type Shared = Rc<RefCell<State>>;

/// One user's keep-alive connection, opened again after an error.
struct Conn {
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    async fn request(
        &mut self,
        args: &Args,
        st: &Shared,
        method: Method,
        path: &str,
        kind: Kind,
    ) -> Result<(u16, Bytes), String> {
        let sent = Instant::now();
        let result = tokio::time::timeout(args.request_timeout, self.exchange(args, st, method, path)).await;
        let result = match result {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {:?}", args.request_timeout)),
        };
        let mut s = st.borrow_mut();
        match &result {
            Ok((status, _)) => {
                let now = Instant::now();
                s.rtts.push((now, (now - sent).as_secs_f32() * 1000.0, kind));
                let counts = if kind == Kind::Create {
                    &mut s.create_status
                } else {
                    &mut s.poll_status
                };
                *counts.entry(*status).or_default() += 1;
            }
            Err(e) => {
                // The connection may be in any state: start a new one.
                self.sender = None;
                s.transport_errors += 1;
                let what = if kind == Kind::Create { "create" } else { "poll" };
                s.problem(format!("{what} request error: {e}"));
            }
        }
        result
    }

    async fn exchange(
        &mut self,
        args: &Args,
        st: &Shared,
        method: Method,
        path: &str,
    ) -> Result<(u16, Bytes), String> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = TcpStream::connect(args.addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            stream
                .set_nodelay(true)
                .map_err(|e| format!("set_nodelay: {e}"))?;
            let (sender, connection) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            tokio::task::spawn_local(async move {
                let _ = connection.await;
            });
            st.borrow_mut().connects += 1;
            self.sender = Some(sender);
        }
        let sender = self.sender.as_mut().expect("connected above");
        sender
            .ready()
            .await
            .map_err(|e| format!("connection not ready: {e}"))?;
        let body = if method == Method::POST {
            args.body.clone()
        } else {
            Bytes::new()
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, args.host_header.clone());
        if !body.is_empty() {
            builder = builder.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let request = builder
            .body(Full::new(body))
            .map_err(|e| format!("request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok((status, bytes))
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.chars().take(200).collect()
}

/// Takes the next operation to start, or None when the run is over.
fn claim(args: &Args, st: &Shared, run_start: Instant) -> bool {
    let mut s = st.borrow_mut();
    if s.stop {
        return false;
    }
    let now = Instant::now();
    if now - run_start > args.max_run {
        s.stop = true;
        s.ran_out_of_time = true;
        return false;
    }
    if let (Some(d), Some(w)) = (args.duration, s.window_start) {
        if now - w >= d {
            s.stop = true;
            return false;
        }
    }
    if s.started >= args.ops {
        return false;
    }
    s.started += 1;
    true
}

fn finish(args: &Args, st: &Shared, start: Instant, polls: u32, outcome: Outcome) {
    let end = Instant::now();
    let mut s = st.borrow_mut();
    s.finished += 1;
    if s.finished == args.warmup && s.window_start.is_none() {
        s.window_start = Some(end);
    }
    if outcome != Outcome::Completed {
        s.problem_ops += 1;
        if s.problem_ops >= args.max_problems && !s.stop {
            s.stop = true;
            s.gave_up = true;
            eprintln!(
                "giving up: {} operations did not complete (--max-problems)",
                s.problem_ops
            );
        }
    }
    s.records.push(OpRecord {
        start,
        end,
        polls,
        outcome,
    });
}

/// Creates the operation; its id, or how it went wrong.
async fn create(args: &Args, st: &Shared, conn: &mut Conn) -> Result<String, Outcome> {
    let (status, body) = conn
        .request(args, st, Method::POST, "/api/v1/operations", Kind::Create)
        .await
        .map_err(|_| Outcome::Error)?;
    if status != args.create_status {
        st.borrow_mut()
            .problem(format!("create answered {status}: {}", snippet(&body)));
        return Err(Outcome::BadStatus);
    }
    let parsed: Option<String> = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned));
    parsed.ok_or_else(|| {
        st.borrow_mut()
            .problem(format!("create answer without an id: {}", snippet(&body)));
        Outcome::Error
    })
}

/// Polls the operation until it has finished; the outcome and the polls made.
async fn poll_until_finished(
    args: &Args,
    st: &Shared,
    conn: &mut Conn,
    id: &str,
    start: Instant,
) -> (Outcome, u32) {
    let path = format!("/api/v1/operations/{id}");
    let deadline = start + args.op_timeout;
    let mut polls = 0;
    loop {
        if !args.poll.is_zero() {
            tokio::time::sleep(args.poll).await;
        }
        if Instant::now() > deadline {
            st.borrow_mut().problem(format!(
                "operation {id} not finished after {:?} ({polls} polls)",
                args.op_timeout
            ));
            return (Outcome::Timeout, polls);
        }
        polls += 1;
        let Ok((status, body)) = conn.request(args, st, Method::GET, &path, Kind::Poll).await else {
            return (Outcome::Error, polls);
        };
        if status != 200 {
            st.borrow_mut()
                .problem(format!("poll of {id} answered {status}: {}", snippet(&body)));
            return (Outcome::BadStatus, polls);
        }
        let value = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
        match value.get("status").and_then(Value::as_str) {
            Some("completed") => return (Outcome::Completed, polls),
            Some("failed") => {
                st.borrow_mut()
                    .problem(format!("operation {id} failed: {}", snippet(&body)));
                return (Outcome::Failed, polls);
            }
            Some("pending" | "processing") => {}
            _ => {
                st.borrow_mut()
                    .problem(format!("poll of {id}: no known status in {}", snippet(&body)));
                return (Outcome::Error, polls);
            }
        }
    }
}

async fn user(args: Rc<Args>, st: Shared, run_start: Instant) {
    let mut conn = Conn { sender: None };
    while claim(&args, &st, run_start) {
        let start = Instant::now();
        let (outcome, polls) = match create(&args, &st, &mut conn).await {
            Ok(id) => poll_until_finished(&args, &st, &mut conn, &id, start).await,
            Err(outcome) => (outcome, 0),
        };
        finish(&args, &st, start, polls, outcome);
    }
}

async fn progress(every: Duration, st: Shared, run_start: Instant) {
    let mut last = (Instant::now(), 0u64);
    loop {
        tokio::time::sleep(every).await;
        let s = st.borrow();
        let now = Instant::now();
        let rate = (s.finished - last.1) as f64 / (now - last.0).as_secs_f64();
        eprintln!(
            "{:6.1}s  started {}  finished {}  ({:.0} ops/s over the last {:.0}s){}",
            (now - run_start).as_secs_f64(),
            s.started,
            s.finished,
            rate,
            (now - last.0).as_secs_f64(),
            if s.window_start.is_some() {
                ""
            } else {
                "  [warm-up]"
            },
        );
        last = (now, s.finished);
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() as f64) * p / 100.0).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn summary(mut values: Vec<f64>) -> Value {
    values.sort_by(|a, b| a.total_cmp(b));
    let p = |q| percentile(&values, q).map(round2);
    let mean = if values.is_empty() {
        None
    } else {
        Some(round2(values.iter().sum::<f64>() / values.len() as f64))
    };
    json!({
        "n": values.len(), "mean": mean, "p50": p(50.0), "p90": p(90.0), "p99": p(99.0),
        "max": values.last().copied().map(round2),
    })
}

fn status_map(m: &BTreeMap<u16, u64>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.to_string(), json!(v))).collect())
}

fn report(args: &Args, st: &State, run_start: Instant, run_end: Instant) -> (Value, bool) {
    let count = |o: Outcome| st.records.iter().filter(|r| r.outcome == o).count() as u64;
    let (completed, failed, timeouts, errors, bad_status) = (
        count(Outcome::Completed),
        count(Outcome::Failed),
        count(Outcome::Timeout),
        count(Outcome::Error),
        count(Outcome::BadStatus),
    );
    let mut problems: Vec<String> = Vec::new();
    if failed > 0 {
        problems.push(format!("{failed} operations failed"));
    }
    if timeouts > 0 {
        problems.push(format!(
            "{timeouts} operations not finished within {:?}",
            args.op_timeout
        ));
    }
    if st.transport_errors > 0 {
        problems.push(format!("{} request errors", st.transport_errors));
    }
    if errors > st.transport_errors {
        problems.push(format!("{} unreadable answers", errors - st.transport_errors));
    }
    if bad_status > 0 {
        problems.push(format!("{bad_status} answers with an unexpected status"));
    }
    if st.gave_up {
        problems.push(format!(
            "stopped starting operations after {} did not complete (--max-problems)",
            st.problem_ops
        ));
    }
    if st.ran_out_of_time {
        problems.push(format!(
            "the run passed --max-run-s ({:?}) and was cut short",
            args.max_run
        ));
    }

    // The measured window: from the W-th finish to the last finish.
    let mut by_end: Vec<&OpRecord> = st.records.iter().collect();
    by_end.sort_by_key(|r| r.end);
    let warm = (args.warmup as usize).min(by_end.len());
    let window_start = if args.warmup == 0 {
        run_start
    } else {
        by_end.get(warm.wrapping_sub(1)).map_or(run_end, |r| r.end)
    };
    let measured: &[&OpRecord] = &by_end[warm..];
    if measured.is_empty() {
        problems.push(format!(
            "no operation finished after the warm-up of {} ({} finished in all)",
            args.warmup,
            by_end.len()
        ));
    }
    let window_end = measured.last().map_or(window_start, |r| r.end);
    let window_s = (window_end - window_start).as_secs_f64();
    let measured_completed: Vec<&&OpRecord> = measured
        .iter()
        .filter(|r| r.outcome == Outcome::Completed)
        .collect();
    let ops_per_sec = if window_s > 0.0 {
        measured_completed.len() as f64 / window_s
    } else {
        0.0
    };
    let e2e: Vec<f64> = measured_completed
        .iter()
        .map(|r| (r.end - r.start).as_secs_f64() * 1000.0)
        .collect();
    let mean_e2e_s = if e2e.is_empty() {
        0.0
    } else {
        e2e.iter().sum::<f64>() / e2e.len() as f64 / 1000.0
    };
    let measured_polls: u64 = measured.iter().map(|r| r.polls as u64).sum();
    let polls_per_op = if measured.is_empty() {
        0.0
    } else {
        measured_polls as f64 / measured.len() as f64
    };
    let in_window = |t: Instant| t > window_start && t <= window_end;
    let rtt = |kind: Kind| -> Vec<f64> {
        st.rtts
            .iter()
            .filter(|(t, _, k)| *k == kind && in_window(*t))
            .map(|(_, ms, _)| *ms as f64)
            .collect()
    };
    let (create_rtt, poll_rtt) = (rtt(Kind::Create), rtt(Kind::Poll));
    let requests_in_window = create_rtt.len() + poll_rtt.len();
    let total_polls: u64 = st.records.iter().map(|r| r.polls as u64).sum();

    let ok = problems.is_empty();
    let mut samples = st.samples.clone();
    if st.sample_overflow > 0 {
        samples.push(format!("... and {} more", st.sample_overflow));
    }
    let result = json!({
        "ok": ok,
        "problems": problems,
        "samples": samples,
        "concurrency": args.concurrency,
        "poll_ms": args.poll.as_millis() as u64,
        "warmup": args.warmup,
        "ops_requested": if args.duration.is_some() { Value::Null } else { json!(args.ops) },
        "duration_s": args.duration.map(|d| d.as_secs_f64()),
        "started": st.started,
        "finished": st.records.len(),
        "completed": completed,
        "failed": failed,
        "timeouts": timeouts,
        "errors": errors,
        "transport_errors": st.transport_errors,
        "unexpected_status": bad_status,
        "connects": st.connects,
        "measured_ops": measured.len(),
        "measured_completed": measured_completed.len(),
        "window_s": (window_s * 1000.0).round() / 1000.0,
        "ops_per_sec": round2(ops_per_sec),
        "e2e_ms": summary(e2e),
        // Little's law: operations in flight on average over the window.
        "in_flight": round2(ops_per_sec * mean_e2e_s),
        "polls_per_op": round2(polls_per_op),
        "total_polls": total_polls,
        "requests_per_sec": if window_s > 0.0 { round2(requests_in_window as f64 / window_s) } else { 0.0 },
        "create_rtt_ms": summary(create_rtt),
        "poll_rtt_ms": summary(poll_rtt),
        "status_counts": {"create": status_map(&st.create_status), "poll": status_map(&st.poll_status)},
        "run_s": round2((run_end - run_start).as_secs_f64()),
    });
    (result, ok)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let st: Shared = Rc::new(RefCell::new(State::default()));
    let run_start = Instant::now();
    if args.warmup == 0 {
        st.borrow_mut().window_start = Some(run_start);
    }
    let args = Rc::new(args);
    let local = LocalSet::new();
    let run_end = local.block_on(&runtime, {
        let (args, st) = (args.clone(), st.clone());
        async move {
            let ticker = args
                .progress
                .map(|every| tokio::task::spawn_local(progress(every, st.clone(), run_start)));
            let users: Vec<_> = (0..args.concurrency)
                .map(|_| tokio::task::spawn_local(user(args.clone(), st.clone(), run_start)))
                .collect();
            for u in users {
                u.await.expect("a user task panicked");
            }
            if let Some(t) = ticker {
                t.abort();
            }
            Instant::now()
        }
    });
    let (result, ok) = report(&args, &st.borrow(), run_start, run_end);
    let line = result.to_string();
    if let Some(path) = &args.out {
        if let Err(e) = std::fs::write(path, format!("{line}\n")) {
            eprintln!("error: writing {path}: {e}");
            std::process::exit(1);
        }
    }
    println!("RESULT {line}");
    if !ok {
        eprintln!("FAILED: {}", result["problems"]);
        std::process::exit(1);
    }
}
