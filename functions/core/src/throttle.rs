//! Failed-login counters with TTL, throttling repeated failures per account and per client.

use crate::apps::is_conditional_failure;
use crate::attr::{self, Item};
use crate::clock;
use crate::error::{Error, Result};
use crate::keys;
use crate::store::Store;
use crate::tables::SESSIONS;

/// How many failures open a lockout, and for how long a window lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures of one e-mail within a window before it is locked.
    pub max_per_account: u32,
    /// Failures from one source address within a window before it is locked;
    /// higher, as many users may share one address.
    pub max_per_client: u32,
    pub window_secs: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_per_account: 5,
            max_per_client: 20,
            window_secs: 15 * 60,
        }
    }
}

/// What a counter counts: an account (lowercased e-mail) or a client address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Account(String),
    Client(String),
}

impl Subject {
    fn key(&self) -> String {
        match self {
            Self::Account(email) => format!("acct:{email}"),
            Self::Client(ip) => format!("ip:{ip}"),
        }
    }

    fn limit(&self, policy: &Policy) -> u32 {
        match self {
            Self::Account(_) => policy.max_per_account,
            Self::Client(_) => policy.max_per_client,
        }
    }
}

/// `Throttled` with the seconds left when any subject is over its limit.
pub async fn check(
    store: &Store,
    app_id: &str,
    subjects: &[Subject],
    policy: &Policy,
) -> Result<()> {
    let now = clock::now_epoch();
    let mut retry_after = 0;
    for subject in subjects {
        if let Some(item) = get(store, app_id, subject).await? {
            retry_after = retry_after.max(lockout_left(&item, subject.limit(policy), now));
        }
    }
    if retry_after > 0 {
        Err(Error::Throttled {
            retry_after_secs: u64::try_from(retry_after).unwrap_or(1),
        })
    } else {
        Ok(())
    }
}

/// Seconds until a counter's window ends if it reached `limit`, else 0.
fn lockout_left(item: &Item, limit: u32, now: i64) -> i64 {
    let failures = attr::opt_i64(item, "failures").unwrap_or(0);
    let window_ends = attr::opt_i64(item, "windowEnds").unwrap_or(0);
    if failures >= i64::from(limit) && window_ends > now {
        window_ends - now
    } else {
        0
    }
}

/// Counts one failure: within the current window it increments, otherwise it
/// starts a new window (the item expires by TTL when its window ends).
pub async fn record_failure(
    store: &Store,
    app_id: &str,
    subject: &Subject,
    policy: &Policy,
) -> Result<()> {
    let table = store.sessions_table()?;
    let pk = keys::login_failures_pk(app_id, &subject.key());
    let now = clock::now_epoch();
    let incremented = store
        .client
        .update_item()
        .table_name(table)
        .key(SESSIONS.partition_key, attr::s(&pk))
        .update_expression("ADD failures :one")
        .condition_expression("windowEnds > :now")
        .expression_attribute_values(":one", attr::n(1))
        .expression_attribute_values(":now", attr::n(now))
        .send()
        .await;
    match incremented {
        Ok(_) => return Ok(()),
        Err(err) if is_conditional_failure(&err) => {}
        Err(err) => return Err(Error::sdk("count login failure", err)),
    }
    let window_ends = now + policy.window_secs;
    let mut item = Item::new();
    item.insert(SESSIONS.partition_key.into(), attr::s(pk));
    item.insert("failures".into(), attr::n(1));
    item.insert("windowEnds".into(), attr::n(window_ends));
    item.insert(
        SESSIONS.ttl_attribute.unwrap_or("expiresAt").into(),
        attr::n(window_ends),
    );
    store
        .client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .map_err(|e| Error::sdk("start login failure window", e))?;
    Ok(())
}

/// Forgets a subject's failures (after a successful login of the account).
pub async fn clear(store: &Store, app_id: &str, subject: &Subject) -> Result<()> {
    store
        .client
        .delete_item()
        .table_name(store.sessions_table()?)
        .key(
            SESSIONS.partition_key,
            attr::s(keys::login_failures_pk(app_id, &subject.key())),
        )
        .send()
        .await
        .map_err(|e| Error::sdk("clear login failures", e))?;
    Ok(())
}

async fn get(store: &Store, app_id: &str, subject: &Subject) -> Result<Option<Item>> {
    let out = store
        .client
        .get_item()
        .table_name(store.sessions_table()?)
        .key(
            SESSIONS.partition_key,
            attr::s(keys::login_failures_pk(app_id, &subject.key())),
        )
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::sdk("read login failures", e))?;
    Ok(out.item)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(failures: i64, window_ends: i64) -> Item {
        let mut item = Item::new();
        item.insert("failures".into(), attr::n(failures));
        item.insert("windowEnds".into(), attr::n(window_ends));
        item
    }

    #[test]
    fn lockout_needs_limit_within_window() {
        assert_eq!(lockout_left(&counter(5, 160), 5, 100), 60);
        assert_eq!(lockout_left(&counter(4, 160), 5, 100), 0);
        assert_eq!(lockout_left(&counter(9, 100), 5, 100), 0);
    }

    #[test]
    fn subjects_have_distinct_keys() {
        assert_eq!(Subject::Account("a@b.c".into()).key(), "acct:a@b.c");
        assert_eq!(Subject::Client("1.2.3.4".into()).key(), "ip:1.2.3.4");
        let policy = Policy::default();
        assert!(
            Subject::Client(String::new()).limit(&policy)
                > Subject::Account(String::new()).limit(&policy)
        );
    }
}
