//! What the local stack reports while it runs: function log lines, instances starting and stopping, one report per invocation.
//!
//! Everything goes through one broadcast bus: `obctl dev` prints it, tests
//! read it (which function served a route, which batches a mapping delivered),
//! and later consumers (metrics from EMF log lines) subscribe the same way.

use std::time::Duration;

use tokio::sync::broadcast;

/// Events kept for a slow subscriber before it starts missing some.
const CAPACITY: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line a function process wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The function's short name (`auth`).
    pub function: String,
    pub instance: u32,
    pub stream: Stream,
    pub text: String,
}

/// One invocation, as the caller (gateway or mapping) saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct InvocationReport {
    pub function: String,
    /// What invoked it: `POST /auth/register (ANY /auth/{proxy+})`, `ws $connect`, `RealtimeStreamMapping 3 records`.
    pub trigger: String,
    /// The answer: an HTTP status, `ok`, or the failure (`Runtime.ExitError`).
    pub result: String,
    pub request_id: String,
    pub duration: Duration,
    /// Set on an instance's first invocation: how long its cold start took.
    pub init: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Log(LogLine),
    InstanceStarted {
        function: String,
        instance: u32,
        pid: Option<u32>,
    },
    InstanceReady {
        function: String,
        instance: u32,
        init: Duration,
    },
    /// An instance is gone: why, and the last lines it wrote to stderr.
    InstanceStopped {
        function: String,
        instance: u32,
        reason: String,
        stderr: Vec<String>,
    },
    Invoked(InvocationReport),
    /// A mapping dropped records after its retries (or their age) ran out.
    RecordsDiscarded {
        mapping: String,
        count: usize,
        reason: String,
        /// The on-failure destination that was told which records they were.
        sent_to: Option<String>,
    },
    /// A mapping could not read its source (it keeps trying).
    SourceError {
        mapping: String,
        problem: String,
    },
}

/// The broadcast bus every part of the local stack reports to; cheap to clone.
#[derive(Debug, Clone)]
pub struct EventBus(broadcast::Sender<Event>);

impl Default for EventBus {
    fn default() -> Self {
        Self(broadcast::channel(CAPACITY).0)
    }
}

impl EventBus {
    pub fn send(&self, event: Event) {
        // No subscriber is fine: nobody is watching.
        let _ = self.0.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.0.subscribe()
    }
}
