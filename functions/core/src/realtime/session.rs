//! The realtime protocol: authenticating `$connect`, and answering `subscribe`, `unsubscribe`, `sendMessage`, `ping`.
//!
//! Messages are JSON objects with an `action`; an optional `id` is echoed in
//! the reply so a client can match replies to requests. Replies are
//! `{"type": "subscribed" | "unsubscribed" | "sent" | "pong", ...}` or
//! `{"type": "error", "error": {"code", "message", "requestId"}}`.

use ob_metrics::{Metrics, RealtimeActivity};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::apps::{self, AppState};
use crate::clock;
use crate::data::{self, Caller};
use crate::error::{Error, Result};
use crate::scopes::Scope;
use crate::signing::Keyring;
use crate::standing::Standing;
use crate::store::Store;
use crate::{api_keys, realtime::fanout};

use super::connections::{self, CONNECTION_TTL_SECS, Connection};
use super::{Channel, Push};

/// Largest `data` of a `sendMessage`, in bytes of JSON (API Gateway frames are 32 KB).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// The realtime service: storage, token verification, a way to push, and
/// where its metrics go (connections, deliveries, gone connections, lag).
#[derive(Debug, Clone)]
pub struct Realtime<P> {
    pub store: Store,
    /// Verifies access tokens (the key is read on first use in a Lambda).
    pub signer: Keyring,
    pub push: P,
    pub metrics: Metrics,
    /// Browser origins allowed for every app (the stage's `cors.allowedOrigins`);
    /// an app's own origins are read at `$connect`.
    pub stage_origins: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    action: Option<String>,
    id: Option<Value>,
    channel: Option<String>,
    data: Option<Value>,
    token: Option<String>,
}

/// The stable code of an error, as in the HTTP API's error bodies.
pub fn error_code(err: &Error) -> &'static str {
    match err {
        Error::NotFound(_) => "not_found",
        Error::Conflict(_) => "conflict",
        Error::PreconditionFailed { .. } => "precondition_failed",
        Error::Invalid { .. } => "invalid_request",
        Error::Unauthorized(_) => "unauthorized",
        Error::Forbidden(_) => "forbidden",
        Error::TooLarge(_) => "payload_too_large",
        Error::Throttled { .. } => "too_many_requests",
        Error::QuotaExceeded { .. } => "quota_exceeded",
        Error::EmailNotVerified => "email_not_verified",
        Error::Internal(_) => "internal",
    }
}

/// The error reply; internal details go to the log only.
pub fn error_reply(err: &Error, request_id: &str, id: Option<&Value>) -> Value {
    let message = match err {
        Error::Internal(details) => {
            tracing::error!(request_id, error = %details, "realtime internal error");
            "internal error".to_owned()
        }
        other => other.to_string(),
    };
    let mut reply = json!({
        "type": "error",
        "error": { "code": error_code(err), "message": message, "requestId": request_id },
    });
    if let Some(id) = id {
        reply["id"] = id.clone();
    }
    reply
}

impl<P: Push> Realtime<P> {
    /// Authenticates a new connection (API key of an active app, and an access
    /// token of that app whose user is enabled and was issued after the user's
    /// `tokensValidAfter`) and records it. Every failure is `Unauthorized`,
    /// except a key without the `realtime` scope and a browser `origin` that is
    /// neither the stage's nor the app's (`Forbidden`).
    pub async fn connect(
        &self,
        connection_id: &str,
        api_key: Option<&str>,
        token: Option<&str>,
        origin: Option<&str>,
    ) -> Result<Connection> {
        let key =
            api_key.ok_or_else(|| Error::Unauthorized("missing apiKey query parameter".into()))?;
        let key = api_keys::verify(&self.store, key).await?;
        let app = apps::get(&self.store, &key.app_id)
            .await?
            .filter(|app| app.state == AppState::Active)
            .ok_or_else(|| Error::Unauthorized("invalid API key".into()))?;
        let token =
            token.ok_or_else(|| Error::Unauthorized("missing token query parameter".into()))?;
        let claims = self.signer.get().await?.signer.verify(token)?;
        if claims.app != key.app_id {
            return Err(Error::Unauthorized(
                "access token is not valid for this app".into(),
            ));
        }
        if !key.has_scope(Scope::Realtime) {
            return Err(Error::Forbidden(format!(
                "API key lacks the '{}' scope",
                Scope::Realtime
            )));
        }
        if let Some(origin) = origin {
            self.check_origin(&app, origin).await?;
        }
        let standing = Standing {
            app_id: key.app_id.clone(),
            key_id: key.key_id.clone(),
            user: Some((claims.sub.clone(), claims.issued_ms())),
        };
        let connection = Connection {
            connection_id: connection_id.to_owned(),
            app_id: key.app_id,
            user_id: claims.sub,
            key_id: key.key_id,
            endpoint: self.push.endpoint().map(str::to_owned),
            role: claims.role,
            expires_at: clock::now_epoch() + CONNECTION_TTL_SECS,
            token_expires_at: claims.exp,
        };
        connections::open(&self.store, &connection, Some(&standing)).await?;
        let opened = RealtimeActivity {
            connections: 1,
            ..RealtimeActivity::default()
        };
        self.metrics.realtime(&connection.app_id, &opened);
        Ok(connection)
    }

