//! HTTP/1.1 on a raw socket, as the fake servers of the tests speak it:
//! read one request, answer it once and close; and the scripted server
//! they are.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rocket::tokio::io::{AsyncReadExt, AsyncWriteExt};
use rocket::tokio::net::{TcpListener, TcpStream};
use rocket::tokio::task::JoinHandle;

/// The head and body of one HTTP/1.1 request with a Content-Length.
pub async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
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
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
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

/// Holds the connection, answering nothing, until the client gives up.
pub async fn hang(mut stream: TcpStream) {
    let mut sink = [0u8; 64];
    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// Answers `status` with `payload` and closes the connection.
pub async fn respond(mut stream: TcpStream, status: u16, content_type: &str, payload: &str) {
    let response = format!(
        "HTTP/1.1 {status} Scripted\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{payload}",
        payload.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A server on loopback that answers each connection with the next reply
/// of a script (then with one reply for ever after), recording what it saw
/// of each request as `answer` writes it.
pub struct ScriptedServer<S> {
    pub address: SocketAddr,
    seen: Arc<Mutex<Vec<S>>>,
    accepting: JoinHandle<()>,
}

impl<S: Clone + Send + 'static> ScriptedServer<S> {
    pub async fn start<R, F, Fut>(script: Vec<R>, then: R, answer: F) -> Self
    where
        R: Clone + Send + 'static,
        F: Fn(TcpStream, R, Arc<Mutex<Vec<S>>>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
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
        ScriptedServer {
            address,
            seen,
            accepting,
        }
    }

    /// What was seen of every request so far, in the order they came.
    pub fn requests(&self) -> Vec<S> {
        self.seen.lock().unwrap().clone()
    }
}

impl<S> Drop for ScriptedServer<S> {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}
