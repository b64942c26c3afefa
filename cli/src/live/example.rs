//! `/_dev/example/`: the example page of `tests/browser/example`, served by `obctl dev` for a developer to open.
//!
//! The files are compiled in, so the page always matches the binary's helper
//! and needs no checkout at run time. Dev only: no deployed stage serves it.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// Where the page is served.
pub const EXAMPLE_PATH: &str = "/_dev/example/";

/// The page's files: name, content type, content.
const FILES: [(&str, &str, &str); 3] = [
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../../tests/browser/example/index.html"),
    ),
    (
        "example.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../tests/browser/example/example.js"),
    ),
    (
        "one-backend.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../tests/browser/example/one-backend.js"),
    ),
];

/// The page's routes.
pub fn router() -> Router {
    Router::new()
        .route(
            EXAMPLE_PATH.trim_end_matches('/'),
            get(|| async { Redirect::permanent(EXAMPLE_PATH) }),
        )
        .route(EXAMPLE_PATH, get(|| file(Path("index.html".to_owned()))))
        .route(&format!("{EXAMPLE_PATH}{{file}}"), get(file))
}

async fn file(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(file, _, _)| *file == name) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-store"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file of the example page").into_response(),
    }
}
