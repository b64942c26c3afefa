//! Bad input is a 400, never a 500, and costs no storage reads: profiles DynamoDB cannot store, app ids that are not the key's.

#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use ob_tests::fixtures::{Api, Call};
use serde_json::json;

#[tokio::test]
async fn profiles_dynamodb_cannot_store_are_refused_naming_the_field() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let mut deep = json!("bottom");
    for _ in 0..40 {
        deep = json!({ "d": deep });
    }
    let huge: serde_json::Value = serde_json::from_str(r#"{"score": 1e200}"#).unwrap();
    for (i, profile) in [deep, huge].into_iter().enumerate() {
        let reply = api
            .send(Call::post("/auth/register").key(&shop.key).json(&json!({
                "email": format!("p{i}@example.com"), "password": "correct horse battery",
                "appId": "shop", "profile": profile,
            })))
            .await
            .expect(StatusCode::BAD_REQUEST);
        assert_eq!(reply.code(), "invalid_request");
        assert!(
            reply.body["error"]["field"]
                .as_str()
                .unwrap()
                .starts_with("profile"),
            "{}",
            reply.body
        );
    }
}

#[tokio::test]
async fn another_apps_id_in_the_path_reads_nothing_about_it() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let get = |path: &str| {
        Call::get(path)
            .key(&shop.key)
            .header("origin", "https://shop.example")
    };
    // The key's own app is read once and then cached.
    api.send(get("/config/shop")).await;
    api.calls.take();
    for random in ["no-such-app-1", "no-such-app-2", "BAD app"] {
        let reply = api
            .send(get(&format!("/config/{}", random.replace(' ', "%20"))))
            .await
            .expect(StatusCode::UNAUTHORIZED);
        assert_eq!(reply.code(), "unauthorized");
    }
    let calls = api.calls.take();
    assert!(
        calls.iter().all(|c| c == "Query"),
        "only the key lookup, nothing about the named apps: {calls:?}"
    );
}
