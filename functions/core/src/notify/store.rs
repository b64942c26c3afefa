//! Notification records, `Idempotency-Key` answers and daily quotas in the notifications table (layout in `tables::NOTIFICATIONS`).

use aws_sdk_dynamodb::types::{PutRequest, ReturnValue, WriteRequest};

use crate::attr::{self, Item};
use crate::clock;
use crate::condition::OnConditionFailed;
use crate::error::{Error, Result};
use crate::keys;
use crate::notify::model::{Channel, Notification, Status};
use crate::store::Store;
use crate::tables::NOTIFICATIONS;

/// Records are kept this long, then expire by TTL.
pub const RECORD_TTL_SECS: i64 = 30 * 86_400;
/// An `Idempotency-Key` answers the same for this long.
pub const IDEMPOTENCY_TTL_SECS: i64 = 86_400;
/// A delivery attempt owns a record this long: longer than the notify
/// function's timeout, shorter than the queue's visibility timeout, so a
/// redelivery after a crashed attempt can take it over.
const CLAIM_SECS: i64 = 60;
/// BatchWriteItem takes at most 25 requests.
const BATCH: usize = 25;

fn sort_key() -> &'static str {
    NOTIFICATIONS.sort_key.unwrap_or("sk")
}

fn ttl() -> &'static str {
    NOTIFICATIONS.ttl_attribute.unwrap_or("expiresAt")
}

fn key(pk: String, sk: String) -> Item {
    let mut item = Item::new();
    item.insert(NOTIFICATIONS.partition_key.into(), attr::s(pk));
    item.insert(sort_key().into(), attr::s(sk));
    item
}

fn record_key(app_id: &str, id: &str) -> Item {
    key(keys::notifications_pk(app_id), keys::notification_sk(id))
}

/// Stores new notifications (status `queued`), 25 per BatchWriteItem; what
/// DynamoDB leaves unprocessed is written again, a few times.
pub async fn create_all(store: &Store, notifications: &[Notification]) -> Result<()> {
    let table = store.notifications_table()?;
    let expires = clock::now_epoch() + RECORD_TTL_SECS;
    for chunk in notifications.chunks(BATCH) {
        let mut requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|n| {
                let mut item = record_key(&n.app_id, &n.id);
                item.extend(n.to_item());
                item.insert(ttl().into(), attr::n(expires));
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| Error::internal("build notification", e))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<_>>()?;
        for attempt in 0..5u32 {
            let out = store
                .client
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await
                .map_err(|e| Error::sdk("store notifications", e))?;
            requests = out
                .unprocessed_items
                .and_then(|mut left| left.remove(table))
                .unwrap_or_default();
            if requests.is_empty() {
                break;
            }
            if attempt == 4 {
                return Err(Error::Internal(
                    "store notifications: DynamoDB left writes unprocessed".into(),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
        }
    }
    Ok(())
}

/// One notification of an app.
pub async fn get(store: &Store, app_id: &str, id: &str) -> Result<Option<Notification>> {
    let out = store
        .client
        .get_item()
        .table_name(store.notifications_table()?)
        .set_key(Some(record_key(app_id, id)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::sdk("read notification", e))?;
    out.item.as_ref().map(Notification::from_item).transpose()
}

/// Takes a queued notification for one delivery attempt. `None` when it is
/// gone, already settled, or owned by an attempt still within its claim: a
/// duplicate delivery of its job then does nothing.
pub async fn claim(store: &Store, app_id: &str, id: &str) -> Result<Option<Notification>> {
    let now = clock::now_epoch();
    let result = store
        .client
        .update_item()
        .table_name(store.notifications_table()?)
        .set_key(Some(record_key(app_id, id)))
        .update_expression("SET claimUntil = :until ADD attempts :one")
        .condition_expression(
            "#status = :queued AND (attribute_not_exists(claimUntil) OR claimUntil < :now)",
        )
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":queued", attr::s(Status::Queued.as_str()))
        .expression_attribute_values(":now", attr::n(now))
        .expression_attribute_values(":until", attr::n(now + CLAIM_SECS))
        .expression_attribute_values(":one", attr::n(1))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    // Sent, failed or claimed by another delivery: not this one's to send.
    let Some(out) = result.ok_if_condition_failed("claim notification")? else {
        return Ok(None);
    };
    out.attributes
        .as_ref()
        .map(Notification::from_item)
        .transpose()
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<'a> {
    pub status: Status,
    pub provider_message_id: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// Settles a claimed notification (`sent`, `failed` or `suppressed`).
pub async fn settle(store: &Store, app_id: &str, id: &str, outcome: &Outcome<'_>) -> Result<()> {
    let mut request = store
        .client
        .update_item()
        .table_name(store.notifications_table()?)
        .set_key(Some(record_key(app_id, id)))
        .condition_expression("attribute_exists(#pk)")
        .expression_attribute_names("#pk", NOTIFICATIONS.partition_key)
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":status", attr::s(outcome.status.as_str()))
        .expression_attribute_values(":now", attr::s(clock::now_rfc3339()));
    let mut set = vec!["#status = :status", "updatedAt = :now"];
    if let Some(provider) = outcome.provider_message_id {
        set.push("providerMessageId = :provider");
        request = request.expression_attribute_values(":provider", attr::s(provider));
    }
    if let Some(error) = outcome.error {
        set.push("#error = :error");
        request = request
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":error", attr::s(error));
    }
    request
        .update_expression(format!("SET {} REMOVE claimUntil", set.join(", ")))
        .send()
        .await
        .map_err(|e| Error::sdk("settle notification", e))?;
    Ok(())
}

/// Gives a claimed notification back after a failure worth retrying, so the
/// job's redelivery may claim it at once.
pub async fn release(store: &Store, app_id: &str, id: &str, error: &str) -> Result<()> {
    store
        .client
        .update_item()
        .table_name(store.notifications_table()?)
        .set_key(Some(record_key(app_id, id)))
        .update_expression("SET lastError = :error REMOVE claimUntil")
        .condition_expression("#status = :queued")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":queued", attr::s(Status::Queued.as_str()))
        .expression_attribute_values(":error", attr::s(error))
        .send()
        .await
        .ok_if_condition_failed("release notification")
        .map(|_| ())
}

/// A sent e-mail bounced or drew a complaint: `sent` becomes `failed` with why.
pub async fn mark_returned(store: &Store, app_id: &str, id: &str, error: &str) -> Result<()> {
    store
        .client
        .update_item()
        .table_name(store.notifications_table()?)
        .set_key(Some(record_key(app_id, id)))
        .update_expression("SET #status = :failed, #error = :error, updatedAt = :now")
        .condition_expression("#status = :sent")
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#error", "error")
        .expression_attribute_values(":sent", attr::s(Status::Sent.as_str()))
        .expression_attribute_values(":failed", attr::s(Status::Failed.as_str()))
        .expression_attribute_values(":error", attr::s(error))
        .expression_attribute_values(":now", attr::s(clock::now_rfc3339()))
        .send()
        .await
        .ok_if_condition_failed("mark notification returned")
        .map(|_| ())
}

/// What an `Idempotency-Key` says about a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Idempotency {
    /// First use: go ahead, then `finish_idempotent` (or `abandon_idempotent`).
    Fresh,
    /// Used before with the same request: this was the answer.
    Replay(serde_json::Value),
    /// Used before with the same request, which has not finished yet.
    InProgress,
    /// Used before with a different request.
    Mismatch,
}

