//! The stage's signing key as handlers use it: given at once (tests, `obctl dev`) or read from its secret on first use.
//!
//! A Lambda's cold start does not wait for Secrets Manager: the read is deferred ([`Keyring::preload`] on the
//! function's `Deferred`), so it runs after the first answer, and a request that signs or verifies a token before
//! then reads the key itself, while requests that need no token (health, API-key checks, the WebSocket stream
//! fan-out) never wait for it. Concurrent uses share one read; a failed read is logged, answers that request with a
//! 500 and is tried again by the next use.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::deferred::Deferred;
use crate::tokens::TokenSigner;
use crate::{Error, Result};

/// One read of the signing key.
pub type KeyRead = Pin<Box<dyn Future<Output = Result<Vec<u8>>> + Send>>;
/// Reads the signing key (the Lambdas: its Secrets Manager secret).
pub type KeyLoader = Arc<dyn Fn() -> KeyRead + Send + Sync>;

/// What the signing key gives: the access-token signer and the refresh-successor key.
#[derive(Debug)]
pub struct SigningKeys {
    pub signer: TokenSigner,
    /// Key of refresh-token successors, derived from the signing key (one secret, two purposes, never the same bytes).
    pub successor_key: [u8; 32],
}

impl SigningKeys {
    pub fn new(signing_key: &[u8], issuer: &str) -> Result<Self> {
        Ok(Self {
            signer: TokenSigner::new(signing_key, issuer)?,
            successor_key: successor_key(signing_key),
        })
    }
}

fn successor_key(signing_key: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"one-backend refresh successors\0");
    hasher.update(signing_key);
    hasher.finalize().into()
}

/// The signing keys, ready or loaded once on first use; cheap to clone.
#[derive(Clone)]
pub struct Keyring(Arc<Inner>);

struct Inner {
    issuer: String,
    keys: OnceCell<Arc<SigningKeys>>,
    loader: Option<KeyLoader>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key material.
        f.debug_struct("Keyring")
            .field("issuer", &self.0.issuer)
            .field("loaded", &self.0.keys.initialized())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// Keys from `signing_key` (at least 32 bytes), ready now.
    pub fn ready(signing_key: &[u8], issuer: &str) -> Result<Self> {
        let keys = Arc::new(SigningKeys::new(signing_key, issuer)?);
        Ok(Self(Arc::new(Inner {
            issuer: issuer.to_owned(),
            keys: OnceCell::new_with(Some(keys)),
            loader: None,
        })))
    }

    /// Keys `loader` reads when they are first needed.
    pub fn loaded_by(issuer: &str, loader: KeyLoader) -> Self {
        Self(Arc::new(Inner {
            issuer: issuer.to_owned(),
            keys: OnceCell::new(),
            loader: Some(loader),
        }))
    }

    /// `iss` of the tokens these keys sign.
    pub fn issuer(&self) -> &str {
        &self.0.issuer
    }

    /// The keys, read first if they were not yet.
    pub async fn get(&self) -> Result<Arc<SigningKeys>> {
        let inner = &self.0;
        inner
            .keys
            .get_or_try_init(|| async {
                let loader = inner.loader.as_ref().ok_or_else(|| {
                    Error::Internal("no signing key and no way to read one".into())
                })?;
                let key = loader().await?;
                SigningKeys::new(&key, &inner.issuer).map(Arc::new)
            })
            .await
            .cloned()
    }

    /// Reads the keys ahead of their first use, as `deferred` work (a Lambda: after the first answer), so a later
    /// request that needs them does not wait. A read already made or in flight is shared, never repeated. A failure
    /// is logged here and retried by the next [`Keyring::get`].
    pub fn preload(&self, deferred: &Deferred) {
        let keyring = self.clone();
        deferred.after(async move {
            if let Err(err) = keyring.get().await {
                tracing::error!(error = %err, "could not read the signing key; the next request that needs it tries again");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn counting_loader(reads: Arc<AtomicUsize>, fail_first: bool) -> KeyLoader {
        Arc::new(move || -> KeyRead {
            let reads = reads.clone();
            Box::pin(async move {
                let n = reads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                if fail_first && n == 0 {
                    return Err(Error::Internal("secret unreachable".into()));
                }
                Ok(KEY.to_vec())
            })
        })
    }

    #[tokio::test]
    async fn concurrent_first_uses_share_one_read_and_get_the_same_keys_as_ready() {
        let reads = Arc::new(AtomicUsize::new(0));
        let keyring = Keyring::loaded_by("ob-test", counting_loader(reads.clone(), false));
        keyring.preload(&Deferred::spawned());
        let (a, b) = tokio::join!(keyring.get(), keyring.get());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(
            reads.load(Ordering::SeqCst),
            1,
            "one read for the preload and both uses"
        );
        let ready = Keyring::ready(KEY, "ob-test").unwrap().get().await.unwrap();
        assert_eq!(a.successor_key, ready.successor_key);
        let token = a
            .signer
            .issue("u1", "shop", crate::users::Role::User, 60)
            .unwrap();
        assert_eq!(ready.signer.verify(&token).unwrap().sub, "u1");
    }

    #[tokio::test]
    async fn a_failed_read_is_retried_by_the_next_use() {
        let reads = Arc::new(AtomicUsize::new(0));
        let keyring = Keyring::loaded_by("ob-test", counting_loader(reads.clone(), true));
        assert!(keyring.get().await.is_err());
        assert!(keyring.get().await.is_ok());
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        assert!(keyring.get().await.is_ok());
        assert_eq!(reads.load(Ordering::SeqCst), 2, "read once it succeeded");
    }

    /// Deferred until after the first answer: nothing is read before the queue runs, a use before then reads the key
    /// itself, and the read-ahead then finds it read (one read in all).
    #[tokio::test]
    async fn a_deferred_preload_reads_nothing_before_its_turn_and_never_twice() {
        let reads = Arc::new(AtomicUsize::new(0));
        let keyring = Keyring::loaded_by("ob-test", counting_loader(reads.clone(), false));
        let deferred = Deferred::queued();
        keyring.preload(&deferred);
        tokio::task::yield_now().await;
        assert_eq!(reads.load(Ordering::SeqCst), 0, "read before its turn");
        assert!(keyring.get().await.is_ok());
        deferred.finish().await;
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        let untouched = Keyring::loaded_by("ob-test", counting_loader(reads.clone(), false));
        untouched.preload(&deferred);
        deferred.finish().await;
        assert_eq!(
            reads.load(Ordering::SeqCst),
            2,
            "the read-ahead reads the key"
        );
        assert!(format!("{untouched:?}").contains("loaded: true"));
    }

    #[test]
    fn a_short_key_is_refused() {
        assert!(Keyring::ready(b"short", "x").is_err());
    }
}
