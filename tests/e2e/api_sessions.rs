//! HTTP API, sessions: login throttling, refresh rotation and reuse detection, logout, disabled accounts.

#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use ob_core::throttle::Policy;
use ob_tests::fixtures::{Api, Call, test_settings};
use serde_json::json;

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn repeated_failures_are_throttled_per_account_and_per_client() {
    let mut settings = test_settings();
    settings.login_throttle = Policy {
        max_per_account: 3,
        max_per_client: 5,
        window_secs: 120,
    };
    let api = Api::start_with(settings).await;
    let app = api.app("shop").await;
    api.register(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    api.register(&app, "bob@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let attempt = |email: &str, password: &str, ip: &str| {
        Call::post("/auth/login")
            .key(&app.key)
            .from_addr(ip)
            .json(&json!({"email": email, "password": password, "appId": "shop"}))
    };
    for _ in 0..3 {
        api.send(attempt("ann@example.com", "wrong password", "10.0.0.1"))
            .await
            .expect(StatusCode::UNAUTHORIZED);
    }
    // Locked: even the right password, even from another address.
    let locked = api
        .send(attempt("ann@example.com", PASSWORD, "10.0.0.2"))
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.code(), "too_many_requests");
    let retry_after: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=120).contains(&retry_after), "{retry_after}");
    // Another account is unaffected.
    api.send(attempt("bob@example.com", PASSWORD, "10.0.0.2"))
        .await
        .expect(StatusCode::OK);

    // One client failing on many accounts is locked as a client.
    for i in 0..2 {
        api.send(attempt(
            &format!("nobody{i}@example.com"),
            "wrong password",
            "10.0.0.1",
        ))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    }
    api.send(attempt("bob@example.com", PASSWORD, "10.0.0.1"))
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
    api.send(attempt("bob@example.com", PASSWORD, "10.0.0.3"))
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn successful_login_resets_the_account_counter() {
    let mut settings = test_settings();
    settings.login_throttle.max_per_account = 3;
    let api = Api::start_with(settings).await;
    let app = api.app("shop").await;
    api.register(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    for _ in 0..2 {
        api.login(&app, "ann@example.com", "wrong password")
            .await
            .expect(StatusCode::UNAUTHORIZED);
    }
    api.login(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::OK);
    for _ in 0..2 {
        api.login(&app, "ann@example.com", "wrong password")
            .await
            .expect(StatusCode::UNAUTHORIZED);
    }
    api.login(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    let first = api
        .register(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let r1 = first.str("/refreshToken");
    let second = api.refresh(&app, &r1).await.expect(StatusCode::OK);
    let r2 = second.str("/refreshToken");
    assert_ne!(r1, r2);
    assert_eq!(second.str("/user/email"), "ann@example.com");
    api.send(
        Call::get("/auth/me")
            .key(&app.key)
            .bearer(&second.str("/accessToken")),
    )
    .await
    .expect(StatusCode::OK);

    // A second login is a separate family, unaffected by what follows.
    let other = api
        .login(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::OK);

    // r1 was rotated: presenting it again is reuse, and revokes r2 as well.
    api.refresh(&app, &r1)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    api.refresh(&app, &r2)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    api.refresh(&app, &other.str("/refreshToken"))
        .await
        .expect(StatusCode::OK);

    let actions: Vec<_> = api
        .audit("shop")
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions.contains(&"auth.refresh.reuse".to_owned()),
        "{actions:?}"
    );
    assert!(actions.contains(&"auth.refresh".to_owned()), "{actions:?}");

    api.refresh(&app, "made-up-token")
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let missing = api
        .send(Call::post("/auth/refresh").key(&app.key).json(&json!({})))
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(missing.body["error"]["field"], "refreshToken");
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    let session = api
        .register(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let token = session.str("/refreshToken");
    let logout = |token: &str| {
        Call::post("/auth/logout")
            .key(&app.key)
            .json(&json!({ "refreshToken": token }))
    };
    let reply = api
        .send(logout(&token))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(reply.body, serde_json::Value::Null);
    api.refresh(&app, &token)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    api.send(logout("unknown-token"))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let actions: Vec<_> = api
        .audit("shop")
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.contains(&"auth.logout".to_owned()), "{actions:?}");
}

#[tokio::test]
async fn disabled_users_cannot_log_in_refresh_or_read_me() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    let session = api
        .register(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let user_id = session.str("/user/userId");
    ob_core::users::set_disabled(&api.store, "shop", &user_id, true)
        .await
        .unwrap();
    api.login(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    api.refresh(&app, &session.str("/refreshToken"))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    api.send(
        Call::get("/auth/me")
            .key(&app.key)
            .bearer(&session.str("/accessToken")),
    )
    .await
    .expect(StatusCode::UNAUTHORIZED);
}
