//! Fan-out of data-table changes to subscribed connections, with permissions re-checked per recipient.
//!
//! One stream batch is handled in three steps: decode every change, look up the
//! members of every channel the batch touches (each channel once, in parallel),
//! then push. Pushes run in parallel across connections but in stream order for
//! any one connection, so a client never sees `updated` before `created`.
//!
//! Failures: a change that cannot be decoded can never succeed, so it is logged
//! and skipped (a poison record must not block the shard); a change whose
//! subscribers could not be read is reported as failed, so the stream retries
//! it (delivery is at-least-once). A push that fails for any reason but "gone"
//! is logged, not retried: retrying the record would repeat it to everyone else.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::stream::{self, StreamExt};
use ob_metrics::RealtimeActivity;
use serde_json::{Value, json};

use crate::attr::{self, Item};
use crate::data::{Caller, Record, item::from_item};
use crate::error::Result;
use crate::store::Store;

use super::{Channel, Member, Push, PushError, connections};

/// How many channel lookups and connections are served at once.
const PARALLEL: usize = 16;
/// API Gateway refuses a WebSocket message over 128 KB: a larger change goes
/// out as a stub naming the record, which the client fetches.
pub const MAX_PUSH_BYTES: usize = 128 * 1024;

/// The kind of a stream record (`eventName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Insert,
    Modify,
    Remove,
}

/// One record of the data table's stream (NEW_AND_OLD_IMAGES), however it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamChange {
    /// The stream sequence number: what a batch-item failure names.
    pub sequence: String,
    pub kind: ChangeKind,
    pub old: Option<Item>,
    pub new: Option<Item>,
    /// When the change was written (the stream record's approximate creation
    /// time, milliseconds since the epoch), for the fan-out lag metric.
    pub created_at_ms: Option<u64>,
}

/// What a fan-out did, for logs, metrics and the batch response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FanOutReport {
    /// Sequence numbers to retry.
    pub failed: Vec<String>,
    pub delivered: usize,
    /// Connections found gone and removed.
    pub removed: usize,
    /// Changes skipped as undecodable.
    pub skipped: usize,
    /// Per app: messages delivered, connections found gone, each change's lag.
    pub by_app: BTreeMap<String, RealtimeActivity>,
}

/// A decoded record change of one app.
struct Decoded {
    sequence: String,
    app_id: String,
    kind: ChangeKind,
    old: Option<Record>,
    new: Option<Record>,
    created_at_ms: Option<u64>,
}

impl Decoded {
    fn record(&self) -> Option<&Record> {
        self.new.as_ref().or(self.old.as_ref())
    }
}

/// Record changes only: index entries and registry items share the table.
fn decode(change: &StreamChange) -> Option<Result<Decoded>> {
    let image = change.new.as_ref().or(change.old.as_ref())?;
    let pk = attr::opt_s(image, "pk")?;
    let rest = pk.strip_prefix("R#")?;
    let (app_id, _) = rest.split_once('#')?;
    let read = |item: &Option<Item>| {
        item.as_ref()
            .map(|i| from_item(i).map(|(r, _)| r))
            .transpose()
    };
    Some((|| {
        Ok(Decoded {
            sequence: change.sequence.clone(),
            app_id: app_id.to_owned(),
            kind: change.kind,
            old: read(&change.old)?,
            new: read(&change.new)?,
            created_at_ms: change.created_at_ms,
        })
    })())
}

/// The event one member gets for a change, if any.
fn event_for(change: &Decoded, member: &Member) -> Option<Value> {
    let caller = Caller {
        user_id: member.user_id.clone(),
        role: member.role,
    };
    fn readable<'a>(r: &'a Option<Record>, caller: &Caller) -> Option<&'a Record> {
        r.as_ref().filter(|r| r.can_read(caller))
    }
    let (kind, record) = match change.kind {
        ChangeKind::Insert => ("created", Some(readable(&change.new, &caller)?)),
        ChangeKind::Modify => match (
            readable(&change.new, &caller),
            readable(&change.old, &caller),
        ) {
            (Some(new), _) => ("updated", Some(new)),
            // The record left the member's view: to them it is gone.
            (None, Some(_)) => ("deleted", None),
            (None, None) => return None,
        },
        ChangeKind::Remove => ("deleted", Some(readable(&change.old, &caller)?)),
    };
    let any = change.record()?;
    Some(json!({
        "type": kind,
        "resource": any.resource,
        "id": any.id,
        "record": record,
    }))
}

