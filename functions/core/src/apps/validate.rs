//! Validation of what an operator types about an app: its id, origins and domains.

use crate::error::{Error, Result};

/// App ids appear inside composite keys (`APP#{appId}`, `{appId}#…`), so they
/// are restricted to characters that can never contain a separator.
pub fn validate_app_id(app_id: &str) -> Result<()> {
    let ok = (2..=64).contains(&app_id.len())
        && app_id
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && app_id
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "appId",
            "must be 2 to 64 characters of a-z, 0-9 and '-', starting with a letter or digit",
        ))
    }
}

/// A browser origin as `validate_origin` accepts it (the OpenAPI document's pattern).
pub const ORIGIN_PATTERN: &str =
    r"^https?://(?:[A-Za-z0-9.-]{1,247}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$";

/// Validates a browser origin: `scheme://host[:port]`, http or https, no path;
/// the host a name or address (up to 247 characters), or an IPv6 address in brackets.
pub fn validate_origin(field: &str, origin: &str) -> Result<()> {
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let ok = authority.is_some_and(|authority| {
        let (host_ok, port) = match authority.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((address, port)) => (
                    (2..=45).contains(&address.len())
                        && address
                            .bytes()
                            .all(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.'),
                    port,
                ),
                None => (false, ""),
            },
            None => {
                let end = authority.find(':').unwrap_or(authority.len());
                let host = &authority[..end];
                (
                    (1..=247).contains(&host.len())
                        && host
                            .bytes()
                            .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-'),
                    &authority[end..],
                )
            }
        };
        let port_ok = port.is_empty()
            || port.strip_prefix(':').is_some_and(|digits| {
                (1..=5).contains(&digits.len()) && digits.bytes().all(|c| c.is_ascii_digit())
            });
        host_ok && port_ok
    });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            "origins are scheme://host[:port] with http or https and no path",
        ))
    }
}

/// Validates a domain the app is served on: a lowercase DNS name of at least
/// two labels (`shop.example.com`), without scheme, port, path or trailing dot.
/// The message quotes the value, so an operator sees which of several was wrong.
pub fn validate_domain(field: &str, domain: &str) -> Result<()> {
    let problem = domain_problem(domain);
    match problem {
        None => Ok(()),
        Some(why) => Err(Error::invalid(field, format!("{domain:?} {why}"))),
    }
}

fn domain_problem(domain: &str) -> Option<&'static str> {
    if domain.contains("://") {
        return Some("has a scheme; give the bare host name, e.g. shop.example.com");
    }
    if domain.contains(['/', ':', '?', '#']) {
        return Some("has a port or path; give the bare host name, e.g. shop.example.com");
    }
    if domain.bytes().any(|c| c.is_ascii_uppercase()) {
        return Some("must be lowercase");
    }
    if domain.is_empty() || domain.len() > 253 {
        return Some("must be 1 to 253 characters");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Some("needs at least two labels, e.g. shop.example.com");
    }
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !labels.iter().all(label_ok) {
        return Some(
            "is not a DNS name: labels of 1 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-', separated by single dots",
        );
    }
    // A numeric last label means an IP address, which is not a domain.
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|c| c.is_ascii_digit()))
    {
        return Some("is an IP address, not a domain name");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_ids_cannot_hold_separators() {
        assert!(validate_app_id("shop-1").is_ok());
        for bad in ["a", "Shop", "a#b", "-ab", "a b", "a/b", ""] {
            assert!(validate_app_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins_have_no_path() {
        assert!(validate_origin("o", "https://app.example.com").is_ok());
        assert!(validate_origin("o", "http://localhost:5173").is_ok());
        assert!(validate_origin("o", "http://[::1]:8080").is_ok());
        for bad in [
            "http://a:b",
            "http://:80",
            "http://a:123456",
            "http://[::1",
            "http://[::1]x",
            "ftp://x",
            "https://x/",
            "https://x/path",
            "x.com",
            "https://",
            "*",
        ] {
            assert!(validate_origin("o", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn domains_are_bare_lowercase_dns_names() {
        for good in [
            "shop.example.com",
            "a.io",
            "x-1.example",
            "xn--bcher-kva.de",
        ] {
            assert!(validate_domain("domains", good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("https://shop.example.com", "scheme"),
            ("shop.example.com:443", "port"),
            ("shop.example.com/x", "path"),
            ("Shop.example.com", "lowercase"),
            ("localhost", "two labels"),
            ("shop..example", "DNS name"),
            ("-shop.example", "DNS name"),
            ("shop.example.", "DNS name"),
            ("shop_1.example", "DNS name"),
            ("10.0.0.1", "IP address"),
            ("", "1 to 253"),
        ] {
            let err = validate_domain("domains", bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
