//! The client of `bench/cold_polls.sh`: GET requests sent on a fixed
//! schedule over many keep-alive HTTP/1.1 connections, whatever the server
//! does, each request's latency counted from the moment it was scheduled
//! (no coordinated omission: a request that waits for a free connection, or
//! behind a late answer, counts that wait).
//!
//!   open-loop --port P --ids FILE --connections N --rate R --requests M
//!             [--offset K] --out RESULT.json
//!
//! Request `i` (0 ≤ i < M) is `GET /api/v1/operations/{ids[(K + i) mod len]}`,
//! scheduled at `start + i / R`: the ids file (`<id>` first on each line,
//! as `poll_limits.py seed` writes it) is walked in order, so a run of as
//! many requests as ids polls each id exactly once. The N connections are
//! opened before the schedule starts, each confirmed by one `GET
//! /health/live` (whatever its status), so that every one has been accepted
//! by the server and none waits in its accept queue when the schedule
//! starts; how long that took and how many failed are reported apart. A scheduled
//! request goes to the connection that has waited longest for work; a
//! connection that fails is opened again for its next request. Requests
//! still unanswered 3 × the schedule + 30 s after the start count as
//! missing. One thread: pin it with `taskset`.

use std::collections::BTreeMap;
use std::error::Error;
use std::rc::Rc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::HOST;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{self, Instant};

type Sender = SendRequest<Empty<Bytes>>;
type Failure = Box<dyn Error>;

/// Connections opening at the same moment: fewer than the accept queue
/// that Rocket 0.5 listens with (128), whose overflow drops connections
/// that the client then retries a second later.
const CONNECTING_AT_ONCE: usize = 64;
/// What confirms a connection: a request that reads no operation.
const CONFIRM_PATH: &str = "/health/live";

struct Args {
    port: u16,
    ids: String,
    connections: usize,
    rate: f64,
    requests: usize,
    offset: usize,
    out: String,
}

/// What one request came to: the answer's status, or `None` when the
/// connection failed.
struct Outcome {
    latency_us: u64,
    status: Option<u16>,
}

fn main() -> Result<(), Failure> {
    let args = parse_args()?;
    let paths = read_paths(&args.ids)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let report = local.block_on(&runtime, run(&args, paths))?;
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)?;
    eprintln!("{report}");
    Ok(())
}

async fn run(args: &Args, paths: Vec<String>) -> Result<serde_json::Value, Failure> {
    let paths = Rc::new(paths);
    let (connections, connect_failures, connect_s) = open_connections(args.port, args.connections).await;

    let (jobs, waiting) = async_channel::unbounded::<(usize, Instant)>();
    let (finished, mut outcomes) = mpsc::unbounded_channel();
    for connection in connections {
        let (waiting, finished, paths) = (waiting.clone(), finished.clone(), Rc::clone(&paths));
        tokio::task::spawn_local(serve(connection, args.port, waiting, finished, paths));
    }
    drop(finished);

    let start = Instant::now() + Duration::from_millis(100);
    let interval_ns = 1e9 / args.rate;
    let (requests, offset, len) = (args.requests, args.offset, paths.len());
    tokio::task::spawn_local(async move {
        for i in 0..requests {
            let at = start + Duration::from_nanos((i as f64 * interval_ns) as u64);
            time::sleep_until(at).await;
            if jobs.send(((offset + i) % len, at)).await.is_err() {
                return;
            }
        }
    });

    let schedule = Duration::from_nanos((requests as f64 * interval_ns) as u64);
    let deadline = start + schedule * 3 + Duration::from_secs(30);
    let mut latencies = Vec::with_capacity(requests);
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    let mut last_answer = start;
    while latencies.len() < requests {
        let Ok(Some(outcome)) = time::timeout_at(deadline, outcomes.recv()).await else {
            break;
        };
        let key = outcome.status.map_or("failed".to_owned(), |s| s.to_string());
        *statuses.entry(key).or_default() += 1;
        latencies.push(outcome.latency_us);
        last_answer = Instant::now();
    }
    latencies.sort_unstable();
    let answered = latencies.len();
    let ok = statuses.get("200").copied().unwrap_or(0);
    let elapsed = last_answer.saturating_duration_since(start).as_secs_f64();
    let percentile = |p: f64| -> f64 {
        match answered {
            0 => f64::NAN,
            n => latencies[((p * n as f64).ceil() as usize).clamp(1, n) - 1] as f64 / 1000.0,
        }
    };
    Ok(json!({
        "rate_asked": args.rate,
        "requests": requests,
        "connections": args.connections,
        "connect_failures": connect_failures,
        "connect_s": connect_s,
        "answered": answered,
        "missing": requests - answered,
        "errors": requests - ok,
        "statuses": statuses,
        "schedule_s": schedule.as_secs_f64(),
        "elapsed_s": elapsed,
        "rate_achieved": if elapsed > 0.0 { answered as f64 / elapsed } else { 0.0 },
        "p50_ms": percentile(0.50),
        "p90_ms": percentile(0.90),
        "p99_ms": percentile(0.99),
        "p999_ms": percentile(0.999),
        "max_ms": percentile(1.0),
    }))
}

