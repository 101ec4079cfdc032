//! A real browser for the explorer's tests: Debian's headless Chromium driven by its ChromeDriver
//! over the W3C WebDriver protocol (JSON over HTTP, spoken here with reqwest), each test with its
//! own driver, port and profile.

use std::time::Duration;

use serde_json::{Value, json};

/// Where Debian puts the browser and its driver (`CHROMIUM`, `CHROMEDRIVER` override them).
fn binary(variable: &str, default: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| default.to_owned())
}

pub(crate) struct Browser {
    http: reqwest::Client,
    session: String,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

/// The ChromeDriver process, killed with every browser it started (its process group) when this
/// is dropped, however the test ends.
struct Driver(std::process::Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = std::process::Command::new("kill").args(["-s", "KILL", "--", &group]).status();
        let _ = self.0.wait();
    }
}

impl Browser {
    /// A headless Chromium at a desktop window size.
    pub(crate) async fn start() -> Self {
        let chromedriver = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = binary("CHROMIUM", "/usr/bin/chromium");
        assert!(
            std::path::Path::new(&chromedriver).exists() && std::path::Path::new(&chromium).exists(),
            "the explorer's tests need Chromium and ChromeDriver ({chromium}, {chromedriver}): Debian's packages \
             chromium and chromium-driver, which ./scripts/test installs"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        // In a process group of its own, so the browsers it starts go with it.
        let driver = Driver({
            use std::os::unix::process::CommandExt;
            std::process::Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .process_group(0)
                .spawn()
                .expect("chromedriver starts")
        });
        let profile = tempfile::tempdir().expect("profile dir");
        // No WebDriver command here takes long; a hung driver fails the test instead of hanging it.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
        let base = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.json::<Value>().await.is_ok_and(|s| s["value"]["ready"] == true)
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ready, "chromedriver did not answer on port {port}");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session JSON");
        let session = answer["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {answer}"));
        Self { session: format!("{base}/session/{session}"), http, _driver: driver, _profile: profile }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let answer: Value = self
            .http
            .request(method, format!("{}{path}", self.session))
            .json(&body)
            .send()
            .await
            .expect("WebDriver request")
            .json()
            .await
            .expect("WebDriver answer");
        if let Some(error) = answer["value"]["error"].as_str() {
            panic!("WebDriver {path}: {error}: {}", answer["value"]["message"]);
        }
        answer["value"].clone()
    }

    /// Loads `url`.
    pub(crate) async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", json!({ "url": url })).await;
    }

    /// Runs `script` (a function body; `return` gives the answer) in the page.
    pub(crate) async fn run(&self, script: &str) -> Value {
        self.command(reqwest::Method::POST, "/execute/sync", json!({ "script": script, "args": [] })).await
    }

    /// Runs `script` until it answers something other than `null`, `false` or `undefined`
    /// (within 20 s), and gives that answer.
    pub(crate) async fn wait_for(&self, script: &str, what: &str) -> Value {
        for _ in 0..200 {
            let value = self.run(script).await;
            if !value.is_null() && value != Value::Bool(false) {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let page = self.run("return document.getElementById('page')?.innerText").await;
        panic!("the explorer did not show {what} within 20 s; the page reads: {page}");
    }

    /// Resizes the window (its viewport is what a page lays out in).
    pub(crate) async fn resize(&self, width: u32, height: u32) {
        self.command(reqwest::Method::POST, "/window/rect", json!({ "width": width, "height": height })).await;
    }

    /// What the page logged to the console at level `SEVERE` (errors, failed loads) since the
    /// last call.
    pub(crate) async fn console_errors(&self) -> Vec<String> {
        let logs = self.command(reqwest::Method::POST, "/se/log", json!({ "type": "browser" })).await;
        logs.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}
