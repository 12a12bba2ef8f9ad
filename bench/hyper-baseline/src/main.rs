//! The machine's limit for the benchmarks: a minimal hyper 1.x HTTP/1.1
//! server on a current-thread tokio runtime, keep-alive, that answers every
//! request with the same ~350-byte JSON body (`content-type:
//! application/json`). The service's poll is measured against it.
//!
//! With `--sqlite FILE` (`bench/cold_polls.sh`) it is instead the least a
//! poll can cost when every poll reads the database: the last segment of
//! the path is an operation's id, read from the service's SQLite file with
//! one prepared primary-key query per request (no cache) and answered as
//! JSON, or 404.
//!
//!   hyper-baseline [PORT] [--sqlite FILE]     (default 18081; binds 127.0.0.1)

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use tokio::net::TcpListener;

/// An operation as the service answers it, 200-500 bytes like the poll's.
const BODY: &str = concat!(
    r#"{"id":"6f1c9a52-3d0e-4b8a-9f47-2c5e8d7b1a30","operation_type":"question_generation","#,
    r#""status":"completed","result":{"question_text":"How would you paginate a large, frequently "#,
    r#"updated table in a public REST API?","question_type":"technical","difficulty":"senior","#,
    r#""topic":"pagination","generator":"builtin"},"error_message":null,"error_code":null,"#,
    r#""attempts":1,"created_at":"2026-11-28T10:00:00.120Z","updated_at":"2026-11-28T10:00:04.861Z"}"#
);

/// What the server answers with.
enum Source {
    Fixed,
    Sqlite(Mutex<Connection>),
}

async fn answer(
    request: Request<Incoming>,
    source: Arc<Source>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match &*source {
        Source::Fixed => (StatusCode::OK, Bytes::from_static(BODY.as_bytes())),
        Source::Sqlite(db) => {
            let id = request.uri().path().rsplit('/').next().unwrap_or_default();
            match read_operation(db, id) {
                Ok(Some(body)) => (StatusCode::OK, Bytes::from(body)),
                Ok(None) => (StatusCode::NOT_FOUND, Bytes::from_static(NOT_FOUND.as_bytes())),
                Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, Bytes::from_static(b"{}")),
            }
        }
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

const NOT_FOUND: &str = r#"{"detail":{"code":"OPERATION_NOT_FOUND","message":"Operation not found."}}"#;

/// The operation's row as JSON, the stored result (JSON text) as it is.
fn read_operation(db: &Mutex<Connection>, id: &str) -> rusqlite::Result<Option<String>> {
    let db = db.lock().unwrap_or_else(PoisonError::into_inner);
    let mut statement = db.prepare_cached(
        "SELECT id, operation_type, status, result, error_message, error_code, attempts, created_at, updated_at \
         FROM operations WHERE id = ?1",
    )?;
    statement
        .query_row([id], |row| {
            let text = |i: usize| -> rusqlite::Result<String> {
                let value: Option<String> = row.get(i)?;
                Ok(value.map_or("null".to_owned(), |v| serde_json::Value::String(v).to_string()))
            };
            let result: Option<String> = row.get(3)?;
            let attempts: i64 = row.get(6)?;
            Ok(format!(
                r#"{{"id":{},"operation_type":{},"status":{},"result":{},"error_message":{},"error_code":{},"attempts":{},"created_at":{},"updated_at":{}}}"#,
                text(0)?,
                text(1)?,
                text(2)?,
                result.as_deref().unwrap_or("null"),
                text(4)?,
                text(5)?,
                attempts,
                text(7)?,
                text(8)?,
            ))
        })
        .optional()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port: u16 = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .map(|p| p.parse().expect("PORT must be a number"))
        .unwrap_or(18081);
    let source = match args.iter().position(|a| a == "--sqlite") {
        Some(at) => {
            let file = args.get(at + 1).expect("--sqlite needs a file");
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            Source::Sqlite(Mutex::new(
                Connection::open_with_flags(file, flags).expect("cannot open the SQLite file"),
            ))
        }
        None => Source::Fixed,
    };
    let source = Arc::new(source);
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    match &*source {
        Source::Fixed => eprintln!("hyper-baseline: {} bytes of JSON on 127.0.0.1:{port}", BODY.len()),
        Source::Sqlite(_) => eprintln!("hyper-baseline: SQLite reads on 127.0.0.1:{port}"),
    }
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let source = Arc::clone(&source);
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(request, Arc::clone(&source)));
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
