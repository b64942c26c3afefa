//! The local stream mapping (ob-local) on an emulator table's stream: records arrive in batches as Lambda delivers
//! them, a batch with a failed record is retried from that record, and records whose retries ran out are dropped
//! without blocking the shard.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, StreamSpecification, StreamViewType, WriteRequest,
};
use ob_local::sources::dynamodb_stream::{DynamoDbStream, StartingPosition, StreamSpec};
use ob_local::sources::{self, MappingSpec};
use ob_local::{Event, EventBus};
use serde_json::Value;

use crate::local_runtime::{Local, function};

async fn table_with_stream(client: &aws_sdk_dynamodb::Client) -> String {
    let out = client
        .create_table()
        .table_name("t-stream")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    out.table_description()
        .unwrap()
        .latest_stream_arn()
        .unwrap()
        .to_owned()
}

/// Writes the items in one request, so one poll reads them together; `fail` marks how the fixture treats each.
async fn write(client: &aws_sdk_dynamodb::Client, items: &[(&str, Option<&str>)]) {
    let requests = items
        .iter()
        .map(|(pk, fail)| {
            let mut item = std::collections::HashMap::from([(
                "pk".to_owned(),
                AttributeValue::S((*pk).to_owned()),
            )]);
            if let Some(fail) = fail {
                item.insert("fail".to_owned(), AttributeValue::S((*fail).to_owned()));
            }
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                .build()
        })
        .collect();
    client
        .batch_write_item()
        .request_items("t-stream", requests)
        .send()
        .await
        .unwrap();
}

/// The next batch the fixture logged: its records' sequence numbers.
async fn batch(local: &mut Local) -> Vec<String> {
    local
        .next("a batch", |e| match e {
            Event::Log(line) => {
                let v: Value = serde_json::from_str(&line.text).ok()?;
                let batch = v["batch"].as_array()?;
                Some(
                    batch
                        .iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect(),
                )
            }
            _ => None,
        })
        .await
}

#[tokio::test]
async fn a_batch_with_a_failed_record_is_retried_from_it_and_spent_retries_drop_records() {
    let emu = ob_tests::emulator().await;
    let sdk = emu.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let stream_arn = table_with_stream(&dynamodb).await;
    let fixture = function("fixture", "fixture-function", Duration::from_secs(10), &[]);
    let mut local = Local::start(vec![fixture], None, None).await;
    let events: EventBus = local.runtime.events().clone();
    let source = DynamoDbStream::new(
        aws_sdk_dynamodbstreams::Client::new(&sdk),
        StreamSpec {
            mapping: "TestMapping".into(),
            stream_arn,
            region: "us-east-1".into(),
            starting_position: StartingPosition::TrimHorizon,
            bisect_on_error: false,
            max_retries: Some(1),
            max_record_age: None,
        },
        events,
    );
    let mapping = MappingSpec {
        name: "TestMapping".into(),
        function: "fixture".into(),
        batch_size: 10,
        batching_window: Duration::from_millis(500),
        report_batch_item_failures: true,
    };
    let _runner = sources::start(mapping, source, local.runtime.clone());

    write(&dynamodb, &[("a", None), ("b", Some("once")), ("c", None)]).await;
    let first = batch(&mut local).await;
    assert_eq!(first.len(), 3, "one batch of three: {first:?}");
    let retried = batch(&mut local).await;
    assert_eq!(
        retried,
        first[1..],
        "retried from the failed record, not from the start"
    );

    write(&dynamodb, &[("d", Some("always")), ("e", None)]).await;
    let second = batch(&mut local).await;
    assert_eq!(second.len(), 2, "{second:?}");
    assert_eq!(
        batch(&mut local).await,
        second,
        "one retry (MaximumRetryAttempts 1)"
    );
    let dropped = local
        .next("records dropped", |e| match e {
            Event::RecordsDiscarded { count, reason, .. } => Some((*count, reason.clone())),
            _ => None,
        })
        .await;
    assert_eq!(dropped.0, 2, "{dropped:?}");

    write(&dynamodb, &[("f", None)]).await;
    let third = batch(&mut local).await;
    assert_eq!(third.len(), 1, "the shard moves on: {third:?}");
    assert!(!second.contains(&third[0]));
    drop(emu);
}
