//! Each app's suppression list: addresses that bounced for good or complained, never sent to again until an operator clears them.

use serde::Serialize;

use crate::attr::{self, Item};
use crate::clock;
use crate::condition::OnConditionFailed;
use crate::error::{Error, Result};
use crate::keys;
use crate::store::Store;
use crate::tables::NOTIFICATIONS;

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// A permanent (hard) bounce: the mailbox does not exist or refuses mail.
    Bounce,
    /// The recipient marked a message as spam.
    Complaint,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bounce => "bounce",
            Self::Complaint => "complaint",
        }
    }

    fn parse(text: &str) -> Self {
        if text == "complaint" {
            Self::Complaint
        } else {
            Self::Bounce
        }
    }
}

/// One suppressed address of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Suppression {
    pub app_id: String,
    /// Lowercased.
    pub address: String,
    pub reason: Reason,
    /// SES's detail (bounce type and subtype, or the complaint's feedback type).
    pub detail: String,
    /// The SES message that bounced or drew the complaint.
    pub provider_message_id: Option<String>,
    pub suppressed_at: String,
}

fn sort_key() -> &'static str {
    NOTIFICATIONS.sort_key.unwrap_or("sk")
}

fn key(app_id: &str, address: &str) -> Item {
    let mut item = Item::new();
    item.insert(
        NOTIFICATIONS.partition_key.into(),
        attr::s(keys::suppressions_pk(app_id)),
    );
    item.insert(sort_key().into(), attr::s(address.to_lowercase()));
    item
}

/// Adds (or refreshes) an address on the app's list.
pub async fn suppress(store: &Store, entry: &Suppression) -> Result<()> {
    let mut item = key(&entry.app_id, &entry.address);
    item.insert("appId".into(), attr::s(&entry.app_id));
    item.insert("address".into(), attr::s(entry.address.to_lowercase()));
    item.insert("reason".into(), attr::s(entry.reason.as_str()));
    item.insert("detail".into(), attr::s(&entry.detail));
    if let Some(id) = &entry.provider_message_id {
        item.insert("providerMessageId".into(), attr::s(id));
    }
    item.insert("suppressedAt".into(), attr::s(&entry.suppressed_at));
    store
        .client
        .put_item()
        .table_name(store.notifications_table()?)
        .set_item(Some(item))
        .send()
        .await
        .map_err(|e| Error::sdk("suppress address", e))?;
    Ok(())
}

/// The entry of `address`, if the app suppresses it.
pub async fn find(store: &Store, app_id: &str, address: &str) -> Result<Option<Suppression>> {
    let out = store
        .client
        .get_item()
        .table_name(store.notifications_table()?)
        .set_key(Some(key(app_id, address)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::sdk("read suppression", e))?;
    out.item.as_ref().map(from_item).transpose()
}

/// The app's whole list, by address (one Query of its partition).
pub async fn list(store: &Store, app_id: &str) -> Result<Vec<Suppression>> {
    let mut entries = Vec::new();
    let mut start = None;
    loop {
        let out = store
            .client
            .query()
            .table_name(store.notifications_table()?)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", NOTIFICATIONS.partition_key)
            .expression_attribute_values(":pk", attr::s(keys::suppressions_pk(app_id)))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Error::sdk("list suppressions", e))?;
        for item in out.items() {
            entries.push(from_item(item)?);
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(entries);
        }
    }
}

/// Removes an address from the list; `NotFound` when it was not on it.
pub async fn clear(store: &Store, app_id: &str, address: &str) -> Result<()> {
    let result = store
        .client
        .delete_item()
        .table_name(store.notifications_table()?)
        .set_key(Some(key(app_id, address)))
        .condition_expression("attribute_exists(#pk)")
        .expression_attribute_names("#pk", NOTIFICATIONS.partition_key)
        .send()
        .await;
    result.on_condition_failed("clear suppression", || {
        Error::NotFound(format!(
            "{} on the suppression list of app {app_id}",
            address.to_lowercase()
        ))
    })?;
    Ok(())
}

fn from_item(item: &Item) -> Result<Suppression> {
    Ok(Suppression {
        app_id: attr::get_s(item, "appId")?,
        address: attr::get_s(item, "address")?,
        reason: Reason::parse(&attr::opt_s(item, "reason").unwrap_or_default()),
        detail: attr::opt_s(item, "detail").unwrap_or_default(),
        provider_message_id: attr::opt_s(item, "providerMessageId"),
        suppressed_at: attr::opt_s(item, "suppressedAt").unwrap_or_else(clock::now_rfc3339),
    })
}
