//! `sendMessage` limits: each connection's messages counted per window on an item of its own partition (`RATE#<window>`).
//!
//! The counter lives beside the connection's items, so `$disconnect` removes
//! it with them and TTL removes it otherwise; any Lambda instance serving the
//! connection sees the same count.

use crate::attr;
use crate::clock;
use crate::condition::OnConditionFailed;
use crate::error::{Error, Result};
use crate::keys::connection_pk;
use crate::store::Store;
use crate::tables::CONNECTIONS;

use super::connections::{Connection, key};

/// Most `sendMessage`s one connection may make per `SEND_WINDOW_SECS`.
pub const MAX_SENDS_PER_WINDOW: i64 = 50;
/// The window `sendMessage`s are counted in, in seconds.
pub const SEND_WINDOW_SECS: i64 = 10;
/// Sort-key prefix of a connection's send counters.
const RATE_SK: &str = "RATE#";

/// Counts one `sendMessage` of a connection; `Throttled` past
/// `MAX_SENDS_PER_WINDOW` in the current window.
pub async fn count_send(store: &Store, connection: &Connection) -> Result<()> {
    let now = clock::now_epoch();
    let window = now - now.rem_euclid(SEND_WINDOW_SECS);
    let result = store
        .client
        .update_item()
        .table_name(store.connections_table()?)
        .set_key(Some(key(
            connection_pk(&connection.connection_id),
            &format!("{RATE_SK}{window}"),
        )))
        .update_expression("ADD #n :one SET #exp = :exp")
        .condition_expression("attribute_not_exists(#n) OR #n < :max")
        .expression_attribute_names("#n", "n")
        .expression_attribute_names("#exp", CONNECTIONS.ttl_attribute.unwrap_or("expiresAt"))
        .expression_attribute_values(":one", attr::n(1))
        .expression_attribute_values(":max", attr::n(MAX_SENDS_PER_WINDOW))
        .expression_attribute_values(":exp", attr::n(window + 2 * SEND_WINDOW_SECS))
        .send()
        .await;
    result.on_condition_failed("count message", || Error::Throttled {
        retry_after_secs: (window + SEND_WINDOW_SECS - now).max(1) as u64,
    })?;
    Ok(())
}
