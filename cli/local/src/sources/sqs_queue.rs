//! An SQS queue as a mapping's source, as Lambda's SQS poller reads one: long-polled batches in the SQS event's
//! record shape, the messages that succeeded deleted, the rest left to reappear after the queue's visibility timeout
//! (and, after the redrive policy's `maxReceiveCount` receives, moved to the dead-letter queue by SQS itself).

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use serde_json::{Value, json};

use super::{BatchOutcome, BatchSource, Record, classify};
use crate::events::{Event, EventBus};
use crate::runtime::Outcome;

/// Longest long-poll of one receive (SQS's limit).
const MAX_WAIT: Duration = Duration::from_secs(20);
/// Pause after a failed receive, so an unreachable queue does not spin.
const BACKOFF: Duration = Duration::from_secs(1);
/// Messages one `ReceiveMessage` returns at most.
const RECEIVE_MAX: usize = 10;

/// The queue side of a mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub mapping: String,
    /// `arn:aws:sqs:{region}:{account}:{name}`, the mapping's `EventSourceArn`.
    pub queue_arn: String,
    /// Longest wait of one receive; Lambda long-polls for 20 s.
    pub wait: Duration,
}

/// What one `poll_once` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollReport {
    pub received: usize,
    pub deleted: usize,
    /// Messages left on the queue for another attempt.
    pub retried: usize,
}

/// Reads one queue for one mapping.
#[derive(Debug)]
pub struct SqsQueue {
    client: Client,
    spec: QueueSpec,
    events: EventBus,
    /// Found from the ARN on first use (`GetQueueUrl`).
    url: Option<String>,
    /// Message id → receipt handle of the batch last handed out.
    in_flight: Vec<(String, String)>,
}

impl SqsQueue {
    pub fn new(client: Client, spec: QueueSpec, events: EventBus) -> Self {
        Self {
            client,
            spec,
            events,
            url: None,
            in_flight: Vec::new(),
        }
    }

    /// `(region, account, name)` of the queue's ARN.
    fn arn_parts(&self) -> Option<(&str, &str, &str)> {
        queue_arn_parts(&self.spec.queue_arn)
    }

    async fn url(&mut self) -> Result<String, String> {
        if let Some(url) = &self.url {
            return Ok(url.clone());
        }
        let url = queue_url(&self.client, &self.spec.queue_arn).await?;
        self.url = Some(url.clone());
        Ok(url)
    }

    /// One `ReceiveMessage` of at most `max` messages, waiting at most `wait` for the first.
    async fn receive(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>, String> {
        let url = self.url().await?;
        let out = self
            .client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(max.clamp(1, RECEIVE_MAX) as i32)
            .wait_time_seconds(wait.min(MAX_WAIT).as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|err| format!("receive from {url}: {}", DisplayErrorContext(err)))?;
        let region = self
            .arn_parts()
            .map_or("", |(region, _, _)| region)
            .to_owned();
        let records: Vec<Record> = out
            .messages()
            .iter()
            .filter_map(|m| lambda_record(m, &self.spec.queue_arn, &region))
            .collect();
        for message in out.messages() {
            if let (Some(id), Some(handle)) = (message.message_id(), message.receipt_handle()) {
                self.in_flight.push((id.to_owned(), handle.to_owned()));
            }
        }
        Ok(records)
    }

    /// Deletes the in-flight messages that are not in `keep`; how many.
    async fn delete_all_but(&mut self, keep: &HashSet<&str>) -> Result<usize, String> {
        let done: Vec<DeleteMessageBatchRequestEntry> = self
            .in_flight
            .iter()
            .filter(|(id, _)| !keep.contains(id.as_str()))
            .enumerate()
            .filter_map(|(i, (_, handle))| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .receipt_handle(handle)
                    .build()
                    .ok()
            })
            .collect();
        self.in_flight.clear();
        let count = done.len();
        let url = self.url().await?;
        // DeleteMessageBatch takes ten entries at a time.
        for chunk in done.chunks(RECEIVE_MAX) {
            self.client
                .delete_message_batch()
                .queue_url(&url)
                .set_entries(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|err| format!("delete from {url}: {}", DisplayErrorContext(err)))?;
        }
        Ok(count)
    }

    /// Receives one batch (waiting at most `wait` for it), hands it to `invoke` as Lambda's SQS
    /// event, and settles it by the answer (read with `ReportBatchItemFailures`).
    /// For hosts that call the handler in their own process (`obctl dev
    /// --in-process`, tests); the mapping itself runs through `sources::start`.
    pub async fn poll_once<F, Fut>(
        &mut self,
        max: usize,
        wait: Duration,
        invoke: F,
    ) -> Result<PollReport, String>
    where
        F: FnOnce(Value) -> Fut,
        Fut: Future<Output = Value>,
    {
        let batch = self.receive(max, wait).await?;
        if batch.is_empty() {
            return Ok(PollReport::default());
        }
        let ids: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
        let records: Vec<&Value> = batch.iter().map(|r| &r.json).collect();
        let answer = invoke(json!({ "Records": records })).await;
        let outcome = classify(
            &Outcome::Response(answer.to_string().into_bytes()),
            true,
            &ids,
        );
        let deleted = self.settle_batch(&outcome).await?;
        Ok(PollReport {
            received: ids.len(),
            deleted,
            retried: ids.len() - deleted,
        })
    }

