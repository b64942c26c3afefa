//! The signing credentials, resolved by the configuration's provider and kept until shortly before they expire.
//!
//! As the SDK's lazy identity cache does: credentials with an expiry are renewed 10 s before it, those without one
//! (environment variables) are read again after 15 minutes. Lambda's are temporary, with a session token.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use crate::error::{Error, Result};

/// How long before their expiry credentials are renewed.
const RENEW_BEFORE: Duration = Duration::from_secs(10);
/// How long credentials without an expiry are used before the provider is asked again.
const UNTIMED_VALIDITY: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone)]
pub struct CredentialsCache {
    provider: SharedCredentialsProvider,
    current: Arc<Mutex<Option<(Credentials, SystemTime)>>>,
}

impl CredentialsCache {
    pub fn new(provider: SharedCredentialsProvider) -> Self {
        Self {
            provider,
            current: Arc::default(),
        }
    }

    /// Credentials valid at `now`, from the cache or the provider.
    pub async fn get(&self, now: SystemTime) -> Result<Credentials> {
        if let Some((credentials, renew_at)) = self.lock().as_ref()
            && now < *renew_at
        {
            return Ok(credentials.clone());
        }
        let credentials = self
            .provider
            .provide_credentials()
            .await
            .map_err(|err| Error::internal("files bucket credentials", err))?;
        let renew_at = match credentials.expiry() {
            Some(expiry) => expiry.checked_sub(RENEW_BEFORE).unwrap_or(expiry),
            None => now + UNTIMED_VALIDITY,
        };
        *self.lock() = Some((credentials.clone(), renew_at));
        Ok(credentials)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Credentials, SystemTime)>> {
        // A panic while holding it leaves at worst a stale entry, which the expiry check handles.
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::future;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Hands out numbered credentials expiring `lifetime` after the epoch-based `now` of the test.
    #[derive(Debug)]
    struct Numbered {
        calls: AtomicU32,
        expiry: Option<SystemTime>,
    }

    impl ProvideCredentials for Numbered {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            future::ProvideCredentials::ready(Ok(Credentials::new(
                format!("AKID{n}"),
                "secret",
                Some("token".into()),
                self.expiry,
                "test",
            )))
        }
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[tokio::test]
    async fn credentials_are_kept_until_shortly_before_they_expire() {
        let cache = CredentialsCache::new(SharedCredentialsProvider::new(Numbered {
            calls: AtomicU32::new(0),
            expiry: Some(at(1000)),
        }));
        assert_eq!(cache.get(at(0)).await.unwrap().access_key_id(), "AKID0");
        assert_eq!(cache.get(at(989)).await.unwrap().access_key_id(), "AKID0");
        assert_eq!(cache.get(at(990)).await.unwrap().access_key_id(), "AKID1");
    }

    #[tokio::test]
    async fn credentials_without_expiry_are_read_again_after_fifteen_minutes() {
        let cache = CredentialsCache::new(SharedCredentialsProvider::new(Numbered {
            calls: AtomicU32::new(0),
            expiry: None,
        }));
        assert_eq!(cache.get(at(0)).await.unwrap().access_key_id(), "AKID0");
        assert_eq!(cache.get(at(899)).await.unwrap().access_key_id(), "AKID0");
        assert_eq!(cache.get(at(900)).await.unwrap().access_key_id(), "AKID1");
    }
}
