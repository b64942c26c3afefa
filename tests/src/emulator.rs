//! The local AWS emulator (moto) for end-to-end tests: start it, reset it, and
//! point SDK clients and `obctl` subprocesses at it.
//!
//! Why it is built this way:
//!
//! - **Guaranteed shutdown via a stdin pipe.** Each server is
//!   `tests/emulator/moto_launcher.py --until-stdin-closes`, run by the project
//!   virtualenv's Python. We keep the write end of its stdin open and never
//!   write to it. Whenever this process ends — normally, by panic, or by
//!   SIGKILL — the kernel closes that pipe, the launcher sees EOF and exits.
//!   No signal handlers, no pid files, no orphaned servers holding ports.
//! - **A process-wide pool plus reset.** Starting moto costs a Python
//!   interpreter and a large import (hundreds of milliseconds); resetting it
//!   (`POST /moto-api/reset`) costs a few milliseconds. All end-to-end tests
//!   run as threads of one test binary, so [`emulator`] hands each test an
//!   idle server from the pool — reset to empty state — or starts a new one
//!   when all are busy. Tests therefore run in parallel and in isolation
//!   without paying start-up per test.
//! - **std processes and threads, not tokio's.** Every `#[tokio::test]` has
//!   its own runtime that ends with the test, while a pooled server outlives
//!   the test that started it; so the child process and its pipe readers are
//!   owned by `std`, independent of any runtime.
//! - **The SDK's standard endpoint override.** [`Emulator::sdk_config`] and
//!   [`Emulator::env_vars`] set the endpoint URL the same way a user would,
//!   so the code under test takes its production path.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The region every emulator client uses.
pub const REGION: &str = "us-east-1";
/// Static test credentials; moto accepts any.
pub const ACCESS_KEY_ID: &str = "testing";
/// Static test credentials; moto accepts any.
pub const SECRET_ACCESS_KEY: &str = "testing";

/// How long the launcher may take to print `READY <port>`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a reset may take.
const RESET_TIMEOUT: Duration = Duration::from_secs(10);
/// How many lines of the launcher's stderr an error message quotes.
const STDERR_TAIL_LINES: usize = 30;
/// What to do when the emulator cannot start.
const FIX: &str = "run `make test` or `make venv`, which installs the pinned emulator into .venv";

/// The workspace root: the parent of the `tests` crate.
pub fn workspace_root() -> PathBuf {
    let tests_crate = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests_crate.parent().unwrap_or(tests_crate).to_path_buf()
}

/// The project virtualenv's Python, which has the pinned moto installed.
pub fn venv_python() -> PathBuf {
    workspace_root().join(".venv/bin/python")
}

/// The script that runs one moto server.
pub fn launcher_script() -> PathBuf {
    workspace_root().join("tests/emulator/moto_launcher.py")
}

/// The emulator could not be started or reset; the message says why and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatorError {
    message: String,
}

impl fmt::Display for EmulatorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EmulatorError {}

/// One running moto server on 127.0.0.1, killed when dropped.
#[derive(Debug)]
pub struct Emulator {
    port: u16,
    /// Its stdin stays piped and open for as long as we hold this.
    child: Child,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    stderr_reader: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Starts a server with the project virtualenv's Python. Blocks until it
    /// is ready (at most 30 s).
    pub fn start() -> Result<Self, EmulatorError> {
        Self::start_with(&venv_python())
    }

    /// Starts a server with the given Python interpreter. Blocks until it is
    /// ready (at most 30 s).
    pub fn start_with(python: &Path) -> Result<Self, EmulatorError> {
        let script = launcher_script();
        let mut child = Command::new(python)
            .arg(&script)
            .args(["--until-stdin-closes", "--quiet"])
            .current_dir(workspace_root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| EmulatorError {
                message: format!(
                    "cannot run the emulator's Python `{}`: {e}.\n\
                     The project virtualenv is missing or broken: {FIX}.",
                    python.display()
                ),
            })?;

        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let stderr_reader = child
            .stderr
            .take()
            .map(|stderr| spawn_tail_reader(stderr, Arc::clone(&stderr_tail)));
        let (ready_tx, ready_rx) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            thread::spawn(move || read_ready_line(stdout, &ready_tx));
        }
        let mut emulator = Self {
            port: 0,
            child,
            stderr_tail,
            stderr_reader,
        };

