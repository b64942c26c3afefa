//! Password rules and bcrypt hashing, run off the async executor.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Passwords are 8 to 72 characters (Unicode scalar values, as JSON Schema's
/// `minLength`/`maxLength` count them).
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 72;
/// bcrypt reads at most 72 bytes of its input.
const BCRYPT_INPUT_BYTES: usize = 72;

/// Checks the length rules, with a message that states them.
pub fn validate(password: &str) -> Result<()> {
    if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(Error::invalid(
            "password",
            format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long"),
        ))
    }
}

/// What bcrypt hashes: the password itself when it fits bcrypt's 72 bytes
/// (every password of 72 bytes or less keeps the hash it always had), else
/// 0xFF and the base64 of its SHA-256, so no byte of a long password is
/// ignored. No UTF-8 text holds the byte 0xFF, so that input is never also
/// some other password's.
fn bcrypt_input(password: &str) -> Vec<u8> {
    if password.len() <= BCRYPT_INPUT_BYTES {
        return password.as_bytes().to_vec();
    }
    let mut input = vec![0xFF];
    input.extend_from_slice(
        STANDARD
            .encode(Sha256::digest(password.as_bytes()))
            .as_bytes(),
    );
    input
}

/// Hashes a password with bcrypt at `cost` on the blocking pool (bcrypt is
/// CPU-bound for tens to hundreds of milliseconds and would stall other requests).
pub async fn hash(password: &str, cost: u32) -> Result<String> {
    validate(password)?;
    let input = bcrypt_input(password);
    tokio::task::spawn_blocking(move || bcrypt::hash(input, cost))
        .await
        .map_err(|e| Error::internal("hash task", e))?
        .map_err(|e| Error::internal("bcrypt hash", e))
}

/// Verifies a password against a bcrypt hash on the blocking pool. A malformed
/// hash counts as a mismatch.
pub async fn verify(password: &str, hash: &str) -> Result<bool> {
    let input = bcrypt_input(password);
    let hash = hash.to_owned();
    tokio::task::spawn_blocking(move || bcrypt::verify(input, &hash).unwrap_or(false))
        .await
        .map_err(|e| Error::internal("verify task", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules_count_characters() {
        assert!(validate("1234567").is_err());
        assert!(validate("12345678").is_ok());
        assert!(validate(&"x".repeat(72)).is_ok());
        let err = validate(&"x".repeat(73)).unwrap_err();
        assert!(err.to_string().contains("72"), "{err}");
        // 72 four-byte characters (288 bytes) are a password; 4 (16 bytes) are too few.
        assert!(validate(&"\u{1F511}".repeat(72)).is_ok());
        assert!(validate(&"\u{1F511}".repeat(4)).is_err());
    }

    #[tokio::test]
    async fn every_byte_of_a_long_password_counts() {
        // Equal in their first 72 bytes, different after: bcrypt alone would
        // take one for the other.
        let long = "\u{20AC}".repeat(30);
        let other = format!("{}x", "\u{20AC}".repeat(29));
        assert_eq!(long.as_bytes()[..72], other.as_bytes()[..72]);
        let hashed = hash(&long, 4).await.unwrap();
        assert!(verify(&long, &hashed).await.unwrap());
        assert!(!verify(&other, &hashed).await.unwrap());
        // A password of at most 72 bytes is hashed as itself, as before.
        let short = hash("correct horse", 4).await.unwrap();
        assert!(bcrypt::verify("correct horse", &short).unwrap());
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let hashed = hash("correct horse", 4).await.unwrap();
        assert!(verify("correct horse", &hashed).await.unwrap());
        assert!(!verify("wrong horse!", &hashed).await.unwrap());
        assert!(!verify("correct horse", "not a hash").await.unwrap());
    }
}