/// `count` connections, opened `CONNECTING_AT_ONCE` at a time; those that
/// failed are `None` (opened again at their first request). Also how many
/// failed and how long it took, in seconds.
async fn open_connections(port: u16, count: usize) -> (Vec<Option<Sender>>, usize, f64) {
    let started = Instant::now();
    let gate = Rc::new(Semaphore::new(CONNECTING_AT_ONCE));
    let mut opening = JoinSet::new();
    for _ in 0..count {
        let gate = Rc::clone(&gate);
        opening.spawn_local(async move {
            let _permit = gate.acquire().await.ok()?;
            let opening = async {
                let mut connection = None;
                get(&mut connection, port, CONFIRM_PATH).await.ok()?;
                connection
            };
            time::timeout(Duration::from_secs(10), opening).await.ok()?
        });
    }
    let mut connections = Vec::with_capacity(count);
    while let Some(opened) = opening.join_next().await {
        connections.push(opened.ok().flatten());
    }
    let failures = connections.iter().filter(|c| c.is_none()).count();
    (connections, failures, started.elapsed().as_secs_f64())
}

async fn connect(port: u16) -> Result<Sender, Failure> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::task::spawn_local(connection);
    Ok(sender)
}

/// One connection: takes the next scheduled request whenever it is free.
async fn serve(
    mut connection: Option<Sender>,
    port: u16,
    waiting: async_channel::Receiver<(usize, Instant)>,
    finished: mpsc::UnboundedSender<Outcome>,
    paths: Rc<Vec<String>>,
) {
    while let Ok((index, scheduled)) = waiting.recv().await {
        let status = match get(&mut connection, port, &paths[index]).await {
            Ok(status) => Some(status),
            Err(_) => {
                connection = None;
                None
            }
        };
        let latency_us = u64::try_from(scheduled.elapsed().as_micros()).unwrap_or(u64::MAX);
        if finished.send(Outcome { latency_us, status }).is_err() {
            return;
        }
    }
}

async fn get(connection: &mut Option<Sender>, port: u16, path: &str) -> Result<u16, Failure> {
    let sender = match connection {
        Some(sender) => sender,
        None => connection.insert(connect(port).await?),
    };
    sender.ready().await?;
    let request = Request::get(path).header(HOST, "127.0.0.1").body(Empty::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    response.into_body().collect().await?;
    Ok(status)
}

fn read_paths(file: &str) -> Result<Vec<String>, Failure> {
    let paths: Vec<String> = std::fs::read_to_string(file)?
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(|id| format!("/api/v1/operations/{id}"))
        .collect();
    if paths.is_empty() {
        return Err(format!("no ids in {file}").into());
    }
    Ok(paths)
}

fn parse_args() -> Result<Args, Failure> {
    let mut given: BTreeMap<String, String> = BTreeMap::new();
    let mut words = std::env::args().skip(1);
    while let Some(flag) = words.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or(format!("unexpected argument {flag}"))?;
        let value = words.next().ok_or(format!("{flag} needs a value"))?;
        given.insert(name.to_owned(), value);
    }
    let mut take = |name: &str| given.remove(name).ok_or(format!("--{name} is required"));
    let args = Args {
        port: take("port")?.parse()?,
        ids: take("ids")?,
        connections: take("connections")?.parse()?,
        rate: take("rate")?.parse()?,
        requests: take("requests")?.parse()?,
        offset: take("offset").unwrap_or_else(|_| "0".to_owned()).parse()?,
        out: take("out")?,
    };
    if let Some(unknown) = given.keys().next() {
        return Err(format!("unknown option --{unknown}").into());
    }
    if args.rate <= 0.0 || args.connections == 0 {
        return Err("--rate and --connections must be positive".into());
    }
    Ok(args)
}
