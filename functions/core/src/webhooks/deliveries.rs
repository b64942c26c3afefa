//! The delivery log: one item per event and subscription (`sk=D#{deliveryId}`) holding the body and every attempt, expired by TTL.
//!
//! The producer writes the item (state `pending`, or `held` behind an earlier
//! event of the same record, see `lanes.rs`) before it queues the job, so
//! queue messages stay small, the log shows what is waiting, and a redelivery
//! is only a new job naming the same item: the same body and `webhook-id`.
//! Each attempt is claimed first (`claim.rs`), so a duplicated queue message
//! makes no second attempt.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::Serialize;

use super::lanes::RecordOrder;
use super::send::Attempt;
use super::store::{partition, query_prefix, sort_key_name};
use crate::attr::{self, Item};
use crate::clock;
use crate::condition::OnConditionFailed;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::tables::WEBHOOKS;

/// How long the log keeps a delivery: 14 days.
pub const RETENTION_SECS: i64 = 14 * 86_400;
/// Sort-key prefix of delivery items.
pub const DELIVERY_PREFIX: &str = "D#";

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Queued, not attempted yet.
    Pending,
    /// Waiting for an earlier event of the same record to this subscription
    /// to be delivered or to fail (see `lanes.rs`); queued then, in stream order.
    Held,
    /// Failed so far; `nextRetryAt` says when it is tried again.
    Retrying,
    Delivered,
    /// Every attempt failed, or the subscription went away or was disabled.
    Failed,
}

impl DeliveryState {
    /// Delivered or failed for good: no attempt of it is due.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Delivered | Self::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Held => "held",
            Self::Retrying => "retrying",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "held" => Self::Held,
            "retrying" => Self::Retrying,
            "delivered" => Self::Delivered,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// One attempt as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedAttempt {
    /// Epoch seconds it started.
    pub at: i64,
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub response_excerpt: String,
    pub duration_ms: u64,
}

/// A delivery of one event to one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub app_id: String,
    pub delivery_id: String,
    pub subscription_id: String,
    /// The `webhook-id`: the event's stable id.
    pub event_id: String,
    pub event_type: String,
    pub state: DeliveryState,
    pub created_at: String,
    pub attempts: Vec<LoggedAttempt>,
    /// Epoch seconds of the next attempt, while retrying.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_retry_at: Option<i64>,
    /// A data event's record (`{resource}/{id}`): its deliveries to this
    /// subscription are made in stream order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// The stream sequence number (zero-padded) of a data event.
    #[serde(skip)]
    pub sequence: Option<String>,
    /// The attempt number last claimed, and when (while it runs).
    #[serde(skip)]
    pub claimed: Option<(u32, Option<i64>)>,
    /// The JSON body delivered (not listed).
    #[serde(skip)]
    pub body: String,
}

impl Delivery {
    /// Where the delivery sits in its record's order, for a data event.
    pub fn order(&self) -> Option<RecordOrder> {
        Some(RecordOrder {
            record: self.record.clone()?,
            sequence: self.sequence.clone()?,
        })
    }
}

pub(crate) fn key(app_id: &str, delivery_id: &str) -> Item {
    Item::from([
        (
            WEBHOOKS.partition_key.to_owned(),
            attr::s(partition(app_id)),
        ),
        (
            sort_key_name(),
            attr::s(format!("{DELIVERY_PREFIX}{delivery_id}")),
        ),
    ])
}

