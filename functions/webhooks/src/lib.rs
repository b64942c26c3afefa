//! The webhooks Lambda's handler: a data-stream batch becomes events fanned out to subscriptions, a queue batch is events to fan out and attempts to make; the answer lists what to retry.
//!
//! Stream records are handled in order: the first that cannot be fanned out is
//! reported with every record after it, so Lambda retries from there and a
//! record's events keep their order into the queue. Queue messages are
//! independent; a message is reported only when the worker itself failed
//! (a failing endpoint is not that: its retry is a new, delayed message).

// Tests may panic on unexpected values; production code may not (workspace lint).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod disabled;

use std::collections::HashMap;

use futures::future::join_all;
use ob_core::Store;
use ob_core::clock;
use ob_core::notify::NotifyQueue;
use ob_core::realtime::StreamChange;
use ob_core::webhooks::TargetPolicy;
use ob_core::webhooks::events::{self, Event};
use ob_core::webhooks::queue::{WebhookQueue, Work};
use ob_core::webhooks::send::{ATTEMPT_TIMEOUT, RootsLoader, Sender, TrustedRoots};
use ob_core::webhooks::worker::{self, Job, Next, Processed};
use ob_core::webhooks::{Subscription, store};
use ob_realtime::events::Incoming;
use serde_json::{Value, json};

/// Everything a batch needs, built once per cold start.
#[derive(Debug)]
pub struct Worker {
    pub store: Store,
    pub sender: Sender,
    pub queue: WebhookQueue,
    /// Where the e-mail about a disabled subscription goes (`None`: only logged).
    pub notify: Option<NotifyQueue>,
}

/// The function's sender, trusting the OS's one root bundle the SDK clients trust (read once per process), loaded at
/// its first attempt: parsing the roots was about half of this function's cold start, and a stream batch sends
/// nothing. The native store would read every file of the certificate directory; it is kept only without a readable
/// bundle, so the function still sends.
pub fn sender(policy: TargetPolicy) -> ob_core::Result<Sender> {
    let load: RootsLoader = std::sync::Arc::new(|| {
        ob_lambda::roots::RootBundle::shared()
            .map(|bundle| std::sync::Arc::new(bundle.root_store()))
    });
    Sender::with_roots(policy, TrustedRoots::Loaded(load), ATTEMPT_TIMEOUT)
}

