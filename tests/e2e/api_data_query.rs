//! HTTP API, generic data queries: pagination, indexed filters, concurrent If-Match writes.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use ob_core::data::{self, Caller, ListQuery, ListSource};
use ob_core::users::Role;
use ob_tests::fixtures::Api;
use serde_json::json;

use crate::api_data::{call, create, stored_pks, user};

#[tokio::test]
async fn data_pagination_returns_each_readable_record_once_in_order() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    let ann = user(&api, &app, "ann", Role::User).await;
    let bob = user(&api, &app, "bob", Role::User).await;
    let mut readable = Vec::new();
    for i in 0..300 {
        // Every sixth record is bob's and private: ann must never see it.
        let (who, keep) = if i % 6 == 5 {
            (&bob, false)
        } else {
            (&ann, true)
        };
        let reply = create(&api, &app, who, "items", json!({"data": {"i": i}}))
            .await
            .expect(StatusCode::CREATED);
        if keep {
            readable.push(reply.str("/id"));
        }
    }
    assert_eq!(readable.len(), 250);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/shop/items?limit=20&cursor={c}"),
            None => "/api/shop/items?limit=20".to_owned(),
        };
        let page = api
            .send(call(Method::GET, &path, &app, &ann))
            .await
            .expect(StatusCode::OK);
        let items = page.body["items"].as_array().unwrap();
        pages += 1;
        seen.extend(items.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        // Records inserted while paging come after the existing ones.
        create(&api, &app, &ann, "items", json!({"data": {"late": pages}}))
            .await
            .expect(StatusCode::CREATED);
        match page.body["nextCursor"].as_str() {
            Some(next) => {
                assert_eq!(items.len(), 20, "only the last page may be short");
                cursor = Some(next.to_owned());
            }
            None => break,
        }
        assert!(pages < 40, "pagination does not end");
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a record was returned twice");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "pages are not in creation order"
    );
    assert_eq!(
        seen[..250],
        readable[..],
        "every existing readable record, once, in order"
    );

    // Descending order, and a cursor is a position: one of another list starts that list after its id.
    let desc = api
        .send(call(
            Method::GET,
            "/api/shop/items?order=desc&limit=5",
            &app,
            &ann,
        ))
        .await
        .expect(StatusCode::OK);
    // Newest first: the record inserted after the last page, then the ones paged.
    let desc_ids: Vec<&str> = desc.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(desc_ids.windows(2).all(|w| w[0] > w[1]), "{desc_ids:?}");
    assert_eq!(desc_ids[1], seen.last().unwrap());
    let cursor = desc.str("/nextCursor");
    let elsewhere = api
        .send(call(
            Method::GET,
            &format!("/api/shop/other?cursor={cursor}"),
            &app,
            &ann,
        ))
        .await
        .expect(StatusCode::OK);
    assert_eq!(elsewhere.body["items"], json!([]), "no record of 'other'");
    let malformed = api
        .send(call(Method::GET, "/api/shop/items?cursor=abc", &app, &ann))
        .await;
    assert_eq!(
        (malformed.status, malformed.code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
}

#[tokio::test]
async fn data_indexed_filter_is_served_by_the_index() {
    let api = Api::start().await;
    let app = api.app("chat").await;
    // Written before the first request: an instance reuses an app's config for 30 s.
    ob_core::config::put(
        &api.store,
        "chat",
        serde_json::from_value(json!({"indexedFields": {"messages": ["conversationId"]}})).unwrap(),
        None,
    )
    .await
    .unwrap();
    let ann = user(&api, &app, "ann", Role::User).await;
    let mut c1 = Vec::new();
    for i in 0..5 {
        let conversation = if i % 2 == 0 { "c1" } else { "c2" };
        let reply = create(
            &api,
            &app,
            &ann,
            "messages",
            json!({"data": {"conversationId": conversation, "i": i}}),
        )
        .await
        .expect(StatusCode::CREATED);
        if conversation == "c1" {
            c1.push(reply.str("/id"));
        }
    }
    let reply = api
        .send(call(
            Method::GET,
            "/api/chat/messages?where.conversationId=c1",
            &app,
            &ann,
        ))
        .await
        .expect(StatusCode::OK);
    let ids: Vec<&str> = reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, c1);

    // The storage layer reports the Query that served the list.
    let caller = Caller {
        user_id: ann.id.clone(),
        role: Role::User,
    };
    let indexed = ["conversationId".to_owned()];
    let query = ListQuery {
        limit: 20,
        filters: vec![("conversationId".into(), "c1".into())],
        ..ListQuery::default()
    };
    let page = data::list(&api.store, "chat", "messages", &caller, &indexed, &query)
        .await
        .unwrap();
    assert_eq!(
        page.source,
        ListSource::Index {
            field: "conversationId".into()
        }
    );
    assert_eq!(page.items.len(), 3);
    let plain = data::list(
        &api.store,
        "chat",
        "messages",
        &caller,
        &indexed,
        &ListQuery {
            limit: 20,
            ..ListQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (plain.source, plain.items.len()),
        (ListSource::Partition, 5)
    );

    // Moving a record to another conversation moves its index entry in the same write.
    api.send(
        call(
            Method::PATCH,
            &format!("/api/chat/messages/{}", c1[0]),
            &app,
            &ann,
        )
        .json(&json!({"data": {"conversationId": "c2"}})),
    )
    .await
    .expect(StatusCode::OK);
    let pks = stored_pks(&api).await;
    let count = |pk: &str| pks.iter().filter(|p| *p == pk).count();
    assert_eq!(
        (
            count("IX#chat#messages#conversationId#c1"),
            count("IX#chat#messages#conversationId#c2")
        ),
        (2, 3)
    );
    api.send(call(
        Method::DELETE,
        &format!("/api/chat/messages/{}", c1[1]),
        &app,
        &ann,
    ))
    .await
    .expect(StatusCode::NO_CONTENT);
    assert_eq!(
        stored_pks(&api)
            .await
            .iter()
            .filter(|p| p.starts_with("IX#"))
            .count(),
        4
    );

    let long = format!(
        "/api/chat/messages?where.conversationId={}",
        "c".repeat(2000)
    );
    let reply = api.send(call(Method::GET, &long, &app, &ann)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let reply = create(
        &api,
        &app,
        &ann,
        "messages",
        json!({"data": {"conversationId": "c".repeat(2000)}}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);

    let undeclared = api
        .send(call(
            Method::GET,
            "/api/chat/messages?where.i=1",
            &app,
            &ann,
        ))
        .await;
    assert_eq!(undeclared.status, StatusCode::BAD_REQUEST);
    let message = undeclared.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("indexedFields") && message.contains("PUT /config/chat"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn data_concurrent_puts_with_same_if_match_let_exactly_one_win() {
    let api = Arc::new(Api::start().await);
    let app = api.app("shop").await;
    let ann = Arc::new(user(&api, &app, "ann", Role::User).await);
    let id = create(&api, &app, &ann, "counters", json!({"data": {"n": 0}}))
        .await
        .expect(StatusCode::CREATED)
        .str("/id");
    let path = format!("/api/shop/counters/{id}");
    let mut tasks = tokio::task::JoinSet::new();
    for n in 1..=20 {
        let (api, app, ann, path) = (api.clone(), app.clone(), ann.clone(), path.clone());
        tasks.spawn(async move {
            let reply = api
                .send(
                    call(Method::PUT, &path, &app, &ann)
                        .header("if-match", "\"1\"")
                        .json(&json!({"data": {"n": n}})),
                )
                .await;
            (reply.status, n)
        });
    }
    let results = tasks.join_all().await;
    let winners: Vec<i64> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .map(|(_, n)| *n)
        .collect();
    let lost = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!((winners.len(), lost), (1, 19), "{results:?}");
    let current = api
        .send(call(Method::GET, &path, &app, &ann))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (
            current.body["version"].clone(),
            current.body["data"]["n"].clone()
        ),
        (json!(2), json!(winners[0]))
    );
}
