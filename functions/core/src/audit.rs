//! The audit log: who changed what in an app, when and from where; never secrets; expired by TTL.

use serde::Serialize;

use crate::attr::{self, Item};
use crate::clock;
use crate::error::{Error, Result};
use crate::keys;
use crate::store::Store;
use crate::tables::{AUDIT, AUDIT_BY_ACTOR};

/// Names that must never appear in `changedFields`: they would hint that a
/// secret was logged, and a careless caller could be passing values.
const FORBIDDEN_FIELD_WORDS: &[&str] = &["password", "token", "secret", "apikey", "key"];

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User(String),
    ApiKey(String),
    Operator(String),
    /// Nobody identified yet (e.g. a failed login of an unknown e-mail).
    Anonymous,
    /// The backend itself acting on an outside event (e.g. `ses` for a bounce).
    System(&'static str),
}

impl Actor {
    pub fn as_string(&self) -> String {
        match self {
            Self::User(id) => format!("user:{id}"),
            Self::ApiKey(id) => format!("key:{id}"),
            Self::Operator(name) => format!("operator:{name}"),
            Self::Anonymous => "anonymous".to_owned(),
            Self::System(name) => format!("system:{name}"),
        }
    }
}

/// Where the request came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// One entry to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub app_id: String,
    pub actor: Actor,
    /// Dotted verb, e.g. `auth.login.failure`, `config.update`.
    pub action: String,
    /// What was acted on, e.g. `user:{id}`, `config`, `session:{family}`.
    pub target: String,
    /// Names (never values) of the fields that changed.
    pub changed_fields: Vec<String>,
    pub origin: Origin,
}

/// A stored entry, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub app_id: String,
    pub event_id: String,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub changed_fields: Vec<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub expires_at: i64,
}

/// Drops field names that look like secrets (defence in depth; callers pass names only).
fn safe_fields(fields: &[String]) -> Vec<String> {
    fields
        .iter()
        .filter(|f| {
            let lower = f.to_ascii_lowercase().replace(['_', '-'], "");
            !FORBIDDEN_FIELD_WORDS.iter().any(|w| lower.contains(w))
        })
        .cloned()
        .collect()
}

/// The stored form of an entry, kept for `retention_days`.
fn stored(entry: NewEntry, retention_days: u32) -> AuditEntry {
    AuditEntry {
        event_id: uuid::Uuid::now_v7().to_string(),
        actor: entry.actor.as_string(),
        changed_fields: safe_fields(&entry.changed_fields),
        expires_at: clock::now_epoch() + i64::from(retention_days) * 86_400,
        source_ip: entry.origin.source_ip.map(|v| truncate(&v, 64)),
        user_agent: entry.origin.user_agent.map(|v| truncate(&v, 512)),
        request_id: entry.origin.request_id.map(|v| truncate(&v, 128)),
        app_id: entry.app_id,
        action: entry.action,
        target: entry.target,
        at: clock::now_rfc3339(),
    }
}

/// Writes one entry, kept for `retention_days`.
pub async fn record(store: &Store, entry: NewEntry, retention_days: u32) -> Result<AuditEntry> {
    let stored = stored(entry, retention_days);
    store
        .client
        .put_item()
        .table_name(store.audit_table()?)
        .set_item(Some(to_item(&stored)))
        .send()
        .await
        .map_err(|e| Error::sdk("write audit entry", e))?;
    Ok(stored)
}

/// The entry as one item of the transaction that makes the change it
/// describes: the change and its entry land together or not at all.
pub fn transact_item(
    store: &Store,
    entry: NewEntry,
    retention_days: u32,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem> {
    let put = aws_sdk_dynamodb::types::Put::builder()
        .table_name(store.audit_table()?)
        .set_item(Some(to_item(&stored(entry, retention_days))))
        .build()
        .map_err(|e| Error::internal("build audit entry", e))?;
    Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder()
        .put(put)
        .build())
}

/// The newest `limit` entries of an app, newest first (operator and tests).
pub async fn list(store: &Store, app_id: &str, limit: i32) -> Result<Vec<AuditEntry>> {
    let out = store
        .client
        .query()
        .table_name(store.audit_table()?)
        .key_condition_expression("#pk = :pk")
        .expression_attribute_names("#pk", AUDIT.partition_key)
        .expression_attribute_values(":pk", attr::s(app_id))
        .scan_index_forward(false)
        .limit(limit)
        .send()
        .await
        .map_err(|e| Error::sdk("list audit entries", e))?;
    out.items().iter().map(from_item).collect()
}

