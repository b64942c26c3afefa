//! A function's answer mapped back to HTTP as API Gateway maps payload format 2.0, and API Gateway's own error answers.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

/// API Gateway's own JSON answers (`{"message":"Not Found"}`, …).
pub(crate) fn gateway_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "message": message }).to_string();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

/// Maps the function's response payload. `None` when API Gateway could not
/// use it (it then answers 500 Internal Server Error).
pub(crate) fn from_function(payload: &[u8]) -> Option<Response> {
    let value: Value = serde_json::from_slice(payload).ok()?;
    let Some(status) = value.get("statusCode") else {
        // Valid JSON without a statusCode: API Gateway infers 200 and a JSON body.
        return Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(payload.to_vec()))
            .ok();
    };
    let status = match status {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .and_then(|n| u16::try_from(n).ok())
    .and_then(|n| StatusCode::from_u16(n).ok())?;
    let mut response = Response::builder().status(status);
    if let Some(headers) = value.get("headers").and_then(Value::as_object) {
        for (name, value) in headers {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(_) | Value::Bool(_) => value.to_string(),
                _ => continue,
            };
            let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
            response = response.header(name, HeaderValue::from_str(&text).ok()?);
        }
    }
    if let Some(cookies) = value.get("cookies").and_then(Value::as_array) {
        for cookie in cookies.iter().filter_map(Value::as_str) {
            response = response.header(header::SET_COOKIE, HeaderValue::from_str(cookie).ok()?);
        }
    }
    let body = match value.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) if value["isBase64Encoded"] == true => {
            aws_smithy_types::base64::decode(text).ok()?
        }
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
    };
    response.body(Body::from(body)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn read(response: Response) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, headers, body)
    }

    #[tokio::test]
    async fn status_headers_cookies_and_base64_bodies_are_mapped() {
        let payload = br#"{"statusCode":201,"headers":{"content-type":"image/png","x-n":1},
            "cookies":["a=1; Path=/","b=2"],"body":"AAEC","isBase64Encoded":true}"#;
        let (status, headers, body) = read(from_function(payload).unwrap()).await;
        assert_eq!(status, 201);
        assert!(headers.contains(&("content-type".into(), "image/png".into())));
        assert!(headers.contains(&("x-n".into(), "1".into())));
        let cookies: Vec<_> = headers.iter().filter(|(k, _)| k == "set-cookie").collect();
        assert_eq!(cookies.len(), 2);
        assert_eq!(body, vec![0, 1, 2]);
    }

    #[tokio::test]
    async fn json_without_a_status_is_a_200_json_body_and_garbage_is_refused() {
        let (status, headers, body) = read(from_function(br#"{"hello":1}"#).unwrap()).await;
        assert_eq!(status, 200);
        assert!(headers.contains(&("content-type".into(), "application/json".into())));
        assert_eq!(body, br#"{"hello":1}"#);
        assert!(from_function(b"not json").is_none());
        assert!(from_function(br#"{"statusCode":"abc"}"#).is_none());
        assert!(
            from_function(br#"{"statusCode":200,"body":"!!","isBase64Encoded":true}"#).is_none()
        );
    }
}
