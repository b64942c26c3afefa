//! What travels on the webhook queue (events to fan out, delivery attempts) and the one client that puts it there.
//!
//! Functions and `obctl` that emit an event only send it here (one
//! `SendMessage`, never a call to a receiver); the webhooks function fans it
//! out to the app's subscriptions and makes the attempts. A retry is a new
//! message delayed by the backoff, in hops of at most 900 s (`backoff.rs`).

use serde::{Deserialize, Serialize};

use super::events::Event;
use super::worker::Job;
use crate::error::{Error, Result};

/// The version of the message bodies; the worker dead-letters others.
pub const WORK_VERSION: u32 = 1;

/// One message of the webhook queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Work {
    /// An event to log and queue one delivery per matching subscription.
    Event(Event),
    /// An attempt (or a hop towards one) of a logged delivery.
    Attempt(Job),
}

/// A message as it travels: the version beside the work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Envelope {
    v: u32,
    #[serde(flatten)]
    work: Work,
}

impl Work {
    /// The message body.
    pub fn to_body(&self) -> Result<String> {
        serde_json::to_string(&Envelope {
            v: WORK_VERSION,
            work: self.clone(),
        })
        .map_err(|e| Error::internal("encode webhook work", e))
    }

    /// Reads a message body; `None` for anything else (or another version).
    pub fn parse(body: &str) -> Option<Self> {
        serde_json::from_str::<Envelope>(body)
            .ok()
            .filter(|e| e.v == WORK_VERSION)
            .map(|e| e.work)
    }
}

/// The webhook queue: one client per cold start (or per `obctl` command).
#[derive(Debug, Clone)]
pub struct WebhookQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl WebhookQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends one piece of work, invisible for `delay_secs` (at most 900).
    pub async fn send(&self, work: &Work, delay_secs: u32) -> Result<()> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(work.to_body()?)
            .delay_seconds(clamp_delay(delay_secs))
            .send()
            .await
            .map_err(|e| Error::sdk("queue webhook work", e))?;
        Ok(())
    }

    /// Sends work ten at a time, in order, each with its delay; an entry SQS
    /// refused fails the call (the caller retries the whole; receivers
    /// deduplicate on `webhook-id`).
    pub async fn send_all(&self, work: &[(Work, u32)]) -> Result<()> {
        let messages = work
            .iter()
            .map(|(work, delay)| {
                Ok(crate::sqs::Outgoing {
                    body: work.to_body()?,
                    delay_secs: clamp_delay(*delay),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        crate::sqs::send_all(&self.client, &self.url, &messages, "queue webhook work").await
    }
}

fn clamp_delay(delay_secs: u32) -> i32 {
    i32::try_from(delay_secs.min(super::backoff::MAX_QUEUE_DELAY_SECS)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::EventType;

    #[test]
    fn work_round_trips_in_its_documented_shape() {
        let attempt = Work::Attempt(Job {
            app_id: "shop".into(),
            delivery_id: "d1".into(),
            attempt: 2,
            due: 1_700_000_005,
        });
        let body: serde_json::Value = serde_json::from_str(&attempt.to_body().unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"v": 1, "kind": "attempt", "appId": "shop",
                               "deliveryId": "d1", "attempt": 2, "due": 1_700_000_005})
        );
        assert_eq!(Work::parse(&body.to_string()), Some(attempt));
        let event = Work::Event(Event {
            id: "evt_a1".into(),
            app_id: "shop".into(),
            event_type: EventType::UserCreated,
            resource: None,
            body: "{}".into(),
            order: None,
        });
        assert_eq!(Work::parse(&event.to_body().unwrap()), Some(event));
        assert_eq!(
            Work::parse(
                r#"{"v":2,"kind":"attempt","appId":"a","deliveryId":"d","attempt":1,"due":0}"#
            ),
            None
        );
        assert_eq!(Work::parse("not json"), None);
    }
}
