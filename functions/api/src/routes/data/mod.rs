//! `/api/{appId}/{resource}[/{id}]`: generic records of any resource, with record
//! permissions, indexed equality filters, cursor pagination and `If-Match`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ob_core::data::{self, Caller, Change, Record};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{AuthUser, Client};
use crate::json::{BodyLimit, Json};
use crate::state::AppState;

mod params;

pub use params::{RecordBody, RecordPage};
use params::{expected_version, parse_list_params};

/// Request bodies of the data routes may carry a whole record (plus JSON slack).
pub const DATA_BODY_LIMIT: usize = data::MAX_RECORD_BYTES + 32 * 1024;

crate::route_list::api_routes! {
    handlers: [list_records, create_record, get_record, put_record, patch_record, delete_record],
    layers: with_record_body_limit,
}

/// Bodies of these routes may carry a whole record.
fn with_record_body_limit(routes: axum::Router<AppState>) -> axum::Router<AppState> {
    routes
        .layer(DefaultBodyLimit::max(DATA_BODY_LIMIT))
        .layer(axum::Extension(BodyLimit(DATA_BODY_LIMIT)))
}

fn caller(user: &AuthUser) -> Caller {
    Caller {
        user_id: user.claims.sub.clone(),
        role: user.claims.role,
    }
}

fn with_etag(status: StatusCode, record: &Record) -> Response {
    let etag = format!("\"{}\"", record.version);
    let mut response = (status, axum::Json(record)).into_response();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// Checks the path; the extractor already matched the app to the key and token.
fn check_path(
    user: &AuthUser,
    app_id: &str,
    resource: &str,
    id: Option<&str>,
) -> Result<(), ApiError> {
    user.key.check_app(app_id)?;
    data::validate_resource(resource)?;
    if let Some(id) = id {
        data::validate_id(id)?;
    }
    Ok(())
}

/// Refuses writes of a user whose address is unverified (as the access token
/// says) when the app's config requires verified addresses to write data.
async fn check_may_write(state: &AppState, user: &AuthUser) -> Result<(), ApiError> {
    if !user.claims.ev
        && state
            .app_facts(&user.claims.app)
            .await?
            .require_verified
            .data_write
    {
        return Err(ApiError::Domain(ob_core::Error::EmailNotVerified));
    }
    Ok(())
}

/// The resource's indexed fields, from the app's config as this instance
/// holds it (read with the app, at most `APP_CACHE_TTL` old).
async fn indexed_fields(
    state: &AppState,
    app_id: &str,
    resource: &str,
) -> Result<Vec<String>, ApiError> {
    Ok(state
        .app_facts(app_id)
        .await?
        .indexed_fields
        .get(resource)
        .cloned()
        .unwrap_or_default())
}

/// List the records the caller may read, oldest first unless `order=desc`. A
/// request examines at most 1 MiB (or 1,000) stored records; when records the
/// caller may not read use that up, the page is short and `nextCursor` goes on.
/// `?where.<field>=<value>` filters on equality of a field the app's config
/// declares in `indexedFields` (one filter per field).
#[utoipa::path(get, path = "/api/{appId}/{resource}", tag = "data",
    params(
        ("appId" = String, Path, description = "The app"),
        ("resource" = String, Path, pattern = r"^[A-Za-z0-9_-]{1,64}$", description = "Any resource name, [A-Za-z0-9_-]{1,64}"),
        ("limit" = Option<usize>, Query, minimum = 1, maximum = 100, description = "Page size, 1 to 100 (default 20)"),
        ("cursor" = Option<String>, Query, pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", description = "nextCursor of the previous page: the page starts after this record id"),
        ("order" = Option<String>, Query, pattern = "^(asc|desc)$", description = "asc (default) or desc, by creation time"),
        ("fields" = Option<String>, Query, pattern = r"^[^,]*[^,\s][^,]*(,[^,]*[^,\s][^,]*)*$", description = "Comma-separated data fields to return"),
        ("owner" = Option<String>, Query, pattern = "^me$", description = "me: only the caller's own records, read from the owner index"),
    ),
    security(("apiKey" = ["data:read"], "bearer" = [])),
    responses(
        (status = 200, description = "A page of readable records", body = RecordPage),
        (status = 400, description = "Invalid parameter, or a filter on an undeclared field", body = ErrorBody),
        (status = 401, description = "Missing or invalid key or token, or another app's", body = ErrorBody),
    ))]
