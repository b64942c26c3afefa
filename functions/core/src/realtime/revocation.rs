//! Access taken away ends open connections too: a disabled or demoted user's, a revoked key's, a suspended or deleted app's, found by Query and closed.
//!
//! Connections are found through the connection table's `byApp` index (only a
//! connection's own item is in it), closed through the management API that
//! reaches them (`Push::close`, API Gateway's `DeleteConnection`), and their
//! items removed whether or not the close arrived: without its items a
//! connection is refused every message and reached by no fan-out, so a close
//! that failed still leaves nothing to read. API Gateway then sends
//! `$disconnect`, whose removal finds nothing left.

use futures::StreamExt;
use serde::Serialize;

use crate::attr;
use crate::error::{Error, Result};
use crate::keys::connection_pk;
use crate::store::Store;
use crate::tables::{CONNECTIONS, CONNECTIONS_BY_APP};

use super::connections::{self, ENDPOINT, KEY_ID};
use super::{Push, PushError};

/// Connections closed at once (each is one management call and one cleanup).
const PARALLEL: usize = 16;

/// Whose connections lose access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder<'a> {
    /// Every connection of a suspended or deleted app.
    App(&'a str),
    /// A disabled or demoted user's connections within one app.
    User { app_id: &'a str, user_id: &'a str },
    /// The connections opened with a revoked API key.
    Key { app_id: &'a str, key_id: &'a str },
}

impl Holder<'_> {
    fn app_id(&self) -> &str {
        match self {
            Self::App(app_id) | Self::User { app_id, .. } | Self::Key { app_id, .. } => app_id,
        }
    }
}

/// An open connection as revocation finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenConnection {
    pub connection_id: String,
    pub user_id: String,
    pub key_id: Option<String>,
    /// The management endpoint recorded at `$connect` (see `Push::endpoint`).
    pub endpoint: Option<String>,
}

/// What closing a holder's connections did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Closed {
    /// Connections the management API closed.
    pub closed: usize,
    /// Connections already gone (410); their items were removed.
    pub gone: usize,
    /// Connections the management API did not close, with why (their items were
    /// removed all the same, so they receive and may do nothing).
    pub failed: Vec<String>,
}

impl Closed {
    /// Adds another batch's outcome.
    pub fn add(&mut self, other: Closed) {
        self.closed += other.closed;
        self.gone += other.gone;
        self.failed.extend(other.failed);
    }
}

/// The holder's open connections, by Query of `byApp` (never a Scan): one
/// user's by the index's sort key, an app's or a key's by the app's partition
/// (a key's filtered on the key).
pub async fn find(store: &Store, holder: Holder<'_>) -> Result<Vec<OpenConnection>> {
    let table = store.connections_table()?;
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let mut query = store
            .client
            .query()
            .table_name(table)
            .index_name(CONNECTIONS_BY_APP.name)
            .expression_attribute_names("#app", CONNECTIONS_BY_APP.partition_key)
            .expression_attribute_values(":app", attr::s(holder.app_id()))
            .set_exclusive_start_key(start);
        query = match holder {
            Holder::App(_) => query.key_condition_expression("#app = :app"),
            Holder::User { user_id, .. } => query
                .key_condition_expression("#app = :app AND #user = :user")
                .expression_attribute_names(
                    "#user",
                    CONNECTIONS_BY_APP.sort_key.unwrap_or("userId"),
                )
                .expression_attribute_values(":user", attr::s(user_id)),
            Holder::Key { key_id, .. } => query
                .key_condition_expression("#app = :app")
                .filter_expression("#key = :key")
                .expression_attribute_names("#key", KEY_ID)
                .expression_attribute_values(":key", attr::s(key_id)),
        };
        let out = query
            .send()
            .await
            .map_err(|e| Error::sdk("find open connections", e))?;
        for item in out.items() {
            let pk = attr::get_s(item, CONNECTIONS.partition_key)?;
            let Some(connection_id) = pk.strip_prefix(&connection_pk("")) else {
                continue;
            };
            found.push(OpenConnection {
                connection_id: connection_id.to_owned(),
                user_id: attr::opt_s(item, "userId").unwrap_or_default(),
                key_id: attr::opt_s(item, KEY_ID),
                endpoint: attr::opt_s(item, ENDPOINT),
            });
        }
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(found);
        }
    }
}

/// Closes `found` through `push` and removes their items (also when the close
/// failed). Errors only when an item could not be removed.
pub async fn close<P: Push>(store: &Store, push: &P, found: &[OpenConnection]) -> Result<Closed> {
    let outcomes: Vec<(String, std::result::Result<(), PushError>, Result<()>)> =
        futures::stream::iter(found)
            .map(|c| async move {
                let closed = push.close(&c.connection_id).await;
                let removed = connections::close(store, &c.connection_id).await;
                (c.connection_id.clone(), closed, removed)
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
    let mut report = Closed::default();
    for (connection_id, closed, removed) in outcomes {
        removed?;
        match closed {
            Ok(()) => report.closed += 1,
            Err(PushError::Gone) => report.gone += 1,
            Err(PushError::Failed(why)) => report.failed.push(format!("{connection_id}: {why}")),
        }
    }
    Ok(report)
}

/// Finds and closes the holder's connections through one transport.
pub async fn close_all<P: Push>(store: &Store, push: &P, holder: Holder<'_>) -> Result<Closed> {
    let found = find(store, holder).await?;
    close(store, push, &found).await
}
