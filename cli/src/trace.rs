//! `-v`: one line on standard error for every AWS call obctl makes; `-vv` adds each attempt.
//!
//! An SDK interceptor registered on every client `crate::aws::Aws` builds:
//! service, operation, HTTP status (or what failed before a response),
//! duration and the request id AWS support asks for. `-vv` adds the endpoint
//! and method of each attempt, so retries and throttling are visible.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use crate::aws::root_cause;
use crate::terminal::{Style, Terminal};

/// Where trace lines go.
#[derive(Clone)]
pub enum Sink {
    Stderr,
    /// Tests read the lines back.
    Memory(Arc<Mutex<Vec<String>>>),
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Stderr => "Stderr",
            Self::Memory(_) => "Memory",
        })
    }
}

/// The interceptor: prints when `verbosity` is at least 1.
#[derive(Debug, Clone)]
pub struct CallTrace {
    verbosity: u8,
    color: bool,
    sink: Sink,
}

#[derive(Debug, Clone, Copy)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, Clone, Copy)]
struct Attempt {
    number: u32,
    started: Instant,
}

impl Storable for Attempt {
    type Storer = StoreReplace<Self>;
}

/// Request ids as the services name them (S3 uses its own header).
const REQUEST_ID_HEADERS: [&str; 3] = ["x-amzn-requestid", "x-amz-request-id", "x-amzn-request-id"];

fn request_id(response: &Response) -> Option<&str> {
    REQUEST_ID_HEADERS
        .iter()
        .find_map(|h| response.headers().get(*h))
}

/// The error code JSON and CBOR services send as a header (`Code:extra` → `Code`).
fn error_type(response: &Response) -> Option<&str> {
    let value = response.headers().get("x-amzn-errortype")?;
    Some(value.split(':').next().unwrap_or(value))
}

fn millis(since: Instant) -> String {
    format!("{} ms", since.elapsed().as_millis())
}

impl CallTrace {
    /// For this run's `-v` and colour decisions, printing to standard error.
    pub fn for_terminal() -> Self {
        let terminal = Terminal::current();
        Self {
            verbosity: terminal.verbosity,
            color: terminal.color_stderr,
            sink: Sink::Stderr,
        }
    }

    /// Lines kept in memory (tests).
    pub fn recording(verbosity: u8) -> (Self, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let trace = Self {
            verbosity,
            color: false,
            sink: Sink::Memory(lines.clone()),
        };
        (trace, lines)
    }

    /// Whether the interceptor has anything to do (clients skip it otherwise).
    pub fn enabled(&self) -> bool {
        self.verbosity > 0
    }

    /// `-vv`: where the calls go, once per command.
    pub fn settings(&self, region: &str, endpoint: Option<&str>, profile: Option<&str>) {
        if self.verbosity >= 2 {
            let line = format!(
                "aws   region {region}, endpoint {}, profile {}",
                endpoint.unwrap_or("the region's default"),
                profile.unwrap_or("from the environment")
            );
            self.emit(Style::Dim.paint(self.color, &line));
        }
    }

    fn emit(&self, line: String) {
        match &self.sink {
            Sink::Stderr => eprintln!("{line}"),
            Sink::Memory(lines) => {
                if let Ok(mut lines) = lines.lock() {
                    lines.push(line);
                }
            }
        }
    }

    fn operation(&self, cfg: &ConfigBag) -> String {
        let name = cfg.load::<Metadata>().map_or_else(
            || "?.?".to_owned(),
            |m| format!("{}.{}", m.service(), m.name()),
        );
        Style::Bold.paint(self.color, &name)
    }

    /// How an attempt or a call ended: the HTTP status (and error type), or what
    /// failed before any response.
    fn outcome(&self, context: &FinalizerInterceptorContextRef<'_>) -> String {
        let failure = context
            .output_or_error()
            .and_then(Result::err)
            .filter(|_| context.response().is_none())
            .map(|e| format!("{e}: {}", root_cause(e)));
        match (context.response(), failure) {
            (Some(r), _) => {
                let code = r.status().as_u16();
                let mut text = code.to_string();
                if let Some(kind) = error_type(r) {
                    text = format!("{text} {kind}");
                }
                let style = if code < 400 { Style::Green } else { Style::Red };
                style.paint(self.color, &text)
            }
            (None, Some(failure)) => {
                Style::Red.paint(self.color, &format!("no response ({failure})"))
            }
            (None, None) => Style::Red.paint(self.color, "no response"),
        }
    }
}

impl Intercept for CallTrace {
    fn name(&self) -> &'static str {
        "obctl::trace::CallTrace"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let number = cfg.load::<Attempt>().map_or(1, |a| a.number + 1);
        cfg.interceptor_state().store_put(Attempt {
            number,
            started: Instant::now(),
        });
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.verbosity >= 2 {
            let number = cfg.load::<Attempt>().map_or(1, |a| a.number);
            let request = context.request();
            let line = format!(
                "aws   {} attempt {number}: {} {}",
                self.operation(cfg),
                request.method(),
                request.uri()
            );
            self.emit(Style::Dim.paint(self.color, &line));
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.verbosity >= 2 {
            let attempt = cfg.load::<Attempt>().copied();
            let line = format!(
                "aws   {} attempt {}: {} in {}",
                self.operation(cfg),
                attempt.map_or(1, |a| a.number),
                self.outcome(context),
                attempt.map_or_else(String::new, |a| millis(a.started)),
            );
            self.emit(line);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        let took = cfg
            .load::<Started>()
            .map_or_else(String::new, |s| millis(s.0));
        let attempts = cfg.load::<Attempt>().map_or(1, |a| a.number);
        let mut line = format!(
            "aws {} {} {}",
            self.operation(cfg),
            self.outcome(context),
            Style::Dim.paint(self.color, &took)
        );
        if let Some(id) = response.and_then(request_id) {
            line.push_str(&format!(" request-id={id}"));
        }
        if attempts > 1 {
            line.push_str(&Style::Yellow.paint(self.color, &format!(" ({attempts} attempts)")));
        }
        self.emit(line);
        Ok(())
    }
}
