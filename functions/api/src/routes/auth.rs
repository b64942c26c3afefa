//! `/auth/*`: register, login, refresh, logout and the current user; password reset and e-mail verification are in `account.rs`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ob_core::audit::{self, Actor, NewEntry};
use ob_core::sessions::{self, IssuedRefresh, Refresh};
use ob_core::standing::{Lapse, Standing};
use ob_core::throttle::{self, LoginAttempt};
use ob_core::users::{self, User};
use ob_core::{Error, clock, passwords};
use ob_metrics::AuthEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{AppKey, AuthUser, Client};
use crate::json::Json;
use crate::request_id;
use crate::state::AppState;

use super::account;

crate::route_list::api_routes! {
    handlers: [register, login, refresh, logout, me],
    merge: [account],
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterRequest {
    /// An e-mail address (compared case-insensitively).
    #[schema(
        max_length = 254,
        pattern = r"^\s*[^\s\u0085@]+@[^\s\u0085@.][^\s\u0085@]*\.[^\s\u0085@]*[^\s\u0085@.]\s*$"
    )]
    pub email: String,
    /// 8 to 72 characters.
    #[schema(min_length = 8, max_length = 72)]
    pub password: String,
    pub app_id: String,
    #[schema(value_type = Option<Object>)]
    pub profile: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    /// An e-mail address (compared case-insensitively).
    #[schema(
        max_length = 254,
        pattern = r"^\s*[^\s\u0085@]+@[^\s\u0085@.][^\s\u0085@]*\.[^\s\u0085@]*[^\s\u0085@.]\s*$"
    )]
    pub email: String,
    /// 8 to 72 characters, as at registration.
    #[schema(min_length = 8, max_length = 72)]
    pub password: String,
    pub app_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// The user and a fresh token pair.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthResponse {
    pub user: User,
    pub access_token: String,
    /// Opaque and single-use: each refresh returns its successor.
    pub refresh_token: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: i64,
    pub token_type: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub user: User,
}

/// Registered, but the app requires a verified address to sign in: the
/// verification link is on its way, and no tokens are issued yet.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerificationRequired {
    pub user: User,
    /// Always true.
    pub email_verification_required: bool,
}

/// Refuses to sign in a user whose address is unverified when the app
/// requires verified addresses to sign in.
async fn check_sign_in_allowed(state: &AppState, user: &User) -> Result<(), ApiError> {
    if user.email_verified {
        return Ok(());
    }
    if state
        .app_facts(&user.app_id)
        .await?
        .require_verified
        .sign_in
    {
        return Err(ApiError::Domain(Error::EmailNotVerified));
    }
    Ok(())
}

/// Issues the access token for a user and wraps it with the refresh token.
async fn tokens(
    state: &AppState,
    user: User,
    refresh: IssuedRefresh,
) -> Result<AuthResponse, ApiError> {
    let ttl = state.settings().access_ttl_secs;
    let access_token = state.keys().await?.signer.issue_at(
        &user.user_id,
        &user.app_id,
        user.role,
        user.email_verified,
        refresh.issued_ms,
        ttl,
    )?;
    Ok(AuthResponse {
        user,
        access_token,
        refresh_token: refresh.token,
        expires_in: ttl,
        token_type: "Bearer",
    })
}

/// Publishes a sign-in event of the key's app.
fn count(state: &AppState, event: AuthEvent, app_id: &str) {
    state.metrics().auth(event, app_id, &request_id::current());
}

fn entry(
    app_id: &str,
    actor: Actor,
    action: &str,
    target: String,
    fields: &[&str],
    client: &Client,
) -> NewEntry {
    NewEntry {
        app_id: app_id.to_owned(),
        actor,
        action: action.to_owned(),
        target,
        changed_fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        origin: client.0.clone(),
    }
}

/// `auth.user.created` for the app's webhooks; one id per user, so a repeat is recognisable.
fn user_created(app_id: &str, user: &User) -> ob_core::webhooks::events::Event {
    ob_core::webhooks::events::auth(
        &format!("user_created_{}", user.user_id),
        app_id,
        ob_core::webhooks::EventType::UserCreated,
        &serde_json::to_value(user).unwrap_or_default(),
    )
}

/// Create an account in the key's app.
#[utoipa::path(post, path = "/auth/register", tag = "auth",
    request_body = RegisterRequest,
    security(("apiKey" = ["auth"])),
    responses(
        (status = 201, description = "Registered and signed in", body = AuthResponse),
        (status = 202, description = "Registered; the app requires a verified address to sign in, and the link is on its way", body = VerificationRequired),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "Missing, invalid or other-app API key", body = ErrorBody),
        (status = 409, description = "E-mail already registered in this app", body = ErrorBody),
        (status = 429, description = "Too many registrations from this address; see Retry-After", body = ErrorBody),
    ))]
