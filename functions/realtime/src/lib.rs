//! The realtime Lambda's handler: WebSocket routes (`$connect`, `$disconnect`, messages) and the data-stream fan-out.
//!
//! The protocol and the fan-out are `ob_core::realtime`, the same code `obctl
//! dev` runs locally; this crate adds API Gateway's event shapes and pushes
//! through its management API.

// Tests may panic on unexpected values; production code may not (workspace lint).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod events;
pub mod push;

use ob_core::realtime::{Push, Realtime, error_reply};
use serde_json::{Value, json};

use crate::events::Incoming;

/// An API Gateway WebSocket integration response.
fn respond(status: u16, body: &Value) -> Value {
    json!({ "statusCode": status, "body": body.to_string() })
}

/// Serves one invocation. Never fails the invocation for a client's mistake:
/// a refused `$connect` is a 401, a bad message gets an error reply.
pub async fn handle<P: Push>(
    realtime: &Realtime<P>,
    payload: &Value,
    invocation_id: &str,
) -> Value {
    match events::classify(payload) {
        Incoming::Connect {
            connection_id,
            request_id,
            api_key,
            token,
            origin,
        } => match realtime
            .connect(
                &connection_id,
                api_key.as_deref(),
                token.as_deref(),
                origin.as_deref(),
            )
            .await
        {
            Ok(_) => respond(200, &json!({"type": "connected"})),
            Err(err) => {
                let status = match err {
                    ob_core::Error::Internal(_) => 500,
                    ob_core::Error::Forbidden(_) => 403,
                    _ => 401,
                };
                respond(status, &error_reply(&err, &request_id, None))
            }
        },
        Incoming::Disconnect { connection_id } => {
            if let Err(err) = realtime.disconnect(&connection_id).await {
                // TTL removes what could not be removed now.
                tracing::warn!(connection_id, error = %err, "could not remove a closed connection");
            }
            respond(200, &json!({}))
        }
        Incoming::Message {
            connection_id,
            request_id,
            body,
        } => respond(
            200,
            &realtime.message(&connection_id, &body, &request_id).await,
        ),
        Incoming::Stream {
            changes,
            unreadable,
        } => {
            let report = realtime.fan_out(&changes).await;
            tracing::info!(
                records = changes.len() + unreadable,
                delivered = report.delivered,
                removed = report.removed,
                skipped = report.skipped + unreadable,
                failed = report.failed.len(),
                "fan-out"
            );
            let failures: Vec<Value> = report
                .failed
                .iter()
                .map(|sequence| json!({ "itemIdentifier": sequence }))
                .collect();
            json!({ "batchItemFailures": failures })
        }
        Incoming::Unknown => {
            tracing::warn!(request_id = invocation_id, "unrecognised invocation");
            let err =
                ob_core::Error::invalid("event", "not a WebSocket route event or a stream batch");
            respond(400, &error_reply(&err, invocation_id, None))
        }
    }
}
