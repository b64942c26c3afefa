//! The realtime Lambda: WebSocket routes (`$connect`, `$disconnect`, messages) and the data-stream fan-out.
//!
//! Clients, tables and the signing key are loaded once per cold start; the
//! protocol and the fan-out are `ob_core::realtime`, the same code `obctl dev`
//! runs locally.

// Tests may panic on unexpected values; production code may not (workspace lint).
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod events;
mod push;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use ob_core::realtime::{Push, Realtime, error_reply};
use ob_core::tokens::TokenSigner;
use ob_core::{Store, Tables};
use serde_json::{Value, json};

use crate::events::Incoming;
use crate::push::ManagementApi;

#[tokio::main]
async fn main() -> Result<(), Error> {
    ob_lambda::init_logging();
    let sdk = aws_config::load_from_env().await;
    let key = ob_api::signing_key::from_env(&sdk).await?;
    let stage = std::env::var("STAGE").unwrap_or_else(|_| "local".into());
    let endpoint = std::env::var("WEBSOCKET_MANAGEMENT_URL")
        .map_err(|_| Error::from("WEBSOCKET_MANAGEMENT_URL is not set"))?;
    let realtime = Realtime {
        store: Store::new(aws_sdk_dynamodb::Client::new(&sdk), Tables::from_env()),
        signer: TokenSigner::new(&key, &ob_api::state::issuer_for(&stage))?,
        push: ManagementApi::new(&sdk, &endpoint),
    };
    let realtime = &realtime;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(handle(realtime, &event.payload, &event.context.request_id).await)
    }))
    .await
}

/// An API Gateway WebSocket integration response.
fn respond(status: u16, body: &Value) -> Value {
    json!({ "statusCode": status, "body": body.to_string() })
}

/// Serves one invocation. Never fails the invocation for a client's mistake:
/// a refused `$connect` is a 401, a bad message gets an error reply.
async fn handle<P: Push>(realtime: &Realtime<P>, payload: &Value, invocation_id: &str) -> Value {
    match events::classify(payload) {
        Incoming::Connect {
            connection_id,
            request_id,
            api_key,
            token,
        } => match realtime
            .connect(&connection_id, api_key.as_deref(), token.as_deref())
            .await
        {
            Ok(_) => respond(200, &json!({"type": "connected"})),
            Err(err) => {
                let status = if matches!(err, ob_core::Error::Internal(_)) {
                    500
                } else {
                    401
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
            respond(
                400,
                &json!({"error": {"code": "invalid_request", "message": "unrecognised event", "requestId": invocation_id}}),
            )
        }
    }
}
