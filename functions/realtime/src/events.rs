//! The two event shapes the realtime Lambda receives: API Gateway WebSocket route events and DynamoDB stream batches.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use ob_core::attr::Item;
use ob_core::realtime::{ChangeKind, StreamChange};
use serde_json::Value;

/// What an invocation asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Connect {
        connection_id: String,
        request_id: String,
        api_key: Option<String>,
        token: Option<String>,
        /// The browser's `Origin` header, when a browser opened the socket.
        origin: Option<String>,
    },
    Disconnect {
        connection_id: String,
    },
    Message {
        connection_id: String,
        request_id: String,
        body: String,
    },
    /// A stream batch; records that could not be read are counted, not retried.
    Stream {
        changes: Vec<StreamChange>,
        unreadable: usize,
    },
    Unknown,
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// Classifies a raw invocation payload.
pub fn classify(payload: &Value) -> Incoming {
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        let mut changes = Vec::with_capacity(records.len());
        let mut unreadable = 0;
        for record in records {
            match stream_change(record) {
                Some(change) => changes.push(change),
                None => {
                    unreadable += 1;
                    tracing::warn!(event_id = ?record.get("eventID"), "skipping an unreadable stream record");
                }
            }
        }
        return Incoming::Stream {
            changes,
            unreadable,
        };
    }
    let context = &payload["requestContext"];
    let (Some(route), Some(connection_id)) =
        (text(&context["routeKey"]), text(&context["connectionId"]))
    else {
        return Incoming::Unknown;
    };
    let request_id = text(&context["requestId"]).unwrap_or_default();
    let query = &payload["queryStringParameters"];
    match route.as_str() {
        "$connect" => Incoming::Connect {
            connection_id,
            request_id,
            api_key: text(&query["apiKey"]),
            token: text(&query["token"]),
            // API Gateway keeps the browser's casing (`Origin`); be lenient.
            origin: payload["headers"].as_object().and_then(|headers| {
                headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("origin"))
                    .and_then(|(_, value)| text(value))
            }),
        },
        "$disconnect" => Incoming::Disconnect { connection_id },
        _ => Incoming::Message {
            connection_id,
            request_id,
            body: text(&payload["body"]).unwrap_or_default(),
        },
    }
}

fn stream_change(record: &Value) -> Option<StreamChange> {
    let kind = match record["eventName"].as_str()? {
        "INSERT" => ChangeKind::Insert,
        "MODIFY" => ChangeKind::Modify,
        "REMOVE" => ChangeKind::Remove,
        _ => return None,
    };
    let body = &record["dynamodb"];
    let image = |name: &str| -> Option<Option<Item>> {
        match body.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| attribute(v).map(|a| (k.clone(), a)))
                .collect::<Option<HashMap<_, _>>>()
                .map(Some),
            Some(_) => None,
        }
    };
    Some(StreamChange {
        sequence: text(&body["SequenceNumber"])?,
        kind,
        old: image("OldImage")?,
        new: image("NewImage")?,
        // Epoch seconds, fractional or whole (DynamoDB's precision setting).
        created_at_ms: body["ApproximateCreationDateTime"]
            .as_f64()
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(|s| (s * 1000.0) as u64),
    })
}

