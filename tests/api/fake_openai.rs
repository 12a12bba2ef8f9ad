//! A stand-in for an OpenAI-compatible chat-completions server, on
//! loopback, answering each request as the test scripted.

use std::sync::{Arc, Mutex};

use rocket::serde::json::{json, Value};
use rocket::tokio::io::AsyncWriteExt;
use rocket::tokio::net::TcpStream;

use crate::wire::{hang, read_request, respond, ScriptedServer};

#[derive(Clone)]
pub enum Reply {
    /// 200 with a chat completion whose message content is this text.
    Content(String),
    Status(u16),
    /// Accepts the request and never answers.
    Hang,
    /// 200 with a stream of chunks (server-sent events), one per piece of
    /// content with `pause` after each, then `[DONE]`.
    Stream {
        pieces: Vec<String>,
        pause: std::time::Duration,
    },
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
    server: ScriptedServer<Seen>,
}

impl FakeOpenAi {
    /// Answers with `script` in order, then with `then` for ever after.
    pub async fn start(script: Vec<Reply>, then: Reply) -> FakeOpenAi {
        let server = ScriptedServer::start(script, then, answer).await;
        FakeOpenAi {
            base_url: format!("http://{}/v1", server.address),
            server,
        }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.server.requests()
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
        Reply::Stream { pieces, pause } => return stream_back(stream, pieces, pause).await,
        Reply::Hang => return hang(stream).await,
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
    respond(stream, status, "application/json", &payload.to_string()).await;
}

/// Writes `pieces` as chat-completion chunks, each in its own write.
async fn stream_back(mut stream: TcpStream, pieces: Vec<String>, pause: std::time::Duration) {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    for piece in pieces {
        let chunk = json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": piece}}]});
        if stream
            .write_all(format!("data: {chunk}\n\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
        let _ = stream.flush().await;
        rocket::tokio::time::sleep(pause).await;
    }
    let _ = stream.write_all(b"data: [DONE]\n\n").await;
    let _ = stream.shutdown().await;
}
