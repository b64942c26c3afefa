//! What request paths put on the notify queue, and the one client that puts it there.
//!
//! A job carries ids, never message content or secrets: the password-reset
//! job carries the address someone typed (the worker decides whether it
//! belongs to an account, so the request path answers the same either way),
//! a notification job the id of the record `POST /notify` stored.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The version of the job bodies; a worker refuses (and dead-letters) others.
pub const JOB_VERSION: u32 = 1;

/// One unit of work of the notify function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Job {
    /// Someone asked for a password reset of `email` in `appId`.
    #[serde(rename_all = "camelCase")]
    PasswordReset { app_id: String, email: String },
    /// A verification link for a user, found by id (signed-in request) or by
    /// e-mail (a resend from a sign-in page, or right after registering).
    #[serde(rename_all = "camelCase")]
    EmailVerification {
        app_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<String>,
    },
    /// A notification record `POST /notify` (or `obctl notify test`) stored.
    #[serde(rename_all = "camelCase")]
    Notification {
        app_id: String,
        notification_id: String,
    },
}

/// A job as it travels: the version, the job, and the request that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub v: u32,
    #[serde(flatten)]
    pub job: Job,
    /// The request id of the request that enqueued it, for the logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Envelope {
    pub fn new(job: Job, request_id: Option<String>) -> Self {
        Self {
            v: JOB_VERSION,
            job,
            request_id,
        }
    }

    /// Reads a queue message body; `None` for anything that is not a job of
    /// this version (the caller decides what else it may be).
    pub fn parse(body: &str) -> Option<Self> {
        serde_json::from_str::<Self>(body)
            .ok()
            .filter(|e| e.v == JOB_VERSION)
    }
}

/// The notify queue, as the request paths send to it: one client per cold start.
#[derive(Debug, Clone)]
pub struct NotifyQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl NotifyQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn body(envelope: &Envelope) -> Result<String> {
        serde_json::to_string(envelope).map_err(|e| Error::internal("encode job", e))
    }

    /// Enqueues one job (one SendMessage).
    pub async fn send(&self, envelope: &Envelope) -> Result<()> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(Self::body(envelope)?)
            .send()
            .await
            .map_err(|e| Error::sdk("enqueue a notification job", e))?;
        Ok(())
    }

    /// Enqueues jobs ten at a time; an entry SQS refused fails the whole call
    /// (its records stay `queued`, and the caller reports the failure).
    pub async fn send_all(&self, envelopes: &[Envelope]) -> Result<()> {
        let messages = envelopes
            .iter()
            .map(|envelope| {
                Ok(crate::sqs::Outgoing {
                    body: Self::body(envelope)?,
                    delay_secs: 0,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        crate::sqs::send_all(
            &self.client,
            &self.url,
            &messages,
            "enqueue notification jobs",
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_in_their_documented_shape() {
        let envelope = Envelope::new(
            Job::PasswordReset {
                app_id: "shop".into(),
                email: "ann@example.com".into(),
            },
            Some("req-1".into()),
        );
        let body = serde_json::to_value(&envelope).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"v": 1, "kind": "passwordReset", "appId": "shop",
                               "email": "ann@example.com", "requestId": "req-1"})
        );
        assert_eq!(Envelope::parse(&body.to_string()), Some(envelope));
        let verify = r#"{"v":1,"kind":"emailVerification","appId":"a","userId":"u"}"#;
        assert!(matches!(
            Envelope::parse(verify).map(|e| e.job),
            Some(Job::EmailVerification {
                user_id: Some(_),
                email: None,
                ..
            })
        ));
        assert_eq!(
            Envelope::parse(r#"{"v":2,"kind":"passwordReset","appId":"a","email":"e"}"#),
            None
        );
        assert_eq!(Envelope::parse(r#"{"Type":"Notification"}"#), None);
    }
}
