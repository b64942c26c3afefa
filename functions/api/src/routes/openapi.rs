//! `GET /openapi.json`: the OpenAPI 3.1 document of the whole HTTP API, generated from the routes and committed.
//!
//! Served from `functions/api/openapi.json`, which a test holds to the routes: generating it at run time would link
//! every function's handlers into the admin function.

use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The document, as `openapi_document()` generates it (pretty JSON).
pub const DOCUMENT: &str = include_str!("../../openapi.json");

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// The OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "This API's OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `OB_UPDATE_OPENAPI=1 cargo test --workspace --locked committed_openapi` rewrites the file.
    #[test]
    fn the_committed_openapi_document_is_the_generated_one() {
        let generated = crate::openapi_document().to_pretty_json().unwrap() + "\n";
        if std::env::var_os("OB_UPDATE_OPENAPI").is_some() {
            std::fs::write(
                concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"),
                &generated,
            )
            .unwrap();
            return;
        }
        assert!(
            DOCUMENT == generated,
            "functions/api/openapi.json is not the document the routes generate: run \
             `OB_UPDATE_OPENAPI=1 cargo test --workspace --locked committed_openapi` and commit the file"
        );
    }
}
