//! Realtime over WebSocket, shared by the realtime Lambda (API Gateway) and `obctl dev` (local sockets).
//!
//! Nothing here knows the transport: a host authenticates `$connect` with
//! `Realtime::connect`, passes client text to `Realtime::message`, forwards
//! data-stream batches to `Realtime::fan_out`, and supplies a `Push` that
//! reaches a connection by id (API Gateway's management API, or an in-process
//! map of sockets).

mod channel;
pub mod connections;
pub mod fanout;
pub mod sends;
mod session;

use std::future::Future;

pub use channel::{Channel, MAX_ROOM_NAME};
pub use connections::{Connection, Member};
pub use fanout::{ChangeKind, FanOutReport, StreamChange};
pub use session::{MAX_MESSAGE_BYTES, Realtime, error_code, error_reply};

/// Why a push did not arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// The connection no longer exists (API Gateway's 410): remove it.
    Gone,
    /// Anything else; logged, not retried.
    Failed(String),
}

/// Sends one text message to one connection.
pub trait Push: Send + Sync {
    fn send(
        &self,
        connection_id: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), PushError>> + Send;
}
