//! `/config/{appId}`: read (API key; `settings` for signed-in users), replace and patch (admins, `If-Match`) an app's config.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ob_core::audit::{Actor, NewEntry};
use ob_core::config::{self, AppConfig, ConfigBody};
use serde_json::Value;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{AppKey, AuthUser, Client, MaybeUser};
use crate::json::Json;
use crate::state::AppState;

crate::route_list::api_routes! { handlers: [get_config, put_config, patch_config] }

/// The config with its version as a strong ETag.
fn with_etag(config: AppConfig) -> Response {
    let etag = format!("\"{}\"", config.version);
    let mut response = axum::Json(config).into_response();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// Reads `If-Match`: `"3"`, `W/"3"` or `3` name a version; `*` or absence mean any.
fn expected_version(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| {
            ApiError::invalid(
                "If-Match",
                "must be a config version as returned in ETag, e.g. \"3\"",
            )
        })
}

/// The app's config. `settings` is included only for a signed-in user of the
/// app (send the access token); with the API key alone it is left out.
#[utoipa::path(get, path = "/config/{appId}", tag = "config",
    params(("appId" = String, Path, description = "The app")),
    security(("apiKey" = ["config:read"]), ("apiKey" = ["config:read"], "bearer" = [])),
    responses(
        (status = 200, description = "The config; ETag carries its version", body = AppConfig),
        (status = 401, description = "Missing, invalid or other-app API key, or an invalid access token", body = ErrorBody),
        (status = 403, description = "The key lacks the config:read scope", body = ErrorBody),
    ))]
async fn get_config(
    State(state): State<AppState>,
    key: AppKey,
    user: MaybeUser,
    Path(app_id): Path<String>,
) -> Result<Response, ApiError> {
    key.check_app(&app_id)?;
    let config = match user.0 {
        Some(_) => config::get(state.store(), &app_id).await?,
        None => config::get_system(state.store(), &app_id)
            .await?
            .without_settings(),
    };
    Ok(with_etag(config))
}

/// Replace the app's config (admin role): every key, `settings` included; keys
/// left out return to their defaults. With `If-Match`, only if that version is current.
#[utoipa::path(put, path = "/config/{appId}", tag = "config",
    params(
        ("appId" = String, Path, description = "The app"),
        ("If-Match" = Option<String>, Header, pattern = r#"^(\*|(W/)?"?[0-9]{1,19}"?)$"#, description = "Expected current version, as in ETag (\"3\", W/\"3\", 3 or *)"),
    ),
    request_body = ConfigBody,
    security(("apiKey" = ["config:write"], "bearer" = [])),
    responses(
        (status = 200, description = "The new config; ETag carries its version", body = AppConfig),
        (status = 400, description = "Invalid config, or a key that is not a config key (app values go under settings)", body = ErrorBody),
        (status = 401, description = "Missing or invalid key or token, or another app's", body = ErrorBody),
        (status = 403, description = "Not an admin of the app", body = ErrorBody),
        (status = 412, description = "If-Match names a stale version", body = ErrorBody),
        (status = 413, description = "settings is larger than 32 KiB of JSON", body = ErrorBody),
    ))]
async fn put_config(
    State(state): State<AppState>,
    user: AuthUser,
    client: Client,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    user.key.check_app(&app_id)?;
    user.require_current_admin(&state).await?;
    let expected = expected_version(&headers)?;
    let body = ConfigBody::from_json(body)?;
    let written = config::put(state.store(), &app_id, body, expected).await?;
    Ok(with_etag(audited(&state, &user, client, written).await))
}

/// Change part of the app's config (admin role) with a JSON Merge Patch
/// (RFC 7396): `{"settings": {"theme": "dark"}}` sets one setting, `null`
/// removes a key. With `If-Match`, only onto that version; without, onto the
/// current one.
#[utoipa::path(patch, path = "/config/{appId}", tag = "config",
    params(
        ("appId" = String, Path, description = "The app"),
        ("If-Match" = Option<String>, Header, pattern = r#"^(\*|(W/)?"?[0-9]{1,19}"?)$"#, description = "Expected current version, as in ETag (\"3\", W/\"3\", 3 or *)"),
    ),
    request_body(content = Object, content_type = "application/merge-patch+json",
        description = "Keys to change; objects merge, null removes"),
    security(("apiKey" = ["config:write"], "bearer" = [])),
    responses(
        (status = 200, description = "The new config; ETag carries its version", body = AppConfig),
        (status = 400, description = "The result is not a valid config", body = ErrorBody),
        (status = 401, description = "Missing or invalid key or token, or another app's", body = ErrorBody),
        (status = 403, description = "Not an admin of the app", body = ErrorBody),
        (status = 412, description = "If-Match names a stale version", body = ErrorBody),
        (status = 413, description = "settings would be larger than 32 KiB of JSON", body = ErrorBody),
    ))]
async fn patch_config(
    State(state): State<AppState>,
    user: AuthUser,
    client: Client,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    Json(changes): Json<Value>,
) -> Result<Response, ApiError> {
    user.key.check_app(&app_id)?;
    user.require_current_admin(&state).await?;
    let expected = expected_version(&headers)?;
    let written = config::patch(state.store(), &app_id, &changes, expected).await?;
    Ok(with_etag(audited(&state, &user, client, written).await))
}

/// Records a config write by a user and returns the new config.
async fn audited(
    state: &AppState,
    user: &AuthUser,
    client: Client,
    (new, old): (AppConfig, AppConfig),
) -> AppConfig {
    state.forget_app(&new.app_id);
    state
        .audit(NewEntry {
            app_id: new.app_id.clone(),
            actor: Actor::User(user.claims.sub.clone()),
            action: "config.update".into(),
            target: format!("config:v{}", new.version),
            changed_fields: old.body.changed_fields(&new.body),
            origin: client.0,
        })
        .await;
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_MATCH, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn if_match_forms() {
        assert_eq!(expected_version(&HeaderMap::new()).unwrap(), None);
        assert_eq!(expected_version(&headers("\"3\"")).unwrap(), Some(3));
        assert_eq!(expected_version(&headers("W/\"4\"")).unwrap(), Some(4));
        assert_eq!(expected_version(&headers("5")).unwrap(), Some(5));
        assert_eq!(expected_version(&headers("*")).unwrap(), None);
        assert!(expected_version(&headers("\"abc\"")).is_err());
    }
}
