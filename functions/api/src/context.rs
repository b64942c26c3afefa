//! Per-request app context: verifies the API key once, and applies CORS from the stage's and the app's origins.
//!
//! A preflight carries no API key, so the app is unknown at preflight time;
//! the preflight is answered without reading anything and the actual request
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
use crate::scope::Requirement;
use crate::state::AppState;

pub const API_KEY_HEADER: &str = "x-api-key";
const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOWED_HEADERS: &str = "authorization, content-type, if-match, x-api-key, x-request-id";
const EXPOSED_HEADERS: &str = "etag, retry-after, x-request-id";

/// The outcome of verifying the presented API key (absent when none was presented).
#[derive(Debug, Clone)]
pub(crate) struct KeyCheck(pub Result<ApiKey, ob_core::Error>);

/// Middleware: key verification, the route's scope, and CORS.
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
        return preflight_response(origin.as_deref(), path_app.as_deref());
    }

    let presented = parts
        .headers
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Sign-ups and refreshes read the key afresh: a revoked key starts no
    // session, and one more lookup is nothing beside bcrypt. A sign-in checks
    // the key inside its session's transaction instead (a round trip fewer).
    let fresh = parts.method == Method::POST
        && parts.uri.path().starts_with("/auth/")
        && parts.uri.path() != "/auth/login";
    let check = match presented {
        Some(secret) => {
            Some(resolve_key(&state, &secret, fresh, &Client::from_parts(&parts)).await)
        }
        None => None,
    };
    let key_app = check
        .as_ref()
        .and_then(|c| c.as_ref().ok())
        .map(|k| k.app_id.clone());
    // A path naming another app than the key's is refused before anything is
    // read about it, so unknown or random app ids cost no storage reads.
    if let (Some(path_app), Some(key_app)) = (&path_app, &key_app)
        && path_app != key_app
    {
        let refusal = ApiError::unauthorized("API key does not belong to this app");
        return of_app(refusal.into_response(), Some(key_app));
    }
    if let Some(refusal) = scope_refusal(&parts, check.as_ref()) {
        return of_app(refusal.into_response(), key_app.as_deref());
    }
    // Only the key's app (already verified, so cached) is consulted for origins.
    let allowed = match &origin {
        Some(origin) => origin_allowed(&state, origin, key_app.as_deref()).await,
        None => false,
    };
    if origin.is_some() && key_app.is_some() && !allowed {
        return of_app(
            ApiError::OriginNotAllowed.into_response(),
            key_app.as_deref(),
        );
    }
    let syncs = match admit(&state, key_app.as_deref(), &parts).await {
        Ok(syncs) => syncs,
        Err(refusal) => return of_app(refusal.into_response(), key_app.as_deref()),
    };
    if let Some(check) = check {
        parts.extensions.insert(KeyCheck(check));
    }
    // The shared request counters are updated beside the request; its answer never waits for them (on Lambda they
    // are finished after it, before the instance takes its next request).
    if !syncs.is_empty() {
        let syncing = state.clone();
        state.deferred().beside(async move {
            syncing.limiter().sync(syncing.store(), syncs).await;
        });
    }
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if let (true, Some(origin)) = (allowed, &origin) {
        allow_origin(response.headers_mut(), origin);
    }
    if origin.is_some() {
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    of_app(response, key_app.as_deref())
}

/// Marks a response with the app of the request's verified key, for its metrics.
fn of_app(mut response: Response, key_app: Option<&str>) -> Response {
    if let Some(app) = key_app {
        response.extensions_mut().insert(KeyApp(app.to_owned()));
    }
    response
}

/// Admits the request against its app's and its client's per-minute limits
/// (429 with `Retry-After` otherwise); returns the counter syncs that are due.
async fn admit(
    state: &AppState,
    key_app: Option<&str>,
    parts: &axum::http::request::Parts,
) -> Result<Vec<crate::limits::Sync>, ApiError> {
    let limits = match key_app {
        // An app's own limits never apply to rewriting its config: a limit set
        // too low would lock its admins out of raising it again.
        Some(_) if is_config_write(parts) => state.settings().request_limits,
        // Read (and cached) when the key was verified: no extra call.
        Some(app) => state.app_facts(app).await?.limits,
        None => state.settings().request_limits,
    };
    let client = Client::from_parts(parts).0.source_ip;
    let counters = crate::limits::counters(key_app, client.as_deref(), limits);
    Ok(state.limiter().admit(&counters)?)
}

/// `PUT` or `PATCH /config/{appId}`: the writes of an app's config (and its limits).
fn is_config_write(parts: &axum::http::request::Parts) -> bool {
    matches!(parts.method, Method::PUT | Method::PATCH) && parts.uri.path().starts_with("/config/")
}

/// Answers a CORS preflight without reading anything: a preflight carries no
/// key, so the app (and its origins) is only known from the actual request,
/// which is refused with 403 before any handler runs when its origin is not
/// allowed for the key's app. A preflight naming a malformed app id, or from a
/// malformed origin, gets no CORS headers.
fn preflight_response(origin: Option<&str>, path_app: Option<&str>) -> Response {
    let app_ok = path_app.is_none_or(|app| ob_core::apps::validate_app_id(app).is_ok());
    let origin = origin.filter(|o| app_ok && ob_core::apps::validate_origin("origin", o).is_ok());
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    if let Some(origin) = origin {
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
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    response
}

/// The refusal of a request whose route needs a scope the key lacks (403
/// naming it), or a key it lacks (401). Deny by default: a route whose
/// declaration is unusable is refused for everyone.
fn scope_refusal(
    parts: &axum::http::request::Parts,
    check: Option<&Result<ApiKey, ob_core::Error>>,
) -> Option<ApiError> {
    match crate::scope::required(parts)? {
        Requirement::Public => None,
        Requirement::Broken(why) => {
            tracing::error!(path = %parts.uri.path(), why, "route has no usable scope declaration");
            Some(ApiError::forbidden(
                "this route is closed: it declares no scope",
            ))
        }
        Requirement::Key(scope) => match check {
            None => Some(ApiError::unauthorized("missing API key (X-API-Key header)")),
            Some(Err(ob_core::Error::Unauthorized(_))) => {
                Some(ApiError::unauthorized("invalid API key"))
            }
            Some(Err(other)) => Some(ApiError::Domain(other.clone())),
            Some(Ok(key)) if !key.has_scope(scope) => Some(ApiError::forbidden(&format!(
                "API key lacks the '{scope}' scope"
            ))),
            Some(Ok(_)) => None,
        },
    }
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

/// Verifies a key (cached for `KEY_CACHE_TTL`) and its app (cached for
/// `APP_CACHE_TTL`), and records its use (at most once a minute, which is also
/// when a key-use audit entry is written).
async fn resolve_key(
    state: &AppState,
    secret: &str,
    fresh: bool,
    client: &Client,
) -> Result<ApiKey, ob_core::Error> {
    let key = state.verify_key(secret, fresh).await?;
    if !state.app_facts(&key.app_id).await?.active {
        return Err(ob_core::Error::Unauthorized("invalid API key".into()));
    }
    if !state.take_stamp(&key) {
        return Ok(key);
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
