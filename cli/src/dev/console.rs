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
}