async fn register(
    State(state): State<AppState>,
    key: AppKey,
    client: Client,
    Json(body): Json<RegisterRequest>,
) -> Result<Response, ApiError> {
    key.check_app(&body.app_id)?;
    let email = users::normalize_email(&body.email)?;
    passwords::validate(&body.password)?;
    let profile = body.profile.unwrap_or_else(|| serde_json::json!({}));
    users::validate_profile(&profile)?;
    let app_id = key.app_id();
    // Reserved before the (deliberately slow) hash, per client address.
    throttle::reserve_registration(
        state.store(),
        app_id,
        client.0.source_ip.as_deref(),
        &state.settings().login_throttle,
        clock::now_epoch(),
    )
    .await?;
    let hash = passwords::hash(&body.password, state.settings().bcrypt_cost).await?;
    let user = users::register(state.store(), app_id, &email, &hash, profile).await?;
    if state.app_facts(app_id).await?.require_verified.sign_in {
        let job = ob_core::notify::Job::EmailVerification {
            app_id: app_id.to_owned(),
            user_id: Some(user.user_id.clone()),
            email: None,
        };
        let request = Some(crate::request_id::current()).filter(|id| !id.is_empty());
        state
            .notify_queue()?
            .send(&ob_core::notify::Envelope::new(job, request))
            .await?;
        tokio::join!(
            state.audit(entry(
                app_id,
                Actor::User(user.user_id.clone()),
                "auth.register",
                format!("user:{}", user.user_id),
                &["email", "profile"],
                &client,
            )),
            state.emit_webhook_event(user_created(app_id, &user)),
        );
        let body = VerificationRequired {
            user,
            email_verification_required: true,
        };
        return Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response());
    }
    let refresh = sessions::start(
        state.store(),
        app_id,
        &user.user_id,
        state.settings().refresh_ttl_secs,
    )
    .await?;
    tokio::join!(
        state.audit(entry(
            app_id,
            Actor::User(user.user_id.clone()),
            "auth.register",
            format!("user:{}", user.user_id),
            &["email", "profile"],
            &client,
        )),
        state.emit_webhook_event(user_created(app_id, &user)),
    );
    count(&state, AuthEvent::Registration, app_id);
    Ok((
        StatusCode::CREATED,
        axum::Json(tokens(&state, user, refresh).await?),
    )
        .into_response())
}

/// Sign in with e-mail and password.
#[utoipa::path(post, path = "/auth/login", tag = "auth",
    request_body = LoginRequest,
    security(("apiKey" = ["auth"])),
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "Wrong e-mail or password, or invalid API key", body = ErrorBody),
        (status = 403, description = "The app requires a verified e-mail address to sign in (code email_not_verified)", body = ErrorBody),
        (status = 429, description = "Too many attempts for this account (from this address, or from all); see Retry-After", body = ErrorBody),
    ))]
async fn login(
    State(state): State<AppState>,
    key: AppKey,
    client: Client,
    Json(body): Json<LoginRequest>,
) -> Result<axum::Json<AuthResponse>, ApiError> {
    key.check_app(&body.app_id)?;
    let app_id = key.app_id();
    passwords::validate(&body.password)?;
    let email = users::normalize_email(&body.email)?;
    let attempt = LoginAttempt::new(
        app_id,
        &email,
        client.0.source_ip.as_deref(),
        &state.settings().login_throttle,
        clock::now_epoch(),
    );
    // The attempt is reserved (atomically, before bcrypt) while the user is
    // read (one item: the e-mail guard carries what a login needs).
    let (reserved, record) = tokio::join!(
        attempt.reserve(state.store()),
        users::find_by_email(state.store(), app_id, &email)
    );
    if let Err(err) = reserved {
        if matches!(err, Error::Throttled { .. }) {
            count(&state, AuthEvent::LockOut, app_id);
        }
        return Err(err.into());
    }
    let record = record?;
    // Unknown e-mails are verified against a dummy hash so both cases take as long.
    let hash = match &record {
        Some(record) => record.password_hash.clone(),
        None => state.dummy_hash().await?.to_owned(),
    };
    let matches = passwords::verify(&body.password, &hash).await?;
    let user = match record {
        Some(record) if matches && !record.user.disabled => record.user,
        other => {
            let (actor, target) = match &other {
                Some(record) => (
                    Actor::User(record.user.user_id.clone()),
                    format!("user:{}", record.user.user_id),
                ),
                None => (Actor::Anonymous, "user:unknown".to_owned()),
            };
            state
                .audit(entry(
                    app_id,
                    actor,
                    "auth.login.failure",
                    target,
                    &[],
                    &client,
                ))
                .await;
            count(&state, AuthEvent::LoginFailure, app_id);
            return Err(ApiError::unauthorized("invalid e-mail or password"));
        }
    };
    check_sign_in_allowed(&state, &user).await?;
    // One transaction, beside the counters: the key and app still usable
    // (checked here rather than by a fresh read of the key before the
    // login), the session, and its audit entry.
    let standing = Standing {
        app_id: app_id.to_owned(),
        key_id: key.0.key_id.clone(),
        user: None,
    };
    let retention_days = state.settings().audit_retention_days;
    let (released, refresh) = tokio::join!(
        attempt.succeeded(state.store()),
        sessions::start_with(
            state.store(),
            app_id,
            &user.user_id,
            state.settings().refresh_ttl_secs,
            |session| {
                let success = entry(
                    app_id,
                    Actor::User(user.user_id.clone()),
                    "auth.login.success",
                    format!("session:{}", session.family_id),
                    &[],
                    &client,
                );
                let mut items = standing.checks(state.store())?;
                items.push(audit::transact_item(
                    state.store(),
                    success,
                    retention_days,
                )?);
                Ok(items)
            },
            |codes| standing.lapse(codes).map(Lapse::error),
        )
    );
    if let Err(err) = released {
        // The login happened; a unit not given back only tightens the limit.
        tracing::warn!(error = %err, "could not release a login reservation");
    }
    let refresh = refresh?;
    count(&state, AuthEvent::Login, app_id);
    Ok(axum::Json(tokens(&state, user, refresh).await?))
}

