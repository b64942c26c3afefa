//! The dev outbox of `obctl dev`: every e-mail and SMS the local emulator accepted, at `GET /_dev/outbox`, and one console line per message.
//!
//! The emulator launcher keeps each message SES or SNS accepted in full and
//! serves them at `/moto-api/outbox` (`tests/emulator/notify_fixes.py`); this
//! reads them from there. Against a real AWS endpoint there is no outbox:
//! the route says so. `/_dev/*` exists only in `obctl dev`, never in a
//! deployed function.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Path of the outbox route.
pub const OUTBOX_PATH: &str = "/_dev/outbox";
/// The route within `/_dev` (`ob_local::server::DEV_PREFIX`), where `router` serves it.
const OUTBOX_ROUTE: &str = "/outbox";
/// How often the console printer looks for new messages.
const PRINT_EVERY: Duration = Duration::from_millis(500);

/// The emulator's outbox, when there is an emulator.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// `host:port` of the emulator (`None` against AWS).
    emulator: Option<String>,
}

impl Outbox {
    /// The outbox of the emulator at `endpoint_url` (`http://127.0.0.1:4566`).
    pub fn new(endpoint_url: Option<&str>) -> Self {
        let emulator = endpoint_url
            .and_then(|url| url.strip_prefix("http://"))
            .map(|rest| rest.trim_end_matches('/').to_owned());
        Self { emulator }
    }

    /// Messages after `after` (the emulator's sequence number), oldest first,
    /// as the emulator keeps them.
    pub async fn fetch(&self, after: u64) -> Result<Vec<Value>, String> {
        let Some(host) = &self.emulator else {
            return Err("the dev outbox needs the local emulator (obctl dev --endpoint-url http://127.0.0.1:4566, as make dev runs it)".into());
        };
        let body = http_get(host, &format!("/moto-api/outbox?after={after}")).await?;
        let parsed: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("the emulator's outbox is not JSON ({e}); is it the project's emulator (make emulator)?"))?;
        Ok(parsed["messages"].as_array().cloned().unwrap_or_default())
    }
}

/// One message as `GET /_dev/outbox` shows it.
pub fn shown(message: &Value) -> Value {
    json!({
        "channel": message["channel"],
        "to": message["to"],
        "from": message["from"],
        "subject": message["subject"],
        "text": message["text"],
        "html": message["html"],
        "sentAt": message["sentAt"],
        "messageId": message["messageId"],
    })
}

/// The console line of one message.
pub fn console_line(message: &Value, address: &str) -> String {
    let to = message["to"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let what = match message["channel"].as_str() {
        Some("sms") => format!(
            "sms  to {to}: {:?}",
            message["text"].as_str().unwrap_or_default()
        ),
        _ => format!(
            "mail to {to}: {:?}",
            message["subject"].as_str().unwrap_or_default()
        ),
    };
    format!("{what} (http://{address}{OUTBOX_PATH})")
}

/// `GET /outbox` (nested under `/_dev`): `{"messages": [...]}`, newest last.
pub fn router(outbox: Outbox) -> Router {
    Router::new()
        .route(OUTBOX_ROUTE, get(list))
        .with_state(outbox)
}

async fn list(State(outbox): State<Outbox>) -> Response {
    match outbox.fetch(0).await {
        Ok(messages) => {
            let messages: Vec<Value> = messages.iter().map(shown).collect();
            axum::Json(json!({ "messages": messages })).into_response()
        }
        Err(message) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(
                json!({"error": {"code": "no_outbox", "message": message, "requestId": ""}}),
            ),
        )
            .into_response(),
    }
}

/// Prints one line per message the emulator accepts from now on, until dropped.
pub async fn print_new(outbox: Outbox, address: String) {
    let mut last = match outbox.fetch(0).await {
        Ok(messages) => messages
            .iter()
            .filter_map(|m| m["seq"].as_u64())
            .max()
            .unwrap_or(0),
        Err(_) => return,
    };
    loop {
        tokio::time::sleep(PRINT_EVERY).await;
        let Ok(messages) = outbox.fetch(last).await else {
            continue;
        };
        for message in &messages {
            println!("{}", console_line(message, &address));
            last = last.max(message["seq"].as_u64().unwrap_or(last));
        }
    }
}

/// A plain HTTP/1.1 GET of the emulator (it serves no TLS); the body.
async fn http_get(host: &str, path: &str) -> Result<Vec<u8>, String> {
    let fail = |e: std::io::Error| format!("read the emulator's outbox at {host}: {e}");
    let mut stream = tokio::net::TcpStream::connect(host).await.map_err(fail)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(fail)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.map_err(fail)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("the emulator at {host} sent no HTTP answer"))?;
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    if !head.starts_with("http/1.1 200") && !head.starts_with("http/1.0 200") {
        return Err(format!(
            "the emulator at {host} has no outbox ({}); is it the project's emulator (make emulator)?",
            head.lines().next().unwrap_or_default()
        ));
    }
    let body = response[split + 4..].to_vec();
    Ok(if head.contains("transfer-encoding: chunked") {
        dechunk(&body)
    } else {
        body
    })
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&body[..line_end]).trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        let end = (start + size).min(body.len());
        out.extend_from_slice(&body[start..end]);
        body = body.get(end + 2..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_route_is_the_advertised_path() {
        assert_eq!(
            format!("{}{OUTBOX_ROUTE}", ob_local::server::DEV_PREFIX),
            OUTBOX_PATH
        );
    }

    #[test]
    fn lines_and_views_of_messages() {
        let mail = json!({"seq": 3, "channel": "email", "to": ["ann@example.com"], "from": "\"D\" <no-reply@x.io>",
                          "subject": "Reset your Demo password", "text": "t", "html": "<p>h</p>", "sentAt": "2027-01-01T00:00:00.000Z",
                          "messageId": "m1", "tags": {"appId": "demo"}});
        assert_eq!(
            console_line(&mail, "127.0.0.1:8787"),
            "mail to ann@example.com: \"Reset your Demo password\" (http://127.0.0.1:8787/_dev/outbox)"
        );
        let view = shown(&mail);
        assert_eq!(view["subject"], "Reset your Demo password");
        assert!(view.get("tags").is_none() && view.get("seq").is_none());
        let sms = json!({"channel": "sms", "to": ["+14155550100"], "text": "Code 1234"});
        assert!(console_line(&sms, "h").starts_with("sms  to +14155550100: \"Code 1234\""));
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), b"abcde");
        assert!(Outbox::new(None).emulator.is_none());
        assert_eq!(
            Outbox::new(Some("http://127.0.0.1:4566/"))
                .emulator
                .as_deref(),
            Some("127.0.0.1:4566")
        );
    }
}
