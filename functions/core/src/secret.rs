//! Random secrets and their SHA-256 fingerprints (API keys, refresh tokens, ids).

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` characters of base62 from the OS generator. Bytes at or above 248 are
/// dropped so every character is equally likely (248 = 4 × 62).
pub fn random_base62(len: usize) -> Result<String> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| Error::internal("random", e))?;
        for byte in buf {
            if out.len() == len {
                break;
            }
            if byte < 248 {
                out.push(char::from(BASE62[usize::from(byte % 62)]));
            }
        }
    }
    Ok(out)
}

/// `n` random bytes from the OS generator.
pub fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| Error::internal("random", e))?;
    Ok(buf)
}

/// `len` base62 characters (at most 43, 256 bits) computed from `key` and
/// `input` by HMAC-SHA256: the same inputs always give the same text, and
/// nobody without the key can compute or predict it.
pub fn derived_base62(key: &[u8], input: &str, len: usize) -> String {
    use hmac::{KeyInit, Mac};
    let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(key) else {
        // HMAC takes keys of any length; this branch cannot be reached.
        return String::new();
    };
    mac.update(input.as_bytes());
    let mut number: Vec<u8> = mac.finalize().into_bytes().to_vec();
    // Base conversion of the 256-bit big-endian number, least significant digit first.
    let mut out = Vec::with_capacity(len);
    while out.len() < len.min(43) {
        let mut remainder = 0u32;
        for byte in &mut number {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = u8::try_from(value / 62).unwrap_or(0);
            remainder = value % 62;
        }
        out.push(BASE62[usize::try_from(remainder).unwrap_or(0)]);
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Lowercase hex SHA-256: how API keys and refresh tokens are stored and looked up.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base62_has_length_and_alphabet() {
        let a = random_base62(43).unwrap();
        let b = random_base62(43).unwrap();
        assert_eq!(a.len(), 43);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn derived_tokens_are_stable_keyed_and_base62() {
        let a = derived_base62(b"key one", "token", 43);
        assert_eq!(a, derived_base62(b"key one", "token", 43));
        assert_ne!(a, derived_base62(b"key two", "token", 43));
        assert_ne!(a, derived_base62(b"key one", "token2", 43));
        assert_eq!(a.len(), 43);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn sha256_is_known_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
