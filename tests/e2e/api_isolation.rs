//! HTTP API, tenant isolation: a user, token or key of one app can never read or change another app.

#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use ob_core::users::{self, Role};
use ob_tests::fixtures::{Api, Call, TestApp};
use serde_json::json;

const PASSWORD: &str = "correct horse battery";

/// Two apps, each with an admin user; returns the apps and their access tokens.
async fn two_apps(api: &Api) -> ((TestApp, String), (TestApp, String)) {
    let mut out = Vec::new();
    for app_id in ["app-a", "app-b"] {
        let app = api.app(app_id).await;
        let reply = api
            .register(&app, "admin@example.com", PASSWORD)
            .await
            .expect(StatusCode::CREATED);
        users::set_role(&api.store, app_id, &reply.str("/user/userId"), Role::Admin)
            .await
            .unwrap();
        let login = api
            .send(Call::post("/auth/login").key(&app.key).json(&json!({
                "email": "admin@example.com", "password": PASSWORD, "appId": app_id
            })))
            .await
            .expect(StatusCode::OK);
        assert_eq!(login.str("/user/role"), "admin");
        out.push((app, login.str("/accessToken")));
    }
    let b = out.pop().unwrap();
    let a = out.pop().unwrap();
    (a, b)
}

#[tokio::test]
async fn one_email_registers_once_per_app() {
    let api = Api::start().await;
    let a = api.app("app-a").await;
    let b = api.app("app-b").await;
    let in_a = api
        .register(&a, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let in_b = api
        .register(&b, "ann@example.com", "a different password")
        .await
        .expect(StatusCode::CREATED);
    assert_ne!(in_a.str("/user/userId"), in_b.str("/user/userId"));
    assert_eq!(in_b.str("/user/appId"), "app-b");
    // Each app's password is its own.
    let login = |app: &TestApp, password: &str| {
        Call::post("/auth/login").key(&app.key).json(&json!({
            "email": "ann@example.com", "password": password, "appId": app.app_id
        }))
    };
    api.send(login(&a, "a different password"))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    api.send(login(&b, "a different password"))
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn forged_app_ids_in_bodies_are_refused() {
    let api = Api::start().await;
    let a = api.app("app-a").await;
    let _b = api.app("app-b").await;
    for path in ["/auth/register", "/auth/login"] {
        let reply = api
            .send(Call::post(path).key(&a.key).json(&json!({
                "email": "ann@example.com", "password": PASSWORD, "appId": "app-b"
            })))
            .await
            .expect(StatusCode::UNAUTHORIZED);
        assert_eq!(reply.code(), "unauthorized");
    }
    assert!(
        users::find_by_email(&api.store, "app-b", "ann@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        users::find_by_email(&api.store, "app-a", "ann@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn tokens_and_keys_of_one_app_do_not_work_on_another() {
    let api = Api::start().await;
    let ((a, token_a), (b, token_b)) = two_apps(&api).await;

    // A's token with B's key (me, config write): refused.
    api.send(Call::get("/auth/me").key(&b.key).bearer(&token_a))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let config = json!({"featureFlags": {"takeover": true}});
    for (key, token) in [(&b.key, &token_a), (&a.key, &token_b), (&a.key, &token_a)] {
        api.send(
            Call::put("/config/app-b")
                .key(key)
                .bearer(token)
                .json(&config),
        )
        .await
        .expect(StatusCode::UNAUTHORIZED);
    }
    // A's key on B's config (forged path app id): refused.
    api.send(Call::get("/config/app-b").key(&a.key))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let b_config = api
        .send(Call::get("/config/app-b").key(&b.key))
        .await
        .expect(StatusCode::OK);
    assert_eq!(b_config.body["version"], 0);
    assert_eq!(b_config.body["featureFlags"], json!({}));

    // B's own admin can.
    api.send(
        Call::put("/config/app-b")
            .key(&b.key)
            .bearer(&token_b)
            .json(&config),
    )
    .await
    .expect(StatusCode::OK);
}

#[tokio::test]
async fn refresh_tokens_of_one_app_do_not_work_on_another() {
    let api = Api::start().await;
    let a = api.app("app-a").await;
    let b = api.app("app-b").await;
    let session = api
        .register(&a, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let token = session.str("/refreshToken");
    let body = json!({ "refreshToken": token });
    api.send(Call::post("/auth/refresh").key(&b.key).json(&body))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    api.send(Call::post("/auth/logout").key(&b.key).json(&body))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    // Neither rotated nor revoked the session in app A.
    api.send(Call::post("/auth/refresh").key(&a.key).json(&body))
        .await
        .expect(StatusCode::OK);
    // And B's audit log saw nothing of A's user.
    assert!(
        api.audit("app-b")
            .await
            .iter()
            .all(|e| !e.actor.starts_with("user:"))
    );
}
