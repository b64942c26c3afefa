//! Password rules and bcrypt hashing, run off the async executor.

use crate::error::{Error, Result};

pub const MIN_PASSWORD_BYTES: usize = 8;
/// bcrypt only reads the first 72 bytes; longer passwords are refused rather
/// than silently truncated.
pub const MAX_PASSWORD_BYTES: usize = 72;

/// Checks the length rules, with a message that states them.
pub fn validate(password: &str) -> Result<()> {
    if (MIN_PASSWORD_BYTES..=MAX_PASSWORD_BYTES).contains(&password.len()) {
        Ok(())
    } else {
        Err(Error::invalid(
            "password",
            format!(
                "must be {MIN_PASSWORD_BYTES} to {MAX_PASSWORD_BYTES} bytes long (bcrypt's limit)"
            ),
        ))
    }
}

/// Hashes a password with bcrypt at `cost` on the blocking pool (bcrypt is
/// CPU-bound for tens to hundreds of milliseconds and would stall other requests).
pub async fn hash(password: &str, cost: u32) -> Result<String> {
    validate(password)?;
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
        .await
        .map_err(|e| Error::internal("hash task", e))?
        .map_err(|e| Error::internal("bcrypt hash", e))
}

/// Verifies a password against a bcrypt hash on the blocking pool. A malformed
/// hash counts as a mismatch.
pub async fn verify(password: &str, hash: &str) -> Result<bool> {
    let password = password.to_owned();
    let hash = hash.to_owned();
    tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
        .await
        .map_err(|e| Error::internal("verify task", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules() {
        assert!(validate("1234567").is_err());
        assert!(validate("12345678").is_ok());
        assert!(validate(&"x".repeat(72)).is_ok());
        let err = validate(&"x".repeat(73)).unwrap_err();
        assert!(err.to_string().contains("72"), "{err}");
        // 24 three-byte characters are 72 bytes; 25 are too many.
        assert!(validate(&"€".repeat(24)).is_ok());
        assert!(validate(&"€".repeat(25)).is_err());
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let hashed = hash("correct horse", 4).await.unwrap();
        assert!(verify("correct horse", &hashed).await.unwrap());
        assert!(!verify("wrong horse!", &hashed).await.unwrap());
        assert!(!verify("correct horse", "not a hash").await.unwrap());
    }
}
