//! Lists cost what the caller may read: a bounded read per request whatever others store, and `?owner=me` from the owner index.

#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use ob_core::users::Role;
use ob_tests::fixtures::{Api, Call};
use serde_json::json;

use crate::api_data::{create, user};

#[tokio::test]
async fn another_users_large_private_records_do_not_make_a_list_expensive() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let ann = user(&api, &shop, "ann", Role::User).await;
    let bob = user(&api, &shop, "bob", Role::User).await;
    // 8 private records of ~300 KB: 2.4 MB bob may not read.
    let blob = "x".repeat(300 * 1024);
    for _ in 0..8 {
        create(&api, &shop, &ann, "notes", json!({"data": {"blob": blob}}))
            .await
            .expect(StatusCode::CREATED);
    }
    let list = |cursor: Option<&str>| {
        let mut path = "/api/shop/notes?limit=20".to_owned();
        if let Some(c) = cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        Call::get(&path).key(&shop.key).bearer(&bob.token)
    };
    // One request stops once it examined a megabyte: a short (empty) page
    // whose cursor goes on, instead of reading all of it.
    let first = api.send(list(None)).await.expect(StatusCode::OK);
    assert_eq!(first.body["items"], json!([]));
    let mut cursor = first.body["nextCursor"]
        .as_str()
        .expect("the budget ended the page early")
        .to_owned();
    let mut requests = 1;
    loop {
        let next = api.send(list(Some(&cursor))).await.expect(StatusCode::OK);
        assert_eq!(next.body["items"], json!([]));
        requests += 1;
        match next.body["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
        assert!(requests < 10, "the cursor makes progress");
    }
    assert!(requests >= 2, "2.4 MB take more than one request");
}

#[tokio::test]
async fn owner_me_lists_the_callers_records_from_the_owner_index() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let ann = user(&api, &shop, "ann", Role::User).await;
    let bob = user(&api, &shop, "bob", Role::User).await;
    let mut anns = Vec::new();
    for i in 0..3 {
        let reply = create(&api, &shop, &ann, "notes", json!({"data": {"n": i}}))
            .await
            .expect(StatusCode::CREATED);
        anns.push(reply.str("/id"));
    }
    for i in 0..5 {
        create(
            &api,
            &shop,
            &bob,
            "notes",
            json!({"data": {"n": i}, "permissions": {"read": ["*"]}}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    // Two pages of two, so the index's cursor is exercised.
    let mut seen = Vec::new();
    let mut path = "/api/shop/notes?owner=me&limit=2".to_owned();
    loop {
        api.calls.take();
        let page = api
            .send(Call::get(&path).key(&shop.key).bearer(&ann.token))
            .await
            .expect(StatusCode::OK);
        assert!(api.calls.take().iter().any(|c| c == "Query"));
        for item in page.body["items"].as_array().unwrap() {
            assert_eq!(item["ownerId"], ann.id.as_str());
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page.body["nextCursor"].as_str() {
            Some(c) => path = format!("/api/shop/notes?owner=me&limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        seen, anns,
        "all of ann's records, in creation order, and only hers"
    );

    for (query, field) in [("owner=bob", "owner"), ("owner=me&where.n=1", "owner")] {
        let bad = api
            .send(
                Call::get(&format!("/api/shop/notes?{query}"))
                    .key(&shop.key)
                    .bearer(&ann.token),
            )
            .await
            .expect(StatusCode::BAD_REQUEST);
        assert_eq!(bad.body["error"]["field"], field, "{query}");
    }
}
