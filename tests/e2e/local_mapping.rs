//! The local stream mapping (ob-local) on an emulator table's stream: records arrive in batches as Lambda delivers
//! them, a batch with a failed record is retried from that record, and records whose retries ran out are dropped
//! without blocking the shard and described to the on-failure SQS queue as Lambda describes them; and the local queue mapping on an emulator SQS queue: what succeeded is deleted, what
//! the function names in `batchItemFailures` comes back after the visibility timeout, and SQS dead-letters it after
//! `maxReceiveCount` receives.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, StreamSpecification, StreamViewType, WriteRequest,
};
use aws_sdk_sqs::types::QueueAttributeName;
use ob_local::sources::dynamodb_stream::{DynamoDbStream, StartingPosition, StreamSpec};
use ob_local::sources::sqs_queue::{QueueSpec, SqsQueue};
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
async fn a_batch_with_a_failed_record_is_retried_from_it_and_spent_retries_go_to_the_on_failure_queue()
 {
    let emu = ob_tests::emulator().await;
    let sdk = emu.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let stream_arn = table_with_stream(&dynamodb).await;
    let failed_url = sqs
        .create_queue()
        .queue_name("t-stream-failed")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let failed_arn = sqs
        .get_queue_attributes()
        .queue_url(&failed_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let fixture = function("fixture", "fixture-function", Duration::from_secs(10), &[]);
    let function_arn = fixture.arn.clone();
    let mut local = Local::start(vec![fixture], None, None).await;
    let events: EventBus = local.runtime.events().clone();
    let source = DynamoDbStream::new(
        aws_sdk_dynamodbstreams::Client::new(&sdk),
        sqs.clone(),
        StreamSpec {
            mapping: "TestMapping".into(),
            stream_arn: stream_arn.clone(),
            region: "us-east-1".into(),
            starting_position: StartingPosition::TrimHorizon,
            bisect_on_error: false,
            max_retries: Some(1),
            max_record_age: None,
            function_arn: function_arn.clone(),
            on_failure: Some(failed_arn.clone()),
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
            Event::RecordsDiscarded { count, sent_to, .. } => Some((*count, sent_to.clone())),
            _ => None,
        })
        .await;
    assert_eq!(dropped, (2, Some(failed_arn)));
    // The queue is told where the dropped records are (not what they hold), as Lambda tells it.
    let received = sqs
        .receive_message()
        .queue_url(&failed_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<Value> = received
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(
        bodies.len(),
        1,
        "one message per discarded batch: {bodies:?}"
    );
    let record = &bodies[0];
    assert_eq!(record["version"], "1.0");
    assert_eq!(
        record["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(
        record["requestContext"]["functionArn"],
        function_arn.as_str()
    );
    assert_eq!(
        record["requestContext"]["approximateInvokeCount"], 2,
        "the first invocation and its one retry"
    );
    assert!(
        record["requestContext"]["requestId"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(
        record["responseContext"],
        serde_json::json!({"statusCode": 200, "executedVersion": "$LATEST"}),
        "the function answered (a partial batch failure), so no functionError"
    );
    let info = &record["DDBStreamBatchInfo"];
    assert_eq!(info["startSequenceNumber"], second[0].as_str());
    assert_eq!(info["endSequenceNumber"], second[1].as_str());
    assert_eq!(info["batchSize"], 2);
    assert_eq!(info["streamArn"], stream_arn.as_str());
    assert!(
        info["shardId"]
            .as_str()
            .is_some_and(|id| id.starts_with("shardId-")),
        "{info}"
    );
    assert!(
        info["approximateArrivalOfFirstRecord"]
            .as_str()
            .is_some_and(|at| at.len() == 20 && at.ends_with('Z')),
        "{info}"
    );

    write(&dynamodb, &[("f", None)]).await;
    let third = batch(&mut local).await;
    assert_eq!(third.len(), 1, "the shard moves on: {third:?}");
    assert!(!second.contains(&third[0]));
    drop(emu);
}

/// A queue `name` with a 1-second visibility timeout and a dead-letter queue (`name-dlq`) after 2 receives: its
/// ARN, its URL and the dead-letter queue's URL.
pub(crate) async fn queue_with_dead_letters(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
) -> (String, String, String) {
    let arn_of = |url: String| async move {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        attributes.attributes().unwrap()[&QueueAttributeName::QueueArn].clone()
    };
    let dead = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .unwrap();
    let dead_url = dead.queue_url().unwrap().to_owned();
    let redrive = serde_json::json!({"deadLetterTargetArn": arn_of(dead_url.clone()).await, "maxReceiveCount": 2});
    let work = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .unwrap();
    let work_url = work.queue_url().unwrap().to_owned();
    (arn_of(work_url.clone()).await, work_url, dead_url)
}

#[tokio::test]
async fn a_queue_mapping_deletes_what_succeeded_retries_failed_items_and_sqs_dead_letters_them() {
    let emu = ob_tests::emulator().await;
    let sdk = emu.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (queue_arn, work_url, dead_url) = queue_with_dead_letters(&sqs, "t-work").await;
    let fixture = function("fixture", "fixture-function", Duration::from_secs(10), &[]);
    let mut local = Local::start(vec![fixture], None, None).await;
    let source = SqsQueue::new(
        sqs.clone(),
        QueueSpec {
            mapping: "TestQueueMapping".into(),
            queue_arn,
            wait: Duration::from_secs(1),
        },
        local.runtime.events().clone(),
    );
    let mapping = MappingSpec {
        name: "TestQueueMapping".into(),
        function: "fixture".into(),
        batch_size: 10,
        batching_window: Duration::from_millis(500),
        report_batch_item_failures: true,
    };
    let _runner = sources::start(mapping, source, local.runtime.clone());

    for body in ["fine", "fail once", "fail always"] {
        sqs.send_message()
            .queue_url(&work_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let mut first = batch(&mut local).await;
    first.sort();
    assert_eq!(
        first,
        ["fail always", "fail once", "fine"],
        "one batch of three"
    );
    // Past the visibility timeout, only what the function named comes back.
    let mut second = batch(&mut local).await;
    second.sort();
    assert_eq!(second, ["fail always", "fail once"]);
    // The second receive was the last (maxReceiveCount 2): SQS moves the message on the next receive.
    let mut dead = Vec::new();
    for _ in 0..40 {
        let out = sqs
            .receive_message()
            .queue_url(&dead_url)
            .send()
            .await
            .unwrap();
        dead.extend(
            out.messages()
                .iter()
                .filter_map(|m| m.body().map(str::to_owned)),
        );
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        dead,
        ["fail always"],
        "only the message that kept failing is dead-lettered"
    );
    let report = local
        .next("the mapping's reports", |e| match e {
            Event::Invoked(report) if report.trigger.starts_with("TestQueueMapping") => {
                Some(report.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(report.function, "fixture");
    let left = sqs
        .get_queue_attributes()
        .queue_url(&work_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let count = |name: QueueAttributeName| left.attributes().unwrap()[&name].clone();
    assert_eq!(
        (
            count(QueueAttributeName::ApproximateNumberOfMessages),
            count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        ),
        ("0".to_owned(), "0".to_owned()),
        "the work queue is empty"
    );
    drop(emu);
}

/// What `obctl dev` reads from the rendered stage: the data stream's mapping
/// sends what it discards to the queue the template names.
#[test]
fn the_stage_stream_mapping_names_its_on_failure_queue() {
    let project = obctl::project::Project::at(&ob_tests::emulator::workspace_root());
    let stage = obctl::stage::load(&project, "local").unwrap();
    let template = obctl::render::render(&project, &stage).unwrap();
    let model = obctl::render::model::read(&template).unwrap();
    let mapping = model
        .mappings
        .iter()
        .find(|m| m.logical_id == "RealtimeStreamMapping")
        .unwrap();
    let expected: serde_yaml::Value =
        serde_yaml::from_str("{Fn::GetAtt: [RealtimeFailedBatches, Arn]}").unwrap();
    assert_eq!(
        mapping.on_failure.as_ref(),
        Some(&expected),
        "{:?}",
        mapping.on_failure
    );
}
