//! The webhook receiver of `tests/webhooks/receiver.py` as a child process
//! on loopback: it verifies every delivery with the `standardwebhooks`
//! package from PyPI, an implementation independent of longrun's.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rocket::serde::json::Value;

/// The secret of each endpoint a test configures: `whsec_` and a base64 key.
pub fn secret_of(name: &str) -> String {
    use base64::Engine;
    let key = format!("longrun-test-key-of-{name:-<12}");
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key))
}

pub struct Receiver {
    child: Option<Child>,
    port: u16,
    names: Vec<String>,
    http: reqwest::Client,
}

impl Receiver {
    /// A receiver with an endpoint per name, each verifying with
    /// [`secret_of`] its name. `None`, said on standard error, when Python
    /// or `standardwebhooks` is missing outside CI; with `CI=true` that
    /// fails the test.
    pub async fn start(names: &[&str]) -> Option<Receiver> {
        let probe = Command::new("python3")
            .args(["-c", "import standardwebhooks"])
            .stderr(Stdio::null())
            .status();
        if !probe.is_ok_and(|status| status.success()) {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "python3 with standardwebhooks is required with CI=true (pip install standardwebhooks)"
            );
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: a webhook test: no python3 with standardwebhooks (pip install standardwebhooks)"
            );
            return None;
        }
        let mut receiver = Receiver {
            child: None,
            port: 0,
            names: names.iter().map(|name| (*name).to_owned()).collect(),
            http: reqwest::Client::new(),
        };
        receiver.run().await;
        Some(receiver)
    }

    async fn run(&mut self) {
        let mut command = Command::new("python3");
        command
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webhooks/receiver.py"))
            .args(["--port", &self.port.to_string()]);
        for name in &self.names {
            command.args(["--secret", &format!("{name}={}", secret_of(name))]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the receiver says where it listens");
        self.port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("the receiver said {line:?}"));
        self.child = Some(child);
    }

    /// The URL of endpoint `name`.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/hooks/{name}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `[default.operations]` settings naming these endpoints, as a TOML
    /// array of inline tables (extra keys per endpoint appended).
    pub fn webhooks_toml(&self, endpoints: &[(&str, &str)]) -> String {
        let tables: Vec<String> = endpoints
            .iter()
            .map(|(name, extra)| {
                let extra = match extra.is_empty() {
                    true => String::new(),
                    false => format!(", {extra}"),
                };
                format!(
                    "{{name=\"{name}\", url=\"{}\", secret=\"{}\"{extra}}}",
                    self.url(name),
                    secret_of(name)
                )
            })
            .collect();
        format!("[{}]", tables.join(", "))
    }

    /// How endpoint `name` answers from now on.
    pub async fn set_mode(&self, name: &str, mode: Value) {
        let url = format!("http://127.0.0.1:{}/_mode/{name}", self.port);
        let response = self.http.put(url).json(&mode).send().await.unwrap();
        assert!(response.status().is_success());
    }

    /// Every delivery that verified, in order, and how many did not.
    pub async fn received(&self) -> (Vec<Value>, u64) {
        let url = format!("http://127.0.0.1:{}/_received", self.port);
        let body: Value = self.http.get(url).send().await.unwrap().json().await.unwrap();
        let deliveries = body["deliveries"].as_array().cloned().unwrap_or_default();
        (deliveries, body["unverified"].as_u64().unwrap_or(u64::MAX))
    }

    /// Waits until `count` distinct webhook ids have been answered with a
    /// 2xx at endpoint `name` (or panics after `within`); every delivery
    /// to it that verified.
    pub async fn wait_for_events(&self, name: &str, count: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let (deliveries, unverified) = self.received().await;
            assert_eq!(unverified, 0, "deliveries that did not verify");
            let to_name: Vec<Value> = deliveries.into_iter().filter(|d| d["endpoint"] == name).collect();
            let delivered = distinct_delivered(&to_name);
            if delivered.len() >= count {
                return to_name;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} events delivered to {name} after {within:?}",
                delivered.len()
            );
            rocket::tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the receiver: calls to it are refused until [`Receiver::resume`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (what it had received is gone).
    pub async fn resume(&mut self) {
        self.stop();
        self.run().await;
    }
}

/// The webhook ids answered with a 2xx, and how many times each was.
pub fn distinct_delivered(deliveries: &[Value]) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for delivery in deliveries {
        let answered = delivery["answered"].as_u64().unwrap_or(0);
        if (200..300).contains(&answered) {
            *seen
                .entry(delivery["webhook_id"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
    }
    seen
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}
