//! `POST /verify-key`: whether an API key is valid, and for which app and scopes.

use axum::extract::State;
use ob_core::api_keys;
use ob_core::clock;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::json::Json;
use crate::state::AppState;

crate::route_list::api_routes! { handlers: [verify_key] }

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyKeyRequest {
    pub api_key: String,
}

/// `valid: false` carries nothing else, whatever the reason.
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyKeyResponse {
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// RFC 3339, when the key expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// Checks an API key.
#[utoipa::path(post, path = "/verify-key", tag = "keys",
    request_body = VerifyKeyRequest,
    responses(
        (status = 200, description = "Whether the key is valid", body = VerifyKeyResponse),
        (status = 400, description = "Invalid body", body = ErrorBody),
    ))]
async fn verify_key(
    State(state): State<AppState>,
    Json(body): Json<VerifyKeyRequest>,
) -> Result<axum::Json<VerifyKeyResponse>, ApiError> {
    let key = match api_keys::verify(state.store(), &body.api_key).await {
        Ok(key) => key,
        Err(ob_core::Error::Unauthorized(_)) => {
            return Ok(axum::Json(VerifyKeyResponse::default()));
        }
        Err(err) => return Err(err.into()),
    };
    if !state.app_facts(&key.app_id).await?.active {
        return Ok(axum::Json(VerifyKeyResponse::default()));
    }
    Ok(axum::Json(VerifyKeyResponse {
        valid: true,
        expires_at: key.expires_at.map(clock::epoch_to_rfc3339),
        app_id: Some(key.app_id),
        key_id: Some(key.key_id),
        name: Some(key.name),
        scopes: Some(key.scopes),
    }))
}