async fn list_records(
    State(state): State<AppState>,
    user: AuthUser,
    Path((app_id, resource)): Path<(String, String)>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    check_path(&user, &app_id, &resource, None)?;
    let Query(params) =
        params.map_err(|_| ApiError::invalid("query", "is not a valid query string"))?;
    let params = parse_list_params(params)?;
    let indexed = indexed_fields(&state, &app_id, &resource).await?;
    let page = data::list(
        state.store(),
        &app_id,
        &resource,
        &caller(&user),
        &indexed,
        &params.query,
    )
    .await?;
    let mut items = page.items;
    if let Some(fields) = &params.fields {
        for record in &mut items {
            record.data.retain(|k, _| fields.contains(k));
        }
    }
    Ok(axum::Json(RecordPage {
        items,
        next_cursor: page.next_cursor,
    })
    .into_response())
}

/// Create a record owned by the caller.
#[utoipa::path(post, path = "/api/{appId}/{resource}", tag = "data",
    params(
        ("appId" = String, Path, description = "The app"),
        ("resource" = String, Path, pattern = r"^[A-Za-z0-9_-]{1,64}$", description = "Any resource name, [A-Za-z0-9_-]{1,64}"),
    ),
    request_body = RecordBody,
    security(("apiKey" = ["data:write"], "bearer" = [])),
    responses(
        (status = 201, description = "The record; Location names it, ETag carries its version", body = Record),
        (status = 400, description = "Invalid resource name, data or permissions", body = ErrorBody),
        (status = 401, description = "Missing or invalid key or token, or another app's", body = ErrorBody),
        (status = 403, description = "The app requires a verified e-mail to write (code email_not_verified)", body = ErrorBody),
        (status = 413, description = "The record exceeds the size limit", body = ErrorBody),
    ))]
async fn create_record(
    State(state): State<AppState>,
    user: AuthUser,
    client: Client,
    Path((app_id, resource)): Path<(String, String)>,
    Json(body): Json<RecordBody>,
) -> Result<Response, ApiError> {
    check_path(&user, &app_id, &resource, None)?;
    check_may_write(&state, &user).await?;
    let data = data::validate_data(body.data)?;
    let indexed = indexed_fields(&state, &app_id, &resource).await?;
    let registered = state.resource_registered(&app_id, &resource);
    let record = data::create(
        state.store(),
        &state.writer(&user, &client),
        &app_id,
        &resource,
        &caller(&user),
        data,
        body.permissions,
        &indexed,
        registered,
    )
    .await?;
    state.note_resource(&app_id, &resource);
    let mut response = with_etag(StatusCode::CREATED, &record);
    let location = format!("/api/{app_id}/{resource}/{}", record.id);
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// Read one record.
#[utoipa::path(get, path = "/api/{appId}/{resource}/{id}", tag = "data",
    params(
        ("appId" = String, Path, description = "The app"),
        ("resource" = String, Path, pattern = r"^[A-Za-z0-9_-]{1,64}$", description = "The resource"),
        ("id" = String, Path, pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", description = "The record id (a UUIDv7 the server returned)"),
    ),
    security(("apiKey" = ["data:read"], "bearer" = [])),
    responses(
        (status = 200, description = "The record; ETag carries its version", body = Record),
        (status = 400, description = "Malformed resource name or id", body = ErrorBody),
        (status = 401, description = "Missing or invalid key or token, or another app's", body = ErrorBody),
        (status = 404, description = "No such record, or not readable by the caller", body = ErrorBody),
    ))]
