//! Per-request app context: verifies the API key once, and applies CORS from the stage's and the app's origins.
//!
//! A preflight carries no API key, so for routes without `{appId}` the app is
//! unknown at preflight time; the preflight is answered and the actual request
//! is refused with 403 before any handler runs if its origin is not allowed
//! for the key's app.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ob_core::api_keys::{self, ApiKey};
use ob_core::audit::{Actor, NewEntry};

use crate::error::ApiError;
use crate::extract::{Client, path_app_id};
use crate::metrics::KeyApp;
use crate::state::AppState;

pub const API_KEY_HEADER: &str = "x-api-key";
const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOWED_HEADERS: &str = "authorization, content-type, if-match, x-api-key, x-request-id";
const EXPOSED_HEADERS: &str = "etag, retry-after, x-request-id";

/// The outcome of verifying the presented API key (absent when none was presented).
#[derive(Debug, Clone)]
pub(crate) struct KeyCheck(pub Result<ApiKey, ob_core::Error>);

/// Middleware: key verification and CORS.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let path_app = path_app_id(&mut parts, &state).await;
    let preflight = parts.method == Method::OPTIONS
        && parts
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let allowed = match (&origin, &path_app) {
            (Some(origin), Some(app)) => origin_allowed(&state, origin, Some(app)).await,
            // The app is only known from the key of the actual request, checked then.
            (Some(_), None) => true,
            (None, _) => false,
        };
        let mut response = StatusCode::NO_CONTENT.into_response();
        if let (true, Some(origin)) = (allowed, &origin) {
            let headers = response.headers_mut();
            allow_origin(headers, origin);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOWED_METHODS),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOWED_HEADERS),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Origin"));
        return response;
    }

    let presented = parts
        .headers
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let check = match presented {
        Some(secret) => Some(resolve_key(&state, &secret, &Client::from_parts(&parts)).await),
        None => None,
    };
    let key_app = check
        .as_ref()
        .and_then(|c| c.as_ref().ok())
        .map(|k| k.app_id.clone());
    let app = path_app.or_else(|| key_app.clone());
    let allowed = match &origin {
        Some(origin) => origin_allowed(&state, origin, app.as_deref()).await,
        None => false,
    };
    if origin.is_some() && app.is_some() && !allowed {
        let mut refused = ApiError::OriginNotAllowed.into_response();
        if let Some(app) = key_app {
            refused.extensions_mut().insert(KeyApp(app));
        }
        return refused;
    }
    if let Some(check) = check {
        parts.extensions.insert(KeyCheck(check));
    }
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if let Some(app) = key_app {
        response.extensions_mut().insert(KeyApp(app));
    }
    if let (true, Some(origin)) = (allowed, &origin) {
        allow_origin(response.headers_mut(), origin);
    }
    if origin.is_some() {
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

fn allow_origin(headers: &mut HeaderMap, origin: &str) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
}

/// Stage origins are allowed everywhere; an app's own origins on its requests.
async fn origin_allowed(state: &AppState, origin: &str, app: Option<&str>) -> bool {
    if state.settings().stage_origins.iter().any(|o| o == origin) {
        return true;
    }
    match app {
        Some(app) => match state.app_facts(app).await {
            Ok(facts) => facts.origins.iter().any(|o| o == origin),
            Err(err) => {
                tracing::warn!(error = %err, "could not read app origins");
                false
            }
        },
        None => false,
    }
}

/// Verifies a key and its app, and records its use (at most once a minute,
/// which is also when a key-use audit entry is written).
async fn resolve_key(
    state: &AppState,
    secret: &str,
    client: &Client,
) -> Result<ApiKey, ob_core::Error> {
    let key = api_keys::verify(state.store(), secret).await?;
    if !state.app_facts(&key.app_id).await?.active {
        return Err(ob_core::Error::Unauthorized("invalid API key".into()));
    }
    match api_keys::record_use(state.store(), &key).await {
        Ok(true) => {
            state
                .audit(NewEntry {
                    app_id: key.app_id.clone(),
                    actor: Actor::ApiKey(key.key_id.clone()),
                    action: "apikey.use".into(),
                    target: format!("key:{}", key.key_id),
                    changed_fields: vec!["lastUsedAt".into()],
                    origin: client.0.clone(),
                })
                .await;
        }
        Ok(false) => {}
        // Losing a usage timestamp must not fail the request.
        Err(err) => tracing::warn!(error = %err, "could not record api key use"),
    }
    Ok(key)
}
