//! A stand-in for the HTTP target of an `http` operation type, on
//! loopback, answering each request as the test scripted and keeping what
//! it was sent.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rocket::serde::json::Value;
use rocket::tokio::net::{TcpListener, TcpStream};

use crate::wire::{hang, read_request, respond, ScriptedServer};

#[derive(Clone)]
pub enum Reply {
    /// This status with this JSON body.
    Json(u16, Value),
    /// This status with this text body (`text/plain`).
    Text(u16, String),
    /// 202 Accepted: the target finishes the operation later.
    Accepted,
    /// Accepts the request and never answers.
    Hang,
}

/// What the target saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// By lowercased name.
    pub headers: BTreeMap<String, String>,
    /// The body as sent, byte for byte (what a signature covers).
    pub raw_body: String,
    /// The body as JSON; `Null` when it is not JSON.
    pub body: Value,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

pub struct FakeTarget {
    /// Where the target listens: `http://127.0.0.1:<port>/run`.
    pub url: String,
    server: ScriptedServer<Seen>,
}

impl FakeTarget {
    /// Answers with `script` in order, then with `then` for ever after.
    pub async fn start(script: Vec<Reply>, then: Reply) -> FakeTarget {
        let server = ScriptedServer::start(script, then, answer).await;
        FakeTarget {
            url: format!("http://{}/run", server.address),
            server,
        }
    }

    /// Every request seen so far, in the order they came.
    pub fn requests(&self) -> Vec<Seen> {
        self.server.requests()
    }
}

/// A URL on loopback where nothing listens (a port just given up).
pub async fn nothing_listening() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}/run")
}

async fn answer(mut stream: TcpStream, reply: Reply, seen: Arc<Mutex<Vec<Seen>>>) {
    let Some((head, body)) = read_request(&mut stream).await else {
        return;
    };
    let mut lines = head.lines();
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let raw_body = String::from_utf8_lossy(&body).into_owned();
    let body = rocket::serde::json::from_str(&raw_body).unwrap_or(Value::Null);
    seen.lock().unwrap().push(Seen {
        method,
        path,
        headers,
        raw_body,
        body,
    });
    let (status, content_type, payload) = match reply {
        Reply::Hang => return hang(stream).await,
        Reply::Json(status, value) => (status, "application/json", value.to_string()),
        Reply::Text(status, text) => (status, "text/plain; charset=utf-8", text),
        Reply::Accepted => (202, "application/json", r#"{"accepted":true}"#.to_owned()),
    };
    respond(stream, status, content_type, &payload).await;
}
