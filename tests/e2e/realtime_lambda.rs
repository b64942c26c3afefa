//! The realtime Lambda's handler against the emulator's tables, fed the event shapes API Gateway and the DynamoDB stream deliver.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::StatusCode;
use ob_core::realtime::{Push, PushError, Realtime, connections};
use ob_core::users::Role;
use ob_core::{Store, Tables};
use ob_tests::fixtures::{Api, SIGNING_KEY};
use serde_json::{Value, json};

use crate::api_data::{create, user};

/// Records pushes; connections in `gone` answer like API Gateway's 410.
#[derive(Debug, Clone, Default)]
struct Recorder {
    sent: Arc<Mutex<Vec<(String, Value)>>>,
    gone: Arc<Mutex<HashSet<String>>>,
}

impl Push for Recorder {
    async fn send(&self, connection_id: &str, message: &str) -> Result<(), PushError> {
        if self.gone.lock().unwrap().contains(connection_id) {
            return Err(PushError::Gone);
        }
        let message = serde_json::from_str(message).unwrap();
        self.sent
            .lock()
            .unwrap()
            .push((connection_id.to_owned(), message));
        Ok(())
    }
}

/// The handler's service; its metrics lines are kept in the returned recorder.
fn service(store: Store, issuer: &str) -> (Realtime<Recorder>, ob_metrics::Recorder) {
    let lines = ob_metrics::Recorder::default();
    let metrics = ob_metrics::Metrics::new("test", Default::default(), Arc::new(lines.clone()));
    let realtime = Realtime {
        store,
        signer: ob_core::signing::Keyring::ready(SIGNING_KEY, issuer).unwrap(),
        push: Recorder::default(),
        metrics,
        stage_origins: vec!["https://stage.example".into()],
    };
    (realtime, lines)
}

/// A WebSocket route event as API Gateway sends it.
fn route(route_key: &str, connection_id: &str, query: Option<Value>, body: Option<&str>) -> Value {
    let event_type = match route_key {
        "$connect" => "CONNECT",
        "$disconnect" => "DISCONNECT",
        _ => "MESSAGE",
    };
    let mut event = json!({
        "requestContext": {
            "routeKey": route_key, "eventType": event_type, "messageDirection": "IN", "stage": "live",
            "requestId": "Pq1xRGlxDoEF0Fg=", "connectionId": connection_id, "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com", "identity": {"sourceIp": "203.0.113.9"}
        },
        "isBase64Encoded": false
    });
    if let Some(query) = query {
        event["queryStringParameters"] = query;
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    event
}

/// DynamoDB's JSON form of an attribute, as stream events carry it.
fn ddb_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(_) => json!({"NULL": true}),
        AttributeValue::Ss(v) => json!({"SS": v}),
        AttributeValue::L(v) => json!({"L": v.iter().map(ddb_json).collect::<Vec<_>>()}),
        AttributeValue::M(m) => {
            json!({"M": m.iter().map(|(k, v)| (k.clone(), ddb_json(v))).collect::<serde_json::Map<_, _>>()})
        }
        other => panic!("unexpected attribute {other:?}"),
    }
}

fn image(item: &std::collections::HashMap<String, AttributeValue>) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), ddb_json(v))).collect())
}

/// One stream record in the Lambda event format.
/// Written two seconds ago (`ApproximateCreationDateTime`, epoch seconds).
fn stream_record(name: &str, sequence: &str, old: Option<Value>, new: Option<Value>) -> Value {
    let written = ob_metrics::emf::now_ms() as f64 / 1000.0 - 2.0;
    let mut dynamodb = json!({"SequenceNumber": sequence, "SizeBytes": 100, "StreamViewType": "NEW_AND_OLD_IMAGES",
                              "ApproximateCreationDateTime": written.floor()});
    if let Some(old) = old {
        dynamodb["OldImage"] = old;
    }
    if let Some(new) = new {
        dynamodb["NewImage"] = new;
    }
    json!({"eventID": sequence, "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
           "awsRegion": "us-east-1", "dynamodb": dynamodb,
           "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/DataTable/stream/2026-11-22T00:00:00.000"})
}

async fn stored_record(api: &Api, app: &str, id: &str) -> Value {
    let out = api
        .store
        .client
        .get_item()
        .table_name(&api.store.tables.data)
        .key("pk", AttributeValue::S(format!("R#{app}#notes")))
        .key("sk", AttributeValue::S(id.to_owned()))
        .send()
        .await
        .unwrap();
    image(out.item().unwrap())
}

