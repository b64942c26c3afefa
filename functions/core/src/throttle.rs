//! Login, registration and account e-mail limits: attempts reserved before any password is hashed or e-mail queued, per account and client address, with a slower ceiling per account.
//!
//! Keying a lock by e-mail alone lets anyone holding an app's public key lock
//! its owner out. So the tight limit is per account *and* client address (a
//! guesser locks only itself), and the per-account ceiling across all
//! addresses is much higher and spans a longer window: only a distributed
//! guesser reaches it. A successful login clears its address's count.

use crate::error::Result;
use crate::limits::{self, Counter};
use crate::store::Store;

/// How many attempts each counter allows, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Login attempts of one account from one client address per window.
    pub per_account_client: u32,
    pub account_client_window_secs: i64,
    /// Login attempts of one account from all addresses per window.
    pub per_account: u32,
    pub account_window_secs: i64,
    /// Registrations from one client address per window.
    pub registrations_per_client: u32,
    pub registration_window_secs: i64,
    /// Password-reset or verification e-mails asked for one address (or one
    /// signed-in user) per window: what keeps a mailbox from being flooded.
    pub account_emails_per_address: u32,
    /// The same, asked from one client address for any address.
    pub account_emails_per_client: u32,
    pub account_email_window_secs: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            per_account_client: 5,
            account_client_window_secs: 15 * 60,
            per_account: 100,
            account_window_secs: 3600,
            registrations_per_client: 20,
            registration_window_secs: 3600,
            account_emails_per_address: 5,
            account_emails_per_client: 30,
            account_email_window_secs: 3600,
        }
    }
}

/// The counters of one login attempt.
#[derive(Debug, Clone)]
pub struct LoginAttempt {
    pair: Counter,
    account: Counter,
}

impl LoginAttempt {
    /// `email` is the normalized e-mail; `client` the source address, when known.
    pub fn new(app_id: &str, email: &str, client: Option<&str>, policy: &Policy, now: i64) -> Self {
        let client = client.unwrap_or("unknown");
        Self {
            pair: Counter::new(
                app_id,
                &format!("login:{email}|{client}"),
                policy.per_account_client,
                policy.account_client_window_secs,
                now,
            ),
            account: Counter::new(
                app_id,
                &format!("login:{email}"),
                policy.per_account,
                policy.account_window_secs,
                now,
            ),
        }
    }

    /// Reserves the attempt (before bcrypt); `Throttled` when a limit is
    /// reached. The tight per-address counter goes first: an attempt it refuses
    /// never touches the account's ceiling, so a locked-out guesser cannot use
    /// it up (or make a parallel burst refuse more than its own excess).
    pub async fn reserve(&self, store: &Store) -> Result<()> {
        limits::reserve(store, std::slice::from_ref(&self.pair)).await?;
        if let Err(err) = limits::reserve(store, std::slice::from_ref(&self.account)).await {
            if let Err(release) = limits::release(store, &self.pair).await {
                tracing::warn!(error = %release, "could not give back a reserved unit");
            }
            return Err(err);
        }
        Ok(())
    }

    /// After a successful login: the address proved it knows the password,
    /// so its count for the account is cleared, and the attempt's unit of the
    /// account ceiling is given back (the owner never uses it up).
    pub async fn succeeded(&self, store: &Store) -> Result<()> {
        let (pair, account) = tokio::join!(
            limits::clear(store, &self.pair),
            limits::release(store, &self.account)
        );
        pair.and(account)
    }
}

/// Reserves one registration from `client` (no limit when the address is unknown).
pub async fn reserve_registration(
    store: &Store,
    app_id: &str,
    client: Option<&str>,
    policy: &Policy,
    now: i64,
) -> Result<()> {
    let Some(client) = client else {
        return Ok(());
    };
    let counter = Counter::new(
        app_id,
        &format!("register:{client}"),
        policy.registrations_per_client,
        policy.registration_window_secs,
        now,
    );
    limits::reserve(store, &[counter]).await
}

/// Which account e-mail is asked for; each has its own counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountEmail {
    PasswordReset,
    Verification,
}

impl AccountEmail {
    fn subject(self) -> &'static str {
        match self {
            Self::PasswordReset => "reset",
            Self::Verification => "verify",
        }
    }
}

/// Reserves one request for an account e-mail to `recipient` (a normalized
/// e-mail address, or `user:{id}` for a signed-in request), per recipient
/// and per client address: `Throttled` once either is used up. Known and
/// unknown addresses count alike, so a refusal tells nothing about accounts.
pub async fn reserve_account_email(
    store: &Store,
    app_id: &str,
    kind: AccountEmail,
    recipient: &str,
    client: Option<&str>,
    policy: &Policy,
    now: i64,
) -> Result<()> {
    let window = policy.account_email_window_secs;
    let mut counters = vec![Counter::new(
        app_id,
        &format!("{}:{recipient}", kind.subject()),
        policy.account_emails_per_address,
        window,
        now,
    )];
    if let Some(client) = client {
        counters.push(Counter::new(
            app_id,
            &format!("{}-client:{client}", kind.subject()),
            policy.account_emails_per_client,
            window,
            now,
        ));
    }
    limits::reserve(store, &counters).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pair_limit_is_tighter_and_keyed_by_address() {
        let policy = Policy::default();
        assert!(policy.per_account_client < policy.per_account);
        let a = LoginAttempt::new("shop", "ann@x.io", Some("10.0.0.1"), &policy, 0);
        let b = LoginAttempt::new("shop", "ann@x.io", Some("10.0.0.2"), &policy, 0);
        assert_ne!(a.pair.pk, b.pair.pk);
        assert_eq!(a.account.pk, b.account.pk);
    }
}
