//! The documents the functions write, read back through the specification's rules.

use std::sync::Arc;

use serde_json::json;

use crate::catalog::{HttpDetail, Route};
use crate::emit::{AuthEvent, Metrics, RealtimeActivity, Recorder, RequestSample};
use crate::parse::{Record, parse_line};
use crate::prometheus::Registry;

fn recorded(detail: HttpDetail) -> (Metrics, Recorder) {
    let recorder = Recorder::default();
    (
        Metrics::new("dev", detail, Arc::new(recorder.clone())),
        recorder,
    )
}

fn parsed(line: &str) -> Record {
    parse_line(line)
        .unwrap_or_else(|err| panic!("invalid EMF ({err}): {line}"))
        .unwrap_or_else(|| panic!("not an EMF document: {line}"))
}

fn sets(record: &Record) -> Vec<Vec<(String, String)>> {
    record.directives[0].dimension_sets.clone()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn value(record: &Record, metric: &str) -> Vec<f64> {
    record.directives[0]
        .metrics
        .iter()
        .find(|m| m.name == metric)
        .map(|m| m.values.clone())
        .unwrap_or_default()
}

#[test]
fn a_request_is_counted_by_stage_route_and_key_app() {
    let (metrics, lines) = recorded(HttpDetail::AppTotals);
    let route = Route::http("GET", "/api/{appId}/{resource}");
    metrics.request(&RequestSample {
        route: &route,
        app: Some("shop"),
        status: 404,
        latency_ms: 12.5,
        request_id: "req-1",
    });
    let lines = lines.lines();
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("{\"_aws\":"), "{}", lines[0]);
    let record = parsed(&lines[0]);
    let now = crate::emf::now_ms();
    assert!(now - record.timestamp_ms < 60_000);
    assert_eq!(record.directives[0].namespace, "OneBackend");
    let route = ("Route", "GET /api/{appId}/{resource}");
    assert_eq!(
        sets(&record),
        vec![
            pairs(&[("Stage", "dev")]),
            pairs(&[("Stage", "dev"), route]),
            pairs(&[("Stage", "dev"), ("App", "shop")]),
        ]
    );
    assert_eq!(value(&record, "Requests"), [1.0]);
    assert_eq!(value(&record, "4xx"), [1.0]);
    assert_eq!(value(&record, "5xx"), [0.0]);
    assert_eq!(value(&record, "Latency"), [12.5]);
    let units: Vec<_> = record.directives[0]
        .metrics
        .iter()
        .map(|m| m.unit.as_str())
        .collect();
    assert_eq!(units, ["Count", "Count", "Count", "Milliseconds"]);
    assert_eq!(record.text("requestId"), Some("req-1"));
}

#[test]
fn requests_without_a_verified_key_only_count_toward_stage_and_route() {
    let (metrics, lines) = recorded(HttpDetail::AppRoutes);
    let route = Route::unmatched();
    metrics.request(&RequestSample {
        route: &route,
        app: None,
        status: 500,
        latency_ms: 3.0,
        request_id: "r",
    });
    let record = parsed(&lines.lines()[0]);
    assert_eq!(sets(&record).len(), 2);
    assert_eq!(record.text("App"), None);
    assert_eq!(value(&record, "5xx"), [1.0]);
}

#[test]
fn per_app_routes_add_one_set_when_the_stage_opts_in() {
    let (metrics, lines) = recorded(HttpDetail::AppRoutes);
    let route = Route::http("POST", "/auth/login");
    metrics.request(&RequestSample {
        route: &route,
        app: Some("shop"),
        status: 200,
        latency_ms: 1.0,
        request_id: "r",
    });
    let record = parsed(&lines.lines()[0]);
    assert_eq!(
        sets(&record).last(),
        Some(&pairs(&[
            ("Stage", "dev"),
            ("App", "shop"),
            ("Route", "POST /auth/login")
        ]))
    );
}

