//! One open connection: messages in, routed one at a time; replies and management-API pushes out; closed on API
//! Gateway's idle and duration limits; `$disconnect` when it ends, however it ends.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

use super::WebSocketApi;
use super::events::{self, ConnectionContext};
use crate::ids;
use crate::runtime::Outcome;

/// What goes out on a connection, in order.
#[derive(Debug)]
pub(crate) enum Outbound {
    Text(String),
    Binary(Vec<u8>),
    Close(u16, String),
}

#[derive(Debug)]
pub(crate) struct Connection {
    pub ctx: ConnectionContext,
    outbox: mpsc::UnboundedSender<Outbound>,
    /// When the client last sent something (idle limit), and as a time for `GET @connections`.
    last_active: Mutex<(Instant, time::OffsetDateTime)>,
    /// Closed through the management API.
    closing: Notify,
}

impl Connection {
    pub fn new(ctx: ConnectionContext) -> (Arc<Self>, mpsc::UnboundedReceiver<Outbound>) {
        let (outbox, receiver) = mpsc::unbounded_channel();
        let connection = Arc::new(Self {
            ctx,
            outbox,
            last_active: Mutex::new((Instant::now(), time::OffsetDateTime::now_utc())),
            closing: Notify::new(),
        });
        (connection, receiver)
    }

    /// Queues a message; `false` when the connection is gone.
    pub fn send(&self, message: Outbound) -> bool {
        self.outbox.send(message).is_ok()
    }

    pub fn last_active(&self) -> time::OffsetDateTime {
        self.last_active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1
    }

    fn touch(&self) {
        *self
            .last_active
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            (Instant::now(), time::OffsetDateTime::now_utc());
    }

    fn idle_since(&self) -> Instant {
        self.last_active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }

    /// Ends the connection from the server side (`DELETE @connections/{id}`).
    pub fn close(&self) {
        let _ = self.outbox.send(Outbound::Close(1000, String::new()));
        self.closing.notify_one();
    }
}

/// Runs the connection until it ends, then calls `$disconnect`.
pub(crate) async fn serve(
    api: WebSocketApi,
    connection: Arc<Connection>,
    socket: WebSocket,
    mut outbox: mpsc::UnboundedReceiver<Outbound>,
) {
    let (mut sink, mut incoming) = socket.split();
    let writer = tokio::spawn(async move {
        while let Some(out) = outbox.recv().await {
            let (message, last) = match out {
                Outbound::Text(text) => (Message::Text(text.into()), false),
                Outbound::Binary(bytes) => (Message::Binary(bytes.into()), false),
                Outbound::Close(code, reason) => (
                    Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })),
                    true,
                ),
            };
            if sink.send(message).await.is_err() || last {
                break;
            }
        }
    });
    let limits = api.0.spec.limits;
    let ends = tokio::time::Instant::now() + limits.max_duration;
    let (status, reason) = loop {
        let idle_ends = tokio::time::Instant::from_std(connection.idle_since() + limits.idle);
        tokio::select! {
            received = incoming.next() => match received {
                None => break (1006, "Connection closed abnormally".to_owned()),
                Some(Err(err)) => {
                    // Over the message or frame size: API Gateway closes with 1009.
                    let text = err.to_string();
                    if text.contains("too long") || text.contains("too big") || text.contains("Space limit") {
                        connection.send(Outbound::Close(1009, "Message too big".into()));
                        break (1009, "Message too big".to_owned());
                    }
                    break (1006, format!("Connection closed abnormally: {text}"));
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame.map_or((1005, "Client-side close frame status not set".to_owned()), |f| {
                        (f.code, f.reason.to_string())
                    });
                    connection.send(Outbound::Close(code, String::new()));
                    break (code, reason);
                }
                Some(Ok(Message::Text(text))) => {
                    connection.touch();
                    route(&api, &connection, text.as_str(), false).await;
                }
                Some(Ok(Message::Binary(bytes))) => {
                    connection.touch();
                    let body = aws_smithy_types::base64::encode(&bytes);
                    route(&api, &connection, &body, true).await;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => connection.touch(),
            },
            () = tokio::time::sleep_until(idle_ends) => {
                if tokio::time::Instant::from_std(connection.idle_since() + limits.idle) <= tokio::time::Instant::now() {
                    connection.send(Outbound::Close(1001, "Going away".into()));
                    break (1001, "Idle timeout".to_owned());
                }
            }
            () = tokio::time::sleep_until(ends) => {
                connection.send(Outbound::Close(1001, "Going away".into()));
                break (1001, "Maximum connection duration reached".to_owned());
            }
            () = connection.closing.notified() => break (1000, "Connection deleted through the management API".to_owned()),
        }
    };
    let id = connection.ctx.connection_id.clone();
    {
        let mut connections = api.connections();
        if connections
            .get(&id)
            .is_some_and(|c| Arc::ptr_eq(c, &connection))
        {
            connections.remove(&id);
        }
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), writer).await;
    if let Some(route) = api.0.spec.route("$disconnect") {
        let event = events::disconnect(&connection.ctx, status, &reason, &ids::gateway_id());
        let invocation = api.invoke(route, event, "$disconnect").await;
        let result = result_of(invocation.as_ref().map(|i| &i.outcome));
        api.report(route, "ws $disconnect", result, invocation);
    }
}

/// Routes one client message and sends the reply back when the route is two-way.
async fn route(api: &WebSocketApi, connection: &Connection, body: &str, base64: bool) {
    let spec = &api.0.spec;
    let request_id = ids::gateway_id();
    let error = |message: &str| {
        json!({
            "message": message,
            "connectionId": connection.ctx.connection_id,
            "requestId": request_id,
        })
        .to_string()
    };
    if api.0.bucket.as_ref().is_some_and(|b| !b.allow()) {
        connection.send(Outbound::Text(error("Too Many Requests")));
        return;
    }
    let selected = if base64 {
        spec.routes
            .iter()
            .map(|r| r.key.as_str())
            .find(|k| *k == "$default")
    } else {
        events::select_route(
            &spec.selection_field,
            body,
            spec.routes.iter().map(|r| r.key.as_str()),
        )
    };
    let Some(route) = selected.and_then(|key| spec.route(key)) else {
        connection.send(Outbound::Text(error("Forbidden")));
        return;
    };
    let event = events::message(&connection.ctx, &route.key, body, base64, &request_id);
    let invocation = api.invoke(route, event, &route.key).await;
    let outcome = invocation.as_ref().map(|i| &i.outcome);
    match outcome {
        Some(Outcome::Response(payload)) => {
            if route.two_way {
                let answer: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
                if let Some(reply) = answer["body"].as_str() {
                    connection.send(Outbound::Text(reply.to_owned()));
                }
            }
        }
        _ => {
            connection.send(Outbound::Text(error("Internal server error")));
        }
    }
    let result = result_of(outcome);
    api.report(route, &format!("ws {}", route.key), result, invocation);
}

/// The report's result column for a WebSocket invocation.
fn result_of(outcome: Option<&Outcome>) -> String {
    match outcome {
        None => "integration timeout".into(),
        Some(Outcome::Response(payload)) => serde_json::from_slice::<Value>(payload)
            .ok()
            .and_then(|v| v["statusCode"].as_u64())
            .map_or_else(|| "ok".into(), |s| s.to_string()),
        Some(Outcome::FunctionError { error_type, .. }) => error_type.clone(),
        Some(Outcome::Failed(failure)) => failure.error_type().to_owned(),
    }
}
