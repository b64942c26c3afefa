//! Realtime keeps delivering after cancelled transactions: moto used to swap a table, stream shard included, for a copy on every cancellation, freezing every stream reader.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem};
use axum::http::StatusCode;
use ob_core::users::Role;
use ob_tests::fixtures::Api;
use serde_json::json;

use crate::api_data::{create, user};
use crate::realtime::{connect, next, serve, subscribe};

#[tokio::test]
async fn changes_still_arrive_after_a_cancelled_transaction() {
    let api = Api::start().await;
    let live = serve(&api).await;
    let shop = api.app("shop").await;
    let ada = user(&api, &shop, "ada", Role::User).await;
    let mut socket = connect(&live, &shop, &ada).await;
    subscribe(&mut socket, "resource:notes").await;

    // A taken e-mail: the registration's transaction is cancelled (409).
    api.register(&shop, "ada@example.com", "another good password")
        .await
        .expect(StatusCode::CONFLICT);
    // A transaction on the data table whose condition fails, as a lost
    // `If-Match` race ends: the table the stream belongs to is cancelled on.
    let missing = HashMap::from([
        ("pk".to_owned(), AttributeValue::S("R#shop#notes".into())),
        ("sk".to_owned(), AttributeValue::S("no-such-record".into())),
    ]);
    let check = ConditionCheck::builder()
        .table_name(&api.store.tables.data)
        .set_key(Some(missing))
        .condition_expression("attribute_exists(pk)")
        .build()
        .unwrap();
    let cancelled = api
        .store
        .client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().condition_check(check).build())
        .send()
        .await;
    assert!(
        cancelled.is_err(),
        "the condition fails, so the transaction is cancelled"
    );

    let note = create(
        &api,
        &shop,
        &ada,
        "notes",
        json!({"data": {"text": "still live"}}),
    )
    .await
    .expect(StatusCode::CREATED);
    let event = next(&mut socket).await;
    assert_eq!(event["type"], "created");
    assert_eq!(event["id"], note.str("/id").as_str());
}
