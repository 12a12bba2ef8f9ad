//! Server-Sent Events and progress.

use std::time::Duration;

use rocket::figment::Figment;
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::LocalResponse;
use rocket::serde::json::{json, Value};
use rocket::tokio::io::AsyncReadExt;
use rocket::tokio::time::timeout;
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, TestResponse};
use crate::trials;

trials!(
    on_both_backends: [
        an_event_stream_sends_each_state_then_closes_after_the_finished_one,
        a_reconnect_with_last_event_id_does_not_repeat_an_unchanged_state,
        an_idle_stream_sends_heartbeats,
        streams_beyond_the_cap_are_refused_with_503,
        a_missing_or_malformed_id_is_refused_before_the_stream_starts,
        progress_is_reported_and_its_writes_are_coalesced,
    ],
);

/// Reads an event stream block by block.
struct Events<'c> {
    response: LocalResponse<'c>,
    buffer: String,
}

/// One block of an event stream: an event, or a heartbeat comment.
#[derive(Debug)]
enum Block {
    Event { name: String, id: String, data: Value },
    Comment,
}

impl<'c> Events<'c> {
    async fn open(app: &'c TestApp, id: Uuid, last_event_id: Option<&str>) -> Events<'c> {
        let mut request = app.client.get(format!("/api/v1/operations/{id}/events"));
        if let Some(last) = last_event_id {
            request = request.header(Header::new("Last-Event-ID", last.to_owned()));
        }
        let response = request.dispatch().await;
        assert_eq!(response.status(), Status::Ok);
        assert_eq!(response.content_type(), Some(ContentType::EventStream));
        Events {
            response,
            buffer: String::new(),
        }
    }

    /// The next block, or `None` once the stream has ended. Panics if
    /// nothing comes `within`.
    async fn next(&mut self, within: Duration) -> Option<Block> {
        loop {
            if let Some(end) = self.buffer.find("\n\n").or_else(|| self.comment_end()) {
                let block: String = self.buffer.drain(..end).collect();
                let rest = self.buffer.trim_start_matches('\n').to_owned();
                self.buffer = rest;
                return Some(parse_block(&block));
            }
            let mut chunk = [0u8; 4096];
            let read = timeout(within, self.response.read(&mut chunk)).await;
            let n = read.expect("a block within the time").expect("readable");
            if n == 0 {
                return None;
            }
            self.buffer.push_str(std::str::from_utf8(&chunk[..n]).unwrap());
        }
    }

    /// A heartbeat is a lone ":" line.
    fn comment_end(&self) -> Option<usize> {
        self.buffer.starts_with(":\n").then_some(1)
    }

    async fn next_event(&mut self, within: Duration) -> Option<(String, String, Value)> {
        loop {
            match self.next(within).await? {
                Block::Event { name, id, data } => return Some((name, id, data)),
                Block::Comment => continue,
            }
        }
    }
}

fn parse_block(block: &str) -> Block {
    let mut name = String::new();
    let mut id = String::new();
    let mut data = String::new();
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            name = value.trim().to_owned();
        } else if let Some(value) = line.strip_prefix("id:") {
            id = value.trim().to_owned();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.trim_start());
        }
    }
    if name.is_empty() && data.is_empty() {
        return Block::Comment;
    }
    Block::Event {
        name,
        id,
        data: rocket::serde::json::from_str(&data).unwrap(),
    }
}

const SOON: Duration = Duration::from_secs(5);

async fn an_event_stream_sends_each_state_then_closes_after_the_finished_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create("echo", json!({"result": "streamed"})).await;
    let mut events = Events::open(&app, id, None).await;

    let (name, first_id, pending) = events.next_event(SOON).await.unwrap();
    assert_eq!(name, "operation");
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending, app.poll(id).await, "the same JSON as GET");

    let claimed = app.claim_one("worker", Duration::from_secs(30)).await;
    let (_, second_id, processing) = events.next_event(SOON).await.unwrap();
    assert_eq!(processing["status"], "processing");
    assert_ne!(first_id, second_id, "each event's id is its state's ETag");

    app.operations()
        .complete(&claimed.token, &json!("streamed"))
        .await
        .unwrap();
    let (_, last_id, completed) = events.next_event(SOON).await.unwrap();
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["result"], "streamed");
    let get = app.get(&format!("/api/v1/operations/{id}")).await;
    assert_eq!(get.header("ETag"), Some(last_id.as_str()));

    assert!(
        events.next_event(SOON).await.is_none(),
        "the stream ends after the finished state"
    );
}