    async fn settle_batch(&mut self, outcome: &BatchOutcome) -> Result<usize, String> {
        match outcome {
            BatchOutcome::Succeeded => self.delete_all_but(&HashSet::new()).await,
            BatchOutcome::ItemsFailed(failed) => {
                let keep: HashSet<&str> = failed.iter().map(String::as_str).collect();
                self.delete_all_but(&keep).await
            }
            BatchOutcome::Failed(_) => {
                // The whole batch comes back after the visibility timeout.
                self.in_flight.clear();
                Ok(0)
            }
        }
    }

    fn log(&self, problem: String) {
        self.events.send(Event::SourceError {
            mapping: self.spec.mapping.clone(),
            problem,
        });
    }
}

/// `(region, account, name)` of an SQS queue's ARN.
pub(crate) fn queue_arn_parts(arn: &str) -> Option<(&str, &str, &str)> {
    let mut parts = arn.splitn(6, ':');
    match (parts.nth(3), parts.next(), parts.next()) {
        (Some(region), Some(account), Some(name)) if !name.is_empty() => {
            Some((region, account, name))
        }
        _ => None,
    }
}

/// The URL of the queue `arn` names (`GetQueueUrl`).
pub(crate) async fn queue_url(client: &Client, arn: &str) -> Result<String, String> {
    let (_, account, name) =
        queue_arn_parts(arn).ok_or_else(|| format!("{arn} is not an SQS queue ARN"))?;
    let out = client
        .get_queue_url()
        .queue_name(name)
        .queue_owner_aws_account_id(account)
        .send()
        .await
        .map_err(|err| format!("find queue {name}: {}", DisplayErrorContext(err)))?;
    Ok(out.queue_url().unwrap_or_default().to_owned())
}

impl BatchSource for SqsQueue {
    async fn next_batch(&mut self, max: usize, window: Duration) -> Vec<Record> {
        let mut batch = Vec::new();
        let mut first_at: Option<Instant> = None;
        loop {
            let left = max.saturating_sub(batch.len());
            let wait = match first_at {
                None => self.spec.wait,
                Some(at) => window.saturating_sub(at.elapsed()),
            };
            match self.receive(left, wait).await {
                Ok(records) => batch.extend(records),
                Err(problem) => {
                    self.log(problem);
                    tokio::time::sleep(BACKOFF).await;
                }
            }
            if !batch.is_empty() && first_at.is_none() {
                first_at = Some(Instant::now());
            }
            // Full, or the batching window (0 by default) is over.
            if let Some(at) = first_at
                && (batch.len() >= max || at.elapsed() >= window)
            {
                return batch;
            }
        }
    }

    async fn settle(&mut self, outcome: &BatchOutcome, _: &crate::runtime::Invocation) {
        if let Err(problem) = self.settle_batch(outcome).await {
            self.log(problem);
        }
    }
}

/// One message as Lambda's SQS integration delivers it.
fn lambda_record(message: &Message, queue_arn: &str, region: &str) -> Option<Record> {
    let id = message.message_id()?.to_owned();
    let attribute = |name: MessageSystemAttributeName| {
        message
            .attributes()
            .and_then(|a| a.get(&name))
            .map(|v| Value::from(v.as_str()))
    };
    let mut attributes = serde_json::Map::new();
    for name in [
        MessageSystemAttributeName::ApproximateReceiveCount,
        MessageSystemAttributeName::SentTimestamp,
        MessageSystemAttributeName::SenderId,
        MessageSystemAttributeName::ApproximateFirstReceiveTimestamp,
    ] {
        if let Some(value) = attribute(name.clone()) {
            attributes.insert(name.as_str().to_owned(), value);
        }
    }
    let message_attributes: serde_json::Map<String, Value> = message
        .message_attributes()
        .map(|all| {
            all.iter()
                .map(|(name, value)| {
                    (
                        name.clone(),
                        json!({
                            "stringValue": value.string_value(),
                            "stringListValues": [],
                            "binaryListValues": [],
                            "dataType": value.data_type(),
                        }),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Record {
        json: json!({
            "messageId": id,
            "receiptHandle": message.receipt_handle(),
            "body": message.body().unwrap_or_default(),
            "attributes": attributes,
            "messageAttributes": message_attributes,
            "md5OfBody": message.md5_of_body(),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }),
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_becomes_lambdas_record() {
        let message = Message::builder()
            .message_id("m-1")
            .receipt_handle("r-1")
            .body("{\"v\":1}")
            .md5_of_body("abc")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .build();
        let record = lambda_record(
            &message,
            "arn:aws:sqs:eu-west-1:123456789012:q",
            "eu-west-1",
        )
        .unwrap();
        assert_eq!(record.id, "m-1");
        assert_eq!(record.json["body"], "{\"v\":1}");
        assert_eq!(record.json["attributes"]["ApproximateReceiveCount"], "2");
        assert_eq!(record.json["eventSource"], "aws:sqs");
        assert_eq!(
            record.json["eventSourceARN"],
            "arn:aws:sqs:eu-west-1:123456789012:q"
        );
        assert!(lambda_record(&Message::builder().build(), "a", "r").is_none());
        let queue = SqsQueue::new(
            Client::from_conf(
                aws_sdk_sqs::Config::builder()
                    .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                    .build(),
            ),
            QueueSpec {
                mapping: "M".into(),
                queue_arn: "arn:aws:sqs:eu-west-1:123456789012:notify".into(),
                wait: MAX_WAIT,
            },
            EventBus::default(),
        );
        assert_eq!(
            queue.arn_parts(),
            Some(("eu-west-1", "123456789012", "notify"))
        );
    }
}
