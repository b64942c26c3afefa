//! The local backend of `obctl dev`: the HTTP API plus the WebSocket protocol on one port, with realtime driven by the table's stream.
//!
//! Deployed, API Gateway holds the sockets and the realtime Lambda answers
//! them; here an in-process hub holds them. Both run `ob_core::realtime`, so a
//! frontend sees the same protocol, the same permission checks and the same
//! fan-out locally as deployed.

mod hub;
pub mod notify;
pub mod outbox;
mod socket;
mod stream;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use ob_api::AppState;
use ob_core::realtime::{Push, PushError, Realtime};

pub use hub::LocalHub;
pub use stream::{StreamFollower, follow};

/// Path of the WebSocket endpoint, as the deployed stage's (`wss://…/live`).
pub const WEBSOCKET_PATH: &str = "/live";

/// The realtime service of the local backend.
pub type LocalRealtime = Realtime<LocalHub>;

/// Path of the management API's `DeleteConnection`, as API Gateway serves it beside the stage.
pub const DELETE_CONNECTION_PATH: &str = "/live/@connections/{id}";

/// The HTTP API with the WebSocket endpoint at `/live`, and `DELETE
/// /live/@connections/{id}` (what `obctl` calls when access is revoked).
pub fn app(api: AppState, realtime: LocalRealtime) -> Router {
    Router::new()
        .route(WEBSOCKET_PATH, get(socket::upgrade))
        .route(DELETE_CONNECTION_PATH, delete(delete_connection))
        .with_state(realtime)
        .merge(ob_api::router(api))
}

/// `DeleteConnection`: 204 once the socket is closing, 410 `GoneException` for
/// a connection that is not open (the shape the SDK reads).
async fn delete_connection(
    State(realtime): State<LocalRealtime>,
    Path(id): Path<String>,
) -> Response {
    match realtime.push.close(&id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(PushError::Gone | PushError::Failed(_)) => (
            StatusCode::GONE,
            [("x-amzn-errortype", "GoneException")],
            axum::Json(serde_json::json!({ "message": null })),
        )
            .into_response(),
    }
}