/// A new delivery and its log item, in `state` (`pending` or `held`), not yet written.
pub fn new_item(
    app_id: &str,
    subscription_id: &str,
    event_id: &str,
    event_type: &str,
    body: &str,
    order: Option<&RecordOrder>,
    state: DeliveryState,
) -> (Delivery, Item) {
    let delivery = Delivery {
        app_id: app_id.to_owned(),
        delivery_id: format!("dlv_{}", uuid::Uuid::now_v7().simple()),
        subscription_id: subscription_id.to_owned(),
        event_id: event_id.to_owned(),
        event_type: event_type.to_owned(),
        state,
        created_at: clock::now_rfc3339(),
        attempts: Vec::new(),
        next_retry_at: None,
        record: order.map(|o| o.record.clone()),
        sequence: order.map(|o| o.sequence.clone()),
        claimed: None,
        body: body.to_owned(),
    };
    let mut item = key(app_id, &delivery.delivery_id);
    item.insert("subscriptionId".into(), attr::s(subscription_id));
    item.insert("eventId".into(), attr::s(event_id));
    item.insert("eventType".into(), attr::s(event_type));
    item.insert("state".into(), attr::s(delivery.state.as_str()));
    item.insert("createdAt".into(), attr::s(&delivery.created_at));
    item.insert("attempts".into(), AttributeValue::L(Vec::new()));
    item.insert("body".into(), attr::s(body));
    if let Some(order) = order {
        item.insert("record".into(), attr::s(&order.record));
        item.insert("sequence".into(), attr::s(&order.sequence));
    }
    item.insert(
        "expiresAt".into(),
        attr::n(clock::now_epoch() + RETENTION_SECS),
    );
    (delivery, item)
}

/// Logs a new delivery of an unordered event (state `pending`); returns it (its id is time-ordered).
pub async fn create(
    store: &Store,
    app_id: &str,
    subscription_id: &str,
    event_id: &str,
    event_type: &str,
    body: &str,
) -> Result<Delivery> {
    let (delivery, item) = new_item(
        app_id,
        subscription_id,
        event_id,
        event_type,
        body,
        None,
        DeliveryState::Pending,
    );
    store
        .client
        .put_item()
        .table_name(store.webhooks_table()?)
        .set_item(Some(item))
        .send()
        .await
        .map_err(|e| Error::sdk("log webhook delivery", e))?;
    Ok(delivery)
}

/// One delivery.
pub async fn get(store: &Store, app_id: &str, delivery_id: &str) -> Result<Delivery> {
    let found = store
        .client
        .get_item()
        .table_name(store.webhooks_table()?)
        .set_key(Some(key(app_id, delivery_id)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::sdk("read webhook delivery", e))?;
    found
        .item()
        .map(from_item)
        .transpose()?
        .ok_or_else(|| Error::NotFound(format!("webhook delivery {delivery_id}")))
}

/// An app's deliveries, newest first, at most `limit`; `failed_only` keeps
/// those that are retrying or failed for good.
pub async fn list(
    store: &Store,
    app_id: &str,
    failed_only: bool,
    limit: usize,
) -> Result<Vec<Delivery>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let mut query = query_prefix(store, app_id, DELIVERY_PREFIX)?
            .scan_index_forward(false)
            .set_exclusive_start_key(start);
        if failed_only {
            query = query
                .filter_expression("#state IN (:retrying, :failed)")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":retrying", attr::s("retrying"))
                .expression_attribute_values(":failed", attr::s("failed"));
        }
        let page = query
            .send()
            .await
            .map_err(|e| Error::sdk("list webhook deliveries", e))?;
        for item in page.items() {
            out.push(from_item(item)?);
            if out.len() >= limit {
                return Ok(out);
            }
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(out);
        }
    }
}

/// Appends an attempt and sets the state (and the next retry, while retrying).
pub async fn record_attempt(
    store: &Store,
    app_id: &str,
    delivery_id: &str,
    at: i64,
    attempt: &Attempt,
    state: DeliveryState,
    next_retry_at: Option<i64>,
) -> Result<()> {
    let mut logged = Item::new();
    logged.insert("at".into(), attr::n(at));
    if let Some(status) = attempt.status {
        logged.insert("status".into(), attr::n(status));
    }
    if let Some(error) = &attempt.error {
        logged.insert("error".into(), attr::s(error));
    }
    logged.insert("excerpt".into(), attr::s(&attempt.response_excerpt));
    logged.insert("durationMs".into(), attr::n(attempt.duration_ms));
    let update = store
        .client
        .update_item()
        .table_name(store.webhooks_table()?)
        .set_key(Some(key(app_id, delivery_id)))
        .condition_expression("attribute_exists(#sk)")
        .expression_attribute_names("#sk", sort_key_name())
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":one", AttributeValue::L(vec![AttributeValue::M(logged)]))
        .expression_attribute_values(":state", attr::s(state.as_str()))
        .return_values(ReturnValue::None);
    let update = match next_retry_at {
        Some(at) => update
            .update_expression(
                "SET attempts = list_append(attempts, :one), #state = :state, nextRetryAt = :next REMOVE claimedAt",
            )
            .expression_attribute_values(":next", attr::n(at)),
        None => update.update_expression(
            "SET attempts = list_append(attempts, :one), #state = :state REMOVE nextRetryAt, claimedAt",
        ),
    };
    update
        .send()
        .await
        .on_condition_failed("log webhook attempt", || {
            Error::NotFound(format!("webhook delivery {delivery_id}"))
        })?;
    Ok(())
}

