//! DynamoDB calls per warm request, route by route (issue 17's budget), counted by the SDK interceptor; request-limit syncs (background, at most once a second) excluded.

#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use ob_core::users::Role;
use ob_tests::fixtures::{Api, Call};
use serde_json::json;

use crate::api_data::{call, create, user};

/// The calls of one request.
async fn calls_of(api: &Api, request: Call, status: StatusCode) -> Vec<String> {
    api.calls.take();
    api.send(request).await.expect(status);
    api.calls.take_excluding(&api.store.tables.limits)
}

#[tokio::test]
async fn warm_requests_keep_their_call_budget() {
    let api = crate::api_files::start().await;
    let shop = api.app("shop").await;
    let ada = user(&api, &shop, "ada", Role::User).await;
    // Warm: the key, the app and its config cached, the resource registered.
    let first = create(&api, &shop, &ada, "notes", json!({"data": {"n": 0}}))
        .await
        .expect(StatusCode::CREATED)
        .str("/id");
    let record = |id: &str| format!("/api/shop/notes/{id}");
    let get = call(Method::GET, &record(&first), &shop, &ada);
    assert_eq!(
        calls_of(&api, get, StatusCode::OK).await,
        ["GetItem"],
        "read"
    );
    let me = call(Method::GET, "/auth/me", &shop, &ada);
    assert_eq!(calls_of(&api, me, StatusCode::OK).await, ["GetItem"], "me");

    let post = call(Method::POST, "/api/shop/notes", &shop, &ada).json(&json!({"data": {"n": 1}}));
    assert_eq!(
        calls_of(&api, post, StatusCode::CREATED).await,
        ["TransactWriteItems"],
        "create: record, index entries, audit entry and the standing checks in one transaction"
    );
    let patch = call(Method::PATCH, &record(&first), &shop, &ada).json(&json!({"data": {"n": 2}}));
    assert_eq!(
        calls_of(&api, patch, StatusCode::OK).await,
        ["GetItem", "TransactWriteItems"],
        "update"
    );
    let put = call(Method::PUT, &record(&first), &shop, &ada).json(&json!({"data": {"n": 3}}));
    assert_eq!(
        calls_of(&api, put, StatusCode::OK).await,
        ["GetItem", "TransactWriteItems"],
        "replace"
    );
    let delete = call(Method::DELETE, &record(&first), &shop, &ada);
    assert_eq!(
        calls_of(&api, delete, StatusCode::NO_CONTENT).await,
        ["GetItem", "TransactWriteItems"],
        "delete"
    );
    let upload = call(Method::POST, "/files/shop/upload-url", &shop, &ada)
        .json(&json!({"fileName": "a.txt", "fileType": "text/plain", "size": 3}));
    assert_eq!(
        calls_of(&api, upload, StatusCode::OK).await,
        ["GetItem", "TransactWriteItems"],
        "upload URL: the previous upload's metadata, then metadata, audit and checks at once"
    );
}

#[tokio::test]
async fn every_write_is_audited_in_its_own_transaction() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let ada = user(&api, &shop, "ada", Role::User).await;
    let id = create(&api, &shop, &ada, "notes", json!({"data": {"n": 0}}))
        .await
        .expect(StatusCode::CREATED)
        .str("/id");
    api.send(
        call(Method::PATCH, &format!("/api/shop/notes/{id}"), &shop, &ada)
            .json(&json!({"data": {"m": 1}})),
    )
    .await
    .expect(StatusCode::OK);
    api.send(call(
        Method::DELETE,
        &format!("/api/shop/notes/{id}"),
        &shop,
        &ada,
    ))
    .await
    .expect(StatusCode::NO_CONTENT);
    let entries = ob_core::audit::list(&api.store, "shop", 50).await.unwrap();
    let of_record: Vec<(&str, Vec<String>)> = entries
        .iter()
        .filter(|e| e.target == format!("notes:{id}"))
        .map(|e| {
            let mut fields = e.changed_fields.clone();
            fields.sort();
            (e.action.as_str(), fields)
        })
        .collect();
    assert_eq!(
        of_record,
        [
            ("data.delete", vec!["m".to_owned(), "n".to_owned()]),
            ("data.update", vec!["m".to_owned()]),
            ("data.create", vec!["n".to_owned()]),
        ]
    );
}
