//! The events API Gateway's WebSocket API sends its integration: `$connect`, messages and `$disconnect`.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use ob_core::route_key::percent_decode;

use crate::ids;

/// What every event of one connection shares.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionContext {
    pub connection_id: String,
    pub api_id: String,
    pub stage: String,
    pub domain: String,
    pub source_ip: String,
    pub user_agent: Option<String>,
    pub connected_at: time::OffsetDateTime,
}

impl ConnectionContext {
    fn request_context(
        &self,
        route_key: &str,
        event_type: &str,
        request_id: &str,
    ) -> Map<String, Value> {
        let now = time::OffsetDateTime::now_utc();
        let mut identity = Map::new();
        identity.insert("sourceIp".into(), json!(self.source_ip));
        if let Some(agent) = &self.user_agent {
            identity.insert("userAgent".into(), json!(agent));
        }
        let context = json!({
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": ids::request_time(now),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": ids::epoch_ms(self.connected_at),
            "requestTimeEpoch": ids::epoch_ms(now),
            "identity": identity,
            "requestId": request_id,
            "domainName": self.domain,
            "connectionId": self.connection_id,
            "apiId": self.api_id,
        });
        match context {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

/// `$connect`: the handshake's headers and query string.
pub(crate) fn connect(
    ctx: &ConnectionContext,
    headers: &HeaderMap,
    raw_query: &str,
    request_id: &str,
) -> Value {
    let mut single = Map::new();
    let mut multi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        single.insert(name.as_str().to_owned(), json!(value));
        multi
            .entry(name.as_str().to_owned())
            .or_default()
            .push(value);
    }
    let mut event = Map::new();
    event.insert("headers".into(), Value::Object(single));
    event.insert("multiValueHeaders".into(), json!(multi));
    let mut query = Map::new();
    let mut multi_query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (decode(name), decode(value));
        query.insert(name.clone(), json!(value));
        multi_query.entry(name).or_default().push(value);
    }
    if !query.is_empty() {
        event.insert("queryStringParameters".into(), Value::Object(query));
        event.insert("multiValueQueryStringParameters".into(), json!(multi_query));
    }
    event.insert(
        "requestContext".into(),
        Value::Object(ctx.request_context("$connect", "CONNECT", request_id)),
    );
    event.insert("isBase64Encoded".into(), json!(false));
    Value::Object(event)
}

/// A message routed to `route_key`; binary frames arrive base64-encoded.
pub(crate) fn message(
    ctx: &ConnectionContext,
    route_key: &str,
    body: &str,
    base64: bool,
    request_id: &str,
) -> Value {
    let mut context = ctx.request_context(route_key, "MESSAGE", request_id);
    context.insert("messageId".into(), json!(ids::gateway_id()));
    json!({
        "requestContext": context,
        "body": body,
        "isBase64Encoded": base64,
    })
}

/// `$disconnect`, with how the connection ended.
pub(crate) fn disconnect(
    ctx: &ConnectionContext,
    status: u16,
    reason: &str,
    request_id: &str,
) -> Value {
    let mut context = ctx.request_context("$disconnect", "DISCONNECT", request_id);
    context.insert("disconnectStatusCode".into(), json!(status));
    context.insert("disconnectReason".into(), json!(reason));
    json!({
        "requestContext": context,
        "isBase64Encoded": false,
    })
}

/// URL-decodes a query component (`+` is a space, as browsers encode it).
fn decode(raw: &str) -> String {
    percent_decode(&raw.replace('+', " "))
}

/// The route a message takes under a `$request.body.<path>` selection
/// expression: the value at that path when a route of that key exists,
/// else `$default` (`None` when there is none either).
pub(crate) fn select_route<'a>(
    field: &[String],
    body: &str,
    routes: impl Iterator<Item = &'a str> + Clone,
) -> Option<&'a str> {
    let value: Option<Value> = serde_json::from_str(body).ok();
    let selected = value.as_ref().and_then(|v| {
        field
            .iter()
            .try_fold(v, |v, key| v.get(key.as_str()))
            .and_then(Value::as_str)
    });
    if let Some(key) = selected
        && !key.starts_with('$')
        && let Some(route) = routes.clone().find(|r| *r == key)
    {
        return Some(route);
    }
    routes.into_iter().find(|r| *r == "$default")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ctx() -> ConnectionContext {
        ConnectionContext {
            connection_id: "L0SM9cOFvHcCIhw=".into(),
            api_id: "websocketapi".into(),
            stage: "live".into(),
            domain: "127.0.0.1:8787".into(),
            source_ip: "127.0.0.1".into(),
            user_agent: None,
            connected_at: time::macros::datetime!(2026-11-22 07:00:00 UTC),
        }
    }

    #[test]
    fn connect_carries_headers_and_the_decoded_query() {
        let mut headers = HeaderMap::new();
        headers.insert("sec-websocket-version", HeaderValue::from_static("13"));
        let event = connect(&ctx(), &headers, "apiKey=ob_k&token=a%2Eb+c", "r1");
        assert_eq!(event["queryStringParameters"]["token"], "a.b c");
        assert_eq!(
            event["multiValueQueryStringParameters"]["apiKey"],
            json!(["ob_k"])
        );
        assert_eq!(event["headers"]["sec-websocket-version"], "13");
        let context = &event["requestContext"];
        assert_eq!(context["routeKey"], "$connect");
        assert_eq!(context["eventType"], "CONNECT");
        assert_eq!(context["connectionId"], "L0SM9cOFvHcCIhw=");
        assert_eq!(context["connectedAt"], 1_795_330_800_000_i64);
        let gone = disconnect(&ctx(), 1001, "Going away", "r2");
        assert_eq!(gone["requestContext"]["disconnectStatusCode"], 1001);
        assert_eq!(gone["requestContext"]["eventType"], "DISCONNECT");
    }

    #[test]
    fn messages_take_the_selected_route_or_default() {
        let field = vec!["action".to_owned()];
        let routes = ["$connect", "$default", "sendMessage"];
        let pick = |body| select_route(&field, body, routes.iter().copied());
        assert_eq!(pick(r#"{"action":"sendMessage"}"#), Some("sendMessage"));
        assert_eq!(pick(r#"{"action":"subscribe"}"#), Some("$default"));
        assert_eq!(pick(r#"{"action":"$connect"}"#), Some("$default"));
        assert_eq!(pick("not json"), Some("$default"));
        let no_default = ["sendMessage"];
        assert_eq!(select_route(&field, "{}", no_default.iter().copied()), None);
    }
}
