//! `/notify/{appId}`: notifications an app sends its users (e-mail, SMS, a push over their WebSockets), rendered, counted against the app's daily quota, stored and enqueued; `/notify/{appId}/{id}` is one's status.
//!
//! Nothing here calls SES or SNS: each recipient gets a notification record
//! (`queued`) and a job on the notify queue; the notify function sends it and
//! settles the record (`sent`, `failed`, `suppressed`).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ob_core::audit::{Actor, NewEntry};
use ob_core::notify::store::{self, Idempotency, Outcome};
use ob_core::notify::template::{self, Template};
use ob_core::notify::{Channel, Envelope, Job, Notification, Recipient, Status};
use ob_core::users::Role;
use ob_core::{Error, clock, secret};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{AppKey, Client, MaybeUser};
use crate::json::Json;
use crate::request_id;
use crate::state::AppState;

/// Most recipients of one request.
pub const MAX_RECIPIENTS: usize = 50;
/// Longest SMS text (SNS's limit for one message, split into parts by the carrier).
pub const MAX_SMS_CHARS: usize = 1600;
const IDEMPOTENCY_HEADER: &str = "idempotency-key";

crate::route_list::api_routes! { handlers: [send, status] }

/// What to send, to whom, on which channel.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotifyRequest {
    pub channel: Channel,
    /// 1 to 50 recipients: `{"userId"}` (email, realtime), `{"email"}` (email), `{"phone"}` (sms, E.164).
    #[schema(min_items = 1, max_items = 50)]
    pub to: Vec<Recipient>,
    /// A template of the app's config (`notifications.templates.<name>`)…
    pub template: Option<String>,
    /// …or the message itself; exactly one of the two.
    pub message: Option<Template>,
    /// Values of the `{{name}}` placeholders (HTML-escaped in an HTML body).
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Value>,
}

/// One queued notification per recipient.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Queued {
    pub id: String,
    pub to: Recipient,
    pub status: Status,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotifyResponse {
    pub notifications: Vec<Queued>,
}

/// Who may send for the app: a key with the `notify` scope alone (a server),
/// or with the access token of one of the app's admins. A signed-in user who
/// is not an admin may not.
fn sender(key: &AppKey, user: &MaybeUser) -> Result<Actor, ApiError> {
    match &user.0 {
        Some(user) if user.claims.role == Role::Admin => Ok(Actor::User(user.claims.sub.clone())),
        Some(_) => Err(ApiError::forbidden(
            "only the app's admins (or a server's key without a user token) send notifications",
        )),
        None => Ok(Actor::ApiKey(key.0.key_id.clone())),
    }
}

/// The same request always hashes the same, whatever the order of its keys.
fn fingerprint(body: &Value) -> String {
    fn canonical(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect::<BTreeMap<_, _>>()
                    .into_iter()
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
            other => other.clone(),
        }
    }
    secret::sha256_hex(&canonical(body).to_string())
}

/// The rendered content, checked against what the channel carries.
async fn content(
    state: &AppState,
    app_id: &str,
    request: &NotifyRequest,
) -> Result<template::Rendered, ApiError> {
    let chosen = match (&request.template, &request.message) {
        (Some(name), None) => {
            let templates = ob_core::config::get(state.store(), app_id)
                .await?
                .body
                .notifications
                .unwrap_or_default();
            templates.template(name).cloned().ok_or_else(|| {
                ApiError::Domain(Error::NotFound(format!(
                    "template {name:?} (config notifications.templates.{name})"
                )))
            })?
        }
        (None, Some(message)) => {
            message.validate("message")?;
            message.clone()
        }
        _ => {
            return Err(ApiError::invalid(
                "template",
                "send either template (a name from the app's config) or message, not both",
            ));
        }
    };
    let variables = template::variables_from_json(request.variables.as_ref())?;
    // What the message renders to, with these variables on this channel, is
    // no schema's to state: a rendering that cannot be sent is a 422.
    let rendered = chosen.render(&variables).map_err(|err| match err {
        Error::Invalid { field, message } => ApiError::unprocessable(&field, &message),
        other => other.into(),
    })?;
    let text = rendered.text.as_deref().unwrap_or(&rendered.subject);
    match request.channel {
        Channel::Email if rendered.subject.trim().is_empty() => Err(ApiError::unprocessable(
            "message.subject",
            "an e-mail needs a subject",
        )),
        Channel::Sms | Channel::Realtime if text.trim().is_empty() => Err(ApiError::unprocessable(
            "message.text",
            "an SMS or a push needs a text (or a subject)",
        )),
        Channel::Sms if text.chars().count() > MAX_SMS_CHARS => Err(ApiError::unprocessable(
            "message.text",
            &format!("an SMS is at most {MAX_SMS_CHARS} characters"),
        )),
        _ => Ok(rendered),
    }
}

