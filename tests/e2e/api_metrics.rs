//! The HTTP API's metrics through the whole router against the emulator: every
//! line a valid EMF document, with the route key, the verified key's app and
//! the sign-in events.

#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use ob_metrics::Record;
use ob_tests::fixtures::{Api, Call};
use serde_json::json;

const PASSWORD: &str = "correct horse battery";

/// Every line published since `from`, parsed by the specification's rules.
fn documents(api: &Api, from: usize) -> Vec<Record> {
    api.metrics.lines()[from..]
        .iter()
        .map(|line| {
            ob_metrics::parse_line(line)
                .unwrap_or_else(|err| panic!("invalid EMF ({err}): {line}"))
                .unwrap_or_else(|| panic!("not EMF: {line}"))
        })
        .collect()
}

fn names(record: &Record) -> Vec<&str> {
    record.directives[0]
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .collect()
}

fn value(record: &Record, name: &str) -> f64 {
    record.directives[0]
        .metrics
        .iter()
        .find(|m| m.name == name)
        .map_or(f64::NAN, |m| m.values.iter().sum())
}

fn dimension_sets(record: &Record) -> Vec<Vec<&str>> {
    record.directives[0]
        .dimension_sets
        .iter()
        .map(|set| set.iter().map(|(k, _)| k.as_str()).collect())
        .collect()
}

/// The request document of one call (the last line it published).
async fn request(api: &Api, call: Call, status: StatusCode) -> (Record, Vec<Record>) {
    let from = api.metrics.lines().len();
    api.send(call).await.expect(status);
    let mut docs = documents(api, from);
    let request = docs.pop().expect("a request document");
    assert_eq!(names(&request), ["Requests", "4xx", "5xx", "Latency"]);
    assert_eq!(request.text("Stage"), Some("test"));
    (request, docs)
}

#[tokio::test]
async fn each_request_is_one_document_by_route_and_key_app() {
    let api = Api::start().await;
    let shop = api.app("shop").await;

    let register = Call::post("/auth/register").key(&shop.key).json(&json!({
        "email": "ann@example.com", "password": PASSWORD, "appId": "shop"
    }));
    let (doc, events) = request(&api, register, StatusCode::CREATED).await;
    assert_eq!(doc.text("Route"), Some("POST /auth/register"));
    assert_eq!(doc.text("App"), Some("shop"));
    assert_eq!(
        dimension_sets(&doc),
        [vec!["Stage"], vec!["Stage", "Route"], vec!["Stage", "App"]]
    );
    assert_eq!(
        (
            value(&doc, "Requests"),
            value(&doc, "4xx"),
            value(&doc, "5xx")
        ),
        (1.0, 0.0, 0.0)
    );
    assert!(value(&doc, "Latency") > 0.0);
    assert!(!doc.text("requestId").unwrap_or_default().is_empty());
    assert_eq!(events.len(), 1);
    assert_eq!(names(&events[0]), ["Registrations"]);
    assert_eq!(events[0].text("App"), Some("shop"));

    // No key: the stage and route totals only, never an App series.
    let (doc, _) = request(&api, Call::get("/health"), StatusCode::OK).await;
    assert_eq!(doc.text("Route"), Some("GET /health"));
    assert_eq!(doc.text("App"), None);
    assert_eq!(
        dimension_sets(&doc),
        [vec!["Stage"], vec!["Stage", "Route"]]
    );

    // Unknown paths share one route key, whatever the path.
    let (doc, _) = request(&api, Call::get("/no/such/path/42"), StatusCode::NOT_FOUND).await;
    assert_eq!(doc.text("Route"), Some("unmatched"));
    assert_eq!(value(&doc, "4xx"), 1.0);

    // The route key is the template, and the app is the key's, not the path's.
    let other_app = Call::get("/api/another-app/notes").key(&shop.key);
    let (doc, _) = request(&api, other_app, StatusCode::UNAUTHORIZED).await;
    assert_eq!(doc.text("Route"), Some("GET /api/{appId}/{resource}"));
    assert_eq!(doc.text("App"), Some("shop"));

    // A made-up key is no app at all.
    let bad_key = Call::get("/api/shop/notes").key("obk_not_a_key");
    let (doc, _) = request(&api, bad_key, StatusCode::UNAUTHORIZED).await;
    assert_eq!(doc.text("App"), None);
}

#[tokio::test]
async fn sign_in_events_count_logins_failures_and_lock_outs() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    api.register(&shop, "bob@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let from = api.metrics.lines().len();
    api.login(&shop, "bob@example.com", PASSWORD)
        .await
        .expect(StatusCode::OK);
    let policy = api.state.settings().login_throttle;
    for _ in 0..policy.per_account_client {
        api.login(&shop, "bob@example.com", "wrong password!")
            .await
            .expect(StatusCode::UNAUTHORIZED);
    }
    api.login(&shop, "bob@example.com", PASSWORD)
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);

    let events: Vec<String> = documents(&api, from)
        .iter()
        .filter(|d| d.text("Route").is_none())
        .map(|d| {
            assert_eq!(
                dimension_sets(d),
                [vec!["Stage"]],
                "sign-in events are by stage"
            );
            assert_eq!(d.text("App"), Some("shop"));
            names(d).join(",")
        })
        .collect();
    let mut expected = vec!["Logins".to_owned()];
    expected.extend((0..policy.per_account_client).map(|_| "LoginFailures".to_owned()));
    expected.push("LockOuts".to_owned());
    assert_eq!(events, expected);
}
