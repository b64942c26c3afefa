//! `GET /_dev/metrics`: the EMF lines the functions print, counted as CloudWatch would extract them and served in Prometheus text format.
//!
//! The function processes print their metrics exactly as on Lambda (one EMF
//! line on stdout per request or event); `obctl dev` reads those lines off its
//! event bus into an [`ob_metrics::Registry`], so the numbers a developer sees
//! locally are the ones the deployed stack's dashboard and `obctl metrics` show,
//! labelled by stage, route, app and function. `--in-process` hands the same
//! registry to the API as its metrics sink.

use std::sync::Arc;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use ob_local::{Event, EventBus, Stream};
use ob_metrics::Registry;
use tokio::sync::broadcast::error::RecvError;

use super::console;

/// The endpoint, under `obctl dev`'s own prefix (`/_dev`).
pub const PATH: &str = "/metrics";

/// Prometheus' text exposition format, version 0.0.4.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether a function's output line is an EMF document (counted, not printed).
pub fn is_emf(line: &str) -> bool {
    matches!(ob_metrics::parse_line(line), Ok(Some(_)))
}

/// Counts every EMF line the functions print on stdout into `registry` until
/// the bus closes. Subscribe before the functions start, so their cold starts count.
pub fn collect(events: &EventBus, registry: Arc<Registry>) -> tokio::task::JoinHandle<()> {
    let mut receiver = events.subscribe();
    tokio::spawn(async move {
        loop {
            match receiver.recv().await {
                Ok(Event::Log(log)) if log.stream == Stream::Stdout => {
                    // A broken document is shown (the console prints the line as
                    // it is) and counted in `emf_rejected_total`, as CloudWatch
                    // would drop it.
                    if let Err(err) = registry.ingest_line(&log.text) {
                        console::say(&format!(
                            "{:<8}! the line above is not valid EMF, CloudWatch would drop it: {err}",
                            log.function
                        ));
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => console::say(&format!(
                    "/_dev/metrics fell behind and missed {missed} events: its counts are low"
                )),
                Err(RecvError::Closed) => break,
            }
        }
    })
}

/// `GET /metrics` (nested under `/_dev`): everything `registry` counted so far.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new().route(
        PATH,
        get(move || {
            let registry = Arc::clone(&registry);
            async move { ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], registry.render()) }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ob_local::LogLine;
    use ob_metrics::{HttpDetail, Metrics, RequestSample, Route};

    fn log(stream: Stream, text: &str) -> Event {
        Event::Log(LogLine {
            function: "data".into(),
            instance: 1,
            stream,
            text: text.into(),
        })
    }

    /// What a function prints for one request of `app` to `route`.
    fn request_line(app: &str, method: &str, template: &str, status: u16) -> String {
        let recorder = ob_metrics::Recorder::default();
        let metrics = Metrics::new("local", HttpDetail::AppTotals, Arc::new(recorder.clone()));
        metrics.request(&RequestSample {
            route: &Route::http(method, template),
            app: Some(app),
            status,
            latency_ms: 12.0,
            request_id: "r",
        });
        recorder.lines().remove(0)
    }

    #[tokio::test]
    async fn stdout_emf_lines_are_counted_per_app_and_route() {
        let events = EventBus::default();
        let registry = Arc::new(Registry::default());
        let task = collect(&events, Arc::clone(&registry));
        let route = "/api/{appId}/{resource}";
        events.send(log(
            Stream::Stdout,
            &request_line("shop", "GET", route, 200),
        ));
        events.send(log(
            Stream::Stdout,
            &request_line("shop", "GET", route, 404),
        ));
        events.send(log(
            Stream::Stdout,
            &request_line("blog", "GET", route, 200),
        ));
        // Not EMF, or not stdout: not counted.
        events.send(log(Stream::Stdout, r#"{"level":"INFO","message":"hi"}"#));
        events.send(log(
            Stream::Stderr,
            &request_line("blog", "GET", route, 200),
        ));
        drop(events);
        task.await.expect("the collector ends when the bus closes");
        let text = registry.render();
        let series = |app: &str| {
            format!(
                r#"one_backend_requests_total{{app="{app}",route="GET /api/{{appId}}/{{resource}}",stage="local"}}"#
            )
        };
        assert!(text.contains(&format!("{} 2\n", series("shop"))), "{text}");
        assert!(text.contains(&format!("{} 1\n", series("blog"))), "{text}");
        let errors = series("shop").replace("requests_total", "4xx_total");
        assert!(text.contains(&format!("{errors} 1\n")), "{text}");
        assert!(text.contains("emf_documents_total 3\n"), "{text}");
    }

    #[test]
    fn only_valid_emf_documents_are_kept_off_the_console() {
        assert!(is_emf(&request_line("shop", "GET", "/health", 200)));
        assert!(!is_emf(r#"{"level":"INFO","message":"_aws"}"#));
        assert!(
            !is_emf(r#"{"_aws":{}}"#),
            "an invalid document stays visible"
        );
        assert!(!is_emf("plain text"));
    }
}