fn recipients(request: &NotifyRequest) -> Result<Vec<Recipient>, ApiError> {
    if request.to.is_empty() || request.to.len() > MAX_RECIPIENTS {
        return Err(ApiError::invalid(
            "to",
            &format!("name 1 to {MAX_RECIPIENTS} recipients"),
        ));
    }
    let mut seen = Vec::with_capacity(request.to.len());
    for (i, recipient) in request.to.iter().enumerate() {
        let recipient = recipient
            .clone()
            .validated(request.channel, &format!("to[{i}]"))?;
        if seen.contains(&recipient) {
            return Err(ApiError::invalid(&format!("to[{i}]"), "is named twice"));
        }
        seen.push(recipient);
    }
    Ok(seen)
}

/// Send a notification to up to 50 recipients: one notification each, queued
/// now and sent by the notify function. E-mail and SMS count against the
/// app's daily quota. With `Idempotency-Key`, a repeat of the same request
/// within 24 hours answers the same and sends nothing again.
#[utoipa::path(post, path = "/notify/{appId}", tag = "notify",
    params(
        ("appId" = String, Path, description = "The app"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes retries of this request safe for 24 hours: 1 to 255 printable ASCII characters without spaces (a UUID is usual)"),
    ),
    request_body = NotifyRequest,
    security(("apiKey" = ["notify"]), ("apiKey" = ["notify"], "bearer" = [])),
    responses(
        (status = 202, description = "Queued; each notification's status is at /notify/{appId}/{id}", body = NotifyResponse),
        (status = 400, description = "Invalid recipient, channel, template, message or variable (field names it)", body = ErrorBody),
        (status = 401, description = "Missing, invalid or other-app API key or token", body = ErrorBody),
        (status = 403, description = "The key lacks the notify scope, the user is not an admin of the app, or SMS is off on this stage", body = ErrorBody),
        (status = 404, description = "The app has no template of this name", body = ErrorBody),
        (status = 422, description = "The message renders to nothing this channel can send: a placeholder without its variable, an e-mail without a subject, an SMS or push without text, an SMS over 1600 characters (field names it)", body = ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with another request, or its request is still running", body = ErrorBody),
        (status = 429, description = "The app's daily quota for the channel is used up (code quota_exceeded); see Retry-After", body = ErrorBody),
    ))]
async fn send(
    State(state): State<AppState>,
    key: AppKey,
    user: MaybeUser,
    client: Client,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    key.check_app(&app_id)?;
    let actor = sender(&key, &user)?;
    let request: NotifyRequest = serde_path_to_error::deserialize(body.clone()).map_err(|err| {
        let path = err.path().to_string();
        ApiError::invalid(
            if path == "." { "body" } else { &path },
            &err.into_inner().to_string(),
        )
    })?;
    if request.channel == Channel::Sms && !state.settings().sms_enabled {
        return Err(ApiError::forbidden(
            "SMS is off on this stage (its operator turns it on with notifications.sms)",
        ));
    }
    let to = recipients(&request)?;
    let rendered = content(&state, &app_id, &request).await?;
    let idempotency_key = headers
        .get(IDEMPOTENCY_HEADER)
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    if let Some(key) = &idempotency_key {
        store::validate_idempotency_key(key)?;
        match store::start_idempotent(state.store(), &app_id, key, &fingerprint(&body)).await? {
            Idempotency::Fresh => {}
            Idempotency::Replay(answer) => return Ok(replayed(answer)),
            Idempotency::InProgress => {
                return Err(Error::Conflict(
                    "a request with this Idempotency-Key is still running; retry in a moment"
                        .into(),
                )
                .into());
            }
            Idempotency::Mismatch => {
                return Err(Error::Conflict(
                    "this Idempotency-Key was used with a different request; use a new key".into(),
                )
                .into());
            }
        }
    }
    let result = queue(&state, &app_id, &request, to, &rendered, &actor).await;
    match (&result, &idempotency_key) {
        (Ok(answer), Some(key)) => {
            let json =
                serde_json::to_value(answer).map_err(|e| Error::internal("encode answer", e))?;
            store::finish_idempotent(state.store(), &app_id, key, &json).await?;
        }
        (Err(_), Some(key)) => {
            if let Err(err) = store::abandon_idempotent(state.store(), &app_id, key).await {
                tracing::error!(error = %err, "could not free an idempotency key");
            }
        }
        _ => {}
    }
    let answer = result?;
    let ids: Vec<&str> = answer.notifications.iter().map(|n| n.id.as_str()).collect();
    state
        .audit(NewEntry {
            app_id: app_id.clone(),
            actor,
            action: "notify.send".into(),
            target: format!("notification:{}", ids.join(",")),
            changed_fields: vec![request.channel.as_str().to_owned()],
            origin: client.0.clone(),
        })
        .await;
    Ok((StatusCode::ACCEPTED, axum::Json(answer)).into_response())
}

