//! File names, object keys and content types: what a client may ask for, checked before anything is signed.

use crate::config::UploadLimits;
use crate::error::{Error, Result};

/// Longest file name (with its folders) a client may choose, in characters:
/// at 4 bytes a character at most, with the app's and the user's id, the
/// object key stays within S3's 1024 bytes.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest object key, in bytes (S3 allows 1024).
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest content type, in bytes.
const MAX_TYPE_BYTES: usize = 255;

/// One folder or file name: no `/`, backslash or control character, and not
/// empty, `.` or `..` (as a regular expression: the OpenAPI document's patterns).
pub const SEGMENT_PATTERN: &str = concat!(
    r"(?:[^/.\\\u0000-\u001f\u007f-\u009f][^/\\\u0000-\u001f\u007f-\u009f]*",
    r"|\.[^/.\\\u0000-\u001f\u007f-\u009f][^/\\\u0000-\u001f\u007f-\u009f]*",
    r"|\.\.[^/\\\u0000-\u001f\u007f-\u009f]+)"
);

/// What is wrong with a `/`-separated name, whatever its length.
fn segments_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("must not be empty");
    }
    if name.starts_with('/') {
        return Some("must not start with '/'");
    }
    if name.contains('\\') {
        return Some("must not contain '\\'; separate folders with '/'");
    }
    if name.chars().any(char::is_control) {
        return Some("must not contain control characters");
    }
    name.split('/').find_map(|segment| match segment {
        "" => Some("must not contain empty folder names ('//' or a trailing '/')"),
        "." | ".." => Some("must not contain '.' or '..' segments"),
        _ => None,
    })
}

/// Checks a client-chosen file name such as `photos/cat.png`: folders are
/// separated by `/`, and no segment may be empty, `.` or `..`, so a name can
/// never climb out of the uploader's folder or alias another key. Backslashes
/// and control characters are refused because browsers, shells and S3 tools
/// treat them inconsistently.
pub fn validate_file_name(field: &str, name: &str) -> Result<()> {
    if let Some(problem) = segments_problem(name) {
        return Err(Error::invalid(field, problem));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(())
}

/// The object key of a file: `{appId}/{userId}/{fileName}`, checked whole.
pub fn object_key(app_id: &str, user_id: &str, file_name: &str) -> Result<String> {
    validate_file_name("fileName", file_name)?;
    let key = format!("{app_id}/{user_id}/{file_name}");
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::invalid(
            "fileName",
            format!("makes the object key longer than {MAX_KEY_BYTES} bytes"),
        ));
    }
    Ok(key)
}

/// Checks a key a client sent back. A malformed one (not `{appId}/{owner}/{name}`
/// by the segment rules) is invalid; a well-formed key of another app, or one
/// longer than any key can be, names no file of this app and is not found. Either
/// way it is refused here, before any lookup, so it is never read, signed or
/// deleted whatever the caller's rights.
pub fn check_key(app_id: &str, key: &str) -> Result<()> {
    let malformed = || Error::invalid("key", "is not a file key ({appId}/{userId}/{fileName})");
    let (key_app, rest) = key.split_once('/').ok_or_else(malformed)?;
    crate::apps::validate_app_id(key_app).map_err(|_| malformed())?;
    let (owner, name) = rest.split_once('/').ok_or_else(malformed)?;
    // The owner is checked by the same segment rules, so `{app}/../x` cannot
    // name a key outside the app's prefix.
    if let Some(problem) = segments_problem(owner).or_else(|| segments_problem(name)) {
        return Err(Error::invalid("key", problem));
    }
    if key_app != app_id || key.len() > MAX_KEY_BYTES {
        return Err(Error::NotFound("file".into()));
    }
    Ok(())
}

/// The owner segment of a key already accepted by `check_key`.
pub fn key_owner(key: &str) -> Option<&str> {
    key.split('/').nth(1)
}

/// The key prefix a `prefix` filter lists within the app's keys: `None` when
/// no key of the app can start with it (another app's, or longer than a key),
/// which is an empty listing, not an error.
pub fn listed_prefix(app_id: &str, prefix: Option<&str>) -> Option<String> {
    let own = format!("{app_id}/");
    match prefix {
        None => Some(own),
        // `sho` or `shop` for app `shop`: every key of the app.
        Some(prefix) if own.starts_with(prefix) => Some(own),
        Some(prefix) if prefix.starts_with(&own) && prefix.len() <= MAX_KEY_BYTES => {
            Some(prefix.to_owned())
        }
        Some(_) => None,
    }
}

fn is_token(text: &str) -> bool {
    // RFC 6838 restricted-name characters.
    !text.is_empty()
        && text
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&c))
}

/// A content type must be a bare `type/subtype` (no parameters): it is signed
/// into the upload URL, so the client must later send exactly this value.
pub fn validate_content_type(content_type: &str) -> Result<()> {
    let ok = content_type.len() <= MAX_TYPE_BYTES
        && content_type
            .split_once('/')
            .is_some_and(|(kind, sub)| is_token(kind) && is_token(sub));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "fileType",
            "must be a media type such as image/png (type/subtype, no parameters)",
        ))
    }
}