/// Checks an `Idempotency-Key`: 1 to 255 printable ASCII characters.
pub fn validate_idempotency_key(key: &str) -> Result<()> {
    if (1..=255).contains(&key.len()) && key.bytes().all(|c| c.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(Error::invalid(
            "Idempotency-Key",
            "must be 1 to 255 printable ASCII characters without spaces (a UUID is usual)",
        ))
    }
}

/// Claims `idempotency_key` for a request whose canonical form hashes to
/// `fingerprint`, atomically: of concurrent requests with one key, one is `Fresh`.
pub async fn start_idempotent(
    store: &Store,
    app_id: &str,
    idempotency_key: &str,
    fingerprint: &str,
) -> Result<Idempotency> {
    let table = store.notifications_table()?;
    let now = clock::now_epoch();
    let mut item = key(
        keys::notifications_pk(app_id),
        keys::idempotency_sk(idempotency_key),
    );
    item.insert("fingerprint".into(), attr::s(fingerprint));
    item.insert(ttl().into(), attr::n(now + IDEMPOTENCY_TTL_SECS));
    let put = store
        .client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        // TTL deletes lazily: an expired key counts as unused.
        .condition_expression("attribute_not_exists(#pk) OR #ttl < :now")
        .expression_attribute_names("#pk", NOTIFICATIONS.partition_key)
        .expression_attribute_names("#ttl", ttl())
        .expression_attribute_values(":now", attr::n(now))
        .send()
        .await;
    if put
        .ok_if_condition_failed("claim idempotency key")?
        .is_some()
    {
        return Ok(Idempotency::Fresh);
    }
    let out = store
        .client
        .get_item()
        .table_name(table)
        .set_key(Some(key(
            keys::notifications_pk(app_id),
            keys::idempotency_sk(idempotency_key),
        )))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::sdk("read idempotency key", e))?;
    let Some(item) = out.item else {
        // Abandoned between our write and read: the caller may retry.
        return Ok(Idempotency::InProgress);
    };
    if attr::opt_s(&item, "fingerprint").as_deref() != Some(fingerprint) {
        return Ok(Idempotency::Mismatch);
    }
    match attr::opt_s(&item, "response") {
        Some(text) => serde_json::from_str(&text)
            .map(Idempotency::Replay)
            .map_err(|e| Error::internal("decode idempotent response", e)),
        None => Ok(Idempotency::InProgress),
    }
}

