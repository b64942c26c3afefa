//! HTTP API, API keys: missing, unknown, revoked, expired, unscoped, suspended-app and rotated keys; throttled use recording.

#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use ob_core::api_keys;
use ob_tests::fixtures::{Api, Call, TestApp};
use serde_json::json;

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn missing_unknown_revoked_expired_and_unscoped_keys_are_refused() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    let body = json!({"email": "ann@example.com", "password": PASSWORD, "appId": "shop"});
    let register = |key: Option<&str>| {
        let call = Call::post("/auth/register").json(&body);
        match key {
            Some(key) => call.key(key),
            None => call,
        }
    };
    let revoked = api.key("shop", &["auth"]).await;
    api_keys::revoke(&api.store, "shop", &revoked.key.key_id)
        .await
        .unwrap();
    let expired = api_keys::create(
        &api.store,
        "shop",
        "old",
        &["auth".into()],
        Some(ob_core::clock::now_epoch() - 1),
    )
    .await
    .unwrap();
    let unknown = api_keys::generate_secret().unwrap();
    for key in [
        None,
        Some("garbage"),
        Some(unknown.as_str()),
        Some(revoked.secret.as_str()),
        Some(expired.secret.as_str()),
    ] {
        let reply = api
            .send(register(key))
            .await
            .expect(StatusCode::UNAUTHORIZED);
        assert_eq!(reply.code(), "unauthorized");
    }
    let config_only = api.key("shop", &["config:read"]).await;
    let reply = api
        .send(register(Some(&config_only.secret)))
        .await
        .expect(StatusCode::FORBIDDEN);
    assert_eq!(reply.code(), "forbidden");

    // A suspended app's keys stop working (suspended before its first use, as
    // app facts are cached for a minute).
    let paused = api.app("paused").await;
    ob_core::apps::set_state(&api.store, "paused", ob_core::apps::AppState::Suspended)
        .await
        .unwrap();
    api.register(&paused, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::UNAUTHORIZED);

    // Rotation: the new key works, the old one no longer does.
    let rotated = api_keys::rotate(&api.store, "shop", &app.key_id)
        .await
        .unwrap();
    api.register(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let fresh = TestApp {
        key: rotated.secret,
        ..app.clone()
    };
    api.register(&fresh, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
}

#[tokio::test]
async fn key_use_is_recorded_at_most_once_a_minute() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    for _ in 0..3 {
        api.send(Call::get("/config/shop").key(&app.key))
            .await
            .expect(StatusCode::OK);
    }
    let key = api_keys::get(&api.store, "shop", &app.key_id)
        .await
        .unwrap()
        .unwrap();
    let used = key.last_used_at.unwrap();
    assert!((ob_core::clock::now_epoch() - used).abs() < 30);
    let uses = api
        .audit("shop")
        .await
        .into_iter()
        .filter(|e| e.action == "apikey.use")
        .count();
    assert_eq!(uses, 1);
}
