//! `obctl metrics` against the emulator's CloudWatch, fed what CloudWatch
//! extracts from the functions' EMF lines, and against recorded CloudWatch
//! answers for what the emulator does not do (several periods, pagination).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_smithy_http_client::test_util::StaticReplayClient;
use aws_smithy_types::DateTime;
use ob_metrics::{
    AuthEvent, HttpDetail, Metrics, RealtimeActivity, Recorder, RequestSample, Route,
};
use ob_tests::obctl::obctl;
use serde_json::Value;

use crate::replay;

/// What CloudWatch Logs does with an EMF line: one datum per metric and dimension set.
fn extracted(line: &str) -> Vec<(String, MetricDatum)> {
    let record = ob_metrics::parse_line(line).unwrap().expect("EMF");
    let mut data = Vec::new();
    for directive in &record.directives {
        for set in &directive.dimension_sets {
            for metric in &directive.metrics {
                let mut datum = MetricDatum::builder()
                    .metric_name(&metric.name)
                    .unit(StandardUnit::from(metric.unit.as_str()))
                    .timestamp(DateTime::from_millis(
                        i64::try_from(record.timestamp_ms).unwrap(),
                    ))
                    .set_values(Some(metric.values.clone()));
                for (name, value) in set {
                    datum = datum.dimensions(Dimension::builder().name(name).value(value).build());
                }
                data.push((directive.namespace.clone(), datum.build()));
            }
        }
    }
    data
}

async fn publish(cloudwatch: &aws_sdk_cloudwatch::Client, lines: &[String]) {
    for (namespace, datum) in lines.iter().flat_map(|l| extracted(l)) {
        cloudwatch
            .put_metric_data()
            .namespace(namespace)
            .metric_data(datum)
            .send()
            .await
            .unwrap();
    }
}

/// The lines the functions of stage `local` print for some traffic.
fn traffic(detail: HttpDetail) -> Vec<String> {
    let lines = Recorder::default();
    let metrics = Metrics::new("local", detail, Arc::new(lines.clone()));
    let login = Route::http("POST", "/auth/login");
    let list = Route::http("GET", "/api/{appId}/{resource}");
    let health = Route::http("GET", "/health");
    let requests: [(&Route, Option<&str>, u16, f64); 8] = [
        (&login, Some("shop"), 200, 80.0),
        (&login, Some("shop"), 401, 60.0),
        (&login, Some("blog"), 500, 900.0),
        (&list, Some("shop"), 200, 10.0),
        (&list, Some("shop"), 200, 20.0),
        (&list, Some("shop"), 200, 30.0),
        (&list, Some("blog"), 404, 5.0),
        (&health, None, 200, 1.0),
    ];
    for (route, app, status, latency_ms) in requests {
        metrics.request(&RequestSample {
            route,
            app,
            status,
            latency_ms,
            request_id: "r",
        });
    }
    metrics.auth(AuthEvent::Login, "shop", "r");
    metrics.auth(AuthEvent::LoginFailure, "shop", "r");
    metrics.auth(AuthEvent::LockOut, "blog", "r");
    metrics.realtime(
        "shop",
        &RealtimeActivity {
            connections: 2,
            deliveries: 9,
            gone: 1,
            lag_ms: vec![100.0, 300.0],
        },
    );
    lines.lines()
}

fn row<'a>(rows: &'a Value, key: &str, name: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r[key] == name)
        .unwrap_or_else(|| panic!("no {key} {name} in {rows}"))
}