/// Exchange a refresh token for a new pair; the presented token stops working.
/// Presenting it again within 30 s returns the same successor (two tabs
/// refreshing at once); later, it counts as reuse and revokes the whole session.
/// No refresh succeeds past the session's absolute lifetime.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    security(("apiKey" = ["auth"])),
    responses(
        (status = 200, description = "New token pair", body = AuthResponse),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "Invalid, expired, revoked or reused refresh token, or a session past its lifetime", body = ErrorBody),
        (status = 403, description = "The app requires a verified e-mail address to sign in (code email_not_verified)", body = ErrorBody),
        (status = 409, description = "Refreshed concurrently too often; retry", body = ErrorBody),
    ))]
async fn refresh(
    State(state): State<AppState>,
    key: AppKey,
    client: Client,
    Json(body): Json<RefreshRequest>,
) -> Result<axum::Json<AuthResponse>, ApiError> {
    let app_id = key.app_id();
    let keys = state.keys().await?;
    match sessions::refresh(
        state.store(),
        app_id,
        &body.refresh_token,
        state.refresh_policy(&keys),
    )
    .await?
    {
        Refresh::ReuseDetected(session) => {
            state
                .audit(entry(
                    app_id,
                    Actor::User(session.user_id.clone()),
                    "auth.refresh.reuse",
                    format!("session:{}", session.family_id),
                    &["revoked"],
                    &client,
                ))
                .await;
            Err(ApiError::unauthorized("invalid refresh token"))
        }
        Refresh::Rotated(issued) => {
            let user = users::get(state.store(), app_id, &issued.session.user_id)
                .await?
                .map(|r| r.user)
                .filter(|u| !u.disabled);
            let Some(user) = user else {
                sessions::revoke_family(state.store(), &issued.session.family_id).await?;
                return Err(ApiError::unauthorized("invalid refresh token"));
            };
            check_sign_in_allowed(&state, &user).await?;
            state
                .audit(entry(
                    app_id,
                    Actor::User(user.user_id.clone()),
                    "auth.refresh",
                    format!("session:{}", issued.session.family_id),
                    &[],
                    &client,
                ))
                .await;
            Ok(axum::Json(tokens(&state, user, issued).await?))
        }
    }
}

/// End the session a refresh token belongs to.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    request_body = RefreshRequest,
    security(("apiKey" = ["auth"])),
    responses(
        (status = 204, description = "Session revoked"),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "Unknown refresh token or invalid API key", body = ErrorBody),
    ))]
async fn logout(
    State(state): State<AppState>,
    key: AppKey,
    client: Client,
    Json(body): Json<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    let app_id = key.app_id();
    let session = sessions::revoke_by_token(state.store(), app_id, &body.refresh_token).await?;
    state
        .audit(entry(
            app_id,
            Actor::User(session.user_id.clone()),
            "auth.logout",
            format!("session:{}", session.family_id),
            &["revoked"],
            &client,
        ))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    security(("apiKey" = ["auth"], "bearer" = [])),
    responses(
        (status = 200, description = "The user", body = MeResponse),
        (status = 401, description = "Missing, invalid or other-app token or key", body = ErrorBody),
    ))]
async fn me(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<axum::Json<MeResponse>, ApiError> {
    let found = users::get(state.store(), &user.claims.app, &user.claims.sub).await?;
    match found {
        Some(record) if !record.user.disabled => Ok(axum::Json(MeResponse { user: record.user })),
        _ => Err(ApiError::Domain(Error::Unauthorized(
            "invalid or expired access token".into(),
        ))),
    }
}