/// The text one member gets for a change: the event, or its stub
/// `{type, resource, id, version, truncated: true}` when it is too large to push.
fn message_for(change: &Decoded, member: &Member) -> Option<String> {
    let event = event_for(change, member)?;
    let text = event.to_string();
    if text.len() <= MAX_PUSH_BYTES {
        return Some(text);
    }
    let version = change.record().map(|r| r.version);
    Some(
        json!({
            "type": event["type"],
            "resource": event["resource"],
            "id": event["id"],
            "version": version,
            "truncated": true,
        })
        .to_string(),
    )
}

/// Pushes every change of a batch to the members allowed to see it.
pub async fn fan_out<P: Push>(store: &Store, push: &P, changes: &[StreamChange]) -> FanOutReport {
    let mut report = FanOutReport::default();
    let mut decoded = Vec::new();
    for change in changes {
        match decode(change) {
            None => {}
            Some(Ok(d)) => decoded.push(d),
            Some(Err(err)) => {
                report.skipped += 1;
                tracing::warn!(sequence = %change.sequence, error = %err, "skipping undecodable stream record");
            }
        }
    }

    let channels: BTreeSet<(String, String)> = decoded
        .iter()
        .filter_map(|d| d.record().map(|r| (d, r)))
        .flat_map(|(d, r)| {
            Channel::of_record(&r.resource, &r.id).map(|c| (d.app_id.clone(), c.to_string()))
        })
        .collect();
    let looked_up: HashMap<(String, String), Result<Vec<Member>>> = stream::iter(channels)
        .map(|(app, channel)| async move {
            let members = connections::members(store, &app, &channel).await;
            ((app, channel), members)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;

    // Per connection (and its app), its messages in stream order.
    let mut outbox: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut fanned_out: Vec<&Decoded> = Vec::new();
    for change in &decoded {
        let Some(record) = change.record() else {
            continue;
        };
        let mut recipients: BTreeMap<&str, &Member> = BTreeMap::new();
        let mut failed = false;
        for channel in Channel::of_record(&record.resource, &record.id) {
            match looked_up.get(&(change.app_id.clone(), channel.to_string())) {
                Some(Ok(members)) => {
                    for m in members {
                        recipients.insert(&m.connection_id, m);
                    }
                }
                Some(Err(err)) => {
                    tracing::error!(sequence = %change.sequence, error = %err, "could not read subscribers");
                    failed = true;
                }
                None => failed = true,
            }
        }
        if failed {
            report.failed.push(change.sequence.clone());
            continue;
        }
        fanned_out.push(change);
        for (connection, member) in recipients {
            if let Some(message) = message_for(change, member) {
                outbox
                    .entry((change.app_id.clone(), connection.to_owned()))
                    .or_default()
                    .push(message);
            }
        }
    }

    let outcomes: Vec<(String, usize, bool)> = stream::iter(outbox)
        .map(|((app, connection), messages)| async move {
            let (delivered, removed) = deliver(store, push, &connection, &messages).await;
            (app, delivered, removed)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    for (app, delivered, removed) in outcomes {
        report.delivered += delivered;
        report.removed += usize::from(removed);
        let activity = report.by_app.entry(app).or_default();
        activity.deliveries += delivered as u64;
        activity.gone += u64::from(removed);
    }
    let now = ob_metrics::emf::now_ms();
    for change in fanned_out {
        if let Some(created) = change.created_at_ms {
            let lag = now.saturating_sub(created) as f64;
            report
                .by_app
                .entry(change.app_id.clone())
                .or_default()
                .lag_ms
                .push(lag);
        }
    }
    report
}

/// Sends messages to one connection in order. Returns how many were delivered
/// and whether the connection was found gone (and removed).
pub(crate) async fn deliver<P: Push>(
    store: &Store,
    push: &P,
    connection_id: &str,
    messages: &[String],
) -> (usize, bool) {
    let mut delivered = 0;
    for message in messages {
        match push.send(connection_id, message).await {
            Ok(()) => delivered += 1,
            Err(PushError::Gone) => {
                if let Err(err) = connections::close(store, connection_id).await {
                    tracing::warn!(connection_id, error = %err, "could not remove a gone connection");
                }
                return (delivered, true);
            }
            Err(PushError::Failed(reason)) => {
                tracing::warn!(connection_id, error = %reason, "push failed");
            }
        }
    }
    (delivered, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Permissions;
    use crate::users::Role;

    fn record(owner: &str, read: &[&str]) -> Record {
        Record {
            id: crate::data::new_id(),
            resource: "notes".into(),
            data: serde_json::Map::new(),
            permissions: Permissions {
                read: read.iter().map(|s| (*s).to_owned()).collect(),
                write: vec![],
            },
            owner_id: owner.into(),
            created_at: "t".into(),
            updated_at: "t".into(),
            version: 1,
        }
    }

    fn member(user: &str, role: Role) -> Member {
        Member {
            connection_id: format!("c-{user}"),
            user_id: user.into(),
            role,
        }
    }

    fn change(kind: ChangeKind, old: Option<Record>, new: Option<Record>) -> Decoded {
        Decoded {
            sequence: "1".into(),
            app_id: "app".into(),
            kind,
            old,
            new,
            created_at_ms: None,
        }
    }

    #[test]
    fn events_follow_read_permissions() {
        let private = record("u1", &[]);
        let mut shared = private.clone();
        shared.permissions.read.push("*".into());
        let (owner, other, admin) = (
            member("u1", Role::User),
            member("u2", Role::User),
            member("a", Role::Admin),
        );

        let created = change(ChangeKind::Insert, None, Some(private.clone()));
        assert_eq!(event_for(&created, &owner).unwrap()["type"], "created");
        assert!(event_for(&created, &other).is_none());
        assert_eq!(
            event_for(&created, &admin).unwrap()["record"]["ownerId"],
            "u1"
        );

        // Shared with everyone: u2 now sees an update.
        let opened = change(
            ChangeKind::Modify,
            Some(private.clone()),
            Some(shared.clone()),
        );
        assert_eq!(event_for(&opened, &other).unwrap()["type"], "updated");
        // Unshared again: to u2 the record is gone, without its content.
        let closed = change(
            ChangeKind::Modify,
            Some(shared.clone()),
            Some(private.clone()),
        );
        let gone = event_for(&closed, &other).unwrap();
        assert_eq!(
            (gone["type"].as_str(), gone["record"].is_null()),
            (Some("deleted"), true)
        );
        assert_eq!(gone["id"], private.id.as_str());

        // Deletions go to those who could read the old record.
        let deleted = change(ChangeKind::Remove, Some(shared), None);
        assert_eq!(event_for(&deleted, &other).unwrap()["type"], "deleted");
        let deleted_private = change(ChangeKind::Remove, Some(private), None);
        assert!(event_for(&deleted_private, &other).is_none());
    }

    #[test]
    fn changes_too_large_to_push_go_out_as_stubs() {
        let mut big = record("u1", &["*"]);
        big.data
            .insert("blob".into(), json!("x".repeat(MAX_PUSH_BYTES)));
        big.version = 7;
        let reader = member("u2", Role::User);
        let created = change(ChangeKind::Insert, None, Some(big.clone()));
        let stub: Value = serde_json::from_str(&message_for(&created, &reader).unwrap()).unwrap();
        assert_eq!(
            stub,
            json!({"type": "created", "resource": "notes", "id": big.id, "version": 7, "truncated": true})
        );
        let small = change(ChangeKind::Insert, None, Some(record("u1", &["*"])));
        let whole: Value = serde_json::from_str(&message_for(&small, &reader).unwrap()).unwrap();
        assert!(whole["record"].is_object() && whole.get("truncated").is_none());
        // Permissions still decide who gets anything.
        assert!(message_for(&created, &member("u3", Role::User)).is_some());
        let private = change(ChangeKind::Insert, None, Some(record("u1", &[])));
        assert!(message_for(&private, &reader).is_none());
    }

    #[test]
    fn only_record_items_are_decoded() {
        let mut index_entry = Item::new();
        index_entry.insert("pk".into(), attr::s("IX#app#notes#tag#x"));
        index_entry.insert("sk".into(), attr::s("id"));
        let skip = StreamChange {
            sequence: "1".into(),
            kind: ChangeKind::Insert,
            old: None,
            new: Some(index_entry),
            created_at_ms: None,
        };
        assert!(decode(&skip).is_none());
        let mut broken = Item::new();
        broken.insert("pk".into(), attr::s("R#app#notes"));
        broken.insert("sk".into(), attr::s("id"));
        let poison = StreamChange {
            sequence: "2".into(),
            kind: ChangeKind::Insert,
            old: None,
            new: Some(broken),
            created_at_ms: None,
        };
        assert!(matches!(decode(&poison), Some(Err(_))));
    }
}