async fn get_record(
    State(state): State<AppState>,
    user: AuthUser,
    Path((app_id, resource, id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    check_path(&user, &app_id, &resource, Some(&id))?;
    let record = data::get(state.store(), &app_id, &resource, &id, &caller(&user)).await?;
    Ok(with_etag(StatusCode::OK, &record))
}

async fn change(
    state: AppState,
    user: AuthUser,
    client: Client,
    (app_id, resource, id): (String, String, String),
    headers: &HeaderMap,
    body: RecordBody,
    replace: bool,
) -> Result<Response, ApiError> {
    check_path(&user, &app_id, &resource, Some(&id))?;
    check_may_write(&state, &user).await?;
    let expected = expected_version(headers)?;
    let data = data::validate_data(body.data)?;
    let permissions = body.permissions;
    let change = if replace {
        Change::Replace { data, permissions }
    } else {
        Change::Patch { data, permissions }
    };
    let indexed = indexed_fields(&state, &app_id, &resource).await?;
    let (new, _old) = data::update(
        state.store(),
        &state.writer(&user, &client),
        &app_id,
        &resource,
        &id,
        &caller(&user),
        change,
        expected,
        &indexed,
    )
    .await?;
    Ok(with_etag(StatusCode::OK, &new))
}

/// Replace a record's data (and permissions, when given); `If-Match` guards against lost updates.
#[utoipa::path(put, path = "/api/{appId}/{resource}/{id}", tag = "data",
    params(
        ("appId" = String, Path, description = "The app"),
        ("resource" = String, Path, pattern = r"^[A-Za-z0-9_-]{1,64}$", description = "The resource"),
        ("id" = String, Path, pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", description = "The record id (a UUIDv7 the server returned)"),
        ("If-Match" = Option<String>, Header, pattern = r#"^(\*|(W/)?"?[0-9]{1,19}"?)$"#, description = "Expected current version, as in ETag (\"3\", W/\"3\", 3 or *)"),
    ),
    request_body = RecordBody,
    security(("apiKey" = ["data:write"], "bearer" = [])),
    responses(
        (status = 200, description = "The new record; ETag carries its version", body = Record),
        (status = 400, description = "Invalid id, data or permissions", body = ErrorBody),
        (status = 403, description = "Readable but not writable by the caller, or the app requires a verified e-mail to write (code email_not_verified)", body = ErrorBody),
        (status = 404, description = "No such record, or not readable by the caller", body = ErrorBody),
        (status = 412, description = "If-Match names a stale version", body = ErrorBody),
        (status = 413, description = "The record exceeds the size limit", body = ErrorBody),
    ))]
async fn put_record(
    State(state): State<AppState>,
    user: AuthUser,
    client: Client,
    Path(path): Path<(String, String, String)>,
    headers: HeaderMap,
    Json(body): Json<RecordBody>,
) -> Result<Response, ApiError> {
    change(state, user, client, path, &headers, body, true).await
}

/// Merge top-level data fields into a record (permissions replaced when given).
#[utoipa::path(patch, path = "/api/{appId}/{resource}/{id}", tag = "data",
    params(
        ("appId" = String, Path, description = "The app"),
        ("resource" = String, Path, pattern = r"^[A-Za-z0-9_-]{1,64}$", description = "The resource"),
        ("id" = String, Path, pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", description = "The record id (a UUIDv7 the server returned)"),
        ("If-Match" = Option<String>, Header, pattern = r#"^(\*|(W/)?"?[0-9]{1,19}"?)$"#, description = "Expected current version, as in ETag (\"3\", W/\"3\", 3 or *)"),
    ),
    request_body = RecordBody,
    security(("apiKey" = ["data:write"], "bearer" = [])),
    responses(
        (status = 200, description = "The new record; ETag carries its version", body = Record),
        (status = 400, description = "Invalid id, data or permissions", body = ErrorBody),
        (status = 403, description = "Readable but not writable by the caller, or the app requires a verified e-mail to write (code email_not_verified)", body = ErrorBody),
        (status = 404, description = "No such record, or not readable by the caller", body = ErrorBody),
        (status = 412, description = "If-Match names a stale version", body = ErrorBody),
        (status = 413, description = "The record exceeds the size limit", body = ErrorBody),
    ))]
async fn patch_record(
    State(state): State<AppState>,
    user: AuthUser,
    client: Client,
    Path(path): Path<(String, String, String)>,
    headers: HeaderMap,
    Json(body): Json<RecordBody>,
) -> Result<Response, ApiError> {
    change(state, user, client, path, &headers, body, false).await
}

/// Delete a record and its index entries.
#[utoipa::path(delete, path = "/api/{appId}/{resource}/{id}", tag = "data",
    params(
        ("appId" = String, Path, description = "The app"),
        ("resource" = String, Path, pattern = r"^[A-Za-z0-9_-]{1,64}$", description = "The resource"),
        ("id" = String, Path, pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", description = "The record id (a UUIDv7 the server returned)"),
        ("If-Match" = Option<String>, Header, pattern = r#"^(\*|(W/)?"?[0-9]{1,19}"?)$"#, description = "Expected current version, as in ETag (\"3\", W/\"3\", 3 or *)"),
    ),
    security(("apiKey" = ["data:write"], "bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid resource name, id or If-Match", body = ErrorBody),
        (status = 403, description = "Readable but not writable by the caller, or the app requires a verified e-mail to write (code email_not_verified)", body = ErrorBody),
        (status = 404, description = "No such record, or not readable by the caller", body = ErrorBody),
        (status = 412, description = "If-Match names a stale version", body = ErrorBody),
    ))]
async fn delete_record(
    State(state): State<AppState>,
    user: AuthUser,
    client: Client,
    Path((app_id, resource, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_path(&user, &app_id, &resource, Some(&id))?;
    check_may_write(&state, &user).await?;
    let expected = expected_version(&headers)?;
    data::delete(
        state.store(),
        &state.writer(&user, &client),
        &app_id,
        &resource,
        &id,
        &caller(&user),
        expected,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
