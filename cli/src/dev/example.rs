//! `/_dev/example/`: the example page of `tests/browser/example`, served by `obctl dev` (both modes) for a developer to open.
//!
//! The files are compiled in, so the page always matches the binary's helper
//! and needs no checkout at run time. Dev only: no deployed stage serves it.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use ob_local::server::DEV_PREFIX;

/// Where the page is, under `obctl dev`'s own prefix.
const PAGE: &str = "/example/";

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

/// The page's path as a browser opens it: `/_dev/example/`.
pub fn path() -> String {
    format!("{DEV_PREFIX}{PAGE}")
}

/// The page's routes, relative to [`DEV_PREFIX`] (where both modes nest `obctl dev`'s own endpoints).
pub fn routes() -> Router {
    Router::new()
        .route(
            PAGE.trim_end_matches('/'),
            get(|| async { Redirect::permanent(&path()) }),
        )
        .route(PAGE, get(|| file(Path("index.html".to_owned()))))
        .route(&format!("{PAGE}{{file}}"), get(file))
}

/// What `obctl dev` prints about the page; `api_allows_own_origin` when the API
/// served here accepts calls from the page whatever the stage's origins are.
/// (The files bucket takes uploads from any origin.)
pub fn banner(
    address: std::net::SocketAddr,
    stage: &crate::stage::Stage,
    api_allows_own_origin: bool,
) {
    println!(
        "  example:   http://{address}{}?app=<app id>&key=<key>",
        path()
    );
    let own_origin = format!("http://{address}");
    if api_allows_own_origin || stage.config.cors.allowed_origins.contains(&own_origin) {
        return;
    }
    println!(
        "  note: {own_origin} is not in cors.allowedOrigins of stacks/{}.yaml, so the API refuses \
         calls from pages served here; add it there and restart, or allow it for one app: \
         obctl config set --stage {} --app <app id> 'allowedOrigins=[\"{own_origin}\"]'",
        stage.name, stage.name
    );
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
