//! `/files/{appId}/*`: presigned upload and download URLs, deletes and listings of the caller's (or, for admins, the app's) files.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ob_core::data::Caller;
use ob_core::files::{self, DownloadUrl, FilePage, ListQuery, NewUpload, StageLimits, UploadUrl};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{AuthUser, Client};
use crate::json::{self, Json};
use crate::state::AppState;

crate::route_list::api_routes! { handlers: [upload_url, download_url, delete_file, list_files] }

/// The body of `upload-url`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadBody {
    /// Name under the caller's folder; `/` separates folders. At most 200
    /// characters; no empty, `.` or `..` segments, leading `/`, backslash or
    /// control characters (the pattern, set in `routes::openapi`).
    #[schema(min_length = 1, max_length = 200)]
    pub file_name: String,
    /// `type/subtype`; must be allowed by the app's `uploads.allowedMimeTypes`.
    #[schema(
        max_length = 255,
        pattern = r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$"
    )]
    pub file_type: String,
    /// Exact size in bytes; at most the app's `uploads.maxBytes` and the stage's limit.
    #[schema(maximum = 5_368_709_120_u64)]
    pub size: u64,
}

/// The body of `download-url` and `delete`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    /// An object key as returned by `upload-url` or `list`:
    /// `{appId}/{userId}/{fileName}` (the pattern, set in `routes::openapi`).
    pub key: String,
}

fn caller(user: &AuthUser) -> Caller {
    Caller {
        user_id: user.claims.sub.clone(),
        role: user.claims.role,
    }
}

fn stage_limits(state: &AppState) -> StageLimits {
    StageLimits {
        max_upload_bytes: state.settings().max_upload_bytes,
        url_expiry: Duration::from_secs(state.settings().url_expiry_secs),
    }
}

/// A presigned PUT URL for a new file under `{appId}/{userId}/`. Size and type
/// are checked before anything is signed, and both are bound into the URL.
#[utoipa::path(post, path = "/files/{appId}/upload-url", tag = "files",
    params(("appId" = String, Path, description = "The app")),
    request_body = UploadBody,
    security(("apiKey" = ["files:write"], "bearer" = [])),
    responses(
        (status = 200, description = "PUT the bytes to url with exactly these headers before expiresAt", body = UploadUrl),
        (status = 400, description = "Invalid fileName, or a fileType the app does not allow", body = ErrorBody),
        (status = 401, description = "Missing or invalid key or token, or another app's", body = ErrorBody),
        (status = 413, description = "size exceeds the app's or the stage's upload limit", body = ErrorBody),
    ))]
async fn upload_url(
    State(state): State<AppState>,
    user: AuthUser,
    client: Client,
    Path(app_id): Path<String>,
    Json(body): Json<UploadBody>,
) -> Result<Response, ApiError> {
    user.key.check_app(&app_id)?;
    // The app's upload limits as this instance holds its config (at most APP_CACHE_TTL old).
    let uploads = state.app_facts(&app_id).await?.uploads;
    let upload = NewUpload {
        file_name: body.file_name,
        file_type: body.file_type,
        size: body.size,
    };
    let signed = files::upload_url(
        state.store(),
        &state.writer(&user, &client),
        state.files()?,
        &app_id,
        &caller(&user),
        &upload,
        &uploads,
        stage_limits(&state),
    )
    .await?;
    Ok(axum::Json(signed).into_response())
}

/// A presigned GET URL for an uploaded file: the caller's own, or any of the app's for an admin.
#[utoipa::path(post, path = "/files/{appId}/download-url", tag = "files",
    params(("appId" = String, Path, description = "The app")),
    request_body = KeyBody,
    security(("apiKey" = ["files:read"], "bearer" = [])),
    responses(
        (status = 200, description = "GET url before expiresAt", body = DownloadUrl),
        (status = 400, description = "The key is malformed", body = ErrorBody),
        (status = 401, description = "Missing or invalid key or token, or another app's", body = ErrorBody),
        (status = 404, description = "No such uploaded file of this app, or not the caller's", body = ErrorBody),
    ))]
async fn download_url(
    State(state): State<AppState>,
    user: AuthUser,
    Path(app_id): Path<String>,
    Json(body): Json<KeyBody>,
) -> Result<Response, ApiError> {
    user.key.check_app(&app_id)?;
    let url = files::download_url(
        state.store(),
        state.files()?,
        &app_id,
        &caller(&user),
        &body.key,
        stage_limits(&state),
    )
    .await?;
    Ok(axum::Json(url).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyParam {
    key: Option<String>,
}

/// The key of a delete: `?key=` or a JSON body `{"key"}`.
fn delete_key(query: Option<String>, body: &[u8]) -> Result<String, ApiError> {
    // The body is optional: none, or JSON `null`, means the key is in the query.
    let body = body.trim_ascii();
    let absent = body.is_empty() || body == b"null";
    match (query, absent) {
        (Some(key), true) => Ok(key),
        (Some(_), false) => Err(ApiError::invalid(
            "key",
            "give the key either as ?key= or in the body, not both",
        )),
        (None, false) => json::parse::<KeyBody>(body).map(|b| b.key),
        (None, true) => Err(ApiError::invalid(
            "key",
            "is required (?key= or a JSON body {\"key\": ...})",
        )),
    }
}

/// The raw body of a delete, for clients that send the key as JSON; its own
/// extractor, so the document does not declare a body (the key is `?key=`).
struct DeleteBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for DeleteBody {
    type Rejection = <Bytes as FromRequest<S>>::Rejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(request, state).await.map(Self)
    }
}

/// Delete a file (object and metadata): the caller's own, or any of the app's for an admin.
#[utoipa::path(delete, path = "/files/{appId}/delete", tag = "files",
    params(
        ("appId" = String, Path, description = "The app"),
        ("key" = String, Query, description = "The object key. (Clients that send it as a JSON body {\"key\"} instead are served too; a request with both is refused.)"),
    ),
    security(("apiKey" = ["files:write"], "bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "No key, or a malformed one", body = ErrorBody),
        (status = 401, description = "Missing or invalid key or token, or another app's", body = ErrorBody),
        (status = 404, description = "No such file of this app, or not the caller's", body = ErrorBody),
    ))]
