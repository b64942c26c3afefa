//! `/auth/password-reset*` and `/auth/verify-email/*`: account recovery and e-mail verification. The e-mails are only enqueued here; the notify function sends them.
//!
//! A request answers 202 with the same body whether or not the address has an
//! account: the request path only counts the request (per address and per
//! client) and enqueues it, and the notify function decides. Links carry a
//! one-time token (`ob_core::auth_tokens`), consumed here.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ob_core::audit::{Actor, NewEntry};
use ob_core::auth_tokens::{self, Purpose};
use ob_core::notify::{Envelope, Job};
use ob_core::throttle::{self, AccountEmail};
use ob_core::{clock, passwords, sessions, users};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{AppKey, Client, MaybeUser};
use crate::json::{self, Json};
use crate::request_id;
use crate::state::AppState;

crate::route_list::api_routes! {
    handlers: [request_password_reset, confirm_password_reset, request_verification, confirm_verification],
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordResetRequest {
    /// An e-mail address (compared case-insensitively).
    #[schema(
        max_length = 254,
        pattern = r"^\s*[^\s\u0085@]+@[^\s\u0085@.][^\s\u0085@]*\.[^\s\u0085@]*[^\s\u0085@.]\s*$"
    )]
    pub email: String,
    pub app_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordResetConfirm {
    /// The `token` of the link's query.
    #[schema(min_length = 1, max_length = 128)]
    pub token: String,
    /// The new password: 8 to 72 characters, as at registration.
    #[schema(min_length = 8, max_length = 72)]
    pub password: String,
}

/// Without a bearer token: the address to verify, as on a sign-in page.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerificationRequest {
    /// An e-mail address (compared case-insensitively).
    #[schema(
        max_length = 254,
        pattern = r"^\s*[^\s\u0085@]+@[^\s\u0085@.][^\s\u0085@]*\.[^\s\u0085@]*[^\s\u0085@.]\s*$"
    )]
    pub email: Option<String>,
    pub app_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerificationConfirm {
    /// The `token` of the link's query.
    #[schema(min_length = 1, max_length = 128)]
    pub token: String,
}

/// The answer to every e-mail request, whether or not the address has an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// Always `accepted`.
    pub status: &'static str,
    pub message: &'static str,
}

const ACCEPTED: Accepted = Accepted {
    status: "accepted",
    message: "If the address belongs to an account of this app, a link is on its way.",
};

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(ACCEPTED)).into_response()
}

async fn enqueue(state: &AppState, job: Job) -> Result<(), ApiError> {
    let request = Some(request_id::current()).filter(|id| !id.is_empty());
    state
        .notify_queue()?
        .send(&Envelope::new(job, request))
        .await?;
    Ok(())
}

fn audit_entry(
    app_id: &str,
    user_id: &str,
    action: &str,
    fields: &[&str],
    client: &Client,
) -> NewEntry {
    NewEntry {
        app_id: app_id.to_owned(),
        actor: Actor::User(user_id.to_owned()),
        action: action.to_owned(),
        target: format!("user:{user_id}"),
        changed_fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        origin: client.0.clone(),
    }
}

/// Ask for a password-reset link. The same 202 for every address: nothing
/// tells whether it has an account. A link works once, for the stage's
/// `notifications.passwordResetTtlSeconds` (an hour by default).
#[utoipa::path(post, path = "/auth/password-reset", tag = "auth",
    request_body = PasswordResetRequest,
    security(("apiKey" = ["auth"])),
    responses(
        (status = 202, description = "Accepted (whether or not the address has an account)", body = Accepted),
        (status = 400, description = "Invalid body or e-mail address", body = ErrorBody),
        (status = 401, description = "Missing, invalid or other-app API key", body = ErrorBody),
        (status = 429, description = "Too many requests for this address or from this client; see Retry-After", body = ErrorBody),
    ))]
async fn request_password_reset(
    State(state): State<AppState>,
    key: AppKey,
    client: Client,
    Json(body): Json<PasswordResetRequest>,
) -> Result<Response, ApiError> {
    key.check_app(&body.app_id)?;
    let email = users::normalize_email(&body.email)?;
    let app_id = key.app_id();
    throttle::reserve_account_email(
        state.store(),
        app_id,
        AccountEmail::PasswordReset,
        &email,
        client.0.source_ip.as_deref(),
        &state.settings().login_throttle,
        clock::now_epoch(),
    )
    .await?;
    let job = Job::PasswordReset {
        app_id: app_id.to_owned(),
        email,
    };
    enqueue(&state, job).await?;
    Ok(accepted())
}

/// Set a new password with the token of a reset link. Every session of the
/// user ends (their refresh tokens stop working); the token is used up.
#[utoipa::path(post, path = "/auth/password-reset/confirm", tag = "auth",
    request_body = PasswordResetConfirm,
    security(("apiKey" = ["auth"])),
    responses(
        (status = 204, description = "Password changed; every session ended"),
        (status = 400, description = "Invalid password", body = ErrorBody),
        (status = 403, description = "The link's token is invalid, expired or used: ask for a new link", body = ErrorBody),
        (status = 401, description = "Missing, invalid or other-app API key", body = ErrorBody),
    ))]
