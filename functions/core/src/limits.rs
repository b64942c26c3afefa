//! Fixed-window counters in the limits table (`tables::LIMITS`): exact reservations for logins and registrations, and totals for request accounting.
//!
//! A counter is one item per subject and window, `pk=L#{appId}#{subject}#{windowStart}`,
//! expired by TTL when its window ends. A reservation is one conditional
//! `UpdateItem` (`ADD n :one` only while `n < limit`), which DynamoDB applies
//! atomically: of any number of parallel attempts exactly `limit` succeed, so a
//! burst cannot slip through between a check and a later count.

use futures::future::join_all;

use crate::attr;
use crate::clock;
use crate::condition::OnConditionFailed;
use crate::error::{Error, Result};
use crate::keys;
use crate::store::Store;
use crate::tables::LIMITS;

/// One window of one subject, with the most it may count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub pk: String,
    pub limit: u64,
    /// Epoch seconds when the window (and the item) ends.
    pub window_ends: i64,
}

impl Counter {
    /// The counter of `subject` in the window of `window_secs` that holds `now`.
    pub fn new(app_id: &str, subject: &str, limit: u32, window_secs: i64, now: i64) -> Self {
        let window_secs = window_secs.max(1);
        let start = now - now.rem_euclid(window_secs);
        Self {
            pk: keys::limit_pk(app_id, subject, start),
            limit: u64::from(limit),
            window_ends: start + window_secs,
        }
    }

    fn retry_after(&self, now: i64) -> u64 {
        u64::try_from(self.window_ends - now).unwrap_or(0).max(1)
    }
}

fn ttl() -> &'static str {
    LIMITS.ttl_attribute.unwrap_or("expiresAt")
}

/// Reserves one unit of every counter, in parallel. `Throttled` (with the
/// longest wait) when any is full; the units the others took are then given
/// back, so a refused attempt counts against nothing.
pub async fn reserve(store: &Store, counters: &[Counter]) -> Result<()> {
    let table = store.limits_table()?;
    let now = clock::now_epoch();
    let attempts = counters.iter().map(|counter| async move {
        let result = store
            .client
            .update_item()
            .table_name(table)
            .key(LIMITS.partition_key, attr::s(&counter.pk))
            .update_expression("ADD n :one SET #ttl = :ends")
            .condition_expression("attribute_not_exists(n) OR n < :limit")
            .expression_attribute_names("#ttl", ttl())
            .expression_attribute_values(":one", attr::n(1))
            .expression_attribute_values(":ends", attr::n(counter.window_ends))
            .expression_attribute_values(":limit", attr::n(counter.limit))
            .send()
            .await;
        // Taken: no wait; full: how long until the window ends.
        let taken = result.ok_if_condition_failed("reserve an attempt")?;
        Ok::<_, Error>(taken.map_or_else(|| Some(counter.retry_after(now)), |_| None))
    });
    let outcomes = join_all(attempts).await;
    let mut wait = None;
    let mut taken = Vec::new();
    let mut failure = None;
    for (counter, outcome) in counters.iter().zip(outcomes) {
        match outcome {
            Ok(None) => taken.push(counter),
            Ok(Some(secs)) => wait = Some(wait.unwrap_or(0).max(secs)),
            Err(err) => failure = Some(err),
        }
    }
    if let Some(err) = failure {
        return Err(err);
    }
    let Some(retry_after_secs) = wait else {
        return Ok(());
    };
    for result in join_all(taken.into_iter().map(|c| release(store, c))).await {
        if let Err(err) = result {
            tracing::warn!(error = %err, "could not give back a reserved unit");
        }
    }
    Err(Error::Throttled { retry_after_secs })
}

/// Forgets a counter's window (a successful login clears its own address's count).
pub async fn clear(store: &Store, counter: &Counter) -> Result<()> {
    store
        .client
        .delete_item()
        .table_name(store.limits_table()?)
        .key(LIMITS.partition_key, attr::s(&counter.pk))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| Error::sdk("clear a counter", e))
}

/// Gives one unit back (a login that succeeded does not count against its account).
pub async fn release(store: &Store, counter: &Counter) -> Result<()> {
    let result = store
        .client
        .update_item()
        .table_name(store.limits_table()?)
        .key(LIMITS.partition_key, attr::s(&counter.pk))
        .update_expression("ADD n :minus")
        .condition_expression("n > :zero")
        .expression_attribute_values(":minus", attr::n(-1))
        .expression_attribute_values(":zero", attr::n(0))
        .send()
        .await;
    // At zero or gone (its window ended): nothing to give back.
    result.ok_if_condition_failed("release an attempt")?;
    Ok(())
}

/// Adds `n` to a counter without a limit and returns its new total (request
/// accounting, see `RequestLimits` in ob-api).
pub async fn add(store: &Store, counter: &Counter, n: u64) -> Result<u64> {
    let out = store
        .client
        .update_item()
        .table_name(store.limits_table()?)
        .key(LIMITS.partition_key, attr::s(&counter.pk))
        .update_expression("ADD n :n SET #ttl = :ends")
        .expression_attribute_names("#ttl", ttl())
        .expression_attribute_values(":n", attr::n(n))
        .expression_attribute_values(":ends", attr::n(counter.window_ends))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
        .send()
        .await
        .map_err(|e| Error::sdk("count requests", e))?;
    Ok(out
        .attributes
        .as_ref()
        .and_then(|a| attr::opt_i64(a, "n"))
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_and_named() {
        let c = Counter::new("shop", "ip:1.2.3.4", 5, 900, 1_000);
        assert_eq!(c.pk, "L#shop#ip:1.2.3.4#900");
        assert_eq!(c.window_ends, 1_800);
        assert_eq!(c.retry_after(1_000), 800);
        assert_eq!(c.retry_after(5_000), 1);
        let next = Counter::new("shop", "ip:1.2.3.4", 5, 900, 1_800);
        assert_ne!(next.pk, c.pk);
    }
}
