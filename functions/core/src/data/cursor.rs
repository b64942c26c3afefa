//! List cursors: the id of the last record a page examined; the next page starts after it.
//!
//! Any record id is a valid cursor. The list's partition (resource, `where` filter, `owner=me`) comes from the
//! request, never from the cursor, so a cursor only moves within the list asked for, and one that is not a
//! `nextCursor` of that list still names a well-defined page (the records after that id), not an error.

use crate::error::{Error, Result};

/// The cursor continuing after the record `id`.
pub(crate) fn encode(id: &str) -> String {
    id.to_owned()
}

/// The record id to continue after.
pub(crate) fn decode(cursor: &str) -> Result<String> {
    super::validate_id(cursor).map_err(|_| {
        Error::invalid(
            "cursor",
            "is the nextCursor of a page (a record id); pass it unchanged",
        )
    })?;
    Ok(cursor.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_a_record_id() {
        let id = super::super::new_id();
        assert_eq!(decode(&encode(&id)).unwrap(), id);
        assert!(decode("!!").is_err());
        assert!(decode(&id.to_uppercase()).is_err());
    }
}
