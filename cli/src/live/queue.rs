//! An SQS event source mapping run locally, as Lambda runs one deployed: receive a batch, invoke with Lambda's SQS event, delete what succeeded.
//!
//! What Lambda does and this does too: batches of at most `batch_size`
//! messages; the event shape of the SQS integration; with
//! `ReportBatchItemFailures`, only the messages named in `batchItemFailures`
//! stay on the queue, and an answer that is not such a list (or names a
//! message not in the batch), like a failed invocation, leaves the whole
//! batch. A message left becomes visible again after the queue's visibility
//! timeout and, after the redrive policy's `maxReceiveCount` receives, the
//! queue moves it to its dead-letter queue (the emulator does that on
//! receive, as SQS does).

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use serde_json::{Value, json};

/// Pause after a failed receive before the next one.
const BACKOFF: Duration = Duration::from_secs(1);

/// One queue feeding one function.
#[derive(Debug, Clone)]
pub struct QueueMapping {
    client: Client,
    queue_url: String,
    queue_arn: String,
    region: String,
    batch_size: i32,
    /// Long-poll wait of each receive, in seconds (0 to 20).
    wait_secs: i32,
}

/// What one poll did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollReport {
    pub received: usize,
    pub deleted: usize,
    /// Messages left on the queue for another attempt.
    pub retried: usize,
}

impl QueueMapping {
    /// The mapping of the queue at `queue_url` (its ARN is read once).
    pub async fn new(client: Client, queue_url: &str, batch_size: i32, wait_secs: i32) -> Result<Self, String> {
        let attributes = client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| format!("read queue {queue_url}: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let queue_arn = attributes
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .cloned()
            .ok_or_else(|| format!("queue {queue_url} has no ARN"))?;
        let region = queue_arn.split(':').nth(3).unwrap_or_default().to_owned();
        Ok(Self {
            client,
            queue_url: queue_url.to_owned(),
            queue_arn,
            region,
            batch_size: batch_size.clamp(1, 10),
            wait_secs: wait_secs.clamp(0, 20),
        })
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// The event Lambda's SQS integration sends for these messages.
    pub fn event(&self, messages: &[Message]) -> Value {
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let attribute = |name: MessageSystemAttributeName| {
                    m.attributes().and_then(|a| a.get(&name)).cloned()
                };
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body().unwrap_or_default(),
                    "attributes": {
                        "ApproximateReceiveCount": attribute(MessageSystemAttributeName::ApproximateReceiveCount).unwrap_or_else(|| "1".into()),
                        "SentTimestamp": attribute(MessageSystemAttributeName::SentTimestamp),
                        "SenderId": attribute(MessageSystemAttributeName::SenderId),
                        "ApproximateFirstReceiveTimestamp": attribute(MessageSystemAttributeName::ApproximateFirstReceiveTimestamp),
                    },
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": self.region,
                })
            })
            .collect();
        json!({ "Records": records })
    }

    /// Receives one batch, invokes `invoke` with it, and deletes the messages
    /// that succeeded. `Err` only when the queue itself could not be read.
    pub async fn poll_once<F, Fut>(&self, invoke: F) -> Result<PollReport, String>
    where
        F: FnOnce(Value) -> Fut,
        Fut: Future<Output = Result<Value, String>>,
    {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size)
            .wait_time_seconds(self.wait_secs)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| format!("receive from {}: {}", self.queue_url, aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(PollReport::default());
        }
        let ids: HashSet<&str> = messages.iter().filter_map(|m| m.message_id()).collect();
        let failed: Option<HashSet<String>> = match invoke(self.event(&messages)).await {
            Ok(answer) => batch_item_failures(&answer, &ids),
            Err(err) => {
                eprintln!("queue {}: invocation failed, the batch stays on the queue: {err}", self.queue_url);
                None
            }
        };
        let Some(failed) = failed else {
            return Ok(PollReport {
                received: messages.len(),
                deleted: 0,
                retried: messages.len(),
            });
        };
        let done: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .filter(|m| m.message_id().is_some_and(|id| !failed.contains(id)))
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("d{i}"))
                    .receipt_handle(m.receipt_handle()?)
                    .build()
                    .ok()
            })
            .collect();
        let deleted = done.len();
        if !done.is_empty() {
            self.client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(done))
                .send()
                .await
                .map_err(|e| format!("delete from {}: {}", self.queue_url, aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        }
        Ok(PollReport {
            received: messages.len(),
            deleted,
            retried: messages.len() - deleted,
        })
    }
}

/// The message ids a function's answer reports as failed; `None` when the
/// answer is not a valid report (Lambda then retries the whole batch).
pub fn batch_item_failures(answer: &Value, batch: &HashSet<&str>) -> Option<HashSet<String>> {
    let list = match answer.get("batchItemFailures") {
        None | Some(Value::Null) => return Some(HashSet::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return None,
    };
    let mut failed = HashSet::new();
    for item in list {
        let id = item.get("itemIdentifier")?.as_str()?;
        if id.is_empty() || !batch.contains(id) {
            return None;
        }
        failed.insert(id.to_owned());
    }
    Some(failed)
}

/// Polls until the task is dropped, invoking `invoke` for every batch.
pub async fn follow<F, Fut>(mapping: QueueMapping, invoke: F)
where
    F: Fn(Value) -> Fut,
    Fut: Future<Output = Result<Value, String>>,
{
    loop {
        if let Err(err) = mapping.poll_once(&invoke).await {
            eprintln!("queue: {err}");
            tokio::time::sleep(BACKOFF).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn failures_are_read_as_lambda_reads_them() {
        let batch: HashSet<&str> = ["a", "b"].into();
        let ok = |v: Value| batch_item_failures(&v, &batch);
        assert_eq!(ok(json!({"batchItemFailures": []})), Some(HashSet::new()));
        assert_eq!(ok(json!({})), Some(HashSet::new()), "no report: all succeeded");
        assert_eq!(
            ok(json!({"batchItemFailures": [{"itemIdentifier": "b"}]})),
            Some(["b".to_owned()].into())
        );
        assert_eq!(ok(json!({"batchItemFailures": [{"itemIdentifier": "zzz"}]})), None, "unknown id: all retried");
        assert_eq!(ok(json!({"batchItemFailures": [{"itemIdentifier": ""}]})), None);
        assert_eq!(ok(json!({"batchItemFailures": [{}]})), None);
        assert_eq!(ok(json!({"batchItemFailures": "b"})), None);
    }
}