/// Sets a delivery back to `pending` with no claim, for a replay from attempt 1 (`redeliver`).
pub async fn reset(store: &Store, app_id: &str, delivery_id: &str) -> Result<()> {
    update_state(
        store,
        app_id,
        delivery_id,
        DeliveryState::Pending,
        "SET #state = :state REMOVE nextRetryAt, claimedAt, claimedAttempt",
    )
    .await
}

/// Sets a delivery's state without an attempt (given up).
pub async fn set_state(
    store: &Store,
    app_id: &str,
    delivery_id: &str,
    state: DeliveryState,
) -> Result<()> {
    update_state(
        store,
        app_id,
        delivery_id,
        state,
        "SET #state = :state REMOVE nextRetryAt, claimedAt",
    )
    .await
}

async fn update_state(
    store: &Store,
    app_id: &str,
    delivery_id: &str,
    state: DeliveryState,
    expression: &str,
) -> Result<()> {
    store
        .client
        .update_item()
        .table_name(store.webhooks_table()?)
        .set_key(Some(key(app_id, delivery_id)))
        .condition_expression("attribute_exists(#sk)")
        .expression_attribute_names("#sk", sort_key_name())
        .update_expression(expression)
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":state", attr::s(state.as_str()))
        .send()
        .await
        .on_condition_failed("update webhook delivery", || {
            Error::NotFound(format!("webhook delivery {delivery_id}"))
        })?;
    Ok(())
}

pub(crate) fn from_item(item: &Item) -> Result<Delivery> {
    let sk = attr::get_s(item, &sort_key_name())?;
    let app_id = attr::get_s(item, WEBHOOKS.partition_key)?;
    let attempts = match item.get("attempts") {
        Some(AttributeValue::L(list)) => list
            .iter()
            .filter_map(|v| v.as_m().ok())
            .map(|m| LoggedAttempt {
                at: attr::opt_i64(m, "at").unwrap_or_default(),
                status: attr::opt_i64(m, "status").and_then(|s| u16::try_from(s).ok()),
                error: attr::opt_s(m, "error"),
                response_excerpt: attr::opt_s(m, "excerpt").unwrap_or_default(),
                duration_ms: attr::opt_i64(m, "durationMs")
                    .and_then(|d| u64::try_from(d).ok())
                    .unwrap_or_default(),
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(Delivery {
        app_id: app_id.strip_prefix("W#").unwrap_or(&app_id).to_owned(),
        delivery_id: sk.strip_prefix(DELIVERY_PREFIX).unwrap_or(&sk).to_owned(),
        subscription_id: attr::get_s(item, "subscriptionId")?,
        event_id: attr::get_s(item, "eventId")?,
        event_type: attr::get_s(item, "eventType")?,
        state: DeliveryState::parse(&attr::opt_s(item, "state").unwrap_or_default()),
        created_at: attr::get_s(item, "createdAt")?,
        attempts,
        next_retry_at: attr::opt_i64(item, "nextRetryAt"),
        record: attr::opt_s(item, "record"),
        sequence: attr::opt_s(item, "sequence"),
        claimed: attr::opt_i64(item, "claimedAttempt")
            .and_then(|n| u32::try_from(n).ok())
            .map(|n| (n, attr::opt_i64(item, "claimedAt"))),
        body: attr::opt_s(item, "body").unwrap_or_default(),
    })
}
