//! Request extractors: the calling app's API key, the signed-in user, and the client's address.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams};
use axum::http::header;
use axum::http::request::Parts;
use ob_core::api_keys::ApiKey;
use ob_core::audit::Origin;
use ob_core::tokens::Claims;
use ob_core::users::Role;

use crate::context::KeyCheck;
use crate::error::ApiError;
use crate::request_id;
use crate::state::AppState;

/// The client's address, set by the host (the Lambda binaries take it from the
/// API Gateway request context). Without it, the socket peer is used if known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub String);

/// Who is calling, for audit entries and throttling. Never fails.
#[derive(Debug, Clone)]
pub struct Client(pub Origin);

impl Client {
    pub fn from_parts(parts: &Parts) -> Self {
        let source_ip = parts
            .extensions
            .get::<ClientAddr>()
            .map(|a| a.0.clone())
            .or_else(|| {
                parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip().to_string())
            });
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let request_id = Some(request_id::current()).filter(|id| !id.is_empty());
        Self(Origin {
            source_ip,
            user_agent,
            request_id,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts))
    }
}

/// The `appId` path parameter of the matched route, if it has one.
pub(crate) async fn path_app_id<S: Send + Sync>(parts: &mut Parts, state: &S) -> Option<String> {
    let params = RawPathParams::from_request_parts(parts, state).await.ok()?;
    params
        .iter()
        .find(|(name, _)| *name == "appId")
        .map(|(_, value)| value.to_owned())
}

/// A valid, active API key of an active app, presented in `X-API-Key`. On
/// routes with an `{appId}` the key must belong to that app. Every failure is
/// the same 401, so a caller learns nothing about other apps' keys.
#[derive(Debug, Clone)]
pub struct AppKey(pub ApiKey);

impl AppKey {
    pub fn app_id(&self) -> &str {
        &self.0.app_id
    }

    /// A body's `appId` must name the key's app.
    pub fn check_app(&self, app_id: &str) -> Result<(), ApiError> {
        if app_id == self.0.app_id {
            Ok(())
        } else {
            Err(ApiError::unauthorized(
                "API key does not belong to this app",
            ))
        }
    }
}

impl FromRequestParts<AppState> for AppKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The context middleware verified the key once (CORS needs its app too).
        let key = match parts.extensions.get::<KeyCheck>() {
            Some(KeyCheck(Ok(key))) => key.clone(),
            Some(KeyCheck(Err(ob_core::Error::Unauthorized(_)))) => {
                return Err(ApiError::unauthorized("invalid API key"));
            }
            Some(KeyCheck(Err(other))) => return Err(ApiError::Domain(other.clone())),
            None => return Err(ApiError::unauthorized("missing API key (X-API-Key header)")),
        };
        let key = AppKey(key);
        if let Some(app_id) = path_app_id(parts, state).await {
            key.check_app(&app_id)?;
        }
        Ok(key)
    }
}

/// A user signed in to the calling app: a valid `Authorization: Bearer` access
/// token whose app is the API key's (and the path's) app.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub claims: Claims,
    pub key: AppKey,
}

impl AuthUser {
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.claims.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("requires the admin role"))
        }
    }

    /// For admin writes: the token's admin role, and the user's as stored now
    /// (a demoted or disabled admin is refused at once, not when the token expires).
    pub async fn require_current_admin(&self, state: &AppState) -> Result<(), ApiError> {
        self.require_admin()?;
        let role = ob_core::users::current_role(
            state.store(),
            self.key.app_id(),
            &self.claims.sub,
            self.claims.issued_ms(),
        )
        .await?;
        if role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("requires the admin role"))
        }
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = AppKey::from_request_parts(parts, state).await?;
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| ApiError::unauthorized("missing bearer token (Authorization header)"))?;
        let claims = state.keys().await?.signer.verify(token)?;
        if claims.app != key.app_id() {
            return Err(ApiError::unauthorized(
                "access token is not valid for this app",
            ));
        }
        Ok(Self { claims, key })
    }
}

/// The signed-in user when the request carries `Authorization`, else `None`.
/// A token that is present but invalid is refused (401) rather than ignored,
/// so a client whose token expired learns it instead of silently getting less.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(Self(None));
        }
        AuthUser::from_request_parts(parts, state)
            .await
            .map(|user| Self(Some(user)))
    }
}