/// Records the answer a fresh request gave, for its repeats.
pub async fn finish_idempotent(
    store: &Store,
    app_id: &str,
    idempotency_key: &str,
    response: &serde_json::Value,
) -> Result<()> {
    store
        .client
        .update_item()
        .table_name(store.notifications_table()?)
        .set_key(Some(key(
            keys::notifications_pk(app_id),
            keys::idempotency_sk(idempotency_key),
        )))
        .update_expression("SET #response = :response")
        .expression_attribute_names("#response", "response")
        .expression_attribute_values(":response", attr::s(response.to_string()))
        .send()
        .await
        .map_err(|e| Error::sdk("record idempotent response", e))?;
    Ok(())
}

/// Frees a key whose request failed, so a retry with it runs again.
pub async fn abandon_idempotent(store: &Store, app_id: &str, idempotency_key: &str) -> Result<()> {
    store
        .client
        .delete_item()
        .table_name(store.notifications_table()?)
        .set_key(Some(key(
            keys::notifications_pk(app_id),
            keys::idempotency_sk(idempotency_key),
        )))
        .send()
        .await
        .map_err(|e| Error::sdk("free idempotency key", e))?;
    Ok(())
}

/// The UTC day of `epoch` (`2027-01-31`) and the seconds until the next one.
pub fn utc_day(epoch: i64) -> (String, i64) {
    let day_start = epoch - epoch.rem_euclid(86_400);
    let date = clock::epoch_to_rfc3339(day_start)
        .get(..10)
        .unwrap_or_default()
        .to_owned();
    (date, day_start + 86_400 - epoch)
}

/// Takes `count` sends of `channel` from the app's allowance for today, all
/// or none (one conditional `UpdateItem`); `QuotaExceeded` until tomorrow
/// (UTC) when they do not fit.
pub async fn reserve_quota(
    store: &Store,
    app_id: &str,
    channel: Channel,
    count: u32,
    daily_limit: u32,
) -> Result<()> {
    let now = clock::now_epoch();
    let (day, left_today) = utc_day(now);
    let exceeded = || Error::QuotaExceeded {
        message: format!(
            "the app's daily {} quota ({daily_limit}) does not allow {count} more today (UTC); \
             it renews at midnight UTC, or an operator raises notifications.dailyQuota",
            channel.as_str()
        ),
        retry_after_secs: u64::try_from(left_today).unwrap_or(1),
    };
    if count > daily_limit {
        return Err(exceeded());
    }
    let result = store
        .client
        .update_item()
        .table_name(store.notifications_table()?)
        .set_key(Some(key(
            keys::notifications_pk(app_id),
            keys::quota_sk(channel.as_str(), &day),
        )))
        .update_expression("ADD sent :count SET #ttl = :expires")
        .condition_expression("attribute_not_exists(sent) OR sent <= :room")
        .expression_attribute_names("#ttl", ttl())
        .expression_attribute_values(":count", attr::n(count))
        .expression_attribute_values(":room", attr::n(daily_limit - count))
        .expression_attribute_values(":expires", attr::n(now + left_today + 86_400))
        .send()
        .await;
    result.on_condition_failed("reserve quota", exceeded)?;
    Ok(())
}

/// Gives back sends reserved for a request that then failed.
pub async fn release_quota(
    store: &Store,
    app_id: &str,
    channel: Channel,
    count: u32,
) -> Result<()> {
    let (day, _) = utc_day(clock::now_epoch());
    store
        .client
        .update_item()
        .table_name(store.notifications_table()?)
        .set_key(Some(key(
            keys::notifications_pk(app_id),
            keys::quota_sk(channel.as_str(), &day),
        )))
        .update_expression("ADD sent :minus")
        .condition_expression("sent >= :count")
        .expression_attribute_values(":minus", attr::n(-i64::from(count)))
        .expression_attribute_values(":count", attr::n(count))
        .send()
        .await
        .ok_if_condition_failed("release quota")
        .map(|_| ())
}

/// Sends of `channel` the app made today (UTC).
pub async fn quota_used(store: &Store, app_id: &str, channel: Channel) -> Result<u64> {
    let (day, _) = utc_day(clock::now_epoch());
    let out = store
        .client
        .get_item()
        .table_name(store.notifications_table()?)
        .set_key(Some(key(
            keys::notifications_pk(app_id),
            keys::quota_sk(channel.as_str(), &day),
        )))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::sdk("read quota", e))?;
    Ok(out
        .item
        .as_ref()
        .and_then(|item| attr::opt_i64(item, "sent"))
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_and_end_at_midnight() {
        assert_eq!(utc_day(0), ("1970-01-01".into(), 86_400));
        assert_eq!(utc_day(86_399), ("1970-01-01".into(), 1));
        assert_eq!(utc_day(86_400 * 365 + 3600), ("1971-01-01".into(), 82_800));
    }

    #[test]
    fn idempotency_keys_are_printable() {
        assert!(validate_idempotency_key("0b9c0e9e-4f3a-4ad5-9c51-93b0a7f0b2d1").is_ok());
        assert!(validate_idempotency_key("").is_err());
        assert!(validate_idempotency_key("a b").is_err());
        assert!(validate_idempotency_key(&"k".repeat(256)).is_err());
    }
}
