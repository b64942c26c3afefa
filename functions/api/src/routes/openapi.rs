//! `GET /openapi.json`: the OpenAPI 3.1 document of the whole HTTP API, generated from the routes.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// The OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "This API's OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json() -> impl IntoResponse {
    // Every function serves the document of the whole API, so it is built from
    // all routes, not only the ones this function hosts; once per process.
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let body = DOCUMENT.get_or_init(|| crate::openapi_document().to_json().unwrap_or_default());
    ([(header::CONTENT_TYPE, "application/json")], body.clone())
}
