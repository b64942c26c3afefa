//! The lane's single steps, each one conditional write, transaction or consistent read: free, hand over, rebuild, read the held markers and the lane.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};

use super::{IDLE_LANE_SECS, Lane, LaneState, Marker, RecordOrder};
use crate::attr;
use crate::condition::{ConditionFailure, OnConditionFailed};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::webhooks::deliveries::{self, DeliveryState};
use crate::webhooks::store::{query_prefix, sort_key_name};

/// Frees the lane if `me` is its head and nothing is held.
pub(super) async fn release(store: &Store, lane: &Lane<'_>, me: &str, now: i64) -> Result<bool> {
    let update = base_update(store, lane)?
        .update_expression("SET #prev = :me, #exp = :exp REMOVE #head, #headSeq")
        .condition_expression("#head = :me AND #held = :zero")
        .expression_attribute_names("#prev", "prev")
        .expression_attribute_names("#exp", "expiresAt")
        .expression_attribute_names("#headSeq", "headSeq")
        .expression_attribute_values(":me", attr::s(me))
        .expression_attribute_values(":exp", attr::n(now + IDLE_LANE_SECS))
        .expression_attribute_values(":zero", attr::n(0));
    conditional(update.send().await, "free webhook lane")
}

/// Moves the lane from `me` to `next` (held → pending) and drops its marker, in
/// one transaction. A marker whose delivery is no longer held (replayed by hand,
/// or expired) is dropped without handing over; `false` then, and when another
/// worker moved the lane first.
pub(super) async fn hand_over(
    store: &Store,
    lane: &Lane<'_>,
    me: &str,
    next: &Marker,
) -> Result<bool> {
    let table = store.webhooks_table()?;
    let mut step = Update::builder()
        .table_name(table)
        .set_key(Some(lane.key()))
        .condition_expression("#head = :me")
        .expression_attribute_names("#head", "head")
        .expression_attribute_names("#held", "held")
        .expression_attribute_values(":me", attr::s(me))
        .expression_attribute_values(":one", attr::n(1));
    let drop_marker = Delete::builder()
        .table_name(table)
        .set_key(Some(lane.held_key(&next.sequence)))
        .condition_expression("attribute_exists(#sk)")
        .expression_attribute_names("#sk", sort_key_name());
    let drop_marker = TransactWriteItem::builder()
        .delete(build(drop_marker.build())?)
        .build();
    let wake = Update::builder()
        .table_name(table)
        .set_key(Some(deliveries::key(lane.app_id, &next.delivery_id)))
        .update_expression("SET #state = :pending")
        .condition_expression("#state = :held")
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":pending", attr::s(DeliveryState::Pending.as_str()))
        .expression_attribute_values(":held", attr::s(DeliveryState::Held.as_str()));
    let moved = step
        .clone()
        .update_expression("SET #head = :next, #headSeq = :seq, #prev = :me, #held = #held - :one")
        .expression_attribute_names("#headSeq", "headSeq")
        .expression_attribute_names("#prev", "prev")
        .expression_attribute_values(":next", attr::s(&next.delivery_id))
        .expression_attribute_values(":seq", attr::s(&next.sequence));
    let items = vec![
        TransactWriteItem::builder()
            .update(build(moved.build())?)
            .build(),
        drop_marker.clone(),
        TransactWriteItem::builder()
            .update(build(wake.build())?)
            .build(),
    ];
    let Written::Lost(codes) = transact(store, items, "hand over webhook lane").await? else {
        return Ok(true);
    };
    let failed = |i: usize| codes.get(i).map(String::as_str) == Some("ConditionalCheckFailed");
    if failed(2) && !failed(0) && !failed(1) {
        step = step.update_expression("SET #held = #held - :one");
        let items = vec![
            TransactWriteItem::builder()
                .update(build(step.build())?)
                .build(),
            drop_marker,
        ];
        transact(store, items, "drop webhook lane marker").await?;
    }
    Ok(false)
}

