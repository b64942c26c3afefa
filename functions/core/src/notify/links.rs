//! The pages account e-mails link to (password reset, e-mail verification) and the links with their `token=<value>`.

use crate::error::{Error, Result};

/// Longest page URL accepted, in characters.
const MAX_URL_CHARS: usize = 1024;

/// `validate_page_url` as a regular expression (the OpenAPI document's pattern,
/// with `maxLength` 1024): a port is 0 to 65535, the rest has no whitespace
/// (Unicode White_Space) or control character.
pub const PAGE_URL_PATTERN: &str = concat!(
    r"^(?:https://[A-Za-z0-9.-]+|http://(?:localhost|127\.0\.0\.1))",
    r"(?::(?:0{0,4}[0-9]|0{0,3}[1-9][0-9]|0{0,2}[1-9][0-9]{2}|0?[1-9][0-9]{3}|[1-5][0-9]{4}",
    r"|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
    r"(?:[/?#][^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*)?$"
);

/// Checks a page a link may open: `https://host[:port]/path`, with `http`
/// only for `localhost` and `127.0.0.1` (a frontend in development). A query
/// or a fragment (hash routing) is kept; the token is appended to the last.
pub fn validate_page_url(url: &str) -> Result<()> {
    let invalid = |why: &str| Error::invalid("url", why.to_owned());
    if url.chars().count() > MAX_URL_CHARS
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid("must be at most 1024 characters without spaces"));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("must start with https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(invalid("must name a host (and no user name)"));
    }
    let port_ok = |port: &str| {
        (1..=5).contains(&port.len())
            && port.bytes().all(|c| c.is_ascii_digit())
            && port.parse::<u16>().is_ok()
    };
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| port_ok(port))
        .map_or(authority, |(host, _)| host);
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let local = matches!(host, "localhost" | "127.0.0.1");
    match scheme {
        "https" if host_ok => Ok(()),
        "http" if local => Ok(()),
        "http" => Err(invalid(
            "must use https (http is accepted for localhost and 127.0.0.1 only)",
        )),
        _ => Err(invalid("must be an https:// URL of a page")),
    }
}

/// The link to `page` carrying `token` (base62, so nothing needs escaping).
pub fn with_token(page: &str, token: &str) -> String {
    // With a fragment (a hash-routed page) the token belongs to the fragment's
    // own query, where the page's router reads it.
    let (base, fragment) = match page.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (page, None),
    };
    let append = |part: &str| {
        let separator = if part.contains('?') { '&' } else { '?' };
        format!("{part}{separator}token={token}")
    };
    match fragment {
        Some(fragment) => format!("{base}#{}", append(fragment)),
        None => append(base),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_https_or_local_http() {
        for ok in [
            "https://app.example.com/reset",
            "https://app.example.com:8443/a/b?x=1",
            "https://app.example.com/#/reset",
            "http://localhost:5173/reset-password",
            "http://127.0.0.1:8787/verify",
        ] {
            assert!(validate_page_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example.com/reset",
            "ftp://app.example.com/",
            "app.example.com/reset",
            "https:///reset",
            "https://user@app.example.com/",
            "https://app.example.com/a b",
            "https://:80/x",
            "https://app.example.com:+80/",
            "https://app.example.com:65536/",
            "javascript://alert(1)",
        ] {
            assert!(validate_page_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_token_goes_to_the_query_or_the_fragment() {
        assert_eq!(with_token("https://a.io/r", "T"), "https://a.io/r?token=T");
        assert_eq!(
            with_token("https://a.io/r?lang=fr", "T"),
            "https://a.io/r?lang=fr&token=T"
        );
        assert_eq!(
            with_token("https://a.io/?v=2#/reset", "T"),
            "https://a.io/?v=2#/reset?token=T"
        );
    }
}
