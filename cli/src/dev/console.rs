//! What `obctl dev` prints while it runs: one line per invocation, each function's own log lines prefixed with its
//! name (EMF metric lines aside: `/_dev/metrics` counts them), instances starting and stopping (with the stderr of
//! one that died).

use std::collections::BTreeMap;
use std::time::Duration;

use ob_local::{Event, EventBus, Stream};
use tokio::sync::broadcast::error::RecvError;

/// Width of the function column.
const NAME: usize = 8;

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// One event as console lines (several for a stopped instance's stderr).
pub fn lines(event: &Event, pids: &mut BTreeMap<(String, u32), u32>) -> Vec<String> {
    match event {
        Event::Invoked(report) => {
            let mut line = format!(
                "{:<NAME$} {}  {}  {}",
                report.function,
                report.trigger,
                report.result,
                ms(report.duration)
            );
            if let Some(init) = report.init {
                line.push_str(&format!("  (cold start, init {})", ms(init)));
            }
            vec![line]
        }
        // Metrics are read at `/_dev/metrics`, not as a JSON line per request.
        Event::Log(log) if log.stream == Stream::Stdout && super::metrics::is_emf(&log.text) => {
            Vec::new()
        }
        Event::Log(log) if let Some(line) = webhook_attempt(&log.text) => {
            vec![format!("{:<NAME$}> {line}", log.function)]
        }
        Event::Log(log) => {
            let mark = if log.stream == Stream::Stderr {
                '!'
            } else {
                '|'
            };
            vec![format!("{:<NAME$}{mark} {}", log.function, log.text)]
        }
        Event::InstanceStarted {
            function,
            instance,
            pid,
        } => {
            if let Some(pid) = pid {
                pids.insert((function.clone(), *instance), *pid);
            }
            Vec::new()
        }
        Event::InstanceReady {
            function,
            instance,
            init,
        } => {
            let pid = pids
                .get(&(function.clone(), *instance))
                .map_or_else(String::new, |p| format!(", pid {p}"));
            vec![format!(
                "{function:<NAME$} instance {instance} ready (init {}{pid})",
                ms(*init)
            )]
        }
        Event::InstanceStopped {
            function,
            instance,
            reason,
            stderr,
        } => {
            pids.remove(&(function.clone(), *instance));
            let mut out = vec![format!(
                "{function:<NAME$} instance {instance} stopped: {reason}"
            )];
            if !stderr.is_empty() {
                out.push(format!("{:<NAME$} its last stderr lines:", ""));
                out.extend(stderr.iter().map(|l| format!("{:<NAME$}   {l}", "")));
            }
            out
        }
        Event::RecordsDiscarded {
            mapping,
            count,
            reason,
            sent_to,
        } => vec![match sent_to {
            Some(queue) => {
                format!("{mapping}: discarded {count} record(s): {reason}; described in {queue}")
            }
            None => format!("{mapping}: discarded {count} record(s): {reason}"),
        }],
        Event::SourceError { mapping, problem } => vec![format!("{mapping}: {problem}")],
    }
}

/// The webhooks function's line after an attempt, as one readable line:
/// `sub_… data.created → 500 in 12 ms (attempt 1: retry 2 due at …)`.
fn webhook_attempt(text: &str) -> Option<String> {
    if !text.starts_with('{') {
        return None;
    }
    let line: serde_json::Value = serde_json::from_str(text).ok()?;
    let fields = &line["fields"];
    if fields["message"] != ob_core::webhooks::worker::ATTEMPT_LOG_MESSAGE {
        return None;
    }
    let text = |name: &str| fields[name].as_str().unwrap_or("?").to_owned();
    let error = fields["error"].as_str().filter(|e| !e.is_empty());
    Some(format!(
        "{} {} → {} in {} ms{} (attempt {}: {})",
        text("subscription"),
        text("event_type"),
        text("status"),
        fields["duration_ms"].as_u64().unwrap_or_default(),
        error.map_or_else(String::new, |e| format!(", {e}")),
        fields["attempt"].as_u64().unwrap_or_default(),
        text("outcome"),
    ))
}