/// Serves one invocation: `{"batchItemFailures": [{"itemIdentifier": …}]}`.
pub async fn handle(worker: &Worker, payload: &Value) -> Value {
    let records = payload["Records"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let failures = if records.first().and_then(|r| r["eventSource"].as_str()) == Some("aws:sqs") {
        queue_batch(worker, records).await
    } else {
        match ob_realtime::events::classify(payload) {
            Incoming::Stream { changes, .. } => stream_batch(worker, &changes).await,
            _ => {
                tracing::warn!("neither a stream batch nor a queue batch; nothing to do");
                Vec::new()
            }
        }
    };
    let failures: Vec<Value> = failures
        .into_iter()
        .map(|id| json!({ "itemIdentifier": id }))
        .collect();
    json!({ "batchItemFailures": failures })
}

/// Subscriptions per app, read once per batch.
#[derive(Default)]
struct Subscriptions(HashMap<String, Vec<Subscription>>);

impl Subscriptions {
    async fn of(&mut self, store: &Store, app_id: &str) -> ob_core::Result<&[Subscription]> {
        if !self.0.contains_key(app_id) {
            let listed = store::list(store, app_id).await?;
            self.0.insert(app_id.to_owned(), listed);
        }
        Ok(self.0.get(app_id).map(Vec::as_slice).unwrap_or_default())
    }
}

/// Logs the event's deliveries and returns their first attempts.
async fn fan_out(
    worker: &Worker,
    subscriptions: &mut Subscriptions,
    event: &Event,
    now: i64,
) -> ob_core::Result<Vec<Job>> {
    let subscribed = subscriptions.of(&worker.store, &event.app_id).await?;
    if subscribed.is_empty() {
        return Ok(Vec::new());
    }
    events::fan_out(&worker.store, event, subscribed, now).await
}

fn attempts(jobs: Vec<Job>) -> Vec<(Work, u32)> {
    jobs.into_iter()
        .map(|job| (Work::Attempt(job), 0))
        .collect()
}

/// The sequence numbers to retry: none, or the first failed record and every one after it.
async fn stream_batch(worker: &Worker, changes: &[StreamChange]) -> Vec<String> {
    let now = clock::now_epoch();
    let mut subscriptions = Subscriptions::default();
    let mut queued = Vec::new();
    let mut failed_at = None;
    for (index, change) in changes.iter().enumerate() {
        let event = match events::from_change(change) {
            Ok(Some(event)) => event,
            Ok(None) => continue,
            // A record that can never become an event must not block the shard.
            Err(err) => {
                tracing::warn!(sequence = %change.sequence, error = %err, "skipping an unreadable record");
                continue;
            }
        };
        match fan_out(worker, &mut subscriptions, &event, now).await {
            Ok(jobs) => queued.extend(attempts(jobs)),
            Err(err) => {
                tracing::warn!(sequence = %change.sequence, error = %err, "fan-out failed; retrying from this record");
                failed_at = Some(index);
                break;
            }
        }
    }
    if let Err(err) = worker.queue.send_all(&queued).await {
        tracing::warn!(error = %err, "could not queue the batch's deliveries; retrying the batch");
        failed_at = Some(0);
    }
    tracing::info!(
        records = changes.len(),
        deliveries = queued.len(),
        "fan-out"
    );
    match failed_at {
        None => Vec::new(),
        Some(index) => changes[index..]
            .iter()
            .map(|c| c.sequence.clone())
            .collect(),
    }
}

/// The message ids to retry.
async fn queue_batch(worker: &Worker, records: &[Value]) -> Vec<String> {
    let outcomes = join_all(records.iter().map(|record| async move {
        let id = record["messageId"].as_str().unwrap_or_default();
        let body = record["body"].as_str().unwrap_or_default();
        (id, message(worker, body).await)
    }))
    .await;
    outcomes
        .into_iter()
        .filter_map(|(id, outcome)| match outcome {
            Ok(()) => None,
            Err(why) => {
                tracing::warn!(message_id = id, error = %why, "will retry");
                Some(id.to_owned())
            }
        })
        .collect()
}

/// One queue message; `Err` when it should come back.
async fn message(worker: &Worker, body: &str) -> Result<(), String> {
    let now = clock::now_epoch();
    match Work::parse(body) {
        Some(Work::Event(event)) => {
            let jobs = fan_out(worker, &mut Subscriptions::default(), &event, now)
                .await
                .map_err(|e| e.to_string())?;
            worker
                .queue
                .send_all(&attempts(jobs))
                .await
                .map_err(|e| e.to_string())
        }
        Some(Work::Attempt(job)) => {
            let attempt = job.attempt;
            let processed = worker::process(&worker.store, &worker.sender, job, now)
                .await
                .map_err(|e| e.to_string())?;
            log_attempt(attempt, &processed);
            if let Some(disabled) = &processed.disabled {
                tracing::warn!(
                    app_id = %disabled.app_id,
                    subscription = %disabled.subscription_id,
                    reason = disabled.disabled_reason.as_deref().unwrap_or_default(),
                    "webhook subscription disabled"
                );
                // Telling is best effort: the message is not retried for it,
                // since a retry would find the subscription already disabled.
                if let Some(queue) = &worker.notify
                    && let Err(err) = disabled::tell_contact(&worker.store, queue, disabled).await
                {
                    tracing::error!(app_id = %disabled.app_id, error = %err, "could not tell the app's contact");
                }
            }
            match processed.next {
                Next::Done => Ok(()),
                Next::Queue { job, delay_secs } => worker
                    .queue
                    .send(&Work::Attempt(job), delay_secs)
                    .await
                    .map_err(|e| e.to_string()),
            }
        }
        None => Err(format!(
            "unrecognised message body ({} bytes): not webhook work of version {}",
            body.len(),
            ob_core::webhooks::queue::WORK_VERSION
        )),
    }
}

/// One log line per attempt, which `obctl dev` prints as one console line (`worker::ATTEMPT_LOG_MESSAGE`).
fn log_attempt(attempt_number: u32, processed: &Processed) {
    let (Some(attempt), Some(delivery)) = (&processed.attempt, &processed.delivery) else {
        return;
    };
    let outcome = match (&processed.next, attempt.delivered) {
        (_, true) => "delivered".to_owned(),
        // Queued next: a retry of this delivery, or the next held one of its record.
        (Next::Queue { job, .. }, false) if job.delivery_id == delivery.delivery_id => format!(
            "retry {} due at {}",
            job.attempt,
            clock::epoch_to_rfc3339(job.due)
        ),
        (_, false) => "failed for good".to_owned(),
    };
    tracing::info!(
        app_id = %delivery.app_id,
        subscription = %delivery.subscription_id,
        event_type = %delivery.event_type,
        delivery = %delivery.delivery_id,
        webhook_id = %delivery.event_id,
        attempt = attempt_number,
        status = attempt.status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
        error = attempt.error.as_deref().unwrap_or_default(),
        duration_ms = attempt.duration_ms,
        outcome,
        "{}",
        worker::ATTEMPT_LOG_MESSAGE
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The function's sender trusts exactly the bundle the SDK clients trust, loaded at its first attempt: the native
    /// store would read every file of the certificate directory, and the bundle's parsing would be half a cold start.
    #[test]
    fn the_sender_trusts_the_one_bundle_loaded_at_its_first_attempt() {
        let bundle = ob_lambda::roots::RootBundle::shared().unwrap();
        match sender(TargetPolicy::STRICT).unwrap().trusted_roots() {
            TrustedRoots::Loaded(load) => assert_eq!(load().unwrap().len(), bundle.len()),
            other => panic!("the webhooks sender trusts {other:?} when built"),
        }
    }
}
