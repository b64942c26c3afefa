//! The one error type of the domain and storage layer, mapped to HTTP by `ob-api`.

use aws_sdk_dynamodb::error::SdkError;

/// Everything a domain or storage operation can fail with. Messages of the
/// user-facing variants are safe to show; `Internal` carries details for the
/// logs only and is never shown to callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("version {current_version} is current; reload and retry")]
    PreconditionFailed { current_version: u64 },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// The stored item would exceed a size limit (the message names it).
    #[error("{0}")]
    TooLarge(String),
    #[error("too many attempts; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    /// A daily allowance is used up (the message names it); it renews in `retry_after_secs`.
    #[error("{message}")]
    QuotaExceeded {
        message: String,
        retry_after_secs: u64,
    },
    /// The app requires a verified e-mail address for this and the user's is not.
    #[error("verify your e-mail address first (POST /auth/verify-email/request sends the link)")]
    EmailNotVerified,
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        Self::Internal(format!("{context}: {err}"))
    }

    /// Wraps an AWS SDK failure; `DisplayErrorContext` keeps the service's own
    /// message (the plain `Display` of `SdkError` says only "service error").
    pub fn sdk<E, R>(context: &str, err: SdkError<E, R>) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        Self::Internal(format!(
            "{context}: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(err)
        ))
    }
}
