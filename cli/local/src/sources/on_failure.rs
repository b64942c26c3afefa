//! A stream mapping's on-failure destination (`DestinationConfig.OnFailure`): the record Lambda sends to an SQS queue
//! when it discards a batch, describing where the records are in the stream (not the records themselves).

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use super::sqs_queue::queue_url;

/// Why Lambda gave up on records, as `requestContext.condition` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// `MaximumRetryAttempts` spent.
    RetryAttemptsExhausted,
    /// Older than `MaximumRecordAgeInSeconds`.
    RecordAgeExceeded,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Self::RecordAgeExceeded => "RecordAgeExceeded",
        }
    }
}

/// The last invocation of the discarded records, when there was one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastInvocation {
    pub request_id: String,
    /// `Unhandled` when the function failed as a whole; `None` when it answered (a partial batch failure).
    pub function_error: Option<String>,
}

/// One discarded run of consecutive records of a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscardedBatch {
    pub condition: Condition,
    pub function_arn: String,
    pub stream_arn: String,
    pub shard_id: String,
    /// `(sequence number, creation time in epoch seconds)` of the first and the last record.
    pub first: (String, i64),
    pub last: (String, i64),
    pub size: usize,
    /// How often Lambda invoked the function with these records.
    pub invocations: u32,
    pub last_invocation: Option<LastInvocation>,
}

impl DiscardedBatch {
    /// The message body, in the shape Lambda sends for a DynamoDB stream
    /// (`requestContext`, `responseContext` when the function was invoked,
    /// `version`, `timestamp`, `DDBStreamBatchInfo`).
    pub fn record(&self, now: OffsetDateTime) -> Value {
        let seconds = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        let millis = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        let arrival = |epoch: i64| {
            OffsetDateTime::from_unix_timestamp(epoch)
                .ok()
                .and_then(|at| at.format(&seconds).ok())
                .unwrap_or_default()
        };
        let request_id = self.last_invocation.as_ref().map_or_else(
            || uuid::Uuid::new_v4().to_string(),
            |last| last.request_id.clone(),
        );
        let mut record = json!({
            "requestContext": {
                "requestId": request_id,
                "functionArn": self.function_arn,
                "condition": self.condition.as_str(),
                "approximateInvokeCount": self.invocations,
            },
            "version": "1.0",
            "timestamp": now.to_offset(time::UtcOffset::UTC).format(&millis).unwrap_or_default(),
            "DDBStreamBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": self.first.0,
                "endSequenceNumber": self.last.0,
                "approximateArrivalOfFirstRecord": arrival(self.first.1),
                "approximateArrivalOfLastRecord": arrival(self.last.1),
                "batchSize": self.size,
                "streamArn": self.stream_arn,
            },
        });
        if let Some(last) = &self.last_invocation {
            let mut response = json!({"statusCode": 200, "executedVersion": "$LATEST"});
            if let Some(error) = &last.function_error {
                response["functionError"] = json!(error);
            }
            record["responseContext"] = response;
        }
        record
    }
}

/// An SQS queue that receives the records of discarded batches.
#[derive(Debug)]
pub struct OnFailureQueue {
    client: Client,
    arn: String,
    /// Found from the ARN on first use (`GetQueueUrl`).
    url: Option<String>,
}

impl OnFailureQueue {
    pub fn new(client: Client, arn: String) -> Self {
        Self {
            client,
            arn,
            url: None,
        }
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// Sends one record (`SendMessage`).
    pub async fn send(&mut self, record: &Value) -> Result<(), String> {
        let url = match &self.url {
            Some(url) => url.clone(),
            None => {
                let url = queue_url(&self.client, &self.arn).await?;
                self.url = Some(url.clone());
                url
            }
        };
        self.client
            .send_message()
            .queue_url(url)
            .message_body(record.to_string())
            .send()
            .await
            .map(|_| ())
            .map_err(|err| {
                format!(
                    "send to the on-failure destination {}: {}",
                    self.arn,
                    DisplayErrorContext(err)
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_discarded_batch_is_described_as_lambda_describes_it() {
        let batch = DiscardedBatch {
            condition: Condition::RetryAttemptsExhausted,
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:rt".into(),
            stream_arn: "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026".into(),
            shard_id: "shardId-1".into(),
            first: ("100".into(), 1_700_000_000),
            last: ("102".into(), 1_700_000_002),
            size: 3,
            invocations: 4,
            last_invocation: Some(LastInvocation {
                request_id: "r-1".into(),
                function_error: Some("Unhandled".into()),
            }),
        };
        let now = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_010_123_000_000).unwrap();
        assert_eq!(
            batch.record(now),
            json!({
                "requestContext": {
                    "requestId": "r-1",
                    "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:rt",
                    "condition": "RetryAttemptsExhausted",
                    "approximateInvokeCount": 4,
                },
                "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                "version": "1.0",
                "timestamp": "2023-11-14T22:13:30.123Z",
                "DDBStreamBatchInfo": {
                    "shardId": "shardId-1",
                    "startSequenceNumber": "100",
                    "endSequenceNumber": "102",
                    "approximateArrivalOfFirstRecord": "2023-11-14T22:13:20Z",
                    "approximateArrivalOfLastRecord": "2023-11-14T22:13:22Z",
                    "batchSize": 3,
                    "streamArn": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026",
                },
            })
        );
        let aged = DiscardedBatch {
            condition: Condition::RecordAgeExceeded,
            last_invocation: None,
            invocations: 0,
            ..batch
        };
        let record = aged.record(now);
        assert_eq!(record["requestContext"]["condition"], "RecordAgeExceeded");
        assert!(
            record.get("responseContext").is_none(),
            "no invocation, no response context: {record}"
        );
    }
}