#[test]
fn auth_and_realtime_are_by_stage_with_the_app_as_a_property() {
    let (metrics, lines) = recorded(HttpDetail::AppRoutes);
    metrics.auth(AuthEvent::LockOut, "shop", "req-9");
    let lag: Vec<f64> = (0..250).map(f64::from).collect();
    metrics.realtime(
        "shop",
        &RealtimeActivity {
            connections: 0,
            deliveries: 7,
            gone: 2,
            lag_ms: lag.clone(),
        },
    );
    let lines = lines.lines();
    assert_eq!(
        lines.len(),
        4,
        "one auth line, three realtime lines for 250 lags"
    );
    let auth = parsed(&lines[0]);
    assert_eq!(sets(&auth), vec![pairs(&[("Stage", "dev")])]);
    assert_eq!(value(&auth, "LockOuts"), [1.0]);
    assert_eq!(auth.text("App"), Some("shop"));
    let realtime: Vec<Record> = lines[1..].iter().map(|l| parsed(l)).collect();
    assert_eq!(value(&realtime[0], "Deliveries"), [7.0]);
    assert_eq!(value(&realtime[0], "GoneConnections"), [2.0]);
    assert!(
        value(&realtime[0], "Connections").is_empty(),
        "zero counts are left out"
    );
    let lags: Vec<f64> = realtime
        .iter()
        .flat_map(|r| value(r, "FanOutLag"))
        .collect();
    assert_eq!(lags, lag);
    assert!(realtime.iter().all(|r| value(r, "FanOutLag").len() <= 100));
}

#[test]
fn a_cold_start_is_by_stage_and_function() {
    let (metrics, lines) = recorded(HttpDetail::AppTotals);
    metrics.cold_start("auth", 42.0);
    let record = parsed(&lines.lines()[0]);
    assert_eq!(
        sets(&record),
        vec![pairs(&[("Stage", "dev"), ("Function", "auth")])]
    );
    assert_eq!(value(&record, "ColdStarts"), [1.0]);
}

#[test]
fn the_specification_example_parses() {
    let line = r#"{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"lambda-function-metrics","Dimensions":[["functionVersion"]],"Metrics":[{"Name":"time","Unit":"Milliseconds"}]}]},"functionVersion":"$LATEST","time":100,"requestId":"989ffbf8-9ace-4817-a57c-e4dd734019ee"}"#;
    let record = parsed(line);
    assert_eq!(record.timestamp_ms, 1_574_109_732_004);
    assert_eq!(value(&record, "time"), [100.0]);
    assert_eq!(
        sets(&record),
        vec![pairs(&[("functionVersion", "$LATEST")])]
    );
}

#[test]
fn ordinary_log_lines_are_not_documents() {
    for line in [
        "START RequestId: 1 Version: $LATEST",
        r#"{"level":"INFO","fields":{"message":"hello"}}"#,
        "[1, 2]",
        "",
    ] {
        assert_eq!(parse_line(line), Ok(None), "{line}");
    }
}

/// Breaks one rule of a valid document.
type Breaker = Box<dyn Fn(&mut serde_json::Value)>;

