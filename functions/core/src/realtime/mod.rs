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
pub mod revocation;
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

/// What pushing to a user's connections achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserPush {
    /// Connections the message reached.
    pub delivered: usize,
    /// Connections found gone (and removed).
    pub gone: usize,
    /// Connections a push failed for otherwise.
    pub failed: usize,
}

/// Pushes `message` to every open connection of a user of an app (their
/// `user:<id>` channel), removing connections found gone.
pub async fn push_to_user<P: Push>(
    store: &crate::Store,
    push: &P,
    app_id: &str,
    user_id: &str,
    message: &str,
) -> crate::Result<UserPush> {
    let channel = Channel::User(user_id.to_owned()).to_string();
    let members = connections::members(store, app_id, &channel).await?;
    let message = [message.to_owned()];
    let sends = members
        .iter()
        .map(|m| fanout::deliver(store, push, &m.connection_id, &message));
    let mut report = UserPush::default();
    for (delivered, gone) in futures::future::join_all(sends).await {
        match (delivered, gone) {
            (0, true) => report.gone += 1,
            (0, false) => report.failed += 1,
            _ => report.delivered += 1,
        }
    }
    Ok(report)
}

/// Sends one text message to one connection, and closes connections.
pub trait Push: Send + Sync {
    fn send(
        &self,
        connection_id: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), PushError>> + Send;

    /// Closes a connection (API Gateway's `DeleteConnection`); `Gone` when it
    /// was not open. A transport that cannot close says so.
    fn close(&self, connection_id: &str) -> impl Future<Output = Result<(), PushError>> + Send {
        let _ = connection_id;
        async {
            Err(PushError::Failed(
                "this transport cannot close connections".into(),
            ))
        }
    }

    /// The management endpoint that reaches this transport's connections,
    /// recorded with each connection so whoever revokes access can close it.
    fn endpoint(&self) -> Option<&str> {
        None
    }
}
