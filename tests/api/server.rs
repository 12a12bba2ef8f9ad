//! The real `longrun` binary as a child process on loopback, for what only
//! a separate process can show: a crash, and several processes sharing one
//! database.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rocket::serde::json::{json, Value};
use uuid::Uuid;

pub struct Server {
    child: Child,
    pub base_url: String,
    http: reqwest::Client,
}

impl Server {
    /// Starts the binary on `database_url` with these `operations` settings
    /// (a TOML inline table's contents) and waits until it answers.
    pub async fn start(database_url: &str, operations: &str) -> Server {
        let operations = format!("log_format=\"off\", {operations}");
        Server::start_with(database_url, &operations, &[], None).await
    }

    /// The same, with more environment variables, and both standard
    /// streams written to `log` when given.
    pub async fn start_with(
        database_url: &str,
        operations: &str,
        env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_longrun"));
        command
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("ROCKET_PORT", port.to_string())
            .env("ROCKET_ADDRESS", "127.0.0.1")
            .env("ROCKET_LOG_LEVEL", "critical")
            .env(
                "ROCKET_DATABASES",
                format!("{{operations={{url=\"{database_url}\"}}}}"),
            )
            .env(
                "ROCKET_OPERATIONS",
                format!("{{enable_echo=true, rate_limit={{enabled=false}}, {operations}}}"),
            );
        for (name, value) in env {
            command.env(name, value);
        }
        let (stdout, stderr) = match log {
            Some(path) => {
                let file = std::fs::File::create(path).expect("create the log file");
                (
                    Stdio::from(file.try_clone().expect("share the log file")),
                    Stdio::from(file),
                )
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let child = command
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start the longrun binary");
        Server::attach(child, &format!("http://127.0.0.1:{port}")).await
    }

    /// The binary started as `child`, listening at `base_url`, once it
    /// answers.
    pub async fn attach(child: Child, base_url: &str) -> Server {
        let server = Server {
            child,
            base_url: base_url.to_owned(),
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.try_get(Uuid::new_v4()).await.is_none() {
            assert!(Instant::now() < deadline, "the server did not start");
            rocket::tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    async fn try_get(&self, id: Uuid) -> Option<(u16, Value)> {
        let response = self
            .http
            .get(format!("{}/api/v1/operations/{id}", self.base_url))
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.json().await.ok()?))
    }

    /// GET `path`: the status, and the JSON body (null when it is not JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.base_url);
        let response = self.http.get(url).send().await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A scrape of `/metrics`.
    pub async fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.base_url);
        let response = self.http.get(url).send().await.expect("the server answers");
        response.text().await.expect("a scrape")
    }

    pub async fn poll(&self, id: Uuid) -> Value {
        let (status, body) = self.try_get(id).await.expect("the server answers");
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn create_echo(&self, input: Value) -> Uuid {
        self.create("echo", input).await
    }

    pub async fn create(&self, operation_type: &str, input: Value) -> Uuid {
        let body = json!({"operation_type": operation_type, "input": input});
        let response = self
            .http
            .post(format!("{}/api/v1/operations", self.base_url))
            .json(&body)
            .send()
            .await
            .expect("the server answers");
        assert_eq!(response.status().as_u16(), 202);
        let created: Value = response.json().await.unwrap();
        created["id"].as_str().unwrap().parse().unwrap()
    }

    /// SIGTERM, then waits for the process to exit; true when it exited
    /// successfully.
    pub fn terminate(mut self) -> bool {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        signalled && self.child.wait().is_ok_and(|s| s.success())
    }

    /// SIGKILL: no shutdown, no cleanup.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
