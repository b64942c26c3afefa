//! Standard Webhooks signatures: `whsec_` secrets, `v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}`.
//!
//! <https://www.standardwebhooks.com/>: the receiver's own library (svix,
//! standardwebhooks) verifies what [`sign`] produces; the published test vector
//! below is what proves it. A rotated subscription signs with both secrets
//! during its grace period (space-separated signatures, as the spec allows), so
//! a receiver holding either verifies.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::secret;

/// Every secret starts with this (the spec's convention).
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new secret (the spec asks for 24 to 64).
const SECRET_BYTES: usize = 32;
/// How far a receiver should accept a timestamp from its clock (the spec's default).
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// A subscription's signing key: `whsec_` + base64 of the key bytes.
///
/// Unlike API keys it cannot be stored as a hash: signing needs the key itself.
/// `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningSecret({})", self.fingerprint())
    }
}

impl SigningSecret {
    /// A new random secret from the OS generator.
    pub fn generate() -> Result<Self> {
        let bytes = secret::random_bytes(SECRET_BYTES)?;
        Ok(Self(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))))
    }

    /// Parses a stored or given secret, checking that its key decodes.
    pub fn parse(text: &str) -> Result<Self> {
        let key = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| Error::invalid("secret", format!("must start with {SECRET_PREFIX}")))?;
        match STANDARD.decode(key) {
            Ok(bytes) if (24..=64).contains(&bytes.len()) => Ok(Self(text.to_owned())),
            _ => Err(Error::invalid(
                "secret",
                "must be whsec_ followed by base64 of 24 to 64 bytes",
            )),
        }
    }

    /// The full `whsec_…` text: what the app is shown once and what is stored.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// First 8 hex characters of the secret's SHA-256: tells secrets apart in
    /// listings without revealing them.
    pub fn fingerprint(&self) -> String {
        secret::sha256_hex(&self.0)[..8].to_owned()
    }

    fn key(&self) -> Vec<u8> {
        // `parse` and `generate` guarantee the prefix and the base64.
        STANDARD
            .decode(self.0.strip_prefix(SECRET_PREFIX).unwrap_or_default())
            .unwrap_or_default()
    }

    /// One `v1,<base64>` signature of `{id}.{timestamp}.{body}`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body)))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(&self.key()) else {
            // HMAC takes keys of any length; this branch cannot be reached.
            return Vec::new();
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
}

/// The `webhook-signature` header value: one signature per secret, space-separated.
pub fn signature_header(
    secrets: &[&SigningSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a delivery does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the webhook-timestamp is not a number")]
    BadTimestamp,
    #[error("the webhook-timestamp is too far from now (replay?)")]
    Stale,
    #[error("no signature in webhook-signature matches")]
    NoMatch,
}

/// What a receiver does (the spec's algorithm): the timestamp within
/// [`TOLERANCE_SECS`] of `now`, and one `v1` signature of the header equal, in
/// constant time, to the HMAC of `{id}.{timestamp}.{body}`.
pub fn verify(
    secret: &SigningSecret,
    id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now: i64,
) -> std::result::Result<(), VerifyError> {
    let timestamp: i64 = timestamp.parse().map_err(|_| VerifyError::BadTimestamp)?;
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(VerifyError::Stale);
    }
    let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(&secret.key()) else {
        return Err(VerifyError::NoMatch);
    };
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let matches = signature_header
        .split(' ')
        .filter_map(|sig| sig.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .any(|candidate| mac.clone().verify_slice(&candidate).is_ok());
    if matches {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TS: i64 = 1_614_265_330;
    const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const VECTOR_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn reproduces_the_published_test_vector() {
        // The spec's reference libraries compute this; equality is what makes a
        // receiver's stock library accept our deliveries.
        let secret = SigningSecret::parse(VECTOR_SECRET).unwrap();
        assert_eq!(secret.sign(VECTOR_ID, VECTOR_TS, VECTOR_BODY), VECTOR_SIG);
        verify(
            &secret,
            VECTOR_ID,
            "1614265330",
            VECTOR_SIG,
            VECTOR_BODY,
            VECTOR_TS,
        )
        .unwrap();
    }

    #[test]
    fn verification_refuses_tampering_staleness_and_other_secrets() {
        let secret = SigningSecret::parse(VECTOR_SECRET).unwrap();
        let ts = "1614265330";
        let other_body = br#"{"test": 2432232315}"#;
        assert_eq!(
            verify(&secret, VECTOR_ID, ts, VECTOR_SIG, other_body, VECTOR_TS),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            verify(&secret, "msg_other", ts, VECTOR_SIG, VECTOR_BODY, VECTOR_TS),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            verify(
                &secret,
                VECTOR_ID,
                ts,
                VECTOR_SIG,
                VECTOR_BODY,
                VECTOR_TS + 301
            ),
            Err(VerifyError::Stale)
        );
        let other = SigningSecret::generate().unwrap();
        assert_eq!(
            verify(&other, VECTOR_ID, ts, VECTOR_SIG, VECTOR_BODY, VECTOR_TS),
            Err(VerifyError::NoMatch)
        );
    }

    #[test]
    fn a_rotated_header_verifies_with_either_secret() {
        let old = SigningSecret::parse(VECTOR_SECRET).unwrap();
        let new = SigningSecret::generate().unwrap();
        let header = signature_header(&[&new, &old], VECTOR_ID, VECTOR_TS, VECTOR_BODY);
        assert_eq!(header.split(' ').count(), 2);
        for secret in [&old, &new] {
            verify(
                secret,
                VECTOR_ID,
                "1614265330",
                &header,
                VECTOR_BODY,
                VECTOR_TS,
            )
            .unwrap();
        }
    }

    #[test]
    fn secrets_are_random_well_formed_and_never_debug_printed() {
        let a = SigningSecret::generate().unwrap();
        let b = SigningSecret::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(SigningSecret::parse(a.expose()).unwrap(), a);
        assert!(!format!("{a:?}").contains(a.expose()));
        assert!(SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(SigningSecret::parse("whsec_c2hvcnQ=").is_err());
    }
}