/// Whether the app's `allowedMimeTypes` admit a type (`type/*` patterns
/// match any subtype; an empty list admits every type). Case-insensitive, as
/// media types are.
pub fn type_allowed(allowed: &[String], content_type: &str) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let wanted = content_type.to_ascii_lowercase();
    allowed.iter().any(|pattern| {
        let pattern = pattern.to_ascii_lowercase();
        match pattern.strip_suffix("/*") {
            Some(kind) => wanted
                .split_once('/')
                .is_some_and(|(wanted_kind, _)| wanted_kind == kind),
            None => pattern == wanted,
        }
    })
}

/// Checks a declared upload against the app's limits capped by the stage's.
/// An oversize file is `TooLarge` (413); a type the app does not allow is
/// `Invalid` on `fileType` (400).
pub fn check_upload(
    limits: &UploadLimits,
    stage_max_bytes: u64,
    size: u64,
    content_type: &str,
) -> Result<()> {
    validate_content_type(content_type)?;
    let max = limits.max_bytes.min(stage_max_bytes);
    if size > max {
        return Err(Error::TooLarge(format!(
            "size: {size} bytes is more than this app's upload limit of {max} bytes"
        )));
    }
    if !type_allowed(&limits.allowed_mime_types, content_type) {
        return Err(Error::invalid(
            "fileType",
            format!(
                "{content_type} is not allowed for this app (allowed: {})",
                limits.allowed_mime_types.join(", ")
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_cannot_escape_or_alias() {
        for good in [
            "a.txt",
            "photos/2024/cat.png",
            "é s p a c e.md",
            "..a",
            "a..b/c",
        ] {
            assert!(validate_file_name("fileName", good).is_ok(), "{good}");
        }
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        // Characters are counted, not bytes: 200 four-byte characters are a name.
        assert!(validate_file_name("fileName", &"\u{1F600}".repeat(MAX_NAME_CHARS)).is_ok());
        for bad in [
            "",
            "/abs",
            "../x",
            "a/../../b",
            "a/./b",
            ".",
            "a//b",
            "dir/",
            "a\\b",
            "tab\there",
            "nul\0",
            long.as_str(),
        ] {
            let err = validate_file_name("fileName", bad).unwrap_err();
            assert!(
                matches!(err, Error::Invalid { ref field, .. } if field == "fileName"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn keys_are_bound_to_the_app() {
        let key = object_key("shop", "u1", "docs/a.pdf").unwrap();
        assert_eq!(key, "shop/u1/docs/a.pdf");
        assert!(check_key("shop", &key).is_ok());
        assert_eq!(key_owner(&key), Some("u1"));
        // Malformed keys are invalid (400)...
        for bad in [
            "shop/u1",
            "shop//a.pdf",
            "shop/u1/../other/x",
            "/shop/u1/a",
            "shop/../other/u/x",
            "shop/./u1/x",
            "Shop/u1/a.pdf",
            "shop/u1/a\\b",
        ] {
            assert!(
                matches!(check_key("shop", bad), Err(Error::Invalid { .. })),
                "{bad}"
            );
        }
        // ...well-formed ones of another app, or longer than any key, name no file here (404).
        let long = format!("shop/u1/{}", "n".repeat(MAX_KEY_BYTES));
        for elsewhere in ["shopx/u1/a.pdf", "other/u1/a.pdf", long.as_str()] {
            assert!(
                matches!(check_key("shop", elsewhere), Err(Error::NotFound(_))),
                "{elsewhere}"
            );
        }
        let deep = format!("{}/{}", "d".repeat(100), "n".repeat(50));
        assert!(object_key("shop", &"u".repeat(900), &deep).is_err());
        assert!(object_key("shop", "u1", &deep).is_ok());
    }

    #[test]
    fn a_prefix_outside_the_app_lists_nothing() {
        let listed = |p: Option<&str>| listed_prefix("shop", p);
        assert_eq!(listed(None).as_deref(), Some("shop/"));
        assert_eq!(listed(Some("sh")).as_deref(), Some("shop/"));
        assert_eq!(listed(Some("shop/")).as_deref(), Some("shop/"));
        assert_eq!(listed(Some("shop/u1/do")).as_deref(), Some("shop/u1/do"));
        for outside in ["shopx/", "other/", "x"] {
            assert_eq!(listed(Some(outside)), None, "{outside}");
        }
        assert_eq!(listed(Some(&"shop/".repeat(300))), None);
    }

    #[test]
    fn uploads_are_checked_against_both_limits() {
        let limits = UploadLimits {
            max_bytes: 100,
            allowed_mime_types: vec!["image/*".into(), "application/pdf".into()],
        };
        assert!(check_upload(&limits, 1000, 100, "image/png").is_ok());
        assert!(check_upload(&limits, 1000, 10, "Application/PDF").is_ok());
        assert!(matches!(
            check_upload(&limits, 1000, 101, "image/png"),
            Err(Error::TooLarge(_))
        ));
        assert!(matches!(
            check_upload(&limits, 50, 60, "image/png"),
            Err(Error::TooLarge(_))
        ));
        for bad_type in [
            "text/plain",
            "imagex/png",
            "image",
            "image/png; q=1",
            "a b/c",
        ] {
            assert!(
                matches!(check_upload(&limits, 1000, 1, bad_type), Err(Error::Invalid { ref field, .. }) if field == "fileType"),
                "{bad_type}"
            );
        }
        assert!(type_allowed(&[], "anything/at-all"));
    }
}
