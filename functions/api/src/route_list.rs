//! `api_routes!`: a route group's handlers written once, served as a plain axum router and documented apart.
//!
//! utoipa-axum's `routes!` builds each operation's OpenAPI item and schemas at run time, alongside the axum route:
//! every function would link all that schema code and run it at each cold start, then throw the document away
//! (the served document is committed, `routes::openapi`). Here the served router takes only each handler's path
//! and methods from its `#[utoipa::path]` (`utoipa::Path::path()` and `methods()`, a few constants), and the
//! operations are built by `documented()`, which only the document builder and the tests call. Both come from the
//! one list, so the routes served cannot drift from the routes documented.

use axum::Router;
use axum::handler::Handler;
use axum::routing::MethodRouter;
use utoipa_axum::PathItemExt;

use crate::state::AppState;

/// Adds `handler` at the path and methods its `#[utoipa::path]` declares (`P` is its `__path_<handler>` type).
pub(crate) fn route<P, H, T>(router: Router<AppState>, handler: &H) -> Router<AppState>
where
    P: utoipa::Path,
    H: Handler<T, AppState>,
    T: 'static,
{
    let method_router = P::methods()
        .iter()
        .fold(MethodRouter::new(), |methods, method| {
            methods.on(method.to_method_filter(), handler.clone())
        });
    router.route(&P::path(), method_router)
}

/// Declares a route group in its module: `handlers` (each a `#[utoipa::path]` handler of the module), the groups
/// it `merge`s (modules in scope, declared the same way) and `layers`, a `fn(Router<AppState>) -> Router<AppState>` wrapping
/// the group's served routes. Defines `router()`, what the functions serve, and `documented()`, the same routes with
/// their OpenAPI operations (layers change nothing documented).
macro_rules! api_routes {
    (
        $(handlers: [$($handler:ident),* $(,)?] $(,)?)?
        $(merge: [$($group:ident),* $(,)?] $(,)?)?
        $(layers: $layers:path $(,)?)?
    ) => {
        /// This group's routes as the functions serve them: paths and methods of the handlers, no documentation.
        pub fn router() -> ::axum::Router<$crate::state::AppState> {
            let router = ::axum::Router::new();
            $($(
                let router = ::utoipa_axum::paste! {
                    $crate::route_list::route::<[<__path_ $handler>], _, _>(router, &$handler)
                };
            )*)?
            $($(
                let router = router.merge($group::router());
            )*)?
            $(
                let router = $layers(router);
            )?
            router
        }

        /// The same routes with their OpenAPI operations and schemas, for the document alone.
        pub fn documented() -> ::utoipa_axum::router::OpenApiRouter<$crate::state::AppState> {
            let routes = ::utoipa_axum::router::OpenApiRouter::new();
            $($(
                let routes = routes.routes(::utoipa_axum::routes!($handler));
            )*)?
            $($(
                let routes = routes.merge($group::documented());
            )*)?
            routes
        }
    };
}

pub(crate) use api_routes;
