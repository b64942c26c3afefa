//! The notify Lambda's handler: each message of an SQS batch is a job (an account e-mail, a notification) or an SES event, and the answer lists the messages to retry.
//!
//! Lambda's SQS mapping (and `obctl dev`'s local one) deletes every message
//! not named in `batchItemFailures`; a named one comes back after the
//! queue's visibility timeout and, after `maxReceiveCount` receives, moves to
//! the dead-letter queue. So a message is reported only when another attempt
//! could succeed; what can never succeed is recorded (a `failed`
//! notification) or logged, and the message is done.

// Tests may panic on unexpected values; production code may not (workspace lint).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod account;
pub mod deliver;
pub mod event;
pub mod feedback;
pub mod send;

use futures::future::join_all;
use ob_core::Store;
use ob_core::env::{self, FunctionEnv};
use ob_core::notify::Job;
use ob_core::realtime::Push;
use serde_json::{Value, json};

use crate::event::{Message, Work};
use crate::send::{Failure, Mailer, Texter};

/// The stage's settings the worker runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub stage: String,
    pub audit_retention_days: u32,
    /// Pages links open when the app's config names none.
    pub password_reset_url: String,
    pub email_verification_url: String,
    pub password_reset_ttl_secs: i64,
    pub email_verification_ttl_secs: i64,
}

impl Settings {
    /// From the function's checked environment (see `ob_core::functions::NOTIFY`).
    pub fn from_function_env(env: &FunctionEnv) -> Result<Self, ob_core::env::EnvError> {
        Ok(Self {
            stage: env.required(&env::STAGE)?.to_owned(),
            audit_retention_days: env.integer(&env::AUDIT_RETENTION_DAYS).unwrap_or(30),
            password_reset_url: env.required(&env::PASSWORD_RESET_URL)?.to_owned(),
            email_verification_url: env.required(&env::EMAIL_VERIFICATION_URL)?.to_owned(),
            password_reset_ttl_secs: env
                .integer(&env::PASSWORD_RESET_TTL_SECONDS)
                .unwrap_or(3600),
            email_verification_ttl_secs: env
                .integer(&env::EMAIL_VERIFICATION_TTL_SECONDS)
                .unwrap_or(86_400),
        })
    }
}

/// Everything a batch needs, built once per cold start.
#[derive(Debug)]
pub struct Worker<P> {
    pub store: Store,
    pub mailer: Mailer,
    /// `None` when the stage's `notifications.sms` is off.
    pub texter: Option<Texter>,
    /// Pushes to WebSocket connections (API Gateway's management API deployed).
    pub push: P,
    pub settings: Settings,
}

/// Serves one invocation: `{"batchItemFailures": [{"itemIdentifier": messageId}]}`.
/// A payload that is not an SQS event fails the invocation's every message
/// (there are none to name), so it is logged and answered with no failures.
pub async fn handle<P: Push>(worker: &Worker<P>, payload: &Value) -> Value {
    let Some(messages) = event::messages(payload) else {
        tracing::warn!("not an SQS event; nothing to do");
        return json!({ "batchItemFailures": [] });
    };
    let outcomes = join_all(messages.iter().map(|m| process(worker, m))).await;
    let failures: Vec<Value> = messages
        .iter()
        .zip(outcomes)
        .filter_map(|(message, outcome)| match outcome {
            Ok(()) => None,
            Err(why) => {
                tracing::warn!(
                    message_id = %message.message_id,
                    receive_count = message.receive_count,
                    error = %why,
                    "will retry"
                );
                Some(json!({ "itemIdentifier": message.message_id }))
            }
        })
        .collect();
    json!({ "batchItemFailures": failures })
}

/// One message; `Err` when it should come back.
async fn process<P: Push>(worker: &Worker<P>, message: &Message) -> Result<(), String> {
    match event::classify(&message.body) {
        Work::Job(envelope) => {
            let request_id = envelope.request_id.as_deref().unwrap_or_default();
            let result = match &envelope.job {
                Job::PasswordReset { app_id, email } => {
                    account::password_reset(worker, app_id, email).await
                }
                Job::EmailVerification {
                    app_id,
                    user_id,
                    email,
                } => {
                    account::email_verification(
                        worker,
                        app_id,
                        user_id.as_deref(),
                        email.as_deref(),
                    )
                    .await
                }
                Job::Notification {
                    app_id,
                    notification_id,
                } => deliver::notification(worker, app_id, notification_id).await,
            };
            match result {
                Ok(()) => Ok(()),
                Err(Failure::Permanent(why)) => {
                    tracing::warn!(request_id, error = %why, "job failed for good");
                    Ok(())
                }
                Err(Failure::Retry(why)) => Err(why),
            }
        }
        Work::SesEvent(ses_event) => feedback::apply(worker, &ses_event)
            .await
            .map_err(|err| err.to_string()),
        Work::Unknown => Err(format!(
            "unrecognised message body ({} bytes): neither a job of version {} nor an SES event",
            message.body.len(),
            ob_core::notify::job::JOB_VERSION
        )),
    }
}
