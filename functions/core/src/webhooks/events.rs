//! Webhook events: built from the data table's stream changes and from auth actions, each with a stable id, a type and the JSON body subscribers receive.
//!
//! The body is Standard Webhooks' envelope, `{"type","timestamp","data"}`.
//! A data event's id comes from the stream record's sequence number, so the
//! stream retrying a batch produces the same ids (receivers deduplicate on
//! `webhook-id`); an auth event's id is the audit entry's.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::deliveries;
use super::lanes::{self, Admission, RecordOrder};
use super::worker::Job;
use super::{EventType, MAX_PAYLOAD_BYTES, Subscription};
use crate::attr::{self, Item};
use crate::clock;
use crate::data::item::from_item;
use crate::error::Result;
use crate::realtime::fanout::{ChangeKind, StreamChange};
use crate::store::Store;

/// One event for an app (as it travels on the webhook queue, too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// `evt_…`: the `webhook-id` of every delivery of it.
    pub id: String,
    pub app_id: String,
    pub event_type: EventType,
    /// The resource of a data event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The JSON body delivered.
    pub body: String,
    /// A data event's record and stream sequence: its deliveries go out in
    /// this order per subscription (`lanes.rs`). Auth events are not from the
    /// stream and need none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<RecordOrder>,
}

/// The event of one data-table change; `None` for items that are not records
/// (index entries, the resource registry).
pub fn from_change(change: &StreamChange) -> Result<Option<Event>> {
    let (event_type, item) = match change.kind {
        ChangeKind::Insert => (EventType::DataCreated, change.new.as_ref()),
        ChangeKind::Modify => (EventType::DataUpdated, change.new.as_ref()),
        ChangeKind::Remove => (EventType::DataDeleted, change.old.as_ref()),
    };
    let Some(item) = item else { return Ok(None) };
    let Some(app_id) = record_app(item) else {
        return Ok(None);
    };
    let (record, _) = from_item(item)?;
    let timestamp = change
        .created_at_ms
        .and_then(|ms| i64::try_from(ms / 1000).ok())
        .map_or_else(clock::now_rfc3339, clock::epoch_to_rfc3339);
    let data = json!({
        "appId": app_id,
        "resource": record.resource,
        "id": record.id,
        "record": record,
    });
    let body = envelope(event_type, &timestamp, data, |data| {
        // Too big to deliver whole: the receiver fetches the record.
        data["record"] = Value::Null;
        data["truncated"] = Value::Bool(true);
    });
    Ok(Some(Event {
        id: format!("evt_{}", change.sequence),
        app_id,
        event_type,
        order: RecordOrder::new(&record.resource, &record.id, &change.sequence),
        resource: Some(record.resource),
        body,
    }))
}

/// An auth event (`auth.user.created`, …) about one user; `id` is the
/// audit entry's id, so the same action always gives the same event.
pub fn auth(id: &str, app_id: &str, event_type: EventType, user: &Value) -> Event {
    let data = json!({"appId": app_id, "user": user});
    let body = envelope(event_type, &clock::now_rfc3339(), data, |data| {
        data["user"] = Value::Null;
        data["truncated"] = Value::Bool(true);
    });
    Event {
        id: format!("evt_{id}"),
        app_id: app_id.to_owned(),
        event_type,
        resource: None,
        body,
        order: None,
    }
}

/// Logs one delivery per subscription the event matches and returns the
/// first job of each to queue now: every delivery of an unordered event; for a
/// data event, only those whose record lane was idle (the others are `held`,
/// and a stream record seen before is not logged again).
pub async fn fan_out(
    store: &Store,
    event: &Event,
    subscriptions: &[Subscription],
    now: i64,
) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for subscription in subscriptions
        .iter()
        .filter(|s| s.app_id == event.app_id)
        .filter(|s| s.matches(event.event_type, event.resource.as_deref()))
    {
        let sub = &subscription.subscription_id;
        if let Some(order) = &event.order {
            if let Admission::Queue(job) = lanes::admit(store, event, sub, order, now).await? {
                jobs.push(job);
            }
            continue;
        }
        let delivery = deliveries::create(
            store,
            &event.app_id,
            sub,
            &event.id,
            event.event_type.as_str(),
            &event.body,
        )
        .await?;
        jobs.push(Job::first(&event.app_id, &delivery.delivery_id, now));
    }
    Ok(jobs)
}

