//! One job of the delivery queue: wait out long delays in hops, attempt, log, schedule the retry or give up, disable a subscription failing for days.
//!
//! What carries the job (an SQS message with `DelaySeconds`, see
//! `backoff.rs`) is the caller's business: [`process`] returns the job to queue
//! next and its delay (a retry, or the first attempt of the delivery its end
//! released from its record's lane, see `lanes.rs`), and does everything else.

use serde::{Deserialize, Serialize};

use super::backoff::{self, MAX_QUEUE_DELAY_SECS};
use super::claim::{self, Claim};
use super::deliveries::{self, Delivery, DeliveryState};
use super::lanes;
use super::send::{Attempt, Message, Sender};
use super::{DISABLE_AFTER_SECS, Subscription, SubscriptionState, store};
use crate::clock;
use crate::error::{Error, Result};
use crate::store::Store;

/// The `message` of the webhooks function's log line after each attempt (fields
/// `subscription`, `event_type`, `attempt`, `status`, `duration_ms`, `outcome`),
/// which `obctl dev` prints as one console line.
pub const ATTEMPT_LOG_MESSAGE: &str = "webhook attempt";

/// A queued attempt of a logged delivery (the queue message's body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub app_id: String,
    pub delivery_id: String,
    /// 1 for the first attempt (and for a redelivery's first).
    pub attempt: u32,
    /// Epoch seconds before which the attempt must not run.
    pub due: i64,
}

impl Job {
    /// The first attempt of a delivery, due now.
    pub fn first(app_id: &str, delivery_id: &str, now: i64) -> Self {
        Self {
            app_id: app_id.to_owned(),
            delivery_id: delivery_id.to_owned(),
            attempt: 1,
            due: now,
        }
    }
}

/// What to do after a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Nothing more: delivered, given up, or nothing left to deliver to.
    Done,
    /// Queue `job` with this delay (at most SQS's 900 s): a hop or retry of
    /// this delivery, or the first attempt of the next one of its lane.
    Queue { job: Job, delay_secs: u32 },
}

/// What a job did.
#[derive(Debug, Clone)]
pub struct Processed {
    pub next: Next,
    /// The attempt made, if one was due.
    pub attempt: Option<Attempt>,
    /// The delivery attempted (as read before the attempt), for the caller's log line.
    pub delivery: Option<Delivery>,
    /// The subscription this job disabled (failing for [`DISABLE_AFTER_SECS`]):
    /// the caller tells the app's contact.
    pub disabled: Option<Subscription>,
}

impl Processed {
    fn done() -> Self {
        Self {
            next: Next::Done,
            attempt: None,
            delivery: None,
            disabled: None,
        }
    }
}