    /// A browser's `Origin` must be the stage's or the app's (registered, or
    /// its config's `allowedOrigins`), as on the HTTP API; the config is read
    /// only when the stage's and the registered origins do not match.
    async fn check_origin(&self, app: &apps::App, origin: &str) -> Result<()> {
        if self
            .stage_origins
            .iter()
            .chain(&app.origins)
            .any(|o| o == origin)
        {
            return Ok(());
        }
        let config = crate::config::get_system(&self.store, &app.app_id).await?;
        if config.body.allowed_origins.iter().any(|o| o == origin) {
            return Ok(());
        }
        Err(Error::Forbidden(format!(
            "origin {origin} is not allowed for this app"
        )))
    }

    /// Forgets a connection and its subscriptions.
    pub async fn disconnect(&self, connection_id: &str) -> Result<()> {
        connections::close(&self.store, connection_id).await
    }

    /// Answers one client message; the reply is always a JSON object.
    pub async fn message(&self, connection_id: &str, text: &str, request_id: &str) -> Value {
        let envelope: Envelope = match serde_json::from_str(text) {
            Ok(e) => e,
            Err(_) => {
                let err = Error::invalid("message", "messages are JSON objects with an \"action\"");
                return error_reply(&err, request_id, None);
            }
        };
        match self.act(connection_id, &envelope).await {
            Ok(mut reply) => {
                if let Some(id) = &envelope.id {
                    reply["id"] = id.clone();
                }
                reply
            }
            Err(err) => error_reply(&err, request_id, envelope.id.as_ref()),
        }
    }

    async fn act(&self, connection_id: &str, envelope: &Envelope) -> Result<Value> {
        let action = envelope.action.as_deref().unwrap_or_default();
        if action == "ping" {
            return Ok(json!({"type": "pong"}));
        }
        if !matches!(action, "subscribe" | "unsubscribe" | "sendMessage" | "auth") {
            return Err(Error::invalid(
                "action",
                "actions are subscribe, unsubscribe, sendMessage, auth and ping",
            ));
        }
        let connection = connections::get(&self.store, connection_id)
            .await?
            .ok_or_else(|| Error::Unauthorized("connection is closed; reconnect".into()))?;
        if action == "auth" {
            return self
                .reauthenticate(connection, envelope.token.as_deref())
                .await;
        }
        if connection.token_expires_at <= clock::now_epoch() {
            return Err(Error::Unauthorized(
                "access token expired; send {\"action\": \"auth\", \"token\": <a fresh access token>}".into(),
            ));
        }
        let name = envelope
            .channel
            .as_deref()
            .ok_or_else(|| Error::invalid("channel", "is required"))?;
        let channel = Channel::parse(name)?;
        match action {
            "subscribe" => {
                if let Channel::Record { resource, id } = &channel {
                    // Only a record the user may read now; the events re-check.
                    let caller = Caller {
                        user_id: connection.user_id.clone(),
                        role: connection.role,
                    };
                    data::get(&self.store, &connection.app_id, resource, id, &caller).await?;
                }
                connections::subscribe(&self.store, &connection, &channel).await?;
                Ok(json!({"type": "subscribed", "channel": channel.to_string()}))
            }
            "unsubscribe" => {
                connections::unsubscribe(&self.store, &connection, &channel).await?;
                Ok(json!({"type": "unsubscribed", "channel": channel.to_string()}))
            }
            _ => {
                self.send_to_room(&connection, &channel, envelope.data.as_ref())
                    .await
            }
        }
    }

