//! Opaque list cursors: base64url of the last key returned, bound to one partition.

use crate::error::{Error, Result};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn encode_b64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            let index = (n >> (18 - 6 * i)) & 63;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

fn decode_b64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.as_bytes().chunks(4) {
        if chunk.len() < 2 {
            return None;
        }
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let value = ALPHABET.iter().position(|a| a == c)?;
            n |= (value as u32) << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push(((n >> (16 - 8 * i)) & 0xff) as u8);
        }
    }
    Some(out)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Key {
    pk: String,
    sk: String,
}

/// The cursor continuing after `sk` in partition `pk`.
pub(crate) fn encode(pk: &str, sk: &str) -> String {
    let key = Key {
        pk: pk.to_owned(),
        sk: sk.to_owned(),
    };
    encode_b64(serde_json::to_string(&key).unwrap_or_default().as_bytes())
}

/// The `sk` to continue after, when the cursor belongs to partition `pk` (a
/// cursor of another list, app or partition is rejected, never followed).
pub(crate) fn decode(cursor: &str, pk: &str) -> Result<String> {
    let invalid = || {
        Error::invalid(
            "cursor",
            "is not a cursor of this list; pass nextCursor unchanged",
        )
    };
    let bytes = decode_b64(cursor).ok_or_else(invalid)?;
    let key: Key = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if key.pk != pk || super::validate_id(&key.sk).is_err() {
        return Err(invalid());
    }
    Ok(key.sk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips() {
        for text in ["", "a", "ab", "abc", "abcd", "{\"pk\":\"R#a#b\"}"] {
            assert_eq!(
                decode_b64(&encode_b64(text.as_bytes())).unwrap(),
                text.as_bytes()
            );
        }
        assert_eq!(encode_b64(b"\xfb\xff"), "-_8");
    }

    #[test]
    fn cursors_are_bound_to_their_partition() {
        let id = super::super::new_id();
        let cursor = encode("R#shop#notes", &id);
        assert_eq!(decode(&cursor, "R#shop#notes").unwrap(), id);
        assert!(decode(&cursor, "R#other#notes").is_err());
        assert!(decode("!!", "R#shop#notes").is_err());
        assert!(decode(&encode("R#shop#notes", "x"), "R#shop#notes").is_err());
    }
}
