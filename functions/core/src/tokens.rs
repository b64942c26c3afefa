//! Access tokens: HS256 JWTs with subject, app, role, issuer, issued-at and expiry; the algorithm is pinned.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::error::{Error, Result};
use crate::users::Role;

/// The only algorithm accepted: a token whose header names another (`none`,
/// RS256 with our secret as a "public key", …) is rejected.
const ALGORITHM: Algorithm = Algorithm::HS256;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// App id; callers check it against the app of the route.
    pub app: String,
    pub role: Role,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    /// Whether the user's e-mail address was verified when the token was
    /// issued (a verification shows after the next refresh). Absent in tokens
    /// issued before the claim existed, which then count as unverified.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ev: bool,
    /// Issue time in milliseconds, compared with the user's `tokensValidAfter`
    /// (a role change in the same second as a sign-in must not void the new
    /// token); tokens without it count from `iat`.
    #[serde(default, rename = "iatMs", skip_serializing_if = "Option::is_none")]
    pub iat_ms: Option<i64>,
}

impl Claims {
    /// When the token was issued, in epoch milliseconds.
    pub fn issued_ms(&self) -> i64 {
        self.iat_ms.unwrap_or(self.iat.saturating_mul(1000))
    }
}

/// Signs and verifies access tokens with one HMAC secret and issuer.
#[derive(Clone)]
pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key material.
        f.debug_struct("TokenSigner")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// HMAC keys shorter than this are refused: HS256 wants at least 256 bits.
pub const MIN_KEY_BYTES: usize = 32;

impl TokenSigner {
    pub fn new(secret: &[u8], issuer: &str) -> Result<Self> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(Error::Internal(format!(
                "signing key must be at least {MIN_KEY_BYTES} bytes"
            )));
        }
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        validation.leeway = 30;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Issues an access token valid for `ttl_secs`, of a user whose e-mail is not verified.
    pub fn issue(&self, user_id: &str, app_id: &str, role: Role, ttl_secs: i64) -> Result<String> {
        self.issue_with(user_id, app_id, role, false, ttl_secs)
    }

    /// Issues an access token valid for `ttl_secs`, saying whether the user's e-mail is verified.
    pub fn issue_with(
        &self,
        user_id: &str,
        app_id: &str,
        role: Role,
        email_verified: bool,
        ttl_secs: i64,
    ) -> Result<String> {
        self.issue_at(
            user_id,
            app_id,
            role,
            email_verified,
            clock::now_millis(),
            ttl_secs,
        )
    }

    /// Issues an access token as of `issued_ms` (epoch milliseconds). The same
    /// claims at the same instant sign to the same token, which is what lets a
    /// refresh answered again within its grace hand out the very same pair.
    pub fn issue_at(
        &self,
        user_id: &str,
        app_id: &str,
        role: Role,
        email_verified: bool,
        issued_ms: i64,
        ttl_secs: i64,
    ) -> Result<String> {
        let now_ms = issued_ms;
        let now = now_ms.div_euclid(1000);
        let claims = Claims {
            sub: user_id.to_owned(),
            app: app_id.to_owned(),
            role,
            iss: self.issuer.clone(),
            iat: now,
            exp: now + ttl_secs,
            ev: email_verified,
            iat_ms: Some(now_ms),
        };
        jsonwebtoken::encode(&Header::new(ALGORITHM), &claims, &self.encoding)
            .map_err(|e| Error::internal("sign token", e))
    }

    /// Verifies signature, algorithm, issuer and expiry. The app claim is the
    /// caller's to compare with the route's app.
    pub fn verify(&self, token: &str) -> Result<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| Error::Unauthorized("invalid or expired access token".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_and_issuer_pinned() {
        let signer = TokenSigner::new(KEY, "ob-test").unwrap();
        let token = signer.issue("u1", "shop", Role::Admin, 60).unwrap();
        let claims = signer.verify(&token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.app.as_str(), claims.role),
            ("u1", "shop", Role::Admin)
        );
        assert_eq!(claims.exp - claims.iat, 60);
        let other_issuer = TokenSigner::new(KEY, "someone-else").unwrap();
        assert!(other_issuer.verify(&token).is_err());
        let other_key = TokenSigner::new(b"another key of at least 32 bytes!!", "ob-test").unwrap();
        assert!(other_key.verify(&token).is_err());
    }

    #[test]
    fn expired_and_foreign_algorithms_are_rejected() {
        let signer = TokenSigner::new(KEY, "ob-test").unwrap();
        let expired = signer.issue("u1", "shop", Role::User, -120).unwrap();
        assert!(signer.verify(&expired).is_err());
        let claims = signer
            .verify(&signer.issue("u1", "shop", Role::User, 60).unwrap())
            .unwrap();
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(KEY),
        )
        .unwrap();
        assert!(signer.verify(&hs512).is_err());
        // An unsigned token ("alg": "none") with valid claims.
        let none = format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
            hs512.split('.').nth(1).unwrap()
        );
        assert!(signer.verify(&none).is_err());
        assert!(TokenSigner::new(b"short", "x").is_err());
    }
}