    /// Takes a fresh access token of the same user and app: the connection keeps
    /// its subscriptions, with the token's role and expiry from now on.
    async fn reauthenticate(
        &self,
        mut connection: Connection,
        token: Option<&str>,
    ) -> Result<Value> {
        let token = token.ok_or_else(|| Error::invalid("token", "is required"))?;
        let claims = self.signer.get().await?.signer.verify(token)?;
        if claims.app != connection.app_id || claims.sub != connection.user_id {
            return Err(Error::Unauthorized(
                "the token must be of the same user and app as the connection; reconnect to switch users".into(),
            ));
        }
        if connection.key_id.is_empty() {
            // Recorded before connections kept their key: nothing to check the key against.
            return Err(Error::Unauthorized(
                "this connection predates key checks; reconnect".into(),
            ));
        }
        let standing = Standing {
            app_id: connection.app_id.clone(),
            key_id: connection.key_id.clone(),
            user: Some((claims.sub.clone(), claims.issued_ms())),
        };
        connection.role = claims.role;
        connection.token_expires_at = claims.exp;
        connections::reauthenticate(&self.store, &connection, &standing).await?;
        Ok(json!({"type": "authenticated", "expiresAt": clock::epoch_to_rfc3339(claims.exp)}))
    }

    /// Sends `data` to the other members of a room the sender has joined.
    async fn send_to_room(
        &self,
        connection: &Connection,
        channel: &Channel,
        data: Option<&Value>,
    ) -> Result<Value> {
        if !matches!(channel, Channel::Room(_)) {
            return Err(Error::invalid(
                "channel",
                "messages can only be sent to room:<name> channels; resource channels carry data changes",
            ));
        }
        let name = channel.to_string();
        let data = data.cloned().unwrap_or(Value::Null);
        let size = data.to_string().len();
        if size > MAX_MESSAGE_BYTES {
            return Err(Error::TooLarge(format!(
                "message data is {size} bytes; the limit is {MAX_MESSAGE_BYTES}"
            )));
        }
        let (members, ()) = futures::try_join!(
            connections::members(&self.store, &connection.app_id, &name),
            super::sends::count_send(&self.store, connection)
        )?;
        if !members
            .iter()
            .any(|m| m.connection_id == connection.connection_id)
        {
            return Err(Error::Forbidden(format!(
                "subscribe to {name} before sending to it"
            )));
        }
        let message = json!({
            "type": "message",
            "channel": name,
            "from": connection.user_id,
            "data": data,
            "sentAt": clock::now_rfc3339(),
        })
        .to_string();
        let others: Vec<_> = members
            .into_iter()
            .filter(|m| m.connection_id != connection.connection_id)
            .collect();
        let sends = others.iter().map(|m| {
            fanout::deliver(
                &self.store,
                &self.push,
                &m.connection_id,
                std::slice::from_ref(&message),
            )
        });
        let outcomes = futures::future::join_all(sends).await;
        let delivered: usize = outcomes.iter().map(|(n, _)| n).sum();
        let activity = RealtimeActivity {
            deliveries: delivered as u64,
            gone: outcomes.iter().filter(|(_, gone)| *gone).count() as u64,
            ..RealtimeActivity::default()
        };
        self.metrics.realtime(&connection.app_id, &activity);
        Ok(json!({"type": "sent", "channel": name, "delivered": delivered}))
    }

    /// Fans a batch of data-table changes out to subscribers.
    /// Publishes each app's deliveries, gone connections and lags.
    pub async fn fan_out(&self, changes: &[fanout::StreamChange]) -> fanout::FanOutReport {
        let report = fanout::fan_out(&self.store, &self.push, changes).await;
        for (app, activity) in &report.by_app {
            self.metrics.realtime(app, activity);
        }
        report
    }
}
