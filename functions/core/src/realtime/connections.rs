//! WebSocket connections and their subscriptions in the connections table (layout in `tables::CONNECTIONS`).
//!
//! A subscription is two items written in one transaction: the member item
//! under the channel's partition (what the fan-out Queries) and a marker under
//! the connection's partition (what disconnect Queries to find the member items
//! again). Everything carries the connection's expiry, so TTL removes what a
//! lost `$disconnect` leaves behind. The connection's own item counts its
//! subscriptions (`subs`), and every subscribe and unsubscribe moves that count
//! in the same transaction as the marker, conditionally: parallel subscribes
//! cannot pass the cap.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    Delete, DeleteRequest, Put, TransactWriteItem, Update, WriteRequest,
};

use crate::attr::{self, Item};
use crate::clock;
use crate::error::{Error, Result};
use crate::keys::{channel_pk, connection_pk, subscription_sk};
use crate::standing::Standing;
use crate::store::Store;
use crate::tables::{CONNECTIONS, CONNECTIONS_BY_APP};
use crate::users::Role;

use super::Channel;

/// Sort key of a connection's own item.
const META_SK: &str = "META";
/// API Gateway closes every WebSocket after 2 hours; a little slack after that.
pub const CONNECTION_TTL_SECS: i64 = 2 * 3600 + 600;
/// Most channels one connection may subscribe to.
pub const MAX_SUBSCRIPTIONS: usize = 50;
/// BatchWriteItem takes at most 25 requests.
const BATCH: usize = 25;
/// Tries of a subscription transaction that lost a race on the connection's count.
const MAX_ATTEMPTS: u32 = 5;
/// The subscription count on the connection's own item.
const SUBS: &str = "subs";
/// The API key a connection was opened with, on its own item.
pub(super) const KEY_ID: &str = "keyId";
/// The management endpoint that reaches a connection, on its own item.
pub(super) const ENDPOINT: &str = "endpoint";

/// An authenticated connection: who is on the other end, for which app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub connection_id: String,
    pub app_id: String,
    pub user_id: String,
    /// The API key the connection was opened with (revoking it closes the connection).
    pub key_id: String,
    /// The management API that reaches the connection (`WEBSOCKET_MANAGEMENT_URL`
    /// of the function that recorded it), when its host knows one.
    pub endpoint: Option<String>,
    /// The role of the latest access token; permission checks of the fan-out use it.
    pub role: Role,
    /// When the connection's items expire (API Gateway's 2-hour limit, plus slack).
    pub expires_at: i64,
    /// Expiry of the latest access token: after it, nothing is delivered to the
    /// connection and only `auth` (with a fresh token) and `ping` are answered.
    pub token_expires_at: i64,
}

/// A subscriber of a channel, as the fan-out needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub connection_id: String,
    pub user_id: String,
    pub role: Role,
}

/// Who is on a connection, on its own item and on each member item.
fn who(item: &mut Item, connection: &Connection) {
    item.insert("userId".into(), attr::s(&connection.user_id));
    item.insert("role".into(), attr::s(connection.role.as_str()));
    item.insert("tokenExp".into(), attr::n(connection.token_expires_at));
    item.insert(
        CONNECTIONS.ttl_attribute.unwrap_or("expiresAt").into(),
        attr::n(connection.expires_at),
    );
}

