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
use axum::routing::get;
use ob_api::AppState;
use ob_core::realtime::Realtime;

pub use hub::LocalHub;
pub use stream::{StreamFollower, follow};

/// Path of the WebSocket endpoint, as the deployed stage's (`wss://…/live`).
pub const WEBSOCKET_PATH: &str = "/live";

/// The realtime service of the local backend.
pub type LocalRealtime = Realtime<LocalHub>;

/// The HTTP API with the WebSocket endpoint at `/live`.
pub fn app(api: AppState, realtime: LocalRealtime) -> Router {
    Router::new()
        .route(WEBSOCKET_PATH, get(socket::upgrade))
        .with_state(realtime)
        .merge(ob_api::router(api))
}
