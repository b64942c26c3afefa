//! The SQS event Lambda delivers, and what each message body is: a job of ours or an SES event (through SNS).

use ob_core::notify::Envelope;
use serde_json::Value;

/// One message of an SQS event.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// What a batch item failure names.
    pub message_id: String,
    pub body: String,
    /// How often SQS has handed it out (1 the first time).
    pub receive_count: u32,
}

/// Reads the messages of an SQS event; `None` when the payload is not one.
pub fn messages(event: &Value) -> Option<Vec<Message>> {
    let records = event.get("Records")?.as_array()?;
    records
        .iter()
        .map(|record| {
            if record["eventSource"].as_str() != Some("aws:sqs") {
                return None;
            }
            Some(Message {
                message_id: record["messageId"].as_str()?.to_owned(),
                body: record["body"].as_str().unwrap_or_default().to_owned(),
                receive_count: record["attributes"]["ApproximateReceiveCount"]
                    .as_str()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1),
            })
        })
        .collect()
}

/// What a message asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    Job(Envelope),
    /// An SES event publishing notification (bounce, complaint, …) the SES
    /// events topic delivered: the SNS envelope's `Message`, parsed.
    SesEvent(Value),
    /// Neither: retried, then dead-lettered for an operator to look at.
    Unknown,
}

/// Classifies one message body.
pub fn classify(body: &str) -> Work {
    if let Some(envelope) = Envelope::parse(body) {
        return Work::Job(envelope);
    }
    let Ok(outer) = serde_json::from_str::<Value>(body) else {
        return Work::Unknown;
    };
    if outer["Type"].as_str() == Some("Notification")
        && let Some(inner) = outer["Message"].as_str()
        && let Ok(event) = serde_json::from_str::<Value>(inner)
        && event.get("mail").is_some()
    {
        return Work::SesEvent(event);
    }
    Work::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An SQS event as Lambda delivers it (values as recorded).
    const SQS_EVENT: &str = r#"{"Records": [
      {"messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
       "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
       "body": "{\"v\":1,\"kind\":\"passwordReset\",\"appId\":\"shop\",\"email\":\"ann@example.com\"}",
       "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1545082649183",
                      "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1545082649185"},
       "messageAttributes": {}, "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
       "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue",
       "awsRegion": "us-east-2"},
      {"messageId": "2e1424d4-f796-459a-8184-9c92662be6da", "receiptHandle": "AQEBzWwaftRI0KuVm4tP+/7q1rGgNqicHq...",
       "body": "not json", "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
       "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue", "awsRegion": "us-east-2"}
    ]}"#;

    #[test]
    fn sqs_events_give_their_messages() {
        let event: Value = serde_json::from_str(SQS_EVENT).unwrap();
        let batch = messages(&event).unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].message_id, "059f36b4-87a3-44ab-83d2-661975830a7d");
        assert_eq!(batch[0].receive_count, 2);
        assert!(matches!(classify(&batch[0].body), Work::Job(_)));
        assert_eq!(classify(&batch[1].body), Work::Unknown);
        assert_eq!(messages(&serde_json::json!({"hello": 1})), None);
        let stream = serde_json::json!({"Records": [{"eventSource": "aws:dynamodb"}]});
        assert_eq!(messages(&stream), None);
    }

    #[test]
    fn ses_events_arrive_inside_sns_envelopes() {
        let inner = serde_json::json!({"eventType": "Bounce", "mail": {"messageId": "m"}});
        let outer = serde_json::json!({"Type": "Notification", "MessageId": "x",
            "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": inner.to_string()});
        assert_eq!(classify(&outer.to_string()), Work::SesEvent(inner));
        let confirmation =
            serde_json::json!({"Type": "SubscriptionConfirmation", "Message": "You have chosen"});
        assert_eq!(classify(&confirmation.to_string()), Work::Unknown);
    }
}
