//! The local WebSocket endpoint: `$connect` at the upgrade, then messages in, replies and pushes out.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use ob_core::realtime::{Push, error_reply};
use serde::Deserialize;

use super::LocalRealtime;
use super::hub::Outbox;

/// How long a socket closed through the hub may take to send its close frame.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Browsers cannot set headers on a WebSocket: credentials come in the query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConnectQuery {
    token: Option<String>,
    api_key: Option<String>,
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Authenticates before upgrading, as API Gateway's `$connect` does: a refused
/// client gets a 401 with the JSON error instead of a socket.
pub(crate) async fn upgrade(
    State(realtime): State<LocalRealtime>,
    Query(query): Query<ConnectQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let connection_id = new_id();
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let connected = realtime
        .connect(
            &connection_id,
            query.api_key.as_deref(),
            query.token.as_deref(),
            origin,
        )
        .await;
    match connected {
        Ok(_) => ws.on_upgrade(move |socket| serve(realtime, connection_id, socket)),
        Err(err) => {
            let status = match err {
                ob_core::Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
                ob_core::Error::Forbidden(_) => StatusCode::FORBIDDEN,
                _ => StatusCode::UNAUTHORIZED,
            };
            (status, axum::Json(error_reply(&err, &new_id(), None))).into_response()
        }
    }
}

async fn serve(realtime: LocalRealtime, connection_id: String, socket: WebSocket) {
    let (mut sink, mut incoming) = socket.split();
    // Replies and pushes share one queue, so a client sees them in order.
    let Outbox {
        mut messages,
        closing,
    } = realtime.push.register(&connection_id);
    let replies = realtime.push.clone();
    let writer = tokio::spawn(async move {
        while let Some(text) = messages.recv().await {
            if sink.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
        // The hub forgot the socket (closed through it): say so, as API Gateway does.
        let frame = CloseFrame {
            code: 1000,
            reason: "Connection deleted through the management API".into(),
        };
        let _ = sink.send(Message::Close(Some(frame))).await;
    });
    loop {
        let message = tokio::select! {
            message = incoming.next() => message,
            () = closing.notified() => {
                // The queue has ended; the writer sends what was queued, then the close.
                let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
                if let Err(err) = realtime.disconnect(&connection_id).await {
                    eprintln!("realtime: could not remove connection {connection_id}: {err}");
                }
                return;
            }
        };
        let Some(Ok(message)) = message else {
            break;
        };
        let text = match message {
            Message::Text(text) => text.to_string(),
            Message::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        let reply = realtime.message(&connection_id, &text, &new_id()).await;
        if replies
            .send(&connection_id, &reply.to_string())
            .await
            .is_err()
        {
            break;
        }
    }
    realtime.push.remove(&connection_id);
    writer.abort();
    if let Err(err) = realtime.disconnect(&connection_id).await {
        eprintln!("realtime: could not remove connection {connection_id}: {err}");
    }
}