async fn a_reconnect_with_last_event_id_does_not_repeat_an_unchanged_state(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create("echo", json!({})).await;
    let pending_etag = {
        let mut events = Events::open(&app, id, None).await;
        events.next_event(SOON).await.unwrap().1
    };

    let mut resumed = Events::open(&app, id, Some(&pending_etag)).await;
    app.drain().await;

    let (_, _, next) = resumed.next_event(SOON).await.unwrap();
    assert_ne!(
        next["status"], "pending",
        "the state the client had is not sent again"
    );
    let finished_etag = app
        .get(&format!("/api/v1/operations/{id}"))
        .await
        .header("ETag")
        .unwrap()
        .to_owned();
    let mut after_the_end = Events::open(&app, id, Some(&finished_etag)).await;
    assert!(
        after_the_end.next_event(SOON).await.is_none(),
        "nothing new, and finished: the stream just ends"
    );
}

async fn an_idle_stream_sends_heartbeats(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| f.merge(("operations.sse_heartbeat_secs", 1))).await;
    let id = app.create("echo", json!({})).await;
    let mut events = Events::open(&app, id, None).await;
    events.next_event(SOON).await.unwrap();

    let mut heartbeats = 0;
    while heartbeats < 2 {
        match events.next(Duration::from_millis(2500)).await {
            Some(Block::Comment) => heartbeats += 1,
            other => panic!("expected a heartbeat, got {other:?}"),
        }
    }
}

async fn streams_beyond_the_cap_are_refused_with_503(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f: Figment| f.merge(("operations.max_streams", 2))).await;
    let id = app.create("echo", json!({})).await;
    let first = Events::open(&app, id, None).await;
    let _second = Events::open(&app, id, None).await;

    let third = app
        .client
        .get(format!("/api/v1/operations/{id}/events"))
        .dispatch()
        .await;
    let refused = TestResponse::read(third).await;
    refused.assert_error(Status::ServiceUnavailable, "TOO_MANY_STREAMS");

    drop(first);
    let fourth = app
        .client
        .get(format!("/api/v1/operations/{id}/events"))
        .dispatch()
        .await;
    assert_eq!(fourth.status(), Status::Ok, "a closed stream frees its slot");
}

async fn a_missing_or_malformed_id_is_refused_before_the_stream_starts(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let missing = app
        .get(&format!("/api/v1/operations/{}/events", Uuid::new_v4()))
        .await;
    let malformed = app.get("/api/v1/operations/nope/events").await;

    missing.assert_error(Status::NotFound, "OPERATION_NOT_FOUND");
    malformed.assert_error(Status::UnprocessableEntity, "INVALID_OPERATION_ID");
}

async fn progress_is_reported_and_its_writes_are_coalesced(backend: Backend) {
    let configure = |f: Figment| {
        f.merge(("operations.workers", 1))
            .merge(("operations.progress_interval_ms", 500))
    };
    let app = TestApp::spawn_with(backend, configure).await;
    // Forty reports over two seconds.
    let id = app
        .create(
            "echo",
            json!({"delay_ms": 2000, "progress_steps": 40, "result": 1}),
        )
        .await;
    assert_eq!(app.poll(id).await["progress"], Value::Null, "null until reported");
    let mut events = Events::open(&app, id, None).await;

    let mut progress_seen = Vec::new();
    while let Some((_, _, operation)) = events.next_event(SOON).await {
        if operation["status"] == "processing" && !operation["progress"].is_null() {
            progress_seen.push(operation["progress"].clone());
        }
    }

    assert!(!progress_seen.is_empty(), "progress was reported");
    assert!(
        progress_seen.len() <= 6,
        "about one write per 500 ms, not 40: {progress_seen:?}"
    );
    let percents: Vec<u64> = progress_seen
        .iter()
        .map(|p| p["percent"].as_u64().unwrap())
        .collect();
    assert!(percents.windows(2).all(|w| w[0] < w[1]), "{percents:?}");
    assert!(progress_seen
        .iter()
        .all(|p| p["message"].as_str().is_some_and(|m| m.starts_with("Step "))));
    assert_eq!(app.poll(id).await["status"], "completed");
}
