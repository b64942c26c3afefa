//! The one mapping from failures to HTTP responses: `{"error":{"code","message","requestId"}}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::request_id;

/// Every way a request can fail. Domain errors come from `ob-core`; the rest
/// arise in the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] ob_core::Error),
    #[error("request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("request body is not valid JSON")]
    MalformedBody,
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("origin not allowed for this app")]
    OriginNotAllowed,
    /// A request its document admits whose parts contradict each other in a
    /// way no schema states (422, RFC 9110 15.5.21), e.g. a template's
    /// placeholder without its variable.
    #[error("{field}: {message}")]
    Unprocessable { field: String, message: String },
}

impl ApiError {
    pub fn unauthorized(message: &str) -> Self {
        Self::Domain(ob_core::Error::Unauthorized(message.to_owned()))
    }

    pub fn forbidden(message: &str) -> Self {
        Self::Domain(ob_core::Error::Forbidden(message.to_owned()))
    }

    pub fn invalid(field: &str, message: &str) -> Self {
        Self::Domain(ob_core::Error::invalid(field, message))
    }

    pub fn unprocessable(field: &str, message: &str) -> Self {
        Self::Unprocessable {
            field: field.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// The error body of every failed request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_request`, `conflict`.
    pub code: &'static str,
    pub message: String,
    pub request_id: String,
    /// The offending body field or header, for `invalid_request`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The current config version, for `precondition_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        use ob_core::Error as E;
        let request_id = request_id::current();
        let mut field = None;
        let mut current_version = None;
        let mut retry_after = None;
        let (status, code, message) = match self {
            Self::Domain(E::NotFound(what)) => (
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            Self::Domain(E::Conflict(message)) => (StatusCode::CONFLICT, "conflict", message),
            Self::Domain(err @ E::PreconditionFailed { current_version: v }) => {
                current_version = Some(v);
                (
                    StatusCode::PRECONDITION_FAILED,
                    "precondition_failed",
                    err.to_string(),
                )
            }
            Self::Domain(E::Invalid { field: f, message }) => {
                let text = format!("{f}: {message}");
                field = Some(f);
                (StatusCode::BAD_REQUEST, "invalid_request", text)
            }
            Self::Domain(E::Unauthorized(message)) => {
                (StatusCode::UNAUTHORIZED, "unauthorized", message)
            }
            Self::Domain(E::Forbidden(message)) => (StatusCode::FORBIDDEN, "forbidden", message),
            Self::Domain(E::TooLarge(message)) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
            }
            Self::Domain(err @ E::Throttled { retry_after_secs }) => {
                retry_after = Some(retry_after_secs.max(1));
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    err.to_string(),
                )
            }
            Self::Domain(E::QuotaExceeded {
                message,
                retry_after_secs,
            }) => {
                retry_after = Some(retry_after_secs.max(1));
                (StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", message)
            }
            Self::Domain(err @ E::EmailNotVerified) => {
                (StatusCode::FORBIDDEN, "email_not_verified", err.to_string())
            }
            Self::Domain(E::Internal(details)) => {
                // The details go to the log, keyed by request id, never to the caller.
                tracing::error!(request_id = %request_id, error = %details, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error".to_owned(),
                )
            }
            err @ Self::BodyTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                err.to_string(),
            ),
            err @ Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                err.to_string(),
            ),
            err @ Self::MalformedBody => {
                (StatusCode::BAD_REQUEST, "invalid_request", err.to_string())
            }
            err @ Self::RouteNotFound => (StatusCode::NOT_FOUND, "not_found", err.to_string()),
            err @ Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                err.to_string(),
            ),
            err @ Self::OriginNotAllowed => (StatusCode::FORBIDDEN, "forbidden", err.to_string()),
            Self::Unprocessable { field: f, message } => {
                let text = format!("{f}: {message}");
                field = Some(f);
                (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", text)
            }
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message,
                request_id,
                field,
                current_version,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Fallback of unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::RouteNotFound
}

/// Fallback of known paths with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// A panic in a handler becomes a plain 500 (the panic message is logged only).
// CatchPanicLayer hands the payload over by value.
#[allow(clippy::needless_pass_by_value)]
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("panic");
    ApiError::Domain(ob_core::Error::Internal(format!(
        "handler panicked: {detail}"
    )))
    .into_response()
}