async fn confirm_password_reset(
    State(state): State<AppState>,
    key: AppKey,
    client: Client,
    Json(body): Json<PasswordResetConfirm>,
) -> Result<StatusCode, ApiError> {
    passwords::validate(&body.password)?;
    let app_id = key.app_id();
    let store = state.store();
    let owner = auth_tokens::consume(store, Purpose::PasswordReset, app_id, &body.token).await?;
    let hash = passwords::hash(&body.password, state.settings().bcrypt_cost).await?;
    users::set_password(store, app_id, &owner.user_id, &hash)
        .await
        .map_err(|err| match err {
            // The account was deleted after the link was sent.
            ob_core::Error::NotFound(_) => ApiError::Domain(auth_tokens::unusable()),
            other => other.into(),
        })?;
    let ended = sessions::revoke_all_for_user(store, app_id, &owner.user_id).await?;
    tracing::info!(app_id, sessions_ended = ended, "password reset");
    let event = ob_core::webhooks::events::auth(
        &format!("password_reset_{}", uuid::Uuid::now_v7()),
        app_id,
        ob_core::webhooks::EventType::PasswordReset,
        &serde_json::json!({"userId": owner.user_id, "sessionsEnded": ended}),
    );
    tokio::join!(
        state.audit(audit_entry(
            app_id,
            &owner.user_id,
            "auth.password_reset",
            &["credentials", "sessions"],
            &client,
        )),
        state.emit_webhook_event(event),
    );
    Ok(StatusCode::NO_CONTENT)
}

/// Ask for a verification link: for the signed-in user (bearer token, no
/// body), or for `{"email", "appId"}` (a sign-in page of an app that requires
/// verified addresses). Always 202; nothing is sent to a verified address.
#[utoipa::path(post, path = "/auth/verify-email/request", tag = "auth",
    request_body(content = Option<VerificationRequest>, description = "Only without a bearer token (none, or null, with one)"),
    security(("apiKey" = ["auth"], "bearer" = []), ("apiKey" = ["auth"])),
    responses(
        (status = 202, description = "Accepted", body = Accepted),
        (status = 400, description = "No bearer token and no e-mail, or an invalid body", body = ErrorBody),
        (status = 401, description = "Invalid API key or token", body = ErrorBody),
        (status = 429, description = "Too many requests for this address or from this client; see Retry-After", body = ErrorBody),
    ))]
async fn request_verification(
    State(state): State<AppState>,
    key: AppKey,
    client: Client,
    MaybeUser(user): MaybeUser,
    body: Bytes,
) -> Result<Response, ApiError> {
    let app_id = key.app_id().to_owned();
    // No body, or JSON null, is none; a body is checked whether or not it is
    // used (with a bearer token the signed-in user's address is).
    let request: VerificationRequest = match body.trim_ascii() {
        b"" | b"null" => VerificationRequest::default(),
        // serde reads a struct from an array too; the document says object.
        json if json.first() != Some(&b'{') => {
            return Err(ApiError::invalid("body", "must be a JSON object"));
        }
        json => json::parse(json)?,
    };
    let email = request
        .email
        .as_deref()
        .map(users::normalize_email)
        .transpose()?;
    key.check_app(request.app_id.as_deref().unwrap_or(&app_id))?;
    let (recipient, job) = match user {
        Some(user) => (
            format!("user:{}", user.claims.sub),
            Job::EmailVerification {
                app_id: app_id.clone(),
                user_id: Some(user.claims.sub),
                email: None,
            },
        ),
        None => {
            let Some(email) = email else {
                return Err(ApiError::invalid(
                    "email",
                    "is required without a bearer token (or send the signed-in user's token)",
                ));
            };
            (
                email.clone(),
                Job::EmailVerification {
                    app_id: app_id.clone(),
                    user_id: None,
                    email: Some(email),
                },
            )
        }
    };
    throttle::reserve_account_email(
        state.store(),
        &app_id,
        AccountEmail::Verification,
        &recipient,
        client.0.source_ip.as_deref(),
        &state.settings().login_throttle,
        clock::now_epoch(),
    )
    .await?;
    enqueue(&state, job).await?;
    Ok(accepted())
}

/// Verify the address with the token of a verification link. Access tokens
/// say so (`emailVerified`) from the next refresh or sign-in.
#[utoipa::path(post, path = "/auth/verify-email/confirm", tag = "auth",
    request_body = VerificationConfirm,
    security(("apiKey" = ["auth"])),
    responses(
        (status = 204, description = "The address is verified"),
        (status = 403, description = "The link's token is invalid, expired or used, or for an address the account no longer has: ask for a new link", body = ErrorBody),
        (status = 401, description = "Missing, invalid or other-app API key", body = ErrorBody),
    ))]
async fn confirm_verification(
    State(state): State<AppState>,
    key: AppKey,
    client: Client,
    Json(body): Json<VerificationConfirm>,
) -> Result<StatusCode, ApiError> {
    let app_id = key.app_id();
    let store = state.store();
    let owner =
        auth_tokens::consume(store, Purpose::EmailVerification, app_id, &body.token).await?;
    if !users::mark_email_verified(store, app_id, &owner.user_id, &owner.email).await? {
        return Err(ApiError::forbidden(
            "this link is for an address the account no longer has; ask for a new link",
        ));
    }
    state
        .audit(audit_entry(
            app_id,
            &owner.user_id,
            "auth.verify_email",
            &["emailVerified"],
            &client,
        ))
        .await;
    Ok(StatusCode::NO_CONTENT)
}