#[tokio::test]
async fn the_lambda_handles_connect_messages_and_stream_batches() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let ada = user(&api, &shop, "ada", Role::User).await;
    let bob = user(&api, &shop, "bob", Role::User).await;
    let (realtime, metrics) = service(api.store.clone(), &api.state.settings().issuer);

    let refused = ob_realtime::handle(
        &realtime,
        &route(
            "$connect",
            "Bad=",
            Some(json!({"apiKey": shop.key, "token": "x"})),
            None,
        ),
        "i",
    )
    .await;
    assert_eq!(refused["statusCode"], 401);
    let body: Value = serde_json::from_str(refused["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(body["error"]["requestId"], "Pq1xRGlxDoEF0Fg=");

    for (connection, who) in [("Bob=", &bob), ("Gone=", &ada)] {
        let query = json!({"apiKey": shop.key, "token": who.token});
        let connected = ob_realtime::handle(
            &realtime,
            &route("$connect", connection, Some(query), None),
            "i",
        )
        .await;
        assert_eq!(connected["statusCode"], 200, "{connected}");
        let subscribe = r#"{"action":"subscribe","channel":"resource:notes"}"#;
        let reply = ob_realtime::handle(
            &realtime,
            &route("$default", connection, None, Some(subscribe)),
            "i",
        )
        .await;
        assert_eq!(reply["statusCode"], 200);
        assert!(
            reply["body"].as_str().unwrap().contains("subscribed"),
            "{reply}"
        );
    }
    realtime.push.gone.lock().unwrap().insert("Gone=".into());

    let id = create(
        &api,
        &shop,
        &ada,
        "notes",
        json!({"data": {"n": 1}, "permissions": {"read": ["*"]}}),
    )
    .await
    .expect(StatusCode::CREATED)
    .str("/id");
    let new = stored_record(&api, "shop", &id).await;
    let mut broken = new.clone();
    broken.as_object_mut().unwrap().remove("data");
    let batch = json!({"Records": [
        stream_record("INSERT", "101", None, Some(new.clone())),
        // A record that can never be decoded is skipped, not retried.
        stream_record("INSERT", "102", None, Some(broken)),
        // Index entries share the table and are not record changes.
        stream_record("INSERT", "103", None, Some(json!({"pk": {"S": "IX#shop#notes#n#1"}, "sk": {"S": id}}))),
    ]});
    let answer = ob_realtime::handle(&realtime, &batch, "i").await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let sent = realtime.push.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "Bob=");
    assert_eq!(
        (sent[0].1["type"].as_str(), sent[0].1["id"].as_str()),
        (Some("created"), Some(id.as_str()))
    );
    // The connection API Gateway called gone is removed with its subscriptions.
    assert!(
        connections::get(&api.store, "Gone=")
            .await
            .unwrap()
            .is_none()
    );
    let members = connections::members(&api.store, "shop", "resource:notes")
        .await
        .unwrap();
    assert_eq!(
        members
            .iter()
            .map(|m| m.connection_id.as_str())
            .collect::<Vec<_>>(),
        vec!["Bob="]
    );

    // Two connections, one push, one connection found gone, the change's lag:
    // each as a valid EMF document of the app, by stage.
    let totals = realtime_totals(&metrics.lines());
    assert_eq!(totals.connections, 2.0);
    assert_eq!(totals.deliveries, 1.0);
    assert_eq!(totals.gone, 1.0);
    assert_eq!(totals.lags.len(), 1, "one lag per change fanned out");
    assert!(
        (2_000.0..60_000.0).contains(&totals.lags[0]),
        "{:?}",
        totals.lags
    );

    let bye = ob_realtime::handle(&realtime, &route("$disconnect", "Bob=", None, None), "i").await;
    assert_eq!(bye["statusCode"], 200);
    assert!(
        connections::members(&api.store, "shop", "resource:notes")
            .await
            .unwrap()
            .is_empty()
    );

    // Subscribers that cannot be read (here: no connections table) fail the
    // record, so the stream retries it.
    let mut tables = Tables::from_prefix("t-");
    tables.connections = "missing-table".into();
    let broken_store = Store::new(api.store.client.clone(), tables);
    let (failing, _) = service(broken_store, &api.state.settings().issuer);
    let batch = json!({"Records": [stream_record("MODIFY", "201", Some(new.clone()), Some(new))]});
    let answer = ob_realtime::handle(&failing, &batch, "i").await;
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "201"}]})
    );
}

#[derive(Debug, Default)]
struct RealtimeTotals {
    connections: f64,
    deliveries: f64,
    gone: f64,
    lags: Vec<f64>,
}

/// Sums realtime metrics over EMF lines, checking each is a valid document of app `shop`.
fn realtime_totals(lines: &[String]) -> RealtimeTotals {
    let mut totals = RealtimeTotals::default();
    for line in lines {
        let record = ob_metrics::parse_line(line)
            .unwrap()
            .expect("an EMF document");
        assert_eq!(record.text("App"), Some("shop"), "{line}");
        let directive = &record.directives[0];
        assert_eq!(directive.namespace, "OneBackend");
        assert_eq!(
            directive.dimension_sets,
            vec![vec![("Stage".to_owned(), "test".to_owned())]]
        );
        for metric in &directive.metrics {
            let sum: f64 = metric.values.iter().sum();
            match metric.name.as_str() {
                "Connections" => totals.connections += sum,
                "Deliveries" => totals.deliveries += sum,
                "GoneConnections" => totals.gone += sum,
                "FanOutLag" => totals.lags.extend(&metric.values),
                other => panic!("unexpected metric {other}"),
            }
        }
    }
    totals
}