/// Rebuilds a lost lane item from its markers, with `me` as head so that
/// [`advance`] hands it on; `false` when nothing is held.
pub(super) async fn adopt(
    store: &Store,
    lane: &Lane<'_>,
    me: &str,
    order: &RecordOrder,
) -> Result<bool> {
    let markers = held(store, lane, None).await?;
    let Some(last) = markers.last() else {
        return Ok(false);
    };
    let mut item = lane.key();
    item.insert("head".into(), attr::s(me));
    item.insert("headSeq".into(), attr::s(&order.sequence));
    item.insert(
        "lastSeq".into(),
        attr::s(last.sequence.as_str().max(order.sequence.as_str())),
    );
    item.insert("held".into(), attr::n(markers.len()));
    let put = store
        .client
        .put_item()
        .table_name(store.webhooks_table()?)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#sk)")
        .expression_attribute_names("#sk", sort_key_name())
        .send()
        .await;
    conditional(put, "rebuild webhook lane")?;
    Ok(true)
}

pub(super) async fn first_held(store: &Store, lane: &Lane<'_>) -> Result<Option<Marker>> {
    Ok(held(store, lane, Some(1)).await?.into_iter().next())
}

/// The lane's held markers in stream order (at most `limit`).
pub(super) async fn held(
    store: &Store,
    lane: &Lane<'_>,
    limit: Option<i32>,
) -> Result<Vec<Marker>> {
    let prefix = lane.held_prefix();
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = query_prefix(store, lane.app_id, &prefix)?
            .consistent_read(true)
            .set_limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Error::sdk("read held webhook deliveries", e))?;
        for item in page.items() {
            let sk = attr::get_s(item, &sort_key_name())?;
            out.push(Marker {
                sequence: sk.strip_prefix(&prefix).unwrap_or(&sk).to_owned(),
                delivery_id: attr::get_s(item, "deliveryId")?,
            });
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() || limit.is_some_and(|l| out.len() >= l as usize) {
            return Ok(out);
        }
    }
}

pub(super) async fn read(store: &Store, lane: &Lane<'_>) -> Result<Option<LaneState>> {
    let found = store
        .client
        .get_item()
        .table_name(store.webhooks_table()?)
        .set_key(Some(lane.key()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::sdk("read webhook lane", e))?;
    Ok(found.item().map(|item| LaneState {
        head: attr::opt_s(item, "head"),
        head_seq: attr::opt_s(item, "headSeq"),
        last_seq: attr::opt_s(item, "lastSeq"),
        held: attr::opt_i64(item, "held").unwrap_or_default(),
        prev: attr::opt_s(item, "prev"),
    }))
}

pub(super) fn base_update(
    store: &Store,
    lane: &Lane<'_>,
) -> Result<aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder> {
    Ok(store
        .client
        .update_item()
        .table_name(store.webhooks_table()?)
        .set_key(Some(lane.key()))
        .expression_attribute_names("#head", "head")
        .expression_attribute_names("#held", "held"))
}

/// `Ok(false)` when the write's condition failed.
pub(super) fn conditional<T, E, R>(
    outcome: std::result::Result<T, SdkError<E, R>>,
    context: &'static str,
) -> Result<bool>
where
    E: ConditionFailure + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    Ok(outcome.ok_if_condition_failed(context)?.is_some())
}

/// How a transaction ended, short of an error.
pub(super) enum Written {
    Done,
    /// A condition failed or another transaction interfered: the cancellation
    /// reason of each item, in order (`None` for those that passed).
    Lost(Vec<String>),
}

/// Runs a transaction.
pub(super) async fn transact(
    store: &Store,
    items: Vec<TransactWriteItem>,
    context: &'static str,
) -> Result<Written> {
    let Err(err) = store
        .client
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await
    else {
        return Ok(Written::Done);
    };
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    let codes = crate::sessions::cancellation_codes(&err);
    let conflict =
        err.as_service_error().and_then(|e| e.code()) == Some("TransactionConflictException");
    if conflict
        || codes
            .iter()
            .any(|c| c == "ConditionalCheckFailed" || c == "TransactionConflict")
    {
        Ok(Written::Lost(codes))
    } else {
        Err(Error::sdk(context, err))
    }
}

pub(super) fn build<T>(
    built: std::result::Result<T, aws_sdk_dynamodb::error::BuildError>,
) -> Result<T> {
    built.map_err(|e| Error::internal("build webhook lane write", e))
}
