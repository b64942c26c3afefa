//! Cursors of file listings: the last key a page returned; the next page starts after it.
//!
//! Any string is a valid cursor. The listing's partition (app, owner) and prefix come from the request, never from
//! the cursor, so a cursor only moves within the listing asked for, and one that is not a `nextCursor` of that
//! listing still names a well-defined page (the keys after it in key order), not an error.

use crate::files::names::MAX_KEY_BYTES;

/// Where a listing of the keys starting with a prefix resumes after a cursor.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resume {
    /// From its first key: the cursor sorts before every key of the prefix.
    Start,
    /// After this key (DynamoDB's exclusive start key). Keys sort by their
    /// UTF-8 bytes, as `str` does; a cursor longer than any key is cut to the
    /// longest key it starts with, and the page drops what is not after it.
    After(String),
    /// Nowhere: the cursor sorts after every key of the prefix.
    Done,
}

pub(crate) fn resume(cursor: &str, prefix: &str) -> Resume {
    if !cursor.starts_with(prefix) {
        return if cursor < prefix {
            Resume::Start
        } else {
            Resume::Done
        };
    }
    let mut end = cursor.len().min(MAX_KEY_BYTES);
    while !cursor.is_char_boundary(end) {
        end -= 1;
    }
    Resume::After(cursor[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_cursor_is_a_position_in_the_listing() {
        assert_eq!(
            resume("shop/u1/a.txt", "shop/"),
            Resume::After("shop/u1/a.txt".into())
        );
        assert_eq!(resume("shop/u1/a.txt", "shop/u2/"), Resume::Start);
        assert_eq!(resume("shop/u3/a.txt", "shop/u2/"), Resume::Done);
        assert_eq!(resume("", "shop/"), Resume::Start);
        assert_eq!(resume("zzz", "shop/"), Resume::Done);
        let long = format!("shop/{}", "é".repeat(600));
        let Resume::After(cut) = resume(&long, "shop/") else {
            panic!("a long cursor of the prefix resumes inside it");
        };
        assert!(cut.len() <= MAX_KEY_BYTES && long.starts_with(&cut));
    }
}
