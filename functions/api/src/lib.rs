//! One Backend's HTTP API: one axum router, served by the Lambdas, by `obctl dev` and in-process by the tests.
//!
//! Handlers translate HTTP to calls of `ob-core`; the domain and storage know
//! nothing of HTTP. Each function of `ob_core::functions` serves its part
//! (`function_router`); `router` serves everything.

// Tests may panic on unexpected values; production code may not (workspace lint).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod context;
pub mod error;
pub mod extract;
pub mod json;
pub mod limits;
pub mod metrics;
pub mod request_id;
mod route_list;
pub mod routes;
pub mod scope;
pub mod signing_key;
pub mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use ob_core::env::FunctionEnv;
use ob_core::files::FileStore;
use ob_core::functions::{self, FunctionDef};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

pub use error::ApiError;
pub use extract::ClientAddr;
pub use state::{AppState, Services, Settings};

#[derive(OpenApi)]
#[openapi(
    info(title = "One Backend", description = "Multi-tenant backend for many frontends; every app is isolated by its appId."),
    modifiers(&SecuritySchemes),
    components(schemas(error::ErrorBody)),
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Declares the HTTP functions once: each one's definition, route group (a module of `routes`) and file store.
/// Yields a constant per function, which its Lambda's `main` serves (so its binary links only its own handlers, and
/// only the files function the S3 client; looking routes up by function name would link every handler into every
/// function), and `function_routes`, the same groups documented, which no function's binary calls.
macro_rules! http_functions {
    ($($(#[$doc:meta])* $name:ident = $def:ident, $group:ident, $file_store:expr;)+) => {
        $(
            $(#[$doc])*
            pub const $name: HttpFunction = HttpFunction {
                def: &functions::$def,
                routes: routes::$group::router,
                file_store: $file_store,
            };
        )+
        /// Every HTTP function.
        pub const HTTP_FUNCTIONS: [HttpFunction; [$(stringify!($name)),+].len()] = [$($name),+];

        /// The documented routes of `function` (its served routes with their OpenAPI operations), or `None` when it
        /// serves no HTTP route. Tests hold these to the function's template routes (`FunctionDef::http_routes`).
        pub fn function_routes(function: &FunctionDef) -> Option<OpenApiRouter<AppState>> {
            $(
                if function.name == functions::$def.name {
                    return Some(routes::$group::documented());
                }
            )+
            None
        }
    };
}

/// An HTTP function: its definition, its routes and, for the files function, its bucket.
#[derive(Debug, Clone, Copy)]
pub struct HttpFunction {
    pub def: &'static FunctionDef,
    /// The routes it serves (without their documentation).
    pub routes: fn() -> Router<AppState>,
    /// Builds the function's file store from its environment (`FILES_BUCKET`).
    pub file_store: Option<fn(&aws_config::SdkConfig, &FunctionEnv) -> ob_core::Result<FileStore>>,
}

http_functions! {
    AUTH = AUTH, auth, None;
    DATA = DATA, data, None;
    FILES = FILES, files, Some(state::file_store_from_env);
    ADMIN = ADMIN, admin, None;
}

/// Every route, documented, with the document's info and security schemes.
pub fn all_routes() -> OpenApiRouter<AppState> {
    ob_core::functions::ALL
        .iter()
        .filter_map(function_routes)
        .fold(
            OpenApiRouter::with_openapi(ApiDoc::openapi()),
            OpenApiRouter::merge,
        )
}

/// The OpenAPI document of the whole HTTP API, as served: every route's own
/// declaration plus what the shared layers answer (`routes::openapi`).
pub fn openapi_document() -> serde_json::Value {
    let mut doc = serde_json::to_value(all_routes().into_openapi()).unwrap_or_default();
    routes::openapi::add_shared_responses(&mut doc);
    routes::openapi::tighten(&mut doc);
    routes::config_schema::config_rules(&mut doc);
    routes::notify_schema::notify_rules(&mut doc);
    routes::openapi::merge_closed_all_of(&mut doc);
    routes::config_schema::config_patch_schema(&mut doc);
    doc
}

/// The whole API (for `obctl dev --in-process` and the tests): every HTTP function's routes. A local server should use
/// `into_make_service_with_connect_info::<SocketAddr>()` so the peer address
/// is known for audit entries and per-client login throttling.
pub fn router(state: AppState) -> Router {
    let routes = HTTP_FUNCTIONS.iter().fold(Router::new(), |all, function| {
        all.merge((function.routes)())
    });
    finish(routes, state)
}

/// What `function`'s Lambda serves, or `None` when it serves no HTTP route.
pub fn function_router(function: &FunctionDef, state: AppState) -> Option<Router> {
    HTTP_FUNCTIONS
        .iter()
        .find(|http| http.def.name == function.name)
        .map(|http| http_function_router(http, state))
}

/// What an HTTP function's Lambda serves.
pub fn http_function_router(function: &HttpFunction, state: AppState) -> Router {
    finish((function.routes)(), state)
}

/// Adds the fallbacks and the middleware every host shares. Fallbacks first,
/// so the layers wrap them too; the last layer added runs first.
fn finish(routes: Router<AppState>, state: AppState) -> Router {
    let limit = state.settings().max_body_bytes;
    routes
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::Extension(json::BodyLimit(limit)))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            context::layer,
        ))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::layer,
        ))
        .layer(middleware::from_fn(request_id::layer))
        .with_state(state)
}