fn put_item(table: &str, item: Item) -> Result<TransactWriteItem> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .build()
        .map_err(|e| Error::internal("build connection item", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

pub(super) fn key(pk: String, sk: &str) -> Item {
    let mut item = Item::new();
    item.insert(CONNECTIONS.partition_key.into(), attr::s(pk));
    item.insert(CONNECTIONS.sort_key.unwrap_or("sk").into(), attr::s(sk));
    item
}

fn role_of(item: &Item) -> Role {
    attr::opt_s(item, "role")
        .and_then(|r| Role::parse(&r))
        .unwrap_or(Role::User)
}

/// The connection's own item, as written at connect and at every `auth`.
fn own_item(connection: &Connection) -> Item {
    let mut item = key(connection_pk(&connection.connection_id), META_SK);
    item.insert(
        CONNECTIONS_BY_APP.partition_key.into(),
        attr::s(&connection.app_id),
    );
    item.insert(KEY_ID.into(), attr::s(&connection.key_id));
    if let Some(endpoint) = &connection.endpoint {
        item.insert(ENDPOINT.into(), attr::s(endpoint));
    }
    item.insert("authenticatedAt".into(), attr::s(clock::now_rfc3339()));
    // `userId` (the index's sort key) comes with who is on it.
    who(&mut item, connection);
    item
}

/// The two items of one subscription: the member under the channel's
/// partition and the marker under the connection's.
fn subscription_items(connection: &Connection, channel: &str) -> (Item, Item) {
    let mut member = key(
        channel_pk(&connection.app_id, channel),
        &connection.connection_id,
    );
    who(&mut member, connection);
    let mut marker = key(
        connection_pk(&connection.connection_id),
        &subscription_sk(channel),
    );
    marker.insert("appId".into(), attr::s(&connection.app_id));
    marker.insert("expiresAt".into(), attr::n(connection.expires_at));
    (member, marker)
}

/// Records a new connection, joined to its user's own channel (`user:<id>`),
/// in one transaction; with `standing`, only while the app is active, the key
/// usable and the user enabled with a token issued after their
/// `tokensValidAfter` (checked in the same transaction: a disabled user or a
/// demoted admin cannot reconnect with the token they still hold). `None` only
/// where the caller's standing was settled otherwise.
pub async fn open(
    store: &Store,
    connection: &Connection,
    standing: Option<&Standing>,
) -> Result<()> {
    let table = store.connections_table()?;
    // The user's own channel is not counted: `subs` counts what the client subscribed to.
    let mut item = own_item(connection);
    item.insert(SUBS.into(), attr::n(0));
    let user_channel = Channel::User(connection.user_id.clone()).to_string();
    let (member, marker) = subscription_items(connection, &user_channel);
    let mut items = match standing {
        Some(standing) => standing.checks(store)?,
        None => Vec::new(),
    };
    items.extend([
        put_item(table, item)?,
        put_item(table, member)?,
        put_item(table, marker)?,
    ]);
    match standing {
        Some(standing) => standing.transact(store, items, "record connection").await,
        None => store
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::sdk("record connection", e)),
    }
}

/// The connection, if it is still open (not removed, not past its expiry).
pub async fn get(store: &Store, connection_id: &str) -> Result<Option<Connection>> {
    let out = store
        .client
        .get_item()
        .table_name(store.connections_table()?)
        .set_key(Some(key(connection_pk(connection_id), META_SK)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::sdk("read connection", e))?;
    let Some(item) = out.item() else {
        return Ok(None);
    };
    let expires_at = attr::opt_i64(item, "expiresAt").unwrap_or(0);
    if expires_at <= clock::now_epoch() {
        return Ok(None);
    }
    Ok(Some(Connection {
        connection_id: connection_id.to_owned(),
        app_id: attr::get_s(item, "appId")?,
        user_id: attr::get_s(item, "userId")?,
        // Connections recorded before keys were kept have none: they cannot re-`auth`.
        key_id: attr::opt_s(item, KEY_ID).unwrap_or_default(),
        endpoint: attr::opt_s(item, ENDPOINT),
        role: role_of(item),
        expires_at,
        token_expires_at: attr::opt_i64(item, "tokenExp").unwrap_or(0),
    }))
}

/// Every item of one partition of the connections table, page by page.
async fn partition(store: &Store, pk: String, consistent: bool) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = store
            .client
            .query()
            .table_name(store.connections_table()?)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", CONNECTIONS.partition_key)
            .expression_attribute_values(":pk", attr::s(&pk))
            .consistent_read(consistent)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Error::sdk("read connections", e))?;
        items.extend(out.items().iter().cloned());
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// Every item of a connection's partition (its own item and subscription markers).
async fn own_items(store: &Store, connection_id: &str) -> Result<Vec<Item>> {
    partition(store, connection_pk(connection_id), true).await
}

/// The channels a connection is subscribed to.
pub async fn subscriptions(store: &Store, connection_id: &str) -> Result<Vec<String>> {
    Ok(own_items(store, connection_id)
        .await?
        .iter()
        .filter_map(|item| attr::opt_s(item, "sk"))
        .filter_map(|sk| sk.strip_prefix(&subscription_sk("")).map(str::to_owned))
        .collect())
}

/// What became of a subscription transaction.
enum Move {
    Done,
    /// Already (un)subscribed: nothing to do.
    Unchanged,
    /// The count's condition failed (subscribe: the cap; the connection is gone).
    Refused,
}

/// Runs a subscription transaction whose first item is the count's update and
/// second the marker's conditional write, retrying lost races.
async fn move_subscription(store: &Store, items: Vec<TransactWriteItem>) -> Result<Move> {
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10 << attempt)).await;
        }
        let result = store
            .client
            .transact_write_items()
            .set_transact_items(Some(items.clone()))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(Move::Done),
            Err(err) => err,
        };
        let codes = crate::sessions::cancellation_codes(&err);
        let failed = |i: usize| codes.get(i).is_some_and(|c| c == "ConditionalCheckFailed");
        if failed(1) {
            return Ok(Move::Unchanged);
        }
        if failed(0) {
            return Ok(Move::Refused);
        }
        let conflict = codes.iter().any(|c| c == "TransactionConflict")
            || err.as_service_error().and_then(|e| e.code())
                == Some("TransactionConflictException");
        if !conflict {
            return Err(Error::sdk("change subscription", err));
        }
    }
    Err(Error::Conflict(
        "too many concurrent subscription changes; retry".into(),
    ))
}

