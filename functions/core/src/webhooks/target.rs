//! Where a delivery may go: `https` only, never a private, loopback, link-local or metadata address.
//!
//! Checked twice: when a subscription is added ([`TargetUrl::parse`], so typos
//! and literal private addresses fail at once) and at every send on the
//! addresses the name resolves to then ([`TargetPolicy::check_addr`]), because
//! a public name can be pointed at `169.254.169.254` after registration. Stages
//! that allow local targets (`local`, for `obctl dev`) also accept `http` and
//! loopback addresses, never private or metadata ones.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};

/// Longest URL accepted.
const MAX_URL_LEN: usize = 2048;

/// What a stage lets deliveries reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetPolicy {
    /// `http://` and loopback addresses (127.0.0.0/8, ::1) are allowed.
    pub allow_local: bool,
}

impl TargetPolicy {
    pub const STRICT: Self = Self { allow_local: false };
    pub const LOCAL: Self = Self { allow_local: true };

    /// Refuses an address a delivery must never reach, saying which kind it is.
    pub fn check_addr(self, addr: IpAddr) -> std::result::Result<(), Refusal> {
        match classify(addr) {
            None => Ok(()),
            Some(AddressKind::Loopback) if self.allow_local => Ok(()),
            Some(kind) => Err(Refusal::Address { addr, kind }),
        }
    }
}

/// Why a target is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{addr} is a {kind} address")]
    Address { addr: IpAddr, kind: AddressKind },
    #[error("{host} resolves to {addr}, a {kind} address")]
    Resolved {
        host: String,
        addr: IpAddr,
        kind: AddressKind,
    },
    #[error("{host} does not resolve")]
    Unresolvable { host: String },
}

/// The kinds of address no delivery may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    Loopback,
    Private,
    LinkLocal,
    Metadata,
    Unspecified,
    Multicast,
    Reserved,
}

impl std::fmt::Display for AddressKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link-local",
            Self::Metadata => "cloud metadata",
            Self::Unspecified => "unspecified",
            Self::Multicast => "multicast",
            Self::Reserved => "reserved",
        })
    }
}

/// What kind of forbidden address `addr` is, `None` when it is public.
pub fn classify(addr: IpAddr) -> Option<AddressKind> {
    match addr {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            // IPv4-mapped and -compatible forms reach the IPv4 address.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify_v4(v4);
            }
            let segments = v6.segments();
            if v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
                Some(AddressKind::Metadata)
            } else if v6.is_loopback() {
                Some(AddressKind::Loopback)
            } else if v6.is_unspecified() {
                Some(AddressKind::Unspecified)
            } else if v6.is_multicast() {
                Some(AddressKind::Multicast)
            } else if segments[0] & 0xffc0 == 0xfe80 {
                Some(AddressKind::LinkLocal)
            } else if segments[0] & 0xfe00 == 0xfc00 {
                Some(AddressKind::Private)
            } else if segments[0] == 0x64 && segments[1] == 0xff9b {
                // NAT64 embeds an IPv4 address in the last 32 bits.
                let [.., a, b] = segments;
                let v4 = Ipv4Addr::from((u32::from(a) << 16) | u32::from(b));
                classify_v4(v4)
            } else if segments[0] == 0x2001 && segments[1] == 0x0db8 {
                Some(AddressKind::Reserved)
            } else {
                None
            }
        }
    }
}

fn classify_v4(v4: Ipv4Addr) -> Option<AddressKind> {
    let [a, b, c, _] = v4.octets();
    if v4 == Ipv4Addr::new(169, 254, 169, 254) || v4 == Ipv4Addr::new(169, 254, 170, 2) {
        Some(AddressKind::Metadata)
    } else if v4.is_loopback() {
        Some(AddressKind::Loopback)
    } else if v4.is_link_local() {
        Some(AddressKind::LinkLocal)
    } else if v4.is_private() || (a == 100 && (64..128).contains(&b)) {
        // RFC 1918 and carrier-grade NAT (100.64.0.0/10).
        Some(AddressKind::Private)
    } else if v4.is_unspecified() || a == 0 {
        Some(AddressKind::Unspecified)
    } else if v4.is_multicast() {
        Some(AddressKind::Multicast)
    } else if v4.is_broadcast()
        || a >= 240
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
    {
        Some(AddressKind::Reserved)
    } else {
        None
    }
}

/// A subscription's endpoint, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUrl {
    url: String,
    host: String,
    port: u16,
    https: bool,
}

