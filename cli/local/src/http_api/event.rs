//! The payload format 2.0 event API Gateway's HTTP API sends a Lambda integration, built from a local request.
//!
//! Header names lower-cased and repeated headers joined with commas; the
//! `cookie` header moved to `cookies`; repeated query parameters joined with
//! commas and every parameter URL-decoded; the body base64-encoded unless its
//! content type is text; `x-forwarded-*` and `x-amzn-trace-id` added as API
//! Gateway adds them.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use ob_core::route_key::percent_decode;

use crate::ids;

/// Everything the event is made of.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub source_ip: String,
    /// The port the client connected to (`x-forwarded-port`).
    pub port: u16,
    pub route_key: &'a str,
    pub path_parameters: &'a [(String, String)],
    pub request_id: &'a str,
    pub api_id: &'a str,
    pub account_id: &'a str,
    pub stage: &'a str,
    pub at: time::OffsetDateTime,
}

pub(crate) fn build(r: &Request<'_>) -> Value {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in r.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            );
        } else {
            headers
                .entry(name.as_str().to_owned())
                .or_default()
                .push(value);
        }
    }
    let forwarded_for = headers
        .remove("x-forwarded-for")
        .map(|v| format!("{}, {}", v.join(", "), r.source_ip))
        .unwrap_or_else(|| r.source_ip.clone());
    headers.insert("x-forwarded-for".into(), vec![forwarded_for]);
    headers.insert("x-forwarded-port".into(), vec![r.port.to_string()]);
    headers.insert("x-forwarded-proto".into(), vec!["http".into()]);
    let trace = format!(
        "Root=1-{:08x}-{}",
        r.at.unix_timestamp(),
        &uuid::Uuid::new_v4().simple().to_string()[..24]
    );
    headers.insert("x-amzn-trace-id".into(), vec![trace]);
    let user_agent = headers
        .get("user-agent")
        .map(|v| v.join(","))
        .unwrap_or_default();
    let domain = headers
        .get("host")
        .and_then(|v| v.first().cloned())
        .unwrap_or_default();
    let domain_prefix = domain
        .split(['.', ':'])
        .next()
        .unwrap_or_default()
        .to_owned();

    let mut event = Map::new();
    event.insert("version".into(), json!("2.0"));
    event.insert("routeKey".into(), json!(r.route_key));
    event.insert("rawPath".into(), json!(r.raw_path));
    event.insert("rawQueryString".into(), json!(r.raw_query));
    if !cookies.is_empty() {
        event.insert("cookies".into(), json!(cookies));
    }
    let joined: Map<String, Value> = headers
        .into_iter()
        .map(|(name, values)| (name, Value::String(values.join(","))))
        .collect();
    event.insert("headers".into(), Value::Object(joined));
    let query = query_parameters(r.raw_query);
    if !query.is_empty() {
        event.insert("queryStringParameters".into(), json!(query));
    }
    if !r.path_parameters.is_empty() {
        let params: Map<String, Value> = r
            .path_parameters
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        event.insert("pathParameters".into(), Value::Object(params));
    }
    event.insert(
        "requestContext".into(),
        json!({
            "accountId": r.account_id,
            "apiId": r.api_id,
            "domainName": domain,
            "domainPrefix": domain_prefix,
            "http": {
                "method": r.method,
                "path": r.raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": r.source_ip,
                "userAgent": user_agent,
            },
            "requestId": r.request_id,
            "routeKey": r.route_key,
            "stage": r.stage,
            "time": ids::request_time(r.at),
            "timeEpoch": ids::epoch_ms(r.at),
        }),
    );
    let (body, encoded) = body(r.headers, r.body);
    if let Some(body) = body {
        event.insert("body".into(), Value::String(body));
    }
    event.insert("isBase64Encoded".into(), json!(encoded));
    Value::Object(event)
}

/// Decoded parameters, repeated names joined with commas.
fn query_parameters(raw: &str) -> BTreeMap<String, String> {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (percent_decode(name), percent_decode(value));
        params
            .entry(name)
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    params
}

/// The body as API Gateway passes it: text as is, anything else base64.
fn body(headers: &HeaderMap, bytes: &[u8]) -> (Option<String>, bool) {
    if bytes.is_empty() {
        return (None, false);
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if is_text(content_type)
        && let Ok(text) = std::str::from_utf8(bytes)
    {
        return (Some(text.to_owned()), false);
    }
    (Some(aws_smithy_types::base64::encode(bytes)), true)
}

/// Content types API Gateway passes as text.
pub(crate) fn is_text(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/json" | "application/javascript" | "application/xml"
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_event_has_api_gateways_shape() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("127.0.0.1:8787"));
        headers.append("accept", HeaderValue::from_static("text/html"));
        headers.append("accept", HeaderValue::from_static("application/json"));
        headers.insert("cookie", HeaderValue::from_static("a=1; b=2"));
        headers.insert("content-type", HeaderValue::from_static("image/png"));
        let at = time::macros::datetime!(2020-04-21 15:08:21.067 UTC);
        let params = vec![("appId".to_owned(), "shop".to_owned())];
        let event = build(&Request {
            method: "POST",
            raw_path: "/files/shop/a%20b",
            raw_query: "x=1&x=2&q=a%2Fb&flag",
            headers: &headers,
            body: &[0, 1, 2],
            source_ip: "127.0.0.1".into(),
            port: 8787,
            route_key: "ANY /files/{appId}/{proxy+}",
            path_parameters: &params,
            request_id: "LV7fzho-PHcEJPw=",
            api_id: "httpapi",
            account_id: "123456789012",
            stage: "$default",
            at,
        });
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["rawPath"], "/files/shop/a%20b");
        assert_eq!(event["rawQueryString"], "x=1&x=2&q=a%2Fb&flag");
        assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(event["headers"]["accept"], "text/html,application/json");
        assert!(event["headers"].get("cookie").is_none());
        assert_eq!(event["headers"]["x-forwarded-for"], "127.0.0.1");
        assert_eq!(
            event["queryStringParameters"],
            json!({"x": "1,2", "q": "a/b", "flag": ""})
        );
        assert_eq!(event["pathParameters"], json!({"appId": "shop"}));
        let context = &event["requestContext"];
        assert_eq!(context["http"]["method"], "POST");
        assert_eq!(context["time"], "21/Apr/2020:15:08:21 +0000");
        assert_eq!(context["timeEpoch"], 1_587_481_701_067_i64);
        assert_eq!(context["routeKey"], "ANY /files/{appId}/{proxy+}");
        assert_eq!(context["domainName"], "127.0.0.1:8787");
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "AAEC");
    }

    #[test]
    fn text_bodies_stay_text_and_empty_bodies_are_absent() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert_eq!(body(&headers, b"{}"), (Some("{}".into()), false));
        assert_eq!(body(&headers, b""), (None, false));
        assert_eq!(body(&HeaderMap::new(), b"x"), (Some("eA==".into()), true));
        assert!(is_text("application/vnd.api+json"));
        assert!(!is_text("application/x-www-form-urlencoded"));
    }
}
