//! Opaque cursors of file listings: hex of the last key returned, bound to one partition and prefix.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::names;

#[derive(Serialize, Deserialize)]
struct Position {
    pk: String,
    sk: String,
}

/// The cursor continuing after `key` in partition `pk`.
pub(crate) fn encode(pk: &str, key: &str) -> String {
    let position = Position {
        pk: pk.to_owned(),
        sk: key.to_owned(),
    };
    hex::encode(serde_json::to_vec(&position).unwrap_or_default())
}

/// The key to continue after. A cursor of another partition (app, owner) or
/// of another prefix, or one whose key is not a well-formed key of the app, is
/// rejected, never followed: the Query's partition comes from the request, so
/// a forged cursor can at most skip within the caller's own listing.
pub(crate) fn decode(cursor: &str, pk: &str, app_id: &str, prefix: &str) -> Result<String> {
    let invalid = || {
        Error::invalid(
            "cursor",
            "is not a cursor of this list; pass nextCursor unchanged",
        )
    };
    let bytes = hex::decode(cursor).map_err(|_| invalid())?;
    let position: Position = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if position.pk != pk
        || !position.sk.starts_with(prefix)
        || names::check_key(app_id, &position.sk).is_err()
    {
        return Err(invalid());
    }
    Ok(position.sk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_bound_to_partition_and_prefix() {
        let cursor = encode("F#shop", "shop/u1/a.txt");
        assert_eq!(
            decode(&cursor, "F#shop", "shop", "shop/").unwrap(),
            "shop/u1/a.txt"
        );
        assert!(decode(&cursor, "F#other", "other", "other/").is_err());
        assert!(decode(&cursor, "F#shop", "shop", "shop/u2/").is_err());
        assert!(decode("zz", "F#shop", "shop", "shop/").is_err());
        let forged = encode("F#shop", "other/u1/a.txt");
        assert!(decode(&forged, "F#shop", "shop", "").is_err());
    }
}
