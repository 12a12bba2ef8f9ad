//! The machine's limit for `bench/poll_limits.sh`: a minimal hyper 1.x
//! HTTP/1.1 server on a current-thread tokio runtime that answers every
//! request with the same ~350-byte JSON body (`content-type:
//! application/json`), keep-alive. The service's poll is measured against it.
//!
//!   hyper-baseline [PORT]        (default 18081; binds 127.0.0.1)

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// An operation as the service answers it, 200-500 bytes like the poll's.
const BODY: &str = concat!(
    r#"{"id":"6f1c9a52-3d0e-4b8a-9f47-2c5e8d7b1a30","operation_type":"question_generation","#,
    r#""status":"completed","result":{"question_text":"How would you paginate a large, frequently "#,
    r#"updated table in a public REST API?","question_type":"technical","difficulty":"senior","#,
    r#""topic":"pagination","generator":"builtin"},"error_message":null,"error_code":null,"#,
    r#""attempts":1,"created_at":"2026-11-28T10:00:00.120Z","updated_at":"2026-11-28T10:00:04.861Z"}"#
);

async fn answer(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse().expect("PORT must be a number"))
        .unwrap_or(18081);
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    eprintln!("hyper-baseline: {} bytes of JSON on 127.0.0.1:{port}", BODY.len());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}