#[test]
fn documents_breaking_the_specification_are_refused_naming_the_member() {
    let base = || {
        json!({
            "_aws": {"Timestamp": 1, "CloudWatchMetrics": [{
                "Namespace": "N", "Dimensions": [["D"]], "Metrics": [{"Name": "M", "Unit": "Count"}]
            }]},
            "D": "d", "M": 1
        })
    };
    assert!(parse_line(&base().to_string()).is_ok_and(|r| r.is_some()));
    let many_keys: Vec<String> = (0..31).map(|i| format!("K{i}")).collect();
    let many_metrics: Vec<serde_json::Value> =
        (0..101).map(|i| json!({"Name": format!("M{i}")})).collect();
    let cases: Vec<(&str, Breaker)> = vec![
        (
            "_aws.Timestamp",
            Box::new(|d| {
                d["_aws"].as_object_mut().unwrap().remove("Timestamp");
            }),
        ),
        (
            "_aws.Timestamp",
            Box::new(|d| d["_aws"]["Timestamp"] = json!("now")),
        ),
        (
            "_aws.CloudWatchMetrics",
            Box::new(|d| d["_aws"]["CloudWatchMetrics"] = json!({})),
        ),
        (
            "_aws.CloudWatchMetrics[0].Namespace",
            Box::new(|d| d["_aws"]["CloudWatchMetrics"][0]["Namespace"] = json!("")),
        ),
        (
            "_aws.CloudWatchMetrics[0].Dimensions",
            Box::new(|d| d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([])),
        ),
        (
            "_aws.CloudWatchMetrics[0].Dimensions[0][0]",
            Box::new(|d| {
                d.as_object_mut().unwrap().remove("D");
            }),
        ),
        (
            "_aws.CloudWatchMetrics[0].Dimensions[0][0]",
            Box::new(|d| d["D"] = json!(5)),
        ),
        (
            "_aws.CloudWatchMetrics[0].Dimensions[0]",
            Box::new(move |d| {
                d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([many_keys.clone()]);
            }),
        ),
        (
            "_aws.CloudWatchMetrics[0].Metrics",
            Box::new(move |d| {
                d["_aws"]["CloudWatchMetrics"][0]["Metrics"] = json!(many_metrics.clone());
            }),
        ),
        (
            "_aws.CloudWatchMetrics[0].Metrics[0]",
            Box::new(|d| d["M"] = json!("1")),
        ),
        (
            "_aws.CloudWatchMetrics[0].Metrics[0]",
            Box::new(|d| d["M"] = json!((0..101).collect::<Vec<_>>())),
        ),
        (
            "_aws.CloudWatchMetrics[0].Metrics[0]",
            Box::new(|d| {
                d.as_object_mut().unwrap().remove("M");
            }),
        ),
        (
            "_aws.CloudWatchMetrics[0].Metrics[0].Unit",
            Box::new(|d| {
                d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Requests")
            }),
        ),
        (
            "_aws.CloudWatchMetrics[0].Metrics[0].StorageResolution",
            Box::new(|d| {
                d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["StorageResolution"] = json!(5)
            }),
        ),
    ];
    for (at, break_it) in cases {
        let mut doc = base();
        break_it(&mut doc);
        let err = parse_line(&doc.to_string()).expect_err(&doc.to_string());
        assert_eq!(err.at, at, "{err} for {doc}");
    }
}

#[test]
fn prometheus_text_sums_per_label_set_and_buckets_latency() {
    let (metrics, lines) = recorded(HttpDetail::AppTotals);
    let health = Route::http("GET", "/health");
    for (app, status, ms) in [
        (Some("shop"), 200, 4.0),
        (Some("shop"), 503, 30.0),
        (None, 200, 1.0),
    ] {
        metrics.request(&RequestSample {
            route: &health,
            app,
            status,
            latency_ms: ms,
            request_id: "r",
        });
    }
    metrics.auth(AuthEvent::Login, "blog", "r");
    let registry = Registry::default();
    for line in lines.lines() {
        assert_eq!(registry.ingest_line(&line), Ok(true));
    }
    assert_eq!(registry.ingest_line("plain text"), Ok(false));
    assert!(registry.ingest_line(r#"{"_aws":{}}"#).is_err());
    let text = registry.render();
    let has = |line: &str| {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        )
    };
    has("# TYPE one_backend_requests_total counter");
    has(r#"one_backend_requests_total{app="shop",route="GET /health",stage="dev"} 2"#);
    has(r#"one_backend_requests_total{route="GET /health",stage="dev"} 1"#);
    has(r#"one_backend_5xx_total{app="shop",route="GET /health",stage="dev"} 1"#);
    has("# TYPE one_backend_latency_milliseconds histogram");
    has(
        r#"one_backend_latency_milliseconds_bucket{app="shop",route="GET /health",stage="dev",le="5"} 1"#,
    );
    has(
        r#"one_backend_latency_milliseconds_bucket{app="shop",route="GET /health",stage="dev",le="50"} 2"#,
    );
    has(
        r#"one_backend_latency_milliseconds_bucket{app="shop",route="GET /health",stage="dev",le="+Inf"} 2"#,
    );
    has(r#"one_backend_latency_milliseconds_sum{app="shop",route="GET /health",stage="dev"} 34"#);
    has(r#"one_backend_latency_milliseconds_count{app="shop",route="GET /health",stage="dev"} 2"#);
    has(r#"one_backend_logins_total{app="blog",stage="dev"} 1"#);
    has("emf_documents_total 4");
    has("emf_rejected_total 1");
}