        let failure = match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok(Ok(line)) => match parse_ready(&line) {
                Some(port) => {
                    emulator.port = port;
                    return Ok(emulator);
                }
                None => format!("it printed {line:?} instead of `READY <port>`"),
            },
            Ok(Err(e)) => format!("reading its stdout failed: {e}"),
            Err(RecvTimeoutError::Disconnected) => "it exited without printing READY".to_owned(),
            Err(RecvTimeoutError::Timeout) => {
                format!("it printed no READY line within {READY_TIMEOUT:?}")
            }
        };
        Err(emulator.into_start_error(python, &script, &failure))
    }

    /// Stops the server and describes why it did not start, quoting its stderr.
    fn into_start_error(mut self, python: &Path, script: &Path, failure: &str) -> EmulatorError {
        let status = self.stop();
        let tail = lock(&self.stderr_tail);
        let stderr = if tail.is_empty() {
            "  (nothing)".to_owned()
        } else {
            tail.iter().map(|line| format!("  {line}\n")).collect()
        };
        EmulatorError {
            message: format!(
                "the AWS emulator did not start: {failure} ({status}).\n\
                 Launcher: `{} {}`.\n\
                 If the project virtualenv is missing or out of date, {FIX}.\n\
                 Launcher stderr (last {STDERR_TAIL_LINES} lines):\n{stderr}",
                python.display(),
                script.display(),
            ),
        }
    }

    /// Kills the server, reaps it and waits for its stderr reader; returns how it ended.
    fn stop(&mut self) -> String {
        // Killing an already exited child is harmless; its status is still reaped below.
        let _ = self.child.kill();
        let status = match self.child.wait() {
            Ok(status) => status.to_string(),
            Err(e) => format!("exit status unknown: {e}"),
        };
        if let Some(reader) = self.stderr_reader.take() {
            // The pipe closed with the process, so this returns promptly.
            let _ = reader.join();
        }
        status
    }

    /// The port the server listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id (what `make bench` reads its CPU time by).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The endpoint URL to give SDK clients, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Wipes all state (every service, every region). Panics if moto does not
    /// answer 200.
    pub async fn reset(&self) {
        if let Err(e) = self.try_reset().await {
            panic!("{e}");
        }
    }

    /// Wipes all state (every service, every region).
    pub async fn try_reset(&self) -> Result<(), EmulatorError> {
        let error = |detail: String| EmulatorError {
            message: format!(
                "resetting the AWS emulator at {} failed: {detail}",
                self.endpoint_url()
            ),
        };
        match tokio::time::timeout(RESET_TIMEOUT, self.post("/moto-api/reset")).await {
            Ok(Ok(200)) => Ok(()),
            Ok(Ok(status)) => Err(error(format!("HTTP status {status}, expected 200"))),
            Ok(Err(e)) => Err(error(e.to_string())),
            Err(_) => Err(error(format!("no answer within {RESET_TIMEOUT:?}"))),
        }
    }

    /// Sends an empty HTTP/1.1 POST and returns the response's status code.
    async fn post(&self, path: &str) -> io::Result<u16> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).await?;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        // The status line: `HTTP/1.1 200 OK`.
        String::from_utf8_lossy(&response)
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP status line"))
    }

    /// SDK configuration for this server: the standard endpoint override,
    /// region `us-east-1` and static test credentials. For S3, build the
    /// client config from it with `force_path_style(true)`.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(self.endpoint_url())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                ACCESS_KEY_ID,
                SECRET_ACCESS_KEY,
                None,
                None,
                "emulator",
            ))
            .load()
            .await
    }

    /// Environment variables that point an `obctl` subprocess at this server.
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint_url()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
        ]
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads the launcher's first stdout line and sends it, then drains stdout so
/// the launcher never blocks on a full pipe.
fn read_ready_line(stdout: impl Read, ready: &mpsc::Sender<io::Result<String>>) {
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    match stdout.read_line(&mut line) {
        Ok(0) => return, // EOF: dropping the sender reports it.
        Ok(_) => drop(ready.send(Ok(line.trim_end().to_owned()))),
        Err(e) => drop(ready.send(Err(e))),
    }
    let _ = io::copy(&mut stdout, &mut io::sink());
}

/// Keeps the last lines of the launcher's stderr, draining the pipe until EOF.
fn spawn_tail_reader(
    stderr: impl Read + Send + 'static,
    tail: Arc<Mutex<VecDeque<String>>>,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut stderr = BufReader::new(stderr);
        let mut line = Vec::new();
        while matches!(stderr.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            let mut tail = lock(&tail);
            if tail.len() == STDERR_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(String::from_utf8_lossy(&line).trim_end().to_owned());
            line.clear();
        }
    })
}

/// Parses `READY <port>`.
fn parse_ready(line: &str) -> Option<u16> {
    line.strip_prefix("READY ")?.trim().parse().ok()
}

/// Locks a mutex, ignoring poisoning: a panicking test must not break the
/// harness for the others.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Idle servers, ready to be checked out. Never dropped: at process exit
/// their stdin pipes close and they exit by themselves.
static IDLE: Mutex<Vec<Emulator>> = Mutex::new(Vec::new());

/// Checks out a server with empty state: an idle one from the process-wide
/// pool, reset, or a newly started one. Returned to the pool when the guard
/// drops, also when the test panics. Panics if no server can be started, with
/// a message that says how to fix it.
pub async fn emulator() -> EmulatorGuard {
    loop {
        let idle = lock(&IDLE).pop();
        let Some(emulator) = idle else { break };
        // A server that cannot be reset is broken (or dead): drop it, try the next.
        if emulator.try_reset().await.is_ok() {
            return EmulatorGuard {
                emulator: Some(emulator),
            };
        }
    }
    // Starting blocks for a few hundred milliseconds: keep it off the runtime.
    match tokio::task::spawn_blocking(Emulator::start).await {
        Ok(Ok(emulator)) => EmulatorGuard {
            emulator: Some(emulator),
        },
        Ok(Err(e)) => panic!("{e}"),
        Err(e) => panic!("starting the AWS emulator panicked: {e}"),
    }
}

/// A server checked out of the pool by [`emulator`]; derefs to [`Emulator`]
/// and goes back to the pool on drop.
#[derive(Debug)]
pub struct EmulatorGuard {
    /// Always `Some` until dropped.
    emulator: Option<Emulator>,
}

impl Deref for EmulatorGuard {
    type Target = Emulator;

    fn deref(&self) -> &Emulator {
        match &self.emulator {
            Some(emulator) => emulator,
            None => unreachable!("an EmulatorGuard holds its server until dropped"),
        }
    }
}

impl Drop for EmulatorGuard {
    fn drop(&mut self) {
        if let Some(emulator) = self.emulator.take() {
            lock(&IDLE).push(emulator);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_ready;

    #[test]
    fn parses_the_ready_line() {
        assert_eq!(parse_ready("READY 40123"), Some(40123));
        assert_eq!(parse_ready("READY x"), None);
        assert_eq!(parse_ready("Starting a new Thread"), None);
    }
}