fn replayed(answer: Value) -> Response {
    let mut response = (StatusCode::ACCEPTED, axum::Json(answer)).into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// Takes the quota, stores the records and enqueues their jobs; on failure
/// gives the quota back and settles what was stored as failed.
async fn queue(
    state: &AppState,
    app_id: &str,
    request: &NotifyRequest,
    to: Vec<Recipient>,
    rendered: &template::Rendered,
    actor: &Actor,
) -> Result<NotifyResponse, ApiError> {
    let settings = state.settings();
    let count = u32::try_from(to.len()).unwrap_or(u32::MAX);
    let limit = match request.channel {
        Channel::Email => Some(settings.email_daily_quota),
        Channel::Sms => Some(settings.sms_daily_quota),
        // A push costs the stage nothing per message; the request limits cover it.
        Channel::Realtime => None,
    };
    if let Some(limit) = limit {
        store::reserve_quota(state.store(), app_id, request.channel, count, limit).await?;
    }
    let now = clock::now_rfc3339();
    let notifications: Vec<Notification> = to
        .into_iter()
        .map(|recipient| Notification {
            id: uuid::Uuid::now_v7().to_string(),
            app_id: app_id.to_owned(),
            channel: request.channel,
            to: recipient,
            status: Status::Queued,
            template: request.template.clone(),
            subject: rendered.subject.clone(),
            text: rendered.text.clone(),
            html: rendered.html.clone(),
            provider_message_id: None,
            error: None,
            requested_by: actor.as_string(),
            created_at: now.clone(),
            updated_at: now.clone(),
        })
        .collect();
    let request_id = Some(request_id::current()).filter(|id| !id.is_empty());
    let jobs: Vec<Envelope> = notifications
        .iter()
        .map(|n| {
            let job = Job::Notification {
                app_id: app_id.to_owned(),
                notification_id: n.id.clone(),
            };
            Envelope::new(job, request_id.clone())
        })
        .collect();
    let enqueued = async {
        store::create_all(state.store(), &notifications).await?;
        state.notify_queue()?.send_all(&jobs).await
    }
    .await;
    if let Err(err) = enqueued {
        if limit.is_some()
            && let Err(release) =
                store::release_quota(state.store(), app_id, request.channel, count).await
        {
            tracing::error!(error = %release, "could not give back quota");
        }
        let outcome = Outcome {
            status: Status::Failed,
            provider_message_id: None,
            error: Some("could not be queued; send it again"),
        };
        for n in &notifications {
            // Best effort: records that were stored say they will not be sent.
            let _ = store::settle(state.store(), app_id, &n.id, &outcome).await;
        }
        return Err(err.into());
    }
    Ok(NotifyResponse {
        notifications: notifications
            .into_iter()
            .map(|n| Queued {
                id: n.id,
                to: n.to,
                status: n.status,
            })
            .collect(),
    })
}

/// One notification: its channel, recipient, status and the provider's message id.
#[utoipa::path(get, path = "/notify/{appId}/{id}", tag = "notify",
    params(
        ("appId" = String, Path, description = "The app"),
        ("id" = String, Path, description = "The notification's id"),
    ),
    security(("apiKey" = ["notify"]), ("apiKey" = ["notify"], "bearer" = [])),
    responses(
        (status = 200, description = "The notification (status queued, sent, failed or suppressed)", body = Notification),
        (status = 401, description = "Missing, invalid or other-app API key or token", body = ErrorBody),
        (status = 403, description = "The key lacks the notify scope, the user is not an admin of the app, or SMS is off on this stage", body = ErrorBody),
        (status = 404, description = "The app has no template of this name", body = ErrorBody),
        (status = 422, description = "The message renders to nothing this channel can send: a placeholder without its variable, an e-mail without a subject, an SMS or push without text, an SMS over 1600 characters (field names it)", body = ErrorBody),
        (status = 404, description = "No such notification in the app", body = ErrorBody),
    ))]
async fn status(
    State(state): State<AppState>,
    key: AppKey,
    user: MaybeUser,
    Path((app_id, id)): Path<(String, String)>,
) -> Result<axum::Json<Notification>, ApiError> {
    key.check_app(&app_id)?;
    sender(&key, &user)?;
    let found = if uuid::Uuid::parse_str(&id).is_ok() {
        store::get(state.store(), &app_id, &id).await?
    } else {
        None
    };
    found
        .map(axum::Json)
        .ok_or_else(|| Error::NotFound(format!("notification {id}")).into())
}
