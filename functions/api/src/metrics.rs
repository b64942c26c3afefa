//! Per-request metrics: route, status class, latency and the key's app, as one EMF line per request.
//!
//! The layer runs outside the panic catcher, so a panic counts as the 500 it
//! becomes. The app comes from the verified API key only (the context layer
//! marks the response with it), so a client cannot add series by naming apps
//! that do not exist; requests without a valid key count toward the stage and
//! route totals only.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use ob_metrics::{RequestSample, Route};

use crate::request_id;
use crate::state::AppState;

/// The app of the request's verified API key, set on the response by `context::layer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyApp(pub String);

/// Middleware: times the request and publishes its sample when the response is ready.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = match request.extensions().get::<MatchedPath>() {
        Some(path) => Route::http(request.method().as_str(), path.as_str()),
        None => Route::unmatched(),
    };
    let response = next.run(request).await;
    let app = response.extensions().get::<KeyApp>().map(|a| a.0.as_str());
    state.metrics().request(&RequestSample {
        route: &route,
        app,
        status: response.status().as_u16(),
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        request_id: &request_id::current(),
    });
    response
}