/// Runs one job at `now`.
pub async fn process(store: &Store, sender: &Sender, job: Job, now: i64) -> Result<Processed> {
    // A retry due later than one queue delay reaches travels in hops.
    if let Some(delay_secs) = backoff::hop_delay(job.due, now) {
        return Ok(Processed {
            next: Next::Queue { job, delay_secs },
            ..Processed::done()
        });
    }
    let delivery = match claim::claim(store, &job.app_id, &job.delivery_id, job.attempt, now)
        .await?
    {
        Claim::Claimed(delivery) => delivery,
        Claim::InProgress => {
            return Err(Error::Conflict(format!(
                "attempt {} of webhook delivery {} is being made by another worker; try again later",
                job.attempt, job.delivery_id
            )));
        }
        // A repeated job of a delivery that ended: its first run may have
        // stopped before moving the lane on, so move it (a no-op if it did).
        Claim::Stale(Some(ended)) if ended.state.is_final() => {
            return Ok(Processed {
                next: lane_next(store, &ended, now).await?,
                ..Processed::done()
            });
        }
        // A repeated job whose attempt was made and logged as failed: its first
        // run may have stopped before queueing the retry, so queue it (again;
        // the retry's own claim drops a duplicate).
        Claim::Stale(Some(made))
            if made.state == DeliveryState::Retrying
                && made.claimed.map(|(n, _)| n) == Some(job.attempt) =>
        {
            let due = made.next_retry_at.unwrap_or(now);
            let retry = Job {
                attempt: job.attempt + 1,
                due,
                ..job
            };
            let delay_secs = backoff::hop_delay(due, now).unwrap_or(0);
            return Ok(Processed {
                next: Next::Queue {
                    job: retry,
                    delay_secs,
                },
                ..Processed::done()
            });
        }
        // Superseded, held, expired from the log or the app deleted.
        Claim::Stale(_) => return Ok(Processed::done()),
    };
    let (subscription, secrets) =
        match store::get(store, &job.app_id, &delivery.subscription_id).await {
            Ok(found) if found.0.state == SubscriptionState::Active => found,
            Ok(_) | Err(Error::NotFound(_)) => {
                deliveries::set_state(store, &job.app_id, &job.delivery_id, DeliveryState::Failed)
                    .await?;
                return Ok(Processed {
                    next: lane_next(store, &delivery, now).await?,
                    ..Processed::done()
                });
            }
            Err(e) => return Err(e),
        };
    let message = Message {
        id: &delivery.event_id,
        body: delivery.body.as_bytes(),
    };
    let attempt = sender
        .attempt(&subscription.url, message, &secrets.signing_at(now), now)
        .await;
    if attempt.delivered {
        deliveries::record_attempt(
            store,
            &job.app_id,
            &job.delivery_id,
            now,
            &attempt,
            DeliveryState::Delivered,
            None,
        )
        .await?;
        store::record_outcome(store, &job.app_id, &subscription.subscription_id, true, now).await?;
        return Ok(Processed {
            next: lane_next(store, &delivery, now).await?,
            attempt: Some(attempt),
            delivery: Some(delivery),
            disabled: None,
        });
    }
    let retry = backoff::retry_delay(job.attempt);
    let (state, next_retry_at) = match retry {
        Some(delay) => (DeliveryState::Retrying, Some(now + i64::from(delay))),
        None => (DeliveryState::Failed, None),
    };
    deliveries::record_attempt(
        store,
        &job.app_id,
        &job.delivery_id,
        now,
        &attempt,
        state,
        next_retry_at,
    )
    .await?;
    let disabled = disable_if_failing_too_long(store, &subscription, now).await?;
    if disabled.is_some() {
        deliveries::set_state(store, &job.app_id, &job.delivery_id, DeliveryState::Failed).await?;
    }
    let next = match (retry, &disabled) {
        (Some(delay), None) => Next::Queue {
            job: Job {
                attempt: job.attempt + 1,
                due: now + i64::from(delay),
                ..job
            },
            delay_secs: delay.min(MAX_QUEUE_DELAY_SECS),
        },
        _ => lane_next(store, &delivery, now).await?,
    };
    Ok(Processed {
        next,
        attempt: Some(attempt),
        delivery: Some(delivery),
        disabled,
    })
}

/// What follows a delivery's end: the next held delivery of its record, if any.
async fn lane_next(store: &Store, delivery: &Delivery, now: i64) -> Result<Next> {
    Ok(match lanes::advance(store, delivery, now).await? {
        Some(job) => Next::Queue { job, delay_secs: 0 },
        None => Next::Done,
    })
}

/// Records the failure; disables the subscription when it has failed every
/// attempt since [`DISABLE_AFTER_SECS`] ago.
async fn disable_if_failing_too_long(
    store: &Store,
    subscription: &Subscription,
    now: i64,
) -> Result<Option<Subscription>> {
    let app = &subscription.app_id;
    let id = &subscription.subscription_id;
    let Some(updated) = store::record_outcome(store, app, id, false, now).await? else {
        return Ok(None);
    };
    match updated.failing_since {
        Some(since) if now - since >= DISABLE_AFTER_SECS => {
            let reason = format!(
                "every delivery failed since {}",
                clock::epoch_to_rfc3339(since)
            );
            let disabled =
                store::set_state(store, app, id, SubscriptionState::Disabled, Some(&reason))
                    .await?;
            Ok(Some(disabled))
        }
        _ => Ok(None),
    }
}

/// Queues a logged delivery again from its first attempt (`obctl webhooks
/// redeliver`): the same body and `webhook-id`, a fresh retry schedule. A
/// manual replay bypasses its record's order: it is sent now, even while an
/// earlier event of the record is in flight, and a `held` one no longer waits
/// (its lane skips it later).
pub async fn redeliver(store: &Store, app_id: &str, delivery_id: &str, now: i64) -> Result<Job> {
    deliveries::reset(store, app_id, delivery_id).await?;
    Ok(Job::first(app_id, delivery_id, now))
}