async fn delete_file(
    State(state): State<AppState>,
    user: AuthUser,
    client: Client,
    Path(app_id): Path<String>,
    params: Result<Query<KeyParam>, QueryRejection>,
    DeleteBody(body): DeleteBody,
) -> Result<Response, ApiError> {
    user.key.check_app(&app_id)?;
    let Query(params) =
        params.map_err(|_| ApiError::invalid("query", "only ?key= is accepted on delete"))?;
    let key = delete_key(params.key, &body)?;
    // The audit entry is written with the standing checks, before the object goes.
    files::delete(
        state.store(),
        &state.writer(&user, &client),
        state.files()?,
        &app_id,
        &caller(&user),
        &key,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn parse_list_params(params: Vec<(String, String)>) -> Result<ListQuery, ApiError> {
    let mut query = ListQuery {
        limit: files::DEFAULT_LIMIT,
        ..ListQuery::default()
    };
    for (name, value) in params {
        match name.as_str() {
            "limit" => {
                query.limit =
                    crate::routes::parse_limit(&value, files::MAX_LIMIT, files::DEFAULT_LIMIT)?;
            }
            "cursor" if !value.is_empty() => query.cursor = Some(value),
            "prefix" if !value.is_empty() => query.prefix = Some(value),
            "owner" if !value.is_empty() => query.owner = Some(value),
            "cursor" | "prefix" | "owner" => {}
            other => {
                return Err(ApiError::invalid(
                    other,
                    "unknown query parameter; use prefix, cursor, limit or owner",
                ));
            }
        }
    }
    Ok(query)
}

/// List uploaded files by key: the caller's own, or for an admin the whole app's (or `owner`'s).
#[utoipa::path(get, path = "/files/{appId}/list", tag = "files",
    params(
        ("appId" = String, Path, description = "The app"),
        ("prefix" = Option<String>, Query, description = "Only keys starting with this (one outside '{appId}/' lists nothing)"),
        ("cursor" = Option<String>, Query, description = "nextCursor of the previous page: the page starts after this key"),
        ("limit" = Option<usize>, Query, minimum = 1, maximum = 100, description = "Page size, 1 to 100 (default 50)"),
        ("owner" = Option<String>, Query, description = "Admins: only this user's files"),
    ),
    security(("apiKey" = ["files:read"], "bearer" = [])),
    responses(
        (status = 200, description = "A page of uploaded files", body = FilePage),
        (status = 400, description = "Invalid or unknown parameter", body = ErrorBody),
        (status = 401, description = "Missing or invalid key or token, or another app's", body = ErrorBody),
        (status = 403, description = "owner names another user and the caller is not an admin", body = ErrorBody),
    ))]
async fn list_files(
    State(state): State<AppState>,
    user: AuthUser,
    Path(app_id): Path<String>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    user.key.check_app(&app_id)?;
    let Query(params) =
        params.map_err(|_| ApiError::invalid("query", "is not a valid query string"))?;
    let query = parse_list_params(params)?;
    let page = files::list(
        state.store(),
        state.files()?,
        &app_id,
        &caller(&user),
        &query,
    )
    .await?;
    Ok(axum::Json(page).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_takes_the_key_from_query_or_body() {
        assert_eq!(delete_key(Some("a/b/c".into()), b"").unwrap(), "a/b/c");
        assert_eq!(delete_key(None, br#"{"key":"a/b/c"}"#).unwrap(), "a/b/c");
        assert!(delete_key(None, b"").is_err());
        assert!(delete_key(Some("a/b/c".into()), br#"{"key":"x"}"#).is_err());
        assert!(delete_key(None, br#"{"nokey":1}"#).is_err());
    }

    #[test]
    fn list_params_are_checked() {
        let pairs = |p: &[(&str, &str)]| {
            parse_list_params(p.iter().map(|(a, b)| ((*a).into(), (*b).into())).collect())
        };
        let ok = pairs(&[("limit", "5"), ("prefix", "shop/u1/"), ("cursor", "")]).unwrap();
        assert_eq!(
            (ok.limit, ok.prefix.as_deref(), ok.cursor),
            (5, Some("shop/u1/"), None)
        );
        assert_eq!(pairs(&[]).unwrap().limit, files::DEFAULT_LIMIT);
        for bad in [("limit", "0"), ("limit", "101"), ("x", "1")] {
            assert!(pairs(&[bad]).is_err(), "{bad:?}");
        }
    }
}