impl TargetUrl {
    /// Checks scheme, host and port, and refuses hosts that are forbidden
    /// addresses as written. Names are checked on what they resolve to
    /// (`send::resolve`), when added and again at every send.
    pub fn parse(text: &str, policy: TargetPolicy) -> Result<Self> {
        let invalid = |message: String| Error::invalid("url", message);
        if text.len() > MAX_URL_LEN {
            return Err(invalid(format!("is longer than {MAX_URL_LEN} characters")));
        }
        let uri: http::Uri = text
            .parse()
            .map_err(|_| invalid(format!("{text:?} is not a URL")))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if policy.allow_local => false,
            _ => {
                return Err(invalid(format!(
                    "{text:?} must start with https:// (plain http only on stages that allow local targets)"
                )));
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| invalid(format!("{text:?} has no host")))?;
        if authority.as_str().contains('@') {
            return Err(invalid("must not carry a user name or password".into()));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host.is_empty() {
            return Err(invalid(format!("{text:?} has no host")));
        }
        if let Ok(addr) = host.parse::<IpAddr>() {
            policy
                .check_addr(addr)
                .map_err(|refusal| invalid(refusal.to_string()))?;
        }
        if !https
            && host
                .parse::<IpAddr>()
                .map_or(host != "localhost", |a| !a.is_loopback())
        {
            return Err(invalid(format!(
                "plain http is only for loopback targets ({text:?}); use https://"
            )));
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Self {
            url: text.to_owned(),
            host,
            port,
            https,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The host name or address, lowercased, without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn is_https(&self) -> bool {
        self.https
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str, policy: TargetPolicy) -> String {
        TargetUrl::parse(text, policy).unwrap_err().to_string()
    }

    #[test]
    fn only_https_to_public_hosts_on_strict_stages() {
        let ok = TargetUrl::parse(
            "https://hooks.example.com:8443/in?x=1",
            TargetPolicy::STRICT,
        )
        .unwrap();
        assert_eq!(
            (ok.host(), ok.port(), ok.is_https()),
            ("hooks.example.com", 8443, true)
        );
        assert!(refused("http://hooks.example.com/", TargetPolicy::STRICT).contains("https://"));
        assert!(refused("ftp://hooks.example.com/", TargetPolicy::STRICT).contains("https://"));
        assert!(refused("https://10.1.2.3/", TargetPolicy::STRICT).contains("private"));
        assert!(refused("https://127.0.0.1/", TargetPolicy::STRICT).contains("loopback"));
        assert!(refused("https://169.254.169.254/", TargetPolicy::STRICT).contains("metadata"));
        assert!(refused("https://[::ffff:192.168.0.1]/", TargetPolicy::STRICT).contains("private"));
        assert!(
            refused("https://user:pw@hooks.example.com/", TargetPolicy::STRICT)
                .contains("password")
        );
        assert!(refused("hooks.example.com", TargetPolicy::STRICT).contains("https://"));
    }

    #[test]
    fn local_stages_allow_http_to_loopback_only() {
        let ok = TargetUrl::parse("http://127.0.0.1:9000/hook", TargetPolicy::LOCAL).unwrap();
        assert_eq!((ok.port(), ok.is_https()), (9000, false));
        TargetUrl::parse("http://localhost:9000/hook", TargetPolicy::LOCAL).unwrap();
        assert!(refused("http://hooks.example.com/", TargetPolicy::LOCAL).contains("loopback"));
        assert!(refused("https://192.168.1.10/", TargetPolicy::LOCAL).contains("private"));
        assert!(refused("https://169.254.169.254/", TargetPolicy::LOCAL).contains("metadata"));
    }

    #[test]
    fn classifies_every_forbidden_range() {
        let kind = |text: &str| classify(text.parse().unwrap());
        assert_eq!(kind("8.8.8.8"), None);
        assert_eq!(kind("2606:4700::1111"), None);
        assert_eq!(kind("172.16.0.1"), Some(AddressKind::Private));
        assert_eq!(kind("172.32.0.1"), None);
        assert_eq!(kind("100.64.0.1"), Some(AddressKind::Private));
        assert_eq!(kind("169.254.1.1"), Some(AddressKind::LinkLocal));
        assert_eq!(kind("169.254.170.2"), Some(AddressKind::Metadata));
        assert_eq!(kind("0.0.0.0"), Some(AddressKind::Unspecified));
        assert_eq!(kind("224.0.0.1"), Some(AddressKind::Multicast));
        assert_eq!(kind("255.255.255.255"), Some(AddressKind::Reserved));
        assert_eq!(kind("::1"), Some(AddressKind::Loopback));
        assert_eq!(kind("fe80::1"), Some(AddressKind::LinkLocal));
        assert_eq!(kind("fd12::1"), Some(AddressKind::Private));
        assert_eq!(kind("fd00:ec2::254"), Some(AddressKind::Metadata));
        assert_eq!(kind("::ffff:127.0.0.1"), Some(AddressKind::Loopback));
        assert_eq!(kind("64:ff9b::a9fe:a9fe"), Some(AddressKind::Metadata));
    }
}
