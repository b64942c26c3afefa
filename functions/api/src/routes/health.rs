//! `GET /health`: liveness, version and stage; no authentication, no storage access.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

crate::route_list::api_routes! { handlers: [health] }

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
    pub stage: String,
}

/// Whether the API is up.
#[utoipa::path(get, path = "/health", tag = "meta",
    responses((status = 200, description = "Up", body = Health)))]
async fn health(State(state): State<AppState>) -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        stage: state.settings().stage.clone(),
    })
}
