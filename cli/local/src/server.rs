//! The local gateway on one port: the HTTP API, the WebSocket API at its stage path with the management API beside
//! it, and `/_dev/*`, the local server's own endpoints (never routed to a function, never deployed).

use std::net::SocketAddr;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::http_api::HttpApi;
use crate::runtime::Runtime;
use crate::websocket::WebSocketApi;

/// Where `obctl dev` serves its own endpoints.
pub const DEV_PREFIX: &str = "/_dev";

/// Everything one port serves.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub runtime: Runtime,
    pub http: Option<HttpApi>,
    pub websocket: Option<WebSocketApi>,
}

#[derive(Debug, Clone)]
struct Ctx {
    gateway: Gateway,
    port: u16,
}

/// The app to serve on `port` (use `into_make_service_with_connect_info::<SocketAddr>()`).
/// `dev` holds further `/_dev/*` endpoints, e.g. from other parts of `obctl dev`.
pub fn router(gateway: Gateway, port: u16, dev: Router) -> Router {
    let runtime = gateway.runtime.clone();
    let dev = Router::new()
        .route(
            "/functions",
            get(move || {
                let runtime = runtime.clone();
                async move { axum::Json(runtime.status()) }
            }),
        )
        .merge(dev);
    let mut app = Router::new();
    if let Some(websocket) = &gateway.websocket {
        let stage = format!("/{}", websocket.stage());
        app = app.route(&stage, get(upgrade)).route(
            &format!("{stage}/@connections/{{id}}"),
            get(get_connection)
                .post(post_to_connection)
                .delete(delete_connection),
        );
    }
    app.fallback(http)
        .with_state(Ctx { gateway, port })
        .nest(DEV_PREFIX, dev)
}

async fn http(
    State(ctx): State<Ctx>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    match &ctx.gateway.http {
        Some(api) => api.handle(peer, ctx.port, request).await,
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"message": "Not Found"})),
        )
            .into_response(),
    }
}

async fn upgrade(
    State(ctx): State<Ctx>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Response {
    match &ctx.gateway.websocket {
        Some(api) => api.upgrade(peer, headers, query, upgrade).await,
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Runs `answer` on the WebSocket API, or answers 404 when the stack has none.
fn with_websocket(ctx: &Ctx, answer: impl FnOnce(&WebSocketApi) -> Response) -> Response {
    match &ctx.gateway.websocket {
        Some(api) => answer(api),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn post_to_connection(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    with_websocket(&ctx, |api| api.post_to_connection(&id, &body))
}

async fn get_connection(State(ctx): State<Ctx>, Path(id): Path<String>) -> Response {
    with_websocket(&ctx, |api| api.get_connection(&id))
}

async fn delete_connection(State(ctx): State<Ctx>, Path(id): Path<String>) -> Response {
    with_websocket(&ctx, |api| api.delete_connection(&id))
}