/// The connection's count moved by `delta`, only while the connection exists:
/// up to `MAX_SUBSCRIPTIONS` when adding. Removing relies on the marker's
/// condition (only a real subscription is removed); a count from before
/// counting began may go below zero, never above the cap.
fn count_update(table: &str, connection_id: &str, delta: i64) -> Result<TransactWriteItem> {
    let mut update = Update::builder()
        .table_name(table)
        .set_key(Some(key(connection_pk(connection_id), META_SK)))
        .update_expression("SET #subs = if_not_exists(#subs, :zero) + :delta")
        .expression_attribute_names("#pk", CONNECTIONS.partition_key)
        .expression_attribute_names("#subs", SUBS)
        .expression_attribute_values(":zero", attr::n(0))
        .expression_attribute_values(":delta", attr::n(delta));
    update = if delta > 0 {
        update
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#subs) OR #subs < :cap)",
            )
            .expression_attribute_values(":cap", attr::n(MAX_SUBSCRIPTIONS))
    } else {
        update.condition_expression("attribute_exists(#pk)")
    };
    let update = update
        .build()
        .map_err(|e| Error::internal("build subscription count", e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// Subscribes; idempotent. Refused beyond `MAX_SUBSCRIPTIONS`: the count, the
/// marker and the member item are written in one transaction, conditional on
/// the count being under the cap and the marker being new.
pub async fn subscribe(store: &Store, connection: &Connection, channel: &Channel) -> Result<()> {
    let name = channel.to_string();
    // The user's own channel is joined at connect, outside the count; clients
    // cannot name it, but it must never move the count either way.
    if matches!(channel, Channel::User(_)) {
        return Ok(());
    }
    let table = store.connections_table()?;
    let (member, marker) = subscription_items(connection, &name);
    let marker = Put::builder()
        .table_name(table)
        .set_item(Some(marker))
        .condition_expression("attribute_not_exists(#pk)")
        .expression_attribute_names("#pk", CONNECTIONS.partition_key)
        .build()
        .map_err(|e| Error::internal("build subscription marker", e))?;
    let items = vec![
        count_update(table, &connection.connection_id, 1)?,
        TransactWriteItem::builder().put(marker).build(),
        put_item(table, member)?,
    ];
    match move_subscription(store, items).await? {
        Move::Done | Move::Unchanged => Ok(()),
        Move::Refused => Err(Error::Conflict(format!(
            "a connection may subscribe to at most {MAX_SUBSCRIPTIONS} channels; unsubscribe first"
        ))),
    }
}

/// Replaces who is on a connection (a fresh token: new role and token expiry)
/// on its own item and on every member item, so the fan-out sees it at once;
/// in one transaction with `standing`'s checks (the fresh token's user enabled
/// and the token newer than their `tokensValidAfter`, key and app usable).
pub async fn reauthenticate(
    store: &Store,
    connection: &Connection,
    standing: &Standing,
) -> Result<()> {
    let table = store.connections_table()?;
    // The own item is updated, not replaced, so its subscription count stays.
    let own = Update::builder()
        .table_name(table)
        .set_key(Some(key(connection_pk(&connection.connection_id), META_SK)))
        .update_expression(
            "SET userId = :user, #role = :role, tokenExp = :exp, authenticatedAt = :at",
        )
        .condition_expression("attribute_exists(#pk)")
        .expression_attribute_names("#pk", CONNECTIONS.partition_key)
        .expression_attribute_names("#role", "role")
        .expression_attribute_values(":user", attr::s(&connection.user_id))
        .expression_attribute_values(":role", attr::s(connection.role.as_str()))
        .expression_attribute_values(":exp", attr::n(connection.token_expires_at))
        .expression_attribute_values(":at", attr::s(clock::now_rfc3339()))
        .build()
        .map_err(|e| Error::internal("build connection update", e))?;
    let mut writes = standing.checks(store)?;
    writes.push(TransactWriteItem::builder().update(own).build());
    for channel in subscriptions(store, &connection.connection_id).await? {
        let mut member = key(
            channel_pk(&connection.app_id, &channel),
            &connection.connection_id,
        );
        who(&mut member, connection);
        // At most 3 + 1 + MAX_SUBSCRIPTIONS items; one transaction holds 100.
        writes.push(put_item(table, member)?);
    }
    standing.transact(store, writes, "refresh connection").await
}

/// Unsubscribes; idempotent. The marker's delete is conditional on it
/// existing, so the count moves only for a real subscription.
pub async fn unsubscribe(store: &Store, connection: &Connection, channel: &Channel) -> Result<()> {
    // The user's own channel is left only at disconnect (and was never counted).
    if matches!(channel, Channel::User(_)) {
        return Ok(());
    }
    let name = channel.to_string();
    let table = store.connections_table()?;
    let marker = Delete::builder()
        .table_name(table)
        .set_key(Some(key(
            connection_pk(&connection.connection_id),
            &subscription_sk(&name),
        )))
        .condition_expression("attribute_exists(#pk)")
        .expression_attribute_names("#pk", CONNECTIONS.partition_key)
        .build()
        .map_err(|e| Error::internal("build unsubscribe", e))?;
    let member = Delete::builder()
        .table_name(table)
        .set_key(Some(key(
            channel_pk(&connection.app_id, &name),
            &connection.connection_id,
        )))
        .build()
        .map_err(|e| Error::internal("build unsubscribe", e))?;
    let items = vec![
        count_update(table, &connection.connection_id, -1)?,
        TransactWriteItem::builder().delete(marker).build(),
        TransactWriteItem::builder().delete(member).build(),
    ];
    // Refused: the connection is gone, and with it its subscriptions.
    move_subscription(store, items).await.map(|_| ())
}

/// Removes a connection and all its subscriptions; idempotent. Used on
/// `$disconnect` and when a push finds the connection gone.
pub async fn close(store: &Store, connection_id: &str) -> Result<()> {
    let items = own_items(store, connection_id).await?;
    let mut keys = Vec::with_capacity(items.len() * 2);
    for item in &items {
        let sk = attr::get_s(item, "sk")?;
        if let (Some(channel), Some(app_id)) = (
            sk.strip_prefix(&subscription_sk("")),
            attr::opt_s(item, "appId"),
        ) {
            keys.push(key(channel_pk(&app_id, channel), connection_id));
        }
        keys.push(key(connection_pk(connection_id), &sk));
    }
    delete_keys(store, keys).await
}

/// The subscribers of one app's channel (expired ones left by a lost disconnect excluded).
pub async fn members(store: &Store, app_id: &str, channel: &str) -> Result<Vec<Member>> {
    let now = clock::now_epoch();
    partition(store, channel_pk(app_id, channel), false)
        .await?
        .iter()
        // Connections past their expiry (a lost $disconnect) or their token's get nothing.
        .filter(|item| {
            attr::opt_i64(item, "expiresAt").unwrap_or(0) > now
                && attr::opt_i64(item, "tokenExp").unwrap_or(0) > now
        })
        .map(|item| {
            Ok(Member {
                connection_id: attr::get_s(item, "sk")?,
                user_id: attr::get_s(item, "userId")?,
                role: role_of(item),
            })
        })
        .collect()
}

/// Deletes items by key in batches, retrying what DynamoDB leaves unprocessed.
async fn delete_keys(store: &Store, keys: Vec<Item>) -> Result<()> {
    let table = store.connections_table()?;
    for chunk in keys.chunks(BATCH) {
        let mut requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|k| -> Result<WriteRequest> {
                let delete = DeleteRequest::builder()
                    .set_key(Some(k.clone()))
                    .build()
                    .map_err(|e| Error::internal("build delete", e))?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<_>>()?;
        for attempt in 0..5u32 {
            if requests.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            let out = store
                .client
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await
                .map_err(|e| Error::sdk("remove connection items", e))?;
            requests = out
                .unprocessed_items()
                .and_then(|u| u.get(table))
                .cloned()
                .unwrap_or_default();
        }
        if !requests.is_empty() {
            return Err(Error::Internal(format!(
                "{} connection items stayed unprocessed",
                requests.len()
            )));
        }
    }
    Ok(())
}
