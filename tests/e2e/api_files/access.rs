//! HTTP API, files: who reaches a file (owner, admin, other users, other apps), deletes and paginated listing.

#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use ob_core::users::Role;
use serde_json::{Value, json};

use super::{
    audited, delete_by_query, download, download_url, keys, list, object_exists, path, start,
    stored, upload,
};
use crate::api_data::{call, user};

#[tokio::test]
async fn only_the_owner_and_admins_reach_a_file() {
    let api = start().await;
    let app = api.app("shop").await;
    let ada = user(&api, &app, "ada", Role::User).await;
    let bob = user(&api, &app, "bob", Role::User).await;
    let boss = user(&api, &app, "boss", Role::Admin).await;
    let key = upload(&api, &app, &ada, "a.txt", "text/plain", b"ada's").await;
    upload(&api, &app, &bob, "b.txt", "text/plain", b"bob's").await;

    download_url(&api, &app, &bob, &key)
        .await
        .expect(StatusCode::NOT_FOUND);
    delete_by_query(&api, &app, &bob, &key)
        .await
        .expect(StatusCode::NOT_FOUND);
    assert!(object_exists(&api, &key).await);
    let bobs = list(&api, &app, &bob, "").await.expect(StatusCode::OK);
    assert_eq!(keys(&bobs), vec![format!("shop/{}/b.txt", bob.id)]);
    let peek = list(&api, &app, &bob, &format!("owner={}", ada.id)).await;
    assert_eq!(peek.expect(StatusCode::FORBIDDEN).code(), "forbidden");

    let all = list(&api, &app, &boss, "").await.expect(StatusCode::OK);
    assert_eq!(keys(&all).len(), 2, "{}", all.body);
    let adas = list(&api, &app, &boss, &format!("owner={}", ada.id))
        .await
        .expect(StatusCode::OK);
    assert_eq!(keys(&adas), vec![key.clone()]);
    assert_eq!(download(&api, &app, &boss, &key).await, b"ada's");
    api.send(call(Method::DELETE, &path(&app, "delete"), &app, &boss).json(&json!({"key": key})))
        .await
        .expect(StatusCode::NO_CONTENT);
    download_url(&api, &app, &ada, &key)
        .await
        .expect(StatusCode::NOT_FOUND);
    assert!(audited(&api, "file.delete").await);
}

