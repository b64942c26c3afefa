//! The pages account e-mails link to (password reset, e-mail verification) and the links with their `token=<value>`.

use crate::error::{Error, Result};

/// Longest page URL accepted.
const MAX_URL_LEN: usize = 1024;

/// Checks a page a link may open: `https://host[:port]/path`, with `http`
/// only for `localhost` and `127.0.0.1` (a frontend in development). A query
/// or a fragment (hash routing) is kept; the token is appended to the last.
pub fn validate_page_url(url: &str) -> Result<()> {
    let invalid = |why: &str| Error::invalid("url", why.to_owned());
    if url.len() > MAX_URL_LEN || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("must be at most 1024 characters without spaces"));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("must start with https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(invalid("must name a host (and no user name)"));
    }
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| port.parse::<u16>().is_ok())
        .map_or(authority, |(host, _)| host);
    let host_ok = host
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
