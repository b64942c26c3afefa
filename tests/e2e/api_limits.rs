//! Request limits per app and per client address: one noisy client or app cannot make the others see 429s.

#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use ob_api::limits::RateLimits;
use ob_core::users::Role;
use ob_tests::fixtures::{Api, Call, test_settings};
use serde_json::json;

use crate::api_data::user;

#[tokio::test]
async fn each_app_and_each_client_has_its_own_budget() {
    let mut settings = test_settings();
    settings.request_limits = RateLimits {
        per_app: 8,
        per_client: 4,
    };
    let api = Api::start_with(settings).await;
    let shop = api.app("shop").await;
    let blog = api.app("blog").await;
    let get = |key: &str, app: &str, ip: &str| {
        Call::get(&format!("/config/{app}")).key(key).from_addr(ip)
    };
    // One client of shop uses up its own budget…
    for _ in 0..4 {
        api.send(get(&shop.key, "shop", "10.0.0.1"))
            .await
            .expect(StatusCode::OK);
    }
    let refused = api
        .send(get(&shop.key, "shop", "10.0.0.1"))
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.code(), "too_many_requests");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // …another client of shop is served, until the app's budget is spent…
    for _ in 0..4 {
        api.send(get(&shop.key, "shop", "10.0.0.2"))
            .await
            .expect(StatusCode::OK);
    }
    api.send(get(&shop.key, "shop", "10.0.0.3"))
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
    // …and another app is not affected at all, even from the noisy address.
    api.send(get(&blog.key, "blog", "10.0.0.1"))
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn an_app_may_set_its_own_limits() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let admin = user(&api, &shop, "ada", Role::Admin).await;
    api.send(
        Call::put("/config/shop")
            .key(&shop.key)
            .bearer(&admin.token)
            .json(&json!({"limits": {"requestsPerMinutePerClient": 2}})),
    )
    .await
    .expect(StatusCode::OK);
    for _ in 0..2 {
        api.send(
            Call::get("/config/shop")
                .key(&shop.key)
                .from_addr("10.0.0.7"),
        )
        .await
        .expect(StatusCode::OK);
    }
    api.send(
        Call::get("/config/shop")
            .key(&shop.key)
            .from_addr("10.0.0.7"),
    )
    .await
    .expect(StatusCode::TOO_MANY_REQUESTS);
    let bad = api
        .send(
            Call::put("/config/shop")
                .key(&shop.key)
                .bearer(&admin.token)
                .from_addr("10.0.0.8")
                .json(&json!({"limits": {"requestsPerMinute": 0}})),
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"]["field"], "limits.requestsPerMinute");
}