/// One attribute in DynamoDB's JSON form (`{"S": "x"}`, `{"M": {...}}`, …).
pub fn attribute(value: &Value) -> Option<AttributeValue> {
    let map = value.as_object()?;
    let (tag, inner) = map.iter().next()?;
    let strings = |v: &Value| -> Option<Vec<String>> { v.as_array()?.iter().map(text).collect() };
    let blob = |v: &Value| -> Option<Blob> {
        aws_smithy_types::base64::decode(v.as_str()?)
            .ok()
            .map(Blob::new)
    };
    Some(match tag.as_str() {
        "S" => AttributeValue::S(text(inner)?),
        "N" => AttributeValue::N(text(inner)?),
        "BOOL" => AttributeValue::Bool(inner.as_bool()?),
        "NULL" => AttributeValue::Null(true),
        "B" => AttributeValue::B(blob(inner)?),
        "SS" => AttributeValue::Ss(strings(inner)?),
        "NS" => AttributeValue::Ns(strings(inner)?),
        "BS" => AttributeValue::Bs(inner.as_array()?.iter().map(blob).collect::<Option<_>>()?),
        "L" => AttributeValue::L(
            inner
                .as_array()?
                .iter()
                .map(attribute)
                .collect::<Option<_>>()?,
        ),
        "M" => AttributeValue::M(
            inner
                .as_object()?
                .iter()
                .map(|(k, v)| attribute(v).map(|a| (k.clone(), a)))
                .collect::<Option<_>>()?,
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The shape API Gateway sends for `$connect` (trimmed to what matters, values as recorded).
    const CONNECT: &str = r#"{
      "headers": {"Host": "abc123.execute-api.eu-west-1.amazonaws.com", "Origin": "https://app.example", "Sec-WebSocket-Version": "13"},
      "isBase64Encoded": false,
      "multiValueQueryStringParameters": {"apiKey": ["ob_k"], "token": ["t.k.n"]},
      "queryStringParameters": {"apiKey": "ob_k", "token": "t.k.n"},
      "requestContext": {
        "routeKey": "$connect", "eventType": "CONNECT", "extendedRequestId": "Pq1x", "requestTime": "22/Nov/2026:07:00:00 +0000",
        "messageDirection": "IN", "stage": "live", "connectedAt": 1795330800000, "requestTimeEpoch": 1795330800000,
        "identity": {"sourceIp": "203.0.113.9"}, "requestId": "Pq1xRGlxDoEF0Fg=", "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
        "connectionId": "L0SM9cOFvHcCIhw=", "apiId": "abc123"
      }
    }"#;

    /// A DynamoDB stream batch as Lambda delivers it (NEW_AND_OLD_IMAGES).
    const BATCH: &str = r#"{"Records": [
      {"eventID": "1", "eventName": "MODIFY", "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "eu-west-1",
       "dynamodb": {"ApproximateCreationDateTime": 1795330800, "Keys": {"pk": {"S": "R#app#notes"}, "sk": {"S": "id1"}},
         "NewImage": {"pk": {"S": "R#app#notes"}, "version": {"N": "2"}, "readers": {"L": [{"S": "*"}]}, "flag": {"BOOL": true},
                      "blob": {"B": "aGk="}, "tags": {"SS": ["a", "b"]}, "meta": {"M": {"n": {"NULL": true}}}},
         "OldImage": {"pk": {"S": "R#app#notes"}, "version": {"N": "1"}},
         "SequenceNumber": "111000000000000000001", "SizeBytes": 90, "StreamViewType": "NEW_AND_OLD_IMAGES"},
       "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/DataTable/stream/2026-11-22T00:00:00.000"},
      {"eventID": "2", "eventName": "REMOVE", "dynamodb": {"OldImage": {"pk": {"X": "?"}}, "SequenceNumber": "2"}}
    ]}"#;

    #[test]
    fn connect_events_carry_the_query_credentials() {
        let event: Value = serde_json::from_str(CONNECT).unwrap();
        assert_eq!(
            classify(&event),
            Incoming::Connect {
                connection_id: "L0SM9cOFvHcCIhw=".into(),
                request_id: "Pq1xRGlxDoEF0Fg=".into(),
                api_key: Some("ob_k".into()),
                token: Some("t.k.n".into()),
                origin: Some("https://app.example".into()),
            }
        );
        let message = json!({"requestContext": {"routeKey": "$default", "connectionId": "c", "requestId": "r"}, "body": "{\"action\":\"ping\"}"});
        assert!(
            matches!(classify(&message), Incoming::Message { body, .. } if body.contains("ping"))
        );
        let gone = json!({"requestContext": {"routeKey": "$disconnect", "connectionId": "c"}});
        assert_eq!(
            classify(&gone),
            Incoming::Disconnect {
                connection_id: "c".into()
            }
        );
        assert_eq!(classify(&json!({"hello": 1})), Incoming::Unknown);
    }

    #[test]
    fn stream_batches_convert_every_attribute_type() {
        let batch: Value = serde_json::from_str(BATCH).unwrap();
        let Incoming::Stream {
            changes,
            unreadable,
        } = classify(&batch)
        else {
            panic!("not a stream batch");
        };
        assert_eq!(
            unreadable, 1,
            "the record with an unknown type tag is skipped"
        );
        let change = &changes[0];
        assert_eq!(
            (change.kind, change.sequence.as_str()),
            (ChangeKind::Modify, "111000000000000000001")
        );
        let new = change.new.as_ref().unwrap();
        assert_eq!(new["version"], AttributeValue::N("2".into()));
        assert_eq!(
            new["readers"],
            AttributeValue::L(vec![AttributeValue::S("*".into())])
        );
        assert_eq!(new["flag"], AttributeValue::Bool(true));
        assert_eq!(new["blob"], AttributeValue::B(Blob::new(b"hi".to_vec())));
        assert_eq!(
            new["tags"],
            AttributeValue::Ss(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            new["meta"],
            AttributeValue::M([("n".to_owned(), AttributeValue::Null(true))].into())
        );
        assert_eq!(
            change.old.as_ref().unwrap()["version"],
            AttributeValue::N("1".into())
        );
    }
}
