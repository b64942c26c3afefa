//! Claiming a delivery's attempt before making it: one conditional write that also reads the delivery, so a duplicated or concurrent queue message makes no second attempt.

use aws_sdk_dynamodb::types::ReturnValue;

use super::deliveries::{Delivery, DeliveryState, from_item, get, key};
use crate::attr;
use crate::condition::OnConditionFailed;
use crate::error::{Error, Result};
use crate::store::Store;

/// A claimed attempt not recorded after this long was abandoned (its worker
/// died): the webhook queue's visibility timeout, six times the function's
/// timeout, so a claim this old belongs to a run that has certainly ended.
pub const CLAIM_TIMEOUT_SECS: i64 =
    crate::queues::WEBHOOK_DELIVERIES.visibility_timeout_secs as i64;

/// What claiming an attempt found.
#[derive(Debug, Clone)]
pub enum Claim {
    /// Ours to attempt: the delivery as stored.
    Claimed(Delivery),
    /// Another worker is making this attempt right now (a duplicated message):
    /// try again later, when it has finished or is known dead.
    InProgress,
    /// Nothing to attempt: made already, final, held, or gone (`None`).
    Stale(Option<Delivery>),
}

/// Claims attempt `attempt` of a delivery at `now` and returns the delivery as
/// stored: one conditional write in place of a read. Only a `pending` or
/// `retrying` delivery whose claimed attempt is lower can be claimed, so a
/// duplicated queue message (SQS delivers at least once) attempts nothing; a
/// claim older than [`CLAIM_TIMEOUT_SECS`] never recorded is taken over.
pub async fn claim(
    store: &Store,
    app_id: &str,
    delivery_id: &str,
    attempt: u32,
    now: i64,
) -> Result<Claim> {
    let claimed = store
        .client
        .update_item()
        .table_name(store.webhooks_table()?)
        .set_key(Some(key(app_id, delivery_id)))
        .condition_expression(
            "#state IN (:pending, :retrying) AND (attribute_not_exists(claimedAttempt) \
             OR claimedAttempt < :n OR (claimedAttempt = :n AND claimedAt < :stale))",
        )
        .update_expression("SET claimedAttempt = :n, claimedAt = :now")
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":pending", attr::s(DeliveryState::Pending.as_str()))
        .expression_attribute_values(":retrying", attr::s(DeliveryState::Retrying.as_str()))
        .expression_attribute_values(":n", attr::n(attempt))
        .expression_attribute_values(":now", attr::n(now))
        .expression_attribute_values(":stale", attr::n(now - CLAIM_TIMEOUT_SECS))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    if let Some(out) = claimed.ok_if_condition_failed("claim webhook attempt")? {
        let item = out
            .attributes()
            .ok_or_else(|| Error::Internal("the claim returned no item".into()))?;
        return Ok(Claim::Claimed(from_item(item)?));
    }
    // Only on this path: read what stopped the claim.
    let found = match get(store, app_id, delivery_id).await {
        Ok(delivery) => Some(delivery),
        Err(Error::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    Ok(match found {
        Some(d)
            if matches!(d.state, DeliveryState::Pending | DeliveryState::Retrying)
                && matches!(d.claimed, Some((n, Some(_))) if n == attempt) =>
        {
            Claim::InProgress
        }
        other => Claim::Stale(other),
    })
}