#[tokio::test]
async fn routes_apps_error_rates_and_percentiles_from_cloudwatch() {
    let emu = ob_tests::emulator().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&emu.sdk_config().await);
    publish(&cloudwatch, &traffic(HttpDetail::AppTotals)).await;

    let run = obctl(
        &emu,
        &[
            "metrics", "--stage", "local", "--since", "1h", "--output", "json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["stage"], "local");
    assert_eq!(summary["periodSeconds"].as_i64().unwrap() % 60, 0);
    let total = &summary["total"];
    assert_eq!(
        (
            total["requests"].as_f64(),
            total["clientErrors"].as_f64(),
            total["serverErrors"].as_f64()
        ),
        (Some(8.0), Some(2.0), Some(1.0))
    );
    assert_eq!(total["errorRate"], 0.125);
    assert_eq!(total["p50Ms"], 20.0, "nearest rank of 8 latencies");
    assert_eq!(total["p99Ms"], 900.0);

    let routes = &summary["routes"];
    assert_eq!(
        routes[0]["route"], "GET /api/{appId}/{resource}",
        "busiest first: {routes}"
    );
    let login = row(routes, "route", "POST /auth/login");
    assert_eq!(
        (login["requests"].as_f64(), login["serverErrors"].as_f64()),
        (Some(3.0), Some(1.0))
    );
    assert!((login["errorRate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(login["p99Ms"], 900.0);
    assert_eq!(row(routes, "route", "GET /health")["requests"], 1.0);

    let apps = &summary["apps"];
    assert_eq!(
        apps.as_array().unwrap().len(),
        2,
        "requests without a key have no app: {apps}"
    );
    let shop = row(apps, "app", "shop");
    assert_eq!(
        (
            shop["requests"].as_f64(),
            shop["clientErrors"].as_f64(),
            shop["p50Ms"].as_f64()
        ),
        (Some(5.0), Some(1.0), Some(30.0))
    );
    assert_eq!(row(apps, "app", "blog")["serverErrors"], 1.0);

    assert_eq!(summary["signIns"]["logins"], 1.0);
    assert_eq!(summary["signIns"]["loginFailures"], 1.0);
    assert_eq!(summary["signIns"]["lockOuts"], 1.0);
    assert_eq!(summary["realtime"]["deliveries"], 9.0);
    assert_eq!(summary["realtime"]["goneConnections"], 1.0);
    assert_eq!(summary["realtime"]["fanOutLagP99Ms"], 300.0);

    let text = obctl(&emu, &["metrics", "--stage", "local"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(lines[0].starts_with("stage local, "), "{}", text.stdout);
    assert!(
        lines[2].starts_with("ROUTE")
            && lines[2].ends_with("REQUESTS     4XX     5XX  ERROR RATE    P50 MS    P99 MS"),
        "{}",
        text.stdout
    );
    let login = lines
        .iter()
        .find(|l| l.starts_with("POST /auth/login"))
        .unwrap();
    let columns: Vec<&str> = login.split_whitespace().collect();
    assert_eq!(
        &columns[2..],
        ["3", "1", "1", "33.33%", "80.0", "900.0"],
        "{login}"
    );
    assert!(
        text.stdout
            .contains("sign-ins (stage): 1 logins, 1 failures, 1 lock-outs, 0 registrations")
    );

    // One app: its totals; its routes need the stage's opt-in.
    let shop = obctl(
        &emu,
        &[
            "metrics", "--stage", "local", "--app", "shop", "--output", "json",
        ],
    )
    .json();
    assert_eq!(shop["total"]["requests"], 5.0);
    assert_eq!(shop["routes"], serde_json::json!([]));
    assert!(
        shop["notes"][0]
            .as_str()
            .unwrap()
            .contains("metrics.perAppRoutes: true"),
        "{shop}"
    );
}

#[tokio::test]
async fn an_app_s_routes_when_the_stage_publishes_them() {
    let emu = ob_tests::emulator().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&emu.sdk_config().await);
    publish(&cloudwatch, &traffic(HttpDetail::AppRoutes)).await;
    let shop = obctl(
        &emu,
        &[
            "metrics", "--stage", "local", "--app", "shop", "--output", "json",
        ],
    )
    .json();
    let routes = &shop["routes"];
    assert_eq!(routes.as_array().unwrap().len(), 2, "{routes}");
    assert_eq!(
        row(routes, "route", "GET /api/{appId}/{resource}")["requests"],
        3.0
    );
    assert_eq!(
        row(routes, "route", "POST /auth/login")["clientErrors"],
        1.0
    );
    assert_eq!(shop["apps"], serde_json::json!([]));

    let bad = obctl(
        &emu,
        &["metrics", "--stage", "local", "--app", "Not An App"],
    );
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("--app Not An App:"), "{}", bad.stderr);
    let empty = obctl(&emu, &["metrics", "--stage", "dev", "--output", "json"]).json();
    assert_eq!(empty["total"]["requests"], 0.0);
    assert!(
        empty["notes"][0]
            .as_str()
            .unwrap()
            .contains("no requests recorded"),
        "{empty}"
    );
}

/// CloudWatch's CBOR answers (rpc-v2-cbor), as recorded.
mod cbor {
    use aws_smithy_cbor::Encoder;
    use aws_smithy_types::DateTime;

    /// A ListMetrics page: `[(name, value)]` dimension sets of `Requests`.
    pub fn list_metrics(sets: &[&[(&str, &str)]], next: Option<&str>) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        e.map(if next.is_some() { 2 } else { 1 })
            .str("Metrics")
            .array(sets.len());
        for set in sets {
            e.map(3)
                .str("Namespace")
                .str("OneBackend")
                .str("MetricName")
                .str("Requests");
            e.str("Dimensions").array(set.len());
            for (name, value) in *set {
                e.map(2).str("Name").str(name).str("Value").str(value);
            }
        }
        if let Some(token) = next {
            e.str("NextToken").str(token);
        }
        e.into_writer()
    }

    /// A GetMetricData page: `(id, [(epoch seconds, value)])` per query.
    pub fn metric_data(results: &[(&str, &[(i64, f64)])], next: Option<&str>) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        e.map(if next.is_some() { 3 } else { 2 })
            .str("MetricDataResults")
            .array(results.len());
        for (id, points) in results {
            e.map(5).str("Id").str(id).str("Label").str(id);
            e.str("Timestamps").array(points.len());
            for (at, _) in *points {
                e.timestamp(&DateTime::from_secs(*at));
            }
            e.str("Values").array(points.len());
            for (_, v) in *points {
                e.double(*v);
            }
            e.str("StatusCode").str(if next.is_some() {
                "PartialData"
            } else {
                "Complete"
            });
        }
        e.str("Messages").array(0);
        if let Some(token) = next {
            e.str("NextToken").str(token);
        }
        e.into_writer()
    }
}

/// A window CloudWatch answers in two periods, over two pages of each call:
/// sums add up, a percentile keeps the highest period's value.
#[tokio::test]
async fn several_periods_and_pages_as_cloudwatch_returns_them() {
    let headers = [
        ("content-type", "application/cbor"),
        ("smithy-protocol", "rpc-v2-cbor"),
    ];
    let answer = |body: Vec<u8>| {
        replay::answer(
            "https://monitoring.eu-west-1.amazonaws.com/",
            200,
            &headers,
            body,
        )
    };
    let route = [("Stage", "prod"), ("Route", "GET /health")];
    let app = [("Stage", "prod"), ("App", "shop")];
    let other_set = [("Stage", "prod"), ("App", "shop"), ("Route", "GET /health")];
    let t = 1_800_000_000;
    let http = StaticReplayClient::new(vec![
        // Routes: two pages; a set with more dimensions is not a route row.
        answer(cbor::list_metrics(&[&route[..]], Some("page-2"))),
        answer(cbor::list_metrics(&[&other_set[..]], None)),
        // Apps.
        answer(cbor::list_metrics(&[&app[..]], None)),
        // Queries are numbered in the order obctl asks: the stage's 5, the route's 5, the app's 5, then sign-ins and realtime.
        answer(cbor::metric_data(
            &[
                ("q0_0", &[(t, 10.0)]),
                ("q0_5", &[(t, 4.0)]),
                ("q0_8", &[(t, 120.0)]),
            ],
            Some("data-2"),
        )),
        answer(cbor::metric_data(
            &[
                ("q0_0", &[(t + 3600, 5.0)]),
                ("q0_5", &[(t + 3600, 6.0)]),
                ("q0_9", &[(t, 300.0), (t + 3600, 250.0)]),
            ],
            None,
        )),
    ]);
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&replay::sdk_config(&http));
    let project = crate::render::project();
    let args = obctl::args::MetricsArgs {
        target: obctl::args::StageArgs {
            stage: "prod".into(),
            aws: Default::default(),
        },
        app: None,
        since: "2h".into(),
    };
    let plan = obctl::observe::metrics::MetricsPlan::new(&args, &project, t + 7200).unwrap();
    let summary = obctl::observe::metrics::summarize(&cloudwatch, &plan)
        .await
        .unwrap();
    assert_eq!(
        summary.total.requests, 15.0,
        "summed over both periods and pages"
    );
    assert_eq!(summary.routes.len(), 1);
    assert_eq!(summary.routes[0].route, "GET /health");
    assert_eq!(summary.routes[0].traffic.requests, 10.0);
    assert_eq!(
        summary.routes[0].traffic.p99_ms,
        Some(300.0),
        "the highest period's p99"
    );
    assert_eq!(summary.apps[0].app, "shop");
    assert_eq!(summary.realtime.connections, 0.0);
    let requests = http.actual_requests().count();
    assert_eq!(
        requests, 5,
        "three ListMetrics pages and two GetMetricData pages"
    );
    for request in http.actual_requests() {
        assert_eq!(
            request.headers().get("smithy-protocol"),
            Some("rpc-v2-cbor")
        );
    }
}
