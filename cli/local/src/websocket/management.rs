//! The management API at `/{stage}/@connections/{id}`: `POST` sends to a connection, `GET` describes it, `DELETE`
//! closes it; a connection that is not open is `410 GoneException`, as API Gateway answers.

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use super::WebSocketApi;
use super::connection::Outbound;

/// An error as the SDK expects it: the type in `x-amzn-errortype`, a JSON body.
fn error(status: StatusCode, error_type: &'static str, message: Option<&str>) -> Response {
    let mut response = (status, axum::Json(json!({ "message": message }))).into_response();
    response
        .headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    response
}

fn gone() -> Response {
    error(StatusCode::GONE, "GoneException", None)
}

impl WebSocketApi {
    /// `POST @connections/{id}`: the body goes to the client (text when it is UTF-8).
    pub fn post_to_connection(&self, id: &str, data: &Bytes) -> Response {
        let limit = self.0.spec.limits.max_message_bytes;
        if data.len() > limit {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLargeException",
                Some(&format!("Message must be at most {limit} bytes")),
            );
        }
        let Some(connection) = self.connection(id) else {
            return gone();
        };
        let message = match std::str::from_utf8(data) {
            Ok(text) => Outbound::Text(text.to_owned()),
            Err(_) => Outbound::Binary(data.to_vec()),
        };
        if connection.send(message) {
            StatusCode::OK.into_response()
        } else {
            gone()
        }
    }

    /// `GET @connections/{id}`: when it connected, from where, when it last sent something.
    pub fn get_connection(&self, id: &str) -> Response {
        let Some(connection) = self.connection(id) else {
            return gone();
        };
        let ctx = &connection.ctx;
        let iso = |at: time::OffsetDateTime| at.format(&Rfc3339).unwrap_or_default();
        axum::Json(json!({
            "ConnectedAt": iso(ctx.connected_at),
            "Identity": { "SourceIp": ctx.source_ip, "UserAgent": ctx.user_agent },
            "LastActiveAt": iso(connection.last_active()),
        }))
        .into_response()
    }

    /// `DELETE @connections/{id}`: closes it; `$disconnect` follows.
    pub fn delete_connection(&self, id: &str) -> Response {
        let Some(connection) = self.connections().remove(id) else {
            return gone();
        };
        connection.close();
        StatusCode::NO_CONTENT.into_response()
    }
}
