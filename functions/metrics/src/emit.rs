//! What the functions call to publish metrics: one EMF line per event, written to a [`Sink`].
//!
//! On Lambda the sink is standard output, which Lambda sends to CloudWatch
//! Logs; `obctl dev` counts the lines instead, and tests record them.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::catalog::{self, Dimension, Family, HttpDetail, MetricDef, Route};
use crate::emf::{Document, chunks, now_ms};

/// Where finished EMF lines go.
pub trait Sink: Send + Sync + fmt::Debug {
    fn write_line(&self, line: &str);
}

/// Standard output, one whole line per write so lines from concurrent
/// requests and the JSON logs never interleave.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stdout;

impl Sink for Stdout {
    fn write_line(&self, line: &str) {
        let mut text = String::with_capacity(line.len() + 1);
        text.push_str(line);
        text.push('\n');
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
}

/// Drops every line (hosts that publish nothing, e.g. benchmarks).
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

impl Sink for Discard {
    fn write_line(&self, _line: &str) {}
}

/// Keeps every line in memory (tests).
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    /// The lines written so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Sink for Recorder {
    fn write_line(&self, line: &str) {
        if let Ok(mut lines) = self.0.lock() {
            lines.push(line.to_owned());
        }
    }
}

/// One HTTP request, as the API's middleware saw it.
#[derive(Debug, Clone)]
pub struct RequestSample<'a> {
    pub route: &'a Route,
    /// The app of the verified API key, if the request presented one.
    pub app: Option<&'a str>,
    pub status: u16,
    pub latency_ms: f64,
    pub request_id: &'a str,
}

/// A sign-in event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthEvent {
    Registration,
    Login,
    LoginFailure,
    LockOut,
}

impl AuthEvent {
    fn metric(self) -> &'static MetricDef {
        match self {
            Self::Registration => &catalog::REGISTRATIONS,
            Self::Login => &catalog::LOGINS,
            Self::LoginFailure => &catalog::LOGIN_FAILURES,
            Self::LockOut => &catalog::LOCK_OUTS,
        }
    }
}

/// What realtime did for one app: connections accepted, messages pushed,
/// connections found gone, and the lag of each record change fanned out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RealtimeActivity {
    pub connections: u64,
    pub deliveries: u64,
    pub gone: u64,
    pub lag_ms: Vec<f64>,
}

/// Publishes the catalog's metrics for one stage; cheap to clone.
#[derive(Debug, Clone)]
pub struct Metrics {
    stage: Arc<str>,
    detail: HttpDetail,
    sink: Arc<dyn Sink>,
}

impl Metrics {
    pub fn new(stage: &str, detail: HttpDetail, sink: Arc<dyn Sink>) -> Self {
        Self {
            stage: Arc::from(stage),
            detail,
            sink,
        }
    }

    /// Publishes nothing.
    pub fn discard() -> Self {
        Self::new("none", HttpDetail::AppTotals, Arc::new(Discard))
    }

    pub fn stage(&self) -> &str {
        &self.stage
    }

    fn document(&self, family: Family, with_app: bool) -> Document {
        family
            .dimension_sets(with_app, self.detail)
            .into_iter()
            .fold(Document::new(now_ms()), Document::dimension_set)
            .dimension(Dimension::Stage, &self.stage)
    }

    fn publish(&self, document: &Document) {
        if document.has_metrics() {
            self.sink.write_line(&document.to_line());
        }
    }

    /// One HTTP request: counted, classified by status, timed.
    pub fn request(&self, sample: &RequestSample<'_>) {
        let class =
            |range: std::ops::Range<u16>| f64::from(u8::from(range.contains(&sample.status)));
        let mut doc = self
            .document(Family::Http, sample.app.is_some())
            .dimension(Dimension::Route, sample.route.as_str())
            .value(&catalog::REQUESTS, 1.0)
            .value(&catalog::CLIENT_ERRORS, class(400..500))
            .value(&catalog::SERVER_ERRORS, class(500..600))
            .value(&catalog::LATENCY, sample.latency_ms)
            .property("status", sample.status)
            .property("requestId", sample.request_id);
        if let Some(app) = sample.app {
            doc = doc.dimension(Dimension::App, app);
        }
        self.publish(&doc);
    }

    /// A sign-in event of an app.
    pub fn auth(&self, event: AuthEvent, app: &str, request_id: &str) {
        let doc = self
            .document(Family::Auth, true)
            .value(event.metric(), 1.0)
            .dimension(Dimension::App, app)
            .property("requestId", request_id);
        self.publish(&doc);
    }

    /// Realtime activity of an app (lags beyond one document's limit go in further lines).
    pub fn realtime(&self, app: &str, activity: &RealtimeActivity) {
        let count = |n: u64| n as f64;
        let mut doc = self
            .document(Family::Realtime, true)
            .dimension(Dimension::App, app);
        for (metric, n) in [
            (&catalog::CONNECTIONS, activity.connections),
            (&catalog::DELIVERIES, activity.deliveries),
            (&catalog::GONE_CONNECTIONS, activity.gone),
        ] {
            if n > 0 {
                doc = doc.value(metric, count(n));
            }
        }
        let mut lags = chunks(&activity.lag_ms);
        if let Some(first) = lags.next() {
            doc = doc.values(&catalog::FAN_OUT_LAG, first);
        }
        self.publish(&doc);
        for more in lags {
            let doc = self
                .document(Family::Realtime, true)
                .dimension(Dimension::App, app)
                .values(&catalog::FAN_OUT_LAG, more);
            self.publish(&doc);
        }
    }

    /// A new execution environment of `function`, `init_ms` after the process started.
    pub fn cold_start(&self, function: &str, init_ms: f64) {
        let doc = self
            .document(Family::Runtime, false)
            .dimension(Dimension::Function, function)
            .value(&catalog::COLD_STARTS, 1.0)
            .property("initMs", init_ms);
        self.publish(&doc);
    }
}
