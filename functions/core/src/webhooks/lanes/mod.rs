//! Per-record order of data-event deliveries: a lane per subscription and record lets one delivery be in flight and holds later ones, in stream order, until it ends.
//!
//! Items, in the app's webhooks partition (`tables::WEBHOOKS`):
//! - the lane, `sk=L#{subscriptionId}#{resource}/{recordId}`: `head` (the delivery in
//!   flight; absent when idle), `headSeq`, `lastSeq` (the highest stream sequence admitted,
//!   so a retried stream batch admits nothing twice), `held` (how many wait), `prev` (the
//!   head before, so a repeated job of it can queue the head it handed over to again) and
//!   `expiresAt` only while idle ([`IDLE_LANE_SECS`]; a busy lane never expires);
//! - one marker per held delivery, `sk=H#{subscriptionId}#{resource}/{recordId}#{sequence}`
//!   → `deliveryId`, the sequence zero-padded to [`SEQUENCE_DIGITS`] so one Query reads
//!   the next in stream order; it expires with the delivery log.
//!
//! Every change is a conditional write or a transaction: concurrent batches, duplicated
//! queue messages and concurrent workers cannot put two deliveries of a lane in flight,
//! admit an event twice, or leave a held delivery with nobody to queue it.

mod steps;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use self::steps::{
    Written, adopt, base_update, build, conditional, first_held, hand_over, read, release, transact,
};
use super::deliveries::{self, Delivery, DeliveryState, RETENTION_SECS};
use super::events::Event;
use super::store::{partition, sort_key_name};
use super::worker::Job;
use crate::attr::{self, Item};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::tables::WEBHOOKS;

/// Sort-key prefix of lane items.
pub const LANE_PREFIX: &str = "L#";
/// Sort-key prefix of held-delivery markers.
pub const HELD_PREFIX: &str = "H#";
/// Digits a stream sequence number is padded to (DynamoDB's are at most 40).
pub const SEQUENCE_DIGITS: usize = 40;
/// An idle lane is kept this long (its `lastSeq` drops a stream record the
/// stream retries, which it does for at most a day), then expires.
pub const IDLE_LANE_SECS: i64 = 2 * 86_400;
/// Rounds of a conditional exchange before giving up (the caller retries).
const ROUNDS: usize = 5;

/// Where a data event sits in its record's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordOrder {
    /// `{resource}/{recordId}`.
    pub record: String,
    /// The stream sequence number, zero-padded to [`SEQUENCE_DIGITS`].
    pub sequence: String,
}

impl RecordOrder {
    /// `None` when the sequence number is not one DynamoDB gives (the event is then unordered).
    pub fn new(resource: &str, record_id: &str, stream_sequence: &str) -> Option<Self> {
        let digits = !stream_sequence.is_empty()
            && stream_sequence.len() <= SEQUENCE_DIGITS
            && stream_sequence.bytes().all(|b| b.is_ascii_digit());
        digits.then(|| Self {
            record: format!("{resource}/{record_id}"),
            sequence: format!("{stream_sequence:0>SEQUENCE_DIGITS$}"),
        })
    }
}

/// What fan-out did with one ordered event for one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// The lane was idle: this delivery is in flight, queue its first attempt.
    Queue(Job),
    /// Logged as `held` behind the delivery in flight (its id).
    Held(String),
    /// Admitted before (a retried stream batch): nothing new.
    Duplicate,
}

/// One lane's keys.
struct Lane<'a> {
    app_id: &'a str,
    subscription_id: &'a str,
    record: &'a str,
}

