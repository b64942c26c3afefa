//! The JSON body extractor: 415 for non-JSON, 413 for oversized, 400 naming the field for bad bodies.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Like `axum::Json`, but every rejection is an `ApiError` in our error format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

fn is_json(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(&request) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = request
            .extensions()
            .get::<BodyLimit>()
            .map(|l| l.0)
            .unwrap_or_default();
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::BodyTooLarge { limit }
                } else {
                    ApiError::MalformedBody
                }
            })?;
        parse(&bytes).map(Json)
    }
}

/// The configured body limit, for the 413 message.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Deserializes JSON, reporting the path of the offending field. A number
/// written with a zero fraction (`5.0`) is the integer it equals, as JSON
/// Schema counts it: serde reads integer fields only from integer literals, so
/// a body refused for that is read again with such numbers as integers.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let err = match parse_exact(bytes) {
        Ok(value) => return Ok(value),
        Err(err) => err,
    };
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Err(err);
    };
    if !ob_core::config::integral_floats_to_integers(&mut value) {
        return Err(err);
    }
    serde::Deserialize::deserialize(value).map_err(|_| err)
}

fn parse_exact<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() || inner.is_io() {
            return ApiError::MalformedBody;
        }
        let message = strip_position(&inner.to_string());
        // A missing field is reported at the enclosing object, so its name is
        // taken from the message; every other error's path names the field.
        let field = backticked(&message)
            .filter(|_| message.starts_with("missing field"))
            .map(|name| join(&path, name))
            .unwrap_or_else(|| if path == "." { "body".to_owned() } else { path });
        ApiError::invalid(&field, &message)
    })?;
    deserializer.end().map_err(|_| ApiError::MalformedBody)?;
    Ok(value)
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(&message[start..end])
}

fn join(path: &str, name: &str) -> String {
    if path == "." {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ob_core::Error;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Body {
        email: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    fn field(result: Result<Body, ApiError>) -> String {
        match result {
            Err(ApiError::Domain(Error::Invalid { field, .. })) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn fields_are_named() {
        assert_eq!(field(parse(b"{}")), "email");
        assert_eq!(field(parse(br#"{"email": 3}"#)), "email");
        assert_eq!(
            field(parse(br#"{"email": "a", "inner": {"count": -1}}"#)),
            "inner.count"
        );
        assert_eq!(
            field(parse(br#"{"email": "a", "inner": {}}"#)),
            "inner.count"
        );
        assert_eq!(field(parse(br#"{"email": "a", "extra": 1}"#)), "extra");
        assert_eq!(field(parse(b"[]")), "body");
        // An integer written with a zero fraction is that integer; a fraction is not.
        let whole: Body = parse(br#"{"email": "a", "inner": {"count": 3.0}}"#).unwrap();
        assert_eq!(whole.inner.map(|i| i.count), Some(3));
        assert_eq!(
            field(parse(br#"{"email": "a", "inner": {"count": 3.5}}"#)),
            "inner.count"
        );
    }

    #[test]
    fn syntax_errors_are_malformed() {
        assert!(matches!(parse::<Body>(b"{"), Err(ApiError::MalformedBody)));
        assert!(matches!(
            parse::<Body>(br#"{"email":"a"} x"#),
            Err(ApiError::MalformedBody)
        ));
        assert!(parse::<Body>(br#"{"email":"a"}"#).is_ok());
    }
}
