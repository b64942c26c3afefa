//! The realtime Lambda. Realtime (issue #6) is not in this version yet: WebSocket
//! connections are refused with a JSON 501 that says so, and data-stream batches
//! are acknowledged (there are no subscribers to deliver to), so the stream mapping
//! neither blocks nor raises error alarms meanwhile.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ob_lambda::init_logging();
    lambda_runtime::run(service_fn(handle)).await
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(respond(&event.payload, &event.context.request_id))
}

fn respond(payload: &Value, request_id: &str) -> Value {
    if payload.get("Records").is_some() {
        // A DynamoDB stream batch: nothing failed, nothing to retry.
        return json!({ "batchItemFailures": [] });
    }
    tracing::info!(request_id, route = ?payload["requestContext"]["routeKey"], "realtime is not available yet");
    let body = json!({
        "error": {
            "code": "not_implemented",
            "message": "realtime is not available in this version of One Backend",
            "requestId": request_id,
        }
    });
    json!({
        "statusCode": 501,
        "headers": { "content-type": "application/json" },
        "body": body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_requests_get_a_json_501_and_stream_batches_are_acknowledged() {
        let connect = json!({"requestContext": {"routeKey": "$connect", "connectionId": "c1"}});
        let answer = respond(&connect, "r1");
        assert_eq!(answer["statusCode"], 501);
        let body: Value =
            serde_json::from_str(answer["body"].as_str().unwrap_or_default()).unwrap_or_default();
        assert_eq!(body["error"]["requestId"], "r1");
        let batch = json!({"Records": [{"eventName": "INSERT"}]});
        assert_eq!(respond(&batch, "r2"), json!({"batchItemFailures": []}));
    }
}
