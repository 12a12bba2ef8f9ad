//! A stand-in for an OpenAI-compatible chat-completions server, on
//! loopback, answering each request as the test scripted.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use rocket::serde::json::{json, Value};
use rocket::tokio::io::{AsyncReadExt, AsyncWriteExt};
use rocket::tokio::net::{TcpListener, TcpStream};
use rocket::tokio::task::JoinHandle;

#[derive(Clone)]
pub enum Reply {
    /// 200 with a chat completion whose message content is this text.
    Content(String),
    Status(u16),
    /// Accepts the request and never answers.
    Hang,
}

impl Reply {
    /// 200 with a message content holding this JSON, as a model writes it.
    pub fn json(value: Value) -> Reply {
        Reply::Content(value.to_string())
    }
}

/// What the server saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub authorization: Option<String>,
    pub body: Value,
}

pub struct FakeOpenAi {
    pub base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    accepting: JoinHandle<()>,
}

impl FakeOpenAi {
    /// Answers with `script` in order, then with `then` for ever after.
    pub async fn start(script: Vec<Reply>, then: Reply) -> FakeOpenAi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let accepting = rocket::tokio::spawn({
            let seen = seen.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let reply = script.lock().unwrap().pop_front().unwrap_or_else(|| then.clone());
                    rocket::tokio::spawn(answer(stream, reply, seen.clone()));
                }
            }
        });
        FakeOpenAi {
            base_url,
            seen,
            accepting,
        }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn answer(mut stream: TcpStream, reply: Reply, seen: Arc<Mutex<Vec<Seen>>>) {
    let Some((head, body)) = read_request(&mut stream).await else {
        return;
    };
    let authorization = head
        .lines()
        .find_map(|line| {
            line.strip_prefix("authorization: ")
                .or_else(|| line.strip_prefix("Authorization: "))
        })
        .map(str::to_owned);
    let body = rocket::serde::json::from_slice(&body).unwrap_or(Value::Null);
    seen.lock().unwrap().push(Seen { authorization, body });
    let (status, payload) = match reply {
        Reply::Hang => {
            // Hold the connection until the client gives up.
            let mut sink = [0u8; 64];
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            return;
        }
        Reply::Status(code) => (code, json!({"error": {"message": "scripted failure"}})),
        Reply::Content(content) => (
            200,
            json!({
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            }),
        ),
    };
    let payload = payload.to_string();
    let response = format!(
        "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{payload}",
        payload.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The head and body of one HTTP/1.1 request with a Content-Length.
async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Some((head, buffer[head_end..head_end + length].to_vec()))
}
