//! A Lambda function that misbehaves on request, for the local runtime's tests: it echoes API Gateway events, crashes,
//! overruns its timeout, fails its init, returns binary bodies, and fails stream records and queue messages, as its event asks.

use std::collections::HashSet;
use std::sync::Mutex;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use ob_core::functions::FunctionDef;
use serde_json::{Value, json};

/// Declares no variables: the fixture reads its switches directly.
static FIXTURE: FunctionDef = FunctionDef {
    name: "fixture",
    package: "ob-tests",
    http_routes: &[],
    websocket_routes: &[],
    tables: &[],
    queues: &[],
    env: &[],
    event_sources: &[],
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ob_lambda::start(&FIXTURE, |_sdk, _env| async {
        if std::env::var("FIXTURE_FAIL_INIT").is_ok() {
            return Err(Error::from("FIXTURE_FAIL_INIT is set"));
        }
        Ok(())
    })
    .await?;
    let failed_once: &'static Mutex<HashSet<String>> = Box::leak(Box::default());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(event.payload, failed_once).await
    }))
    .await
}

async fn handle(event: Value, failed_once: &Mutex<HashSet<String>>) -> Result<Value, Error> {
    if let Some(records) = event["Records"].as_array() {
        return Ok(batch(records, failed_once));
    }
    if let Some(kind) = event["requestContext"]["eventType"].as_str() {
        return Ok(websocket(kind, &event));
    }
    let path = event["rawPath"].as_str().unwrap_or_default();
    match path {
        echo if echo.starts_with("/echo") => Ok(json!({
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": event.to_string(),
        })),
        "/binary" => Ok(json!({
            "statusCode": 201,
            "headers": {"content-type": "application/octet-stream"},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": "AAEC/w==",
            "isBase64Encoded": true,
        })),
        "/plain" => Ok(json!({"hello": "world"})),
        "/error" => Err(Error::from("the handler failed")),
        "/crash" => {
            eprintln!("fixture: crashing on purpose");
            std::process::exit(3);
        }
        "/sleep" => {
            tokio::time::sleep(std::time::Duration::from_secs(120)).await;
            Ok(json!({"statusCode": 200}))
        }
        _ => Ok(json!({"statusCode": 404, "body": "no such fixture path"})),
    }
}

/// Logs the batch's record ids (a stream's sequence numbers, a queue's
/// message bodies); fails records marked `fail: once` (a queue message whose
/// body starts with `fail once`) the first time this process sees them and
/// `fail: always` (`fail always`) every time.
fn batch(records: &[Value], failed_once: &Mutex<HashSet<String>>) -> Value {
    let marks: Vec<(&str, &str, Option<&str>)> = records
        .iter()
        .map(
            |record| match record["dynamodb"]["SequenceNumber"].as_str() {
                Some(sequence) => (
                    sequence,
                    sequence,
                    record["dynamodb"]["NewImage"]["fail"]["S"].as_str(),
                ),
                None => {
                    let body = record["body"].as_str().unwrap_or_default();
                    let mark = if body.starts_with("fail always") {
                        Some("always")
                    } else if body.starts_with("fail once") {
                        Some("once")
                    } else {
                        None
                    };
                    (record["messageId"].as_str().unwrap_or_default(), body, mark)
                }
            },
        )
        .collect();
    let logged: Vec<&str> = marks.iter().map(|(_, shown, _)| *shown).collect();
    println!("{}", json!({ "batch": logged }));
    let mut failures = Vec::new();
    for (id, _, mark) in marks {
        let fail = match mark {
            Some("always") => true,
            Some("once") => failed_once
                .lock()
                .map(|mut seen| seen.insert(id.to_owned()))
                .unwrap_or(false),
            _ => false,
        };
        if fail {
            failures.push(json!({ "itemIdentifier": id }));
        }
    }
    json!({ "batchItemFailures": failures })
}

fn websocket(kind: &str, event: &Value) -> Value {
    match kind {
        "CONNECT" if event["queryStringParameters"]["deny"].is_string() => {
            json!({"statusCode": 403, "body": "denied"})
        }
        "CONNECT" => json!({"statusCode": 200}),
        "DISCONNECT" => {
            println!(
                "{}",
                json!({
                    "disconnected": event["requestContext"]["connectionId"],
                    "status": event["requestContext"]["disconnectStatusCode"],
                })
            );
            json!({"statusCode": 200})
        }
        _ => {
            let reply = json!({
                "echo": event["body"],
                "route": event["requestContext"]["routeKey"],
                "connectionId": event["requestContext"]["connectionId"],
            });
            json!({"statusCode": 200, "body": reply.to_string()})
        }
    }
}