/// The app of a record item (`pk=R#{appId}#{resource}`).
fn record_app(item: &Item) -> Option<String> {
    let pk = attr::opt_s(item, "pk")?;
    let rest = pk.strip_prefix("R#")?;
    rest.split_once('#').map(|(app, _)| app.to_owned())
}

fn envelope(
    event_type: EventType,
    timestamp: &str,
    mut data: Value,
    shrink: impl Fn(&mut Value),
) -> String {
    let mut body =
        json!({"type": event_type.as_str(), "timestamp": timestamp, "data": data}).to_string();
    if body.len() > MAX_PAYLOAD_BYTES {
        shrink(&mut data);
        body =
            json!({"type": event_type.as_str(), "timestamp": timestamp, "data": data}).to_string();
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Permissions, Record};

    fn record_item(app: &str, data: serde_json::Map<String, Value>) -> Item {
        let record = Record {
            id: "r1".into(),
            resource: "orders".into(),
            data,
            permissions: Permissions {
                read: vec![],
                write: vec![],
            },
            owner_id: "u1".into(),
            created_at: "2027-01-01T00:00:00Z".into(),
            updated_at: "2027-01-01T00:00:00Z".into(),
            version: 3,
        };
        let json = serde_json::to_string(&record.data).unwrap();
        crate::data::item::to_item(app, &record, &json, &Default::default())
    }

    fn change(kind: ChangeKind, old: Option<Item>, new: Option<Item>) -> StreamChange {
        StreamChange {
            sequence: "4900000000000000000001".into(),
            kind,
            old,
            new,
            created_at_ms: Some(1_800_000_000_000),
        }
    }

    #[test]
    fn data_changes_become_typed_events_with_stable_ids() {
        let mut data = serde_json::Map::new();
        data.insert("total".into(), Value::from(42));
        let item = record_item("shop", data);
        let created = from_change(&change(ChangeKind::Insert, None, Some(item.clone())))
            .unwrap()
            .unwrap();
        assert_eq!(created.id, "evt_4900000000000000000001");
        assert_eq!(
            (created.app_id.as_str(), created.event_type),
            ("shop", EventType::DataCreated)
        );
        assert_eq!(created.resource.as_deref(), Some("orders"));
        let order = created.order.as_ref().unwrap();
        assert_eq!(order.record, "orders/r1");
        assert!(order.sequence.ends_with("4900000000000000000001"));
        let body: Value = serde_json::from_str(&created.body).unwrap();
        assert_eq!(body["type"], "data.created");
        assert_eq!(body["timestamp"], "2027-01-15T08:00:00.000Z");
        assert_eq!(body["data"]["record"]["data"]["total"], 42);
        assert_eq!(body["data"]["record"]["ownerId"], "u1");
        assert_eq!(body["data"]["record"]["version"], 3);
        // The same stream record (a retried batch) gives the same event.
        let again = from_change(&change(ChangeKind::Insert, None, Some(item.clone()))).unwrap();
        assert_eq!(again.unwrap().id, created.id);
        // Deletions carry the record as it was.
        let deleted = from_change(&change(ChangeKind::Remove, Some(item), None))
            .unwrap()
            .unwrap();
        assert_eq!(deleted.event_type, EventType::DataDeleted);
        let body: Value = serde_json::from_str(&deleted.body).unwrap();
        assert_eq!(body["data"]["record"]["id"], "r1");
    }

    #[test]
    fn index_entries_are_not_events_and_big_records_are_truncated() {
        let mut entry = Item::new();
        entry.insert("pk".into(), attr::s("IX#shop#orders#status#open"));
        entry.insert("sk".into(), attr::s("r1"));
        assert_eq!(
            from_change(&change(ChangeKind::Insert, None, Some(entry))).unwrap(),
            None
        );

        let mut data = serde_json::Map::new();
        data.insert("blob".into(), Value::from("x".repeat(MAX_PAYLOAD_BYTES)));
        let big = from_change(&change(
            ChangeKind::Modify,
            None,
            Some(record_item("shop", data)),
        ))
        .unwrap()
        .unwrap();
        assert!(big.body.len() <= MAX_PAYLOAD_BYTES);
        let body: Value = serde_json::from_str(&big.body).unwrap();
        assert_eq!(
            (body["data"]["truncated"].as_bool(), &body["data"]["record"]),
            (Some(true), &Value::Null)
        );
        assert_eq!(body["data"]["id"], "r1");
    }
}