impl Lane<'_> {
    fn key_with(&self, sort_key: String) -> Item {
        Item::from([
            (
                WEBHOOKS.partition_key.to_owned(),
                attr::s(partition(self.app_id)),
            ),
            (sort_key_name(), attr::s(sort_key)),
        ])
    }
    fn key(&self) -> Item {
        let (sub, record) = (self.subscription_id, self.record);
        self.key_with(format!("{LANE_PREFIX}{sub}#{record}"))
    }
    fn held_prefix(&self) -> String {
        format!("{HELD_PREFIX}{}#{}#", self.subscription_id, self.record)
    }
    fn held_key(&self, sequence: &str) -> Item {
        self.key_with(format!("{}{sequence}", self.held_prefix()))
    }
}

/// The lane item as read.
#[derive(Debug, Default)]
struct LaneState {
    head: Option<String>,
    head_seq: Option<String>,
    last_seq: Option<String>,
    held: i64,
    prev: Option<String>,
}

/// A held delivery, next in its lane.
struct Marker {
    sequence: String,
    delivery_id: String,
}

/// Logs the delivery of an ordered event to one subscription: in flight when
/// its lane is idle (one transaction), `held` when busy (a second one).
pub async fn admit(
    store: &Store,
    event: &Event,
    subscription_id: &str,
    order: &RecordOrder,
    now: i64,
) -> Result<Admission> {
    let lane = Lane {
        app_id: &event.app_id,
        subscription_id,
        record: &order.record,
    };
    let table = store.webhooks_table()?;
    let seq = attr::s(&order.sequence);
    for _ in 0..ROUNDS {
        let log = |state| {
            let (delivery, item) = deliveries::new_item(
                &event.app_id,
                subscription_id,
                &event.id,
                event.event_type.as_str(),
                &event.body,
                Some(order),
                state,
            );
            let put = Put::builder().table_name(table).set_item(Some(item));
            Ok::<_, Error>((
                delivery,
                TransactWriteItem::builder()
                    .put(build(put.build())?)
                    .build(),
            ))
        };
        // The lane is idle and has not seen this sequence: take it.
        let (delivery, put) = log(DeliveryState::Pending)?;
        let take = Update::builder()
            .table_name(table)
            .set_key(Some(lane.key()))
            .update_expression(
                "SET #head = :d, #headSeq = :s, #last = :s, #held = if_not_exists(#held, :zero) REMOVE #exp",
            )
            .condition_expression(
                "attribute_not_exists(#head) AND (attribute_not_exists(#last) OR #last < :s)",
            )
            .expression_attribute_names("#head", "head")
            .expression_attribute_names("#headSeq", "headSeq")
            .expression_attribute_names("#last", "lastSeq")
            .expression_attribute_names("#held", "held")
            .expression_attribute_names("#exp", "expiresAt")
            .expression_attribute_values(":d", attr::s(&delivery.delivery_id))
            .expression_attribute_values(":s", seq.clone())
            .expression_attribute_values(":zero", attr::n(0));
        let take = TransactWriteItem::builder()
            .update(build(take.build())?)
            .build();
        if let Written::Done = transact(store, vec![put, take], "admit webhook delivery").await? {
            return Ok(Admission::Queue(Job::first(
                &event.app_id,
                &delivery.delivery_id,
                now,
            )));
        }
        // Busy, and this sequence is newer than any admitted: hold it.
        let (delivery, put) = log(DeliveryState::Held)?;
        let mut marker = lane.held_key(&order.sequence);
        marker.insert("deliveryId".into(), attr::s(&delivery.delivery_id));
        marker.insert("expiresAt".into(), attr::n(now + RETENTION_SECS));
        let marker = Put::builder()
            .table_name(table)
            .set_item(Some(marker))
            .condition_expression("attribute_not_exists(#sk)")
            .expression_attribute_names("#sk", sort_key_name());
        let count = Update::builder()
            .table_name(table)
            .set_key(Some(lane.key()))
            .update_expression("SET #last = :s ADD #held :one")
            .condition_expression("attribute_exists(#head) AND #last < :s")
            .expression_attribute_names("#head", "head")
            .expression_attribute_names("#last", "lastSeq")
            .expression_attribute_names("#held", "held")
            .expression_attribute_values(":s", seq.clone())
            .expression_attribute_values(":one", attr::n(1));
        let items = vec![
            put,
            TransactWriteItem::builder()
                .put(build(marker.build())?)
                .build(),
            TransactWriteItem::builder()
                .update(build(count.build())?)
                .build(),
        ];
        if let Written::Done = transact(store, items, "hold webhook delivery").await? {
            return Ok(Admission::Held(delivery.delivery_id));
        }
        // Neither: admitted before, or the lane changed between the two.
        let state = read(store, &lane).await?.unwrap_or_default();
        if state.last_seq.as_deref() >= Some(order.sequence.as_str()) {
            // If this very event is in flight, queue it again: its first run may
            // have stopped before queueing, and the claim drops a duplicate.
            return Ok(match (state.head, state.head_seq) {
                (Some(head), Some(s)) if s == order.sequence => {
                    Admission::Queue(Job::first(&event.app_id, &head, now))
                }
                _ => Admission::Duplicate,
            });
        }
    }
    Err(Error::Conflict(format!(
        "the order lane of {} kept changing; retrying",
        order.record
    )))
}