#[tokio::test]
async fn delete_removes_object_and_metadata() {
    let api = start().await;
    let app = api.app("shop").await;
    let ada = user(&api, &app, "ada", Role::User).await;
    let key = upload(
        &api,
        &app,
        &ada,
        "gone.bin",
        "application/octet-stream",
        &[7; 64],
    )
    .await;
    assert!(object_exists(&api, &key).await);
    delete_by_query(&api, &app, &ada, &key)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert!(!object_exists(&api, &key).await);
    assert!(stored(&api, &app, &key).await.is_none());
    download_url(&api, &app, &ada, &key)
        .await
        .expect(StatusCode::NOT_FOUND);
    assert!(keys(&list(&api, &app, &ada, "").await.expect(StatusCode::OK)).is_empty());
    delete_by_query(&api, &app, &ada, &key)
        .await
        .expect(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_apps_files_are_never_reachable() {
    let api = start().await;
    let shop = api.app("shop").await;
    let blog = api.app("blog").await;
    let ada = user(&api, &shop, "ada", Role::Admin).await;
    let eve = user(&api, &blog, "eve", Role::Admin).await;
    let key = upload(&api, &blog, &eve, "secret.txt", "text/plain", b"blog only").await;

    // Blog's key sent to shop's routes with shop's credentials (even an admin's)
    // names no file of shop; blog's prefix lists nothing.
    let reply = download_url(&api, &shop, &ada, &key).await;
    assert_eq!(
        reply.expect(StatusCode::NOT_FOUND).body["error"]["code"],
        "not_found"
    );
    let reply = api
        .send(call(
            Method::DELETE,
            &format!("{}?key={key}", path(&shop, "delete")),
            &shop,
            &ada,
        ))
        .await;
    reply.expect(StatusCode::NOT_FOUND);
    let reply = list(&api, &shop, &ada, "prefix=blog/").await;
    assert!(keys(&reply.expect(StatusCode::OK)).is_empty());
    // A malformed key is a 400 naming it.
    let reply = download_url(&api, &shop, &ada, "shop/../blog/x").await;
    assert_eq!(
        reply.expect(StatusCode::BAD_REQUEST).body["error"]["field"],
        "key"
    );
    assert!(keys(&list(&api, &shop, &ada, "").await.expect(StatusCode::OK)).is_empty());

    // Shop's credentials on blog's path.
    let reply = api
        .send(
            call(Method::POST, &path(&blog, "download-url"), &shop, &ada)
                .json(&json!({"key": key})),
        )
        .await;
    reply.expect(StatusCode::UNAUTHORIZED);
    // Blog's key with shop's path but a shop token is refused too.
    let reply = api
        .send(
            ob_tests::fixtures::Call::post(&path(&shop, "download-url"))
                .key(&blog.key)
                .bearer(&ada.token)
                .json(&json!({"key": key})),
        )
        .await;
    reply.expect(StatusCode::UNAUTHORIZED);
    assert!(object_exists(&api, &key).await);
    assert_eq!(download(&api, &blog, &eve, &key).await, b"blog only");
}

#[tokio::test]
async fn listing_pages_with_a_cursor_and_filters_by_prefix() {
    let api = start().await;
    let app = api.app("shop").await;
    let ada = user(&api, &app, "ada", Role::User).await;
    let bob = user(&api, &app, "bob", Role::User).await;
    for name in ["a/1.txt", "a/2.txt", "b/3.txt", "b/4.txt", "c.txt"] {
        upload(&api, &app, &ada, name, "text/plain", name.as_bytes()).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=2&cursor={c}"),
            None => "limit=2".to_owned(),
        };
        let page = list(&api, &app, &ada, &query).await.expect(StatusCode::OK);
        seen.extend(keys(&page));
        pages += 1;
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    let expected: Vec<String> = ["a/1.txt", "a/2.txt", "b/3.txt", "b/4.txt", "c.txt"]
        .iter()
        .map(|n| format!("shop/{}/{n}", ada.id))
        .collect();
    assert_eq!(seen, expected);
    assert!(pages >= 3);

    let first = list(&api, &app, &ada, "limit=2")
        .await
        .expect(StatusCode::OK);
    let next = first.str("/nextCursor");
    // A cursor is a position in whatever listing it is sent with: another user's listing
    // (bob has no files), a prefix it sorts before (from its start) or after (nothing),
    // any key (after it).
    let reply = list(&api, &app, &bob, &format!("cursor={next}")).await;
    assert!(keys(&reply.expect(StatusCode::OK)).is_empty());
    let reply = list(
        &api,
        &app,
        &ada,
        &format!("cursor={next}&prefix=shop/{}/b/", ada.id),
    )
    .await;
    assert_eq!(keys(&reply.expect(StatusCode::OK)), expected[2..4].to_vec());
    let after = list(&api, &app, &ada, "cursor=zzz")
        .await
        .expect(StatusCode::OK);
    assert!(keys(&after).is_empty() && after.body["nextCursor"].is_null());
    let reply = list(&api, &app, &ada, &format!("limit=1&cursor={}", expected[2])).await;
    assert_eq!(keys(&reply.expect(StatusCode::OK)), expected[3..4].to_vec());

    let b = list(&api, &app, &ada, &format!("prefix=shop/{}/b/", ada.id))
        .await
        .expect(StatusCode::OK);
    assert_eq!(keys(&b), expected[2..4].to_vec());
    let reply: Value = list(&api, &app, &ada, "limit=101")
        .await
        .expect(StatusCode::BAD_REQUEST)
        .body;
    assert_eq!(reply["error"]["field"], "limit");
}
