//! The request id: taken from the platform's header or generated, echoed back, and shown in every error body.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Headers a request id is taken from, in order (API Gateway's, then a caller's).
const SOURCES: &[&str] = &["x-amzn-requestid", "x-request-id"];
pub const RESPONSE_HEADER: &str = "x-request-id";

/// The id of the request being served (empty outside a request).
pub fn current() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// Only short printable ids are reused, so a caller cannot inject log lines.
fn acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|c| c.is_ascii_graphic())
}

/// Middleware: establishes the id for the rest of the request and echoes it.
pub async fn layer(request: Request, next: Next) -> Response {
    let id = SOURCES
        .iter()
        .filter_map(|name| request.headers().get(*name))
        .filter_map(|value| value.to_str().ok())
        .find(|id| acceptable(id))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(RESPONSE_HEADER, value);
    }
    response
}