/// One page of an app's entries, newest first, optionally only those at or
/// after `since` (RFC 3339); pass the returned key back for the next page.
pub async fn page(
    store: &Store,
    app_id: &str,
    since: Option<&str>,
    page_size: i32,
    start: Option<Item>,
) -> Result<(Vec<AuditEntry>, Option<Item>)> {
    let mut query = store
        .client
        .query()
        .table_name(store.audit_table()?)
        .expression_attribute_names("#pk", AUDIT.partition_key)
        .expression_attribute_values(":pk", attr::s(app_id))
        .scan_index_forward(false)
        .limit(page_size)
        .set_exclusive_start_key(start);
    query = match since {
        Some(since) => query
            .key_condition_expression("#pk = :pk AND #sk >= :since")
            .expression_attribute_names("#sk", sort_key())
            .expression_attribute_values(":since", attr::s(since)),
        None => query.key_condition_expression("#pk = :pk"),
    };
    let out = query
        .send()
        .await
        .map_err(|e| Error::sdk("list audit entries", e))?;
    let entries = out.items().iter().map(from_item).collect::<Result<_>>()?;
    Ok((entries, out.last_evaluated_key))
}

/// The newest `limit` entries of one actor of an app, newest first.
pub async fn list_by_actor(
    store: &Store,
    app_id: &str,
    actor: &Actor,
    limit: i32,
) -> Result<Vec<AuditEntry>> {
    let out = store
        .client
        .query()
        .table_name(store.audit_table()?)
        .index_name(AUDIT_BY_ACTOR.name)
        .key_condition_expression("#pk = :pk")
        .expression_attribute_names("#pk", AUDIT_BY_ACTOR.partition_key)
        .expression_attribute_values(
            ":pk",
            attr::s(keys::audit_actor_pk(app_id, &actor.as_string())),
        )
        .scan_index_forward(false)
        .limit(limit)
        .send()
        .await
        .map_err(|e| Error::sdk("list audit entries", e))?;
    out.items().iter().map(from_item).collect()
}

fn truncate(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

fn sort_key() -> &'static str {
    AUDIT.sort_key.unwrap_or("sk")
}

fn to_item(entry: &AuditEntry) -> Item {
    let mut item = Item::new();
    item.insert(AUDIT.partition_key.into(), attr::s(&entry.app_id));
    item.insert(
        sort_key().into(),
        attr::s(keys::audit_sk(&entry.at, &entry.event_id)),
    );
    item.insert(
        AUDIT_BY_ACTOR.partition_key.into(),
        attr::s(keys::audit_actor_pk(&entry.app_id, &entry.actor)),
    );
    item.insert("eventId".into(), attr::s(&entry.event_id));
    item.insert("at".into(), attr::s(&entry.at));
    item.insert("actor".into(), attr::s(&entry.actor));
    item.insert("action".into(), attr::s(&entry.action));
    item.insert("target".into(), attr::s(&entry.target));
    item.insert("changedFields".into(), attr::list_s(&entry.changed_fields));
    for (name, value) in [
        ("sourceIp", &entry.source_ip),
        ("userAgent", &entry.user_agent),
        ("requestId", &entry.request_id),
    ] {
        if let Some(value) = value {
            item.insert(name.into(), attr::s(value));
        }
    }
    item.insert(
        AUDIT.ttl_attribute.unwrap_or("expiresAt").into(),
        attr::n(entry.expires_at),
    );
    item
}

fn from_item(item: &Item) -> Result<AuditEntry> {
    Ok(AuditEntry {
        app_id: attr::get_s(item, AUDIT.partition_key)?,
        event_id: attr::get_s(item, "eventId")?,
        at: attr::get_s(item, "at")?,
        actor: attr::get_s(item, "actor")?,
        action: attr::get_s(item, "action")?,
        target: attr::opt_s(item, "target").unwrap_or_default(),
        changed_fields: attr::get_list_s(item, "changedFields"),
        source_ip: attr::opt_s(item, "sourceIp"),
        user_agent: attr::opt_s(item, "userAgent"),
        request_id: attr::opt_s(item, "requestId"),
        expires_at: attr::opt_i64(item, AUDIT.ttl_attribute.unwrap_or("expiresAt")).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_like_field_names_are_dropped() {
        let fields = ["email", "password", "refresh_token", "profile", "apiKey"].map(String::from);
        assert_eq!(safe_fields(&fields), vec!["email", "profile"]);
    }

    #[test]
    fn items_round_trip() {
        let entry = AuditEntry {
            app_id: "shop".into(),
            event_id: "e1".into(),
            at: "2024-01-01T00:00:00.000Z".into(),
            actor: Actor::User("u1".into()).as_string(),
            action: "auth.register".into(),
            target: "user:u1".into(),
            changed_fields: vec!["email".into()],
            source_ip: Some("1.2.3.4".into()),
            user_agent: None,
            request_id: Some("r1".into()),
            expires_at: 99,
        };
        let item = to_item(&entry);
        assert_eq!(
            attr::opt_s(&item, "actorPk").as_deref(),
            Some("shop#user:u1")
        );
        assert_eq!(from_item(&item).unwrap(), entry);
    }
}