/// Prints a line; a closed stdout (the reader went away) is not an error worth dying for.
pub fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Prints every event until the bus closes.
pub fn spawn(events: &EventBus) -> tokio::task::JoinHandle<()> {
    let mut receiver = events.subscribe();
    tokio::spawn(async move {
        let mut pids = BTreeMap::new();
        loop {
            match receiver.recv().await {
                Ok(event) => {
                    for line in lines(&event, &mut pids) {
                        say(&line);
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    say(&format!(
                        "({missed} lines not shown: the console fell behind)"
                    ));
                }
                Err(RecvError::Closed) => break,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ob_local::InvocationReport;

    #[test]
    fn invocations_show_function_route_status_duration_and_cold_start() {
        let mut pids = BTreeMap::new();
        let report = Event::Invoked(InvocationReport {
            function: "auth".into(),
            trigger: "POST /auth/register (ANY /auth/{proxy+})".into(),
            result: "201".into(),
            request_id: "r".into(),
            duration: Duration::from_micros(12_340),
            init: Some(Duration::from_millis(85)),
        });
        assert_eq!(
            lines(&report, &mut pids),
            [
                "auth     POST /auth/register (ANY /auth/{proxy+})  201  12.3 ms  (cold start, init 85.0 ms)"
            ]
        );
        let started = Event::InstanceStarted {
            function: "auth".into(),
            instance: 1,
            pid: Some(42),
        };
        assert!(lines(&started, &mut pids).is_empty());
        let ready = Event::InstanceReady {
            function: "auth".into(),
            instance: 1,
            init: Duration::from_millis(85),
        };
        assert_eq!(
            lines(&ready, &mut pids),
            ["auth     instance 1 ready (init 85.0 ms, pid 42)"]
        );
        let log = Event::Log(ob_local::LogLine {
            function: "data".into(),
            instance: 1,
            stream: Stream::Stdout,
            text: "{\"level\":\"INFO\"}".into(),
        });
        assert_eq!(lines(&log, &mut pids), ["data    | {\"level\":\"INFO\"}"]);
        let recorder = ob_metrics::Recorder::default();
        ob_metrics::Metrics::new(
            "local",
            ob_metrics::HttpDetail::AppTotals,
            std::sync::Arc::new(recorder.clone()),
        )
        .cold_start("data", 5.0);
        let emf = Event::Log(ob_local::LogLine {
            function: "data".into(),
            instance: 1,
            stream: Stream::Stdout,
            text: recorder.lines().remove(0),
        });
        assert!(
            lines(&emf, &mut pids).is_empty(),
            "EMF lines are counted, not printed"
        );
    }

    #[test]
    fn webhook_attempts_are_one_readable_line() {
        let mut pids = BTreeMap::new();
        let attempt = serde_json::json!({"level": "INFO", "target": "ob_webhooks", "fields": {
            "message": ob_core::webhooks::worker::ATTEMPT_LOG_MESSAGE, "app_id": "demo",
            "subscription": "sub_1", "event_type": "data.created", "delivery": "d1",
            "webhook_id": "evt_9", "attempt": 1, "status": "500", "error": "",
            "duration_ms": 12, "outcome": "retry 2 due at 2027-01-01T00:00:05Z"}});
        let log = Event::Log(ob_local::LogLine {
            function: "webhooks".into(),
            instance: 1,
            stream: Stream::Stdout,
            text: attempt.to_string(),
        });
        assert_eq!(
            lines(&log, &mut pids),
            [
                "webhooks> sub_1 data.created → 500 in 12 ms (attempt 1: retry 2 due at 2027-01-01T00:00:05Z)"
            ]
        );
    }
}
