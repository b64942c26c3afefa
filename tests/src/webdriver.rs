//! A small W3C WebDriver client over plain HTTP, driving Debian's headless Chromium through chromedriver.
//!
//! Plain HTTP rather than a WebDriver crate: the protocol the tests need is a
//! dozen JSON calls, and this adds no compile time (see DEVELOPERS.md).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http;

/// The element reference key of the W3C protocol.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Flags the machine needs: no sandbox as root in a container, and no background
/// traffic, which the closed network would refuse.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

/// Where Chromium and chromedriver are: `OB_CHROMIUM` / `OB_CHROMEDRIVER`, else
/// Debian's paths (`apt-get install chromium chromium-driver`).
#[derive(Debug, Clone)]
pub struct Binaries {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

impl Binaries {
    /// The binaries, or a sentence saying which is missing.
    pub fn find() -> Result<Self, String> {
        let path = |var: &str, default: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(default))
        };
        let found = Self {
            chromium: path("OB_CHROMIUM", "/usr/bin/chromium"),
            chromedriver: path("OB_CHROMEDRIVER", "/usr/bin/chromedriver"),
        };
        for binary in [&found.chromium, &found.chromedriver] {
            if !binary.is_file() {
                return Err(format!("{} is missing", binary.display()));
            }
        }
        Ok(found)
    }
}

/// A chromedriver process with one browser session; both end when dropped.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    session: String,
    profile: PathBuf,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session with a fresh profile.
    pub async fn start(binaries: &Binaries) -> Self {
        let port = crate::free_port();
        let driver = Command::new(&binaries.chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", binaries.chromedriver.display()));
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = std::env::temp_dir().join(format!("ob-chromium-{port}"));
        let _ = std::fs::remove_dir_all(&profile);
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": binaries.chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let (status, reply) =
            http::json("POST", &format!("{base}/session"), &[], Some(&capabilities)).await;
        assert_eq!(status, 200, "no browser session: {reply}");
        let session = reply["value"]["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        Self {
            driver,
            session: format!("{base}/session/{session}"),
            profile,
        }
    }

    /// One WebDriver command; panics with the driver's message on an error.
    async fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let body = body.or_else(|| (method == "POST").then(|| json!({})));
        let (status, reply) = http::json(method, &url, &[], body.as_ref()).await;
        assert_eq!(status, 200, "WebDriver {method} {path}: {reply}");
        reply["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })))
            .await;
    }

    /// Runs a script in the page (`return …;`) and returns its value.
    pub async fn run(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .command(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    /// Clicks an element as a user would (a trusted event).
    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.command("POST", &format!("/element/{id}/click"), None)
            .await;
    }

    /// Types into an input; for a file input, `text` is a file path to choose.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.command("POST", &format!("/element/{id}/clear"), None)
            .await;
        self.command(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Polls `script` until it returns something other than null or false;
    /// after 30 s fails with `what`, the page's visible errors and its console.
    pub async fn wait_for(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.run(script, json!([])).await;
            if !value.is_null() && value != Value::Bool(false) {
                return value;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let errors = self
                    .run(
                        "return document.getElementById('errors')?.textContent ?? null;",
                        json!([]),
                    )
                    .await;
                panic!(
                    "waited 30 s for {what}\npage errors: {errors}\nconsole:\n{}",
                    self.console().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The browser console so far (CORS refusals and script errors land here).
    pub async fn console(&self) -> String {
        let url = format!("{}/se/log", self.session);
        let (_, reply) = http::json("POST", &url, &[], Some(&json!({"type": "browser"}))).await;
        reply["value"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| format!("  {} {}", e["level"], e["message"]))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }

    /// Opens a new tab and switches to it; returns its handle.
    pub async fn new_tab(&self) -> String {
        let opened = self
            .command("POST", "/window/new", Some(json!({"type": "tab"})))
            .await;
        let handle = opened["handle"].as_str().expect("a handle").to_owned();
        self.switch_to(&handle).await;
        handle
    }

    /// The current tab's handle.
    pub async fn tab(&self) -> String {
        self.command("GET", "/window", None)
            .await
            .as_str()
            .expect("a handle")
            .to_owned()
    }

    pub async fn switch_to(&self, handle: &str) {
        self.command("POST", "/window", Some(json!({ "handle": handle })))
            .await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session ends its Chromium (killing chromedriver alone would orphan it).
        // Drop cannot await, so this one request is sent blocking.
        if let Some(rest) = self.session.strip_prefix("http://") {
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            if let Ok(mut stream) = std::net::TcpStream::connect(host) {
                use std::io::{Read, Write};
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let head = format!(
                    "DELETE {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                );
                let _ = stream.write_all(head.as_bytes());
                // The answer comes once the browser has quit; its head is enough.
                let (mut answer, mut buf) = (Vec::new(), [0u8; 1024]);
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