/// Called when `delivery` ended (delivered, failed for good, or its subscription
/// disabled or removed): frees its lane (one conditional write), or hands the
/// lane to the next held delivery, whose first attempt is returned to queue.
/// Repeating it (a duplicated job) returns that attempt again or nothing.
pub async fn advance(store: &Store, delivery: &Delivery, now: i64) -> Result<Option<Job>> {
    let Some(order) = delivery.order() else {
        return Ok(None);
    };
    let lane = Lane {
        app_id: &delivery.app_id,
        subscription_id: &delivery.subscription_id,
        record: &order.record,
    };
    let me = delivery.delivery_id.as_str();
    let app = delivery.app_id.as_str();
    for _ in 0..ROUNDS {
        if release(store, &lane, me, now).await? {
            return Ok(None);
        }
        let Some(state) = read(store, &lane).await? else {
            // The lane item is gone (deleted by hand): rebuild it from the markers.
            if adopt(store, &lane, me, &order).await? {
                continue;
            }
            return Ok(None);
        };
        if state.head.as_deref() != Some(me) {
            // Handed over already: queue the head again if we handed it over.
            return Ok(match state.head {
                Some(head) if state.prev.as_deref() == Some(me) => {
                    Some(Job::first(app, &head, now))
                }
                _ => None,
            });
        }
        let Some(next) = first_held(store, &lane).await? else {
            // Counted but no marker left (expired): recount from zero, unless one came meanwhile.
            let reset = base_update(store, &lane)?
                .update_expression("SET #held = :zero")
                .condition_expression("#head = :me AND #held = :seen")
                .expression_attribute_values(":me", attr::s(me))
                .expression_attribute_values(":seen", attr::n(state.held))
                .expression_attribute_values(":zero", attr::n(0));
            conditional(reset.send().await, "recount webhook lane")?;
            continue;
        };
        if hand_over(store, &lane, me, &next).await? {
            return Ok(Some(Job::first(app, &next.delivery_id, now)));
        }
    }
    Err(Error::Conflict(format!(
        "the order lane of {} kept changing; retrying",
        order.record
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_pad_to_sort_in_stream_order() {
        let early = RecordOrder::new("orders", "r1", "900000000000000000001").unwrap();
        let late = RecordOrder::new("orders", "r1", "10000000000000000000000").unwrap();
        assert_eq!(early.record, "orders/r1");
        assert_eq!(early.sequence.len(), SEQUENCE_DIGITS);
        assert!(
            early.sequence < late.sequence,
            "shorter numbers are smaller"
        );
        assert_eq!(RecordOrder::new("orders", "r1", "12a"), None);
        assert_eq!(RecordOrder::new("orders", "r1", ""), None);
        assert_eq!(RecordOrder::new("orders", "r1", &"9".repeat(41)), None);
    }
}
