//! API key scopes: what a key may be used for, one enum with its string form.
//!
//! Every HTTP route names its scope where it is declared (the `apiKey`
//! security requirement of its OpenAPI operation, see `ob-api`), the WebSocket
//! `$connect` needs `realtime`, and `obctl keys create` issues `DEFAULT` when no
//! `--scopes` is given. A key's scope list is stored as strings; an unknown
//! string grants nothing.

use std::fmt;

/// One permission of an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Grants every scope.
    All,
    /// `/auth/*`: register, log in, refresh, log out, the current user.
    Auth,
    /// Read records (`GET /api/{appId}/…`).
    DataRead,
    /// Create, replace, patch and delete records.
    DataWrite,
    /// Download URLs and listings of files.
    FilesRead,
    /// Upload URLs and deletes of files.
    FilesWrite,
    /// Open a WebSocket (`$connect`).
    Realtime,
    /// Read the app's config.
    ConfigRead,
    /// Replace the app's config (the caller must also be an admin of the app).
    ConfigWrite,
    /// Send notifications to the app's users and read their status
    /// (`/notify/{appId}`): a server's key, never a browser's.
    Notify,
}

impl Scope {
    /// Every scope, in documentation order.
    pub const EVERY: [Scope; 10] = [
        Scope::All,
        Scope::Auth,
        Scope::DataRead,
        Scope::DataWrite,
        Scope::FilesRead,
        Scope::FilesWrite,
        Scope::Realtime,
        Scope::ConfigRead,
        Scope::ConfigWrite,
        Scope::Notify,
    ];

    /// The scopes `obctl keys create` issues without `--scopes`: everything a
    /// frontend does, but not `config:write` (an admin tool asks for it) nor
    /// `notify` (a server asks for it).
    pub const DEFAULT: [Scope; 7] = [
        Scope::Auth,
        Scope::DataRead,
        Scope::DataWrite,
        Scope::FilesRead,
        Scope::FilesWrite,
        Scope::Realtime,
        Scope::ConfigRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "*",
            Self::Auth => "auth",
            Self::DataRead => "data:read",
            Self::DataWrite => "data:write",
            Self::FilesRead => "files:read",
            Self::FilesWrite => "files:write",
            Self::Realtime => "realtime",
            Self::ConfigRead => "config:read",
            Self::ConfigWrite => "config:write",
            Self::Notify => "notify",
        }
    }

    /// The scope of a string form; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        Self::EVERY.into_iter().find(|s| s.as_str() == text)
    }

    /// The string forms of `DEFAULT`, as stored on a key.
    pub fn default_names() -> Vec<String> {
        Self::DEFAULT
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect()
    }

    /// Every string form, comma-separated (for error messages).
    pub fn known_names() -> String {
        Self::EVERY
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a stored scope list grants `scope` (`*` grants everything).
pub fn grants(scopes: &[String], scope: Scope) -> bool {
    scopes
        .iter()
        .filter_map(|s| Scope::parse(s))
        .any(|s| s == scope || s == Scope::All)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_forms_round_trip_and_are_distinct() {
        for scope in Scope::EVERY {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        let mut names: Vec<_> = Scope::EVERY.iter().map(|s| s.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Scope::EVERY.len());
        assert_eq!(Scope::parse("data"), None);
        assert!(!Scope::DEFAULT.contains(&Scope::ConfigWrite));
        assert!(!Scope::DEFAULT.contains(&Scope::Notify));
    }

    #[test]
    fn all_grants_everything_and_unknown_grants_nothing() {
        let all = vec!["*".to_owned()];
        assert!(Scope::EVERY.iter().all(|s| grants(&all, *s)));
        let odd = vec!["data".to_owned(), "DATA:READ".to_owned()];
        assert!(!grants(&odd, Scope::DataRead));
        assert!(grants(&["data:read".to_owned()], Scope::DataRead));
        assert!(!grants(&["data:read".to_owned()], Scope::DataWrite));
    }
}
