//! A DynamoDB stream record in the shape Lambda delivers it (`eventName`, `dynamodb.NewImage` in DynamoDB JSON, …).

use std::collections::HashMap;

use aws_sdk_dynamodbstreams::types::AttributeValue;
use serde_json::{Map, Value, json};

use super::Record;

/// A stream record as Lambda puts it in an event, with its creation time.
pub(super) fn lambda_record(
    record: &aws_sdk_dynamodbstreams::types::Record,
    region: &str,
    stream_arn: &str,
) -> Option<(Record, i64)> {
    let body = record.dynamodb()?;
    let sequence = body.sequence_number()?.to_owned();
    let created = body
        .approximate_creation_date_time()
        .map_or(0, |t| t.secs());
    let mut dynamodb = Map::new();
    dynamodb.insert("ApproximateCreationDateTime".into(), json!(created));
    dynamodb.insert("Keys".into(), image(body.keys()));
    if let Some(new) = body.new_image() {
        dynamodb.insert("NewImage".into(), image(Some(new)));
    }
    if let Some(old) = body.old_image() {
        dynamodb.insert("OldImage".into(), image(Some(old)));
    }
    dynamodb.insert("SequenceNumber".into(), json!(sequence));
    if let Some(size) = body.size_bytes() {
        dynamodb.insert("SizeBytes".into(), json!(size));
    }
    if let Some(view) = body.stream_view_type() {
        dynamodb.insert("StreamViewType".into(), json!(view.as_str()));
    }
    let mut event = json!({
        "eventID": record.event_id().unwrap_or_default(),
        "eventName": record.event_name().map(|n| n.as_str()).unwrap_or_default(),
        "eventVersion": record.event_version().unwrap_or("1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    });
    if let Some(identity) = record.user_identity() {
        event["userIdentity"] = json!({
            "type": identity.r#type(),
            "principalId": identity.principal_id(),
        });
    }
    Some((
        Record {
            id: sequence,
            json: event,
        },
        created,
    ))
}

fn image(map: Option<&HashMap<String, AttributeValue>>) -> Value {
    let mut sorted: Vec<_> = map.into_iter().flatten().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    Value::Object(
        sorted
            .into_iter()
            .map(|(k, v)| (k.clone(), attribute(v)))
            .collect(),
    )
}

/// DynamoDB's JSON form of an attribute (`{"S": "x"}`, `{"M": {...}}`, …).
fn attribute(value: &AttributeValue) -> Value {
    let b64 = |b: &aws_sdk_dynamodbstreams::primitives::Blob| {
        aws_smithy_types::base64::encode(b.as_ref())
    };
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(n) => json!({ "NULL": n }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::Bs(v) => json!({ "BS": v.iter().map(b64).collect::<Vec<_>>() }),
        AttributeValue::L(v) => json!({ "L": v.iter().map(attribute).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": image(Some(m)) }),
        _ => json!({ "NULL": true }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_take_dynamodbs_json_form() {
        let nested = AttributeValue::M(
            [
                (
                    "l".to_owned(),
                    AttributeValue::L(vec![AttributeValue::N("1".into())]),
                ),
                (
                    "b".to_owned(),
                    AttributeValue::B(aws_sdk_dynamodbstreams::primitives::Blob::new(
                        b"hi".to_vec(),
                    )),
                ),
                ("t".to_owned(), AttributeValue::Bool(true)),
            ]
            .into(),
        );
        assert_eq!(
            attribute(&nested),
            json!({"M": {"b": {"B": "aGk="}, "l": {"L": [{"N": "1"}]}, "t": {"BOOL": true}}})
        );
        assert_eq!(
            attribute(&AttributeValue::Ss(vec!["a".into()])),
            json!({"SS": ["a"]})
        );
    }
}
