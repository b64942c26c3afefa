//! The emulator harness itself: pooled servers start empty, SDK clients reach
//! them through the standard endpoint override, and start-up failures say how
//! to fix them.

use std::path::Path;
use std::time::Instant;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_s3::primitives::ByteStream;
use ob_tests::{Emulator, emulator};

async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition is complete"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key schema is complete"),
        )
        .send()
        .await
        .expect("create_table succeeds against the emulator");
}

async fn table_names(client: &aws_sdk_dynamodb::Client) -> Vec<String> {
    client
        .list_tables()
        .send()
        .await
        .expect("list_tables succeeds against the emulator")
        .table_names()
        .to_vec()
}

#[tokio::test]
async fn a_second_checkout_starts_from_empty_state() {
    let started = Instant::now();
    let first = emulator().await;
    eprintln!("first checkout: {:?}", started.elapsed());
    let first_port = first.port();
    let client = aws_sdk_dynamodb::Client::new(&first.sdk_config().await);
    create_table(&client, "leftover").await;
    assert_eq!(table_names(&client).await, ["leftover"]);
    drop(first);

    let started = Instant::now();
    let second = emulator().await;
    eprintln!(
        "second checkout: {:?} (same server: {})",
        started.elapsed(),
        second.port() == first_port
    );
    let client = aws_sdk_dynamodb::Client::new(&second.sdk_config().await);
    assert_eq!(table_names(&client).await, Vec::<String>::new());
}

#[tokio::test]
async fn s3_objects_round_trip_through_the_endpoint_override() {
    let emulator = emulator().await;
    let s3_config = aws_sdk_s3::config::Builder::from(&emulator.sdk_config().await)
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(s3_config);

    s3.create_bucket()
        .bucket("round-trip")
        .send()
        .await
        .expect("create_bucket succeeds against the emulator");
    s3.put_object()
        .bucket("round-trip")
        .key("greeting.txt")
        .body(ByteStream::from_static(b"hello, emulator"))
        .send()
        .await
        .expect("put_object succeeds against the emulator");
    let object = s3
        .get_object()
        .bucket("round-trip")
        .key("greeting.txt")
        .send()
        .await
        .expect("get_object succeeds against the emulator");
    let body = object.body.collect().await.expect("body downloads");
    assert_eq!(body.into_bytes().as_ref(), b"hello, emulator");
}

#[tokio::test]
async fn env_vars_point_at_the_server() {
    let emulator = emulator().await;
    let vars = emulator.env_vars();
    let value = |name: &str| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    };
    assert_eq!(
        value("AWS_ENDPOINT_URL"),
        Some(emulator.endpoint_url().as_str())
    );
    assert_eq!(value("AWS_REGION"), Some("us-east-1"));
    assert!(value("AWS_ACCESS_KEY_ID").is_some());
    assert!(value("AWS_SECRET_ACCESS_KEY").is_some());
}

#[test]
fn a_missing_python_names_the_fix() {
    let error = Emulator::start_with(Path::new("/nonexistent/.venv/bin/python"))
        .expect_err("a nonexistent interpreter cannot start the emulator")
        .to_string();
    assert!(
        error.contains("/nonexistent/.venv/bin/python"),
        "names the interpreter: {error}"
    );
    assert!(error.contains("make venv"), "names the fix: {error}");
}

#[test]
fn a_launcher_that_exits_early_names_the_fix() {
    // `false` runs but exits at once without printing READY, like a Python without moto.
    let error = Emulator::start_with(Path::new("false"))
        .expect_err("`false` cannot start the emulator")
        .to_string();
    assert!(
        error.contains("exited without printing READY"),
        "says what went wrong: {error}"
    );
    assert!(error.contains("make venv"), "names the fix: {error}");
}
