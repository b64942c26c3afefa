//! HTTP API, accounts: register, login, me; body validation; e-mail uniqueness under concurrency.

#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use ob_tests::fixtures::{Api, Call};
use serde_json::json;

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn register_login_and_me() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    let reply = api
        .send(Call::post("/auth/register").key(&app.key).json(&json!({
            "email": " Ann@Example.com", "password": PASSWORD, "appId": "shop",
            "profile": {"name": "Ann"}
        })))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(reply.str("/user/email"), "ann@example.com");
    assert_eq!(reply.str("/user/role"), "user");
    assert_eq!(reply.body["user"]["profile"]["name"], "Ann");
    assert_eq!(reply.body["expiresIn"], 900);
    assert!(reply.body["user"].get("passwordHash").is_none());
    let user_id = reply.str("/user/userId");

    let logged_in = api
        .login(&app, "ANN@example.com", PASSWORD)
        .await
        .expect(StatusCode::OK);
    assert_eq!(logged_in.str("/user/userId"), user_id);
    let access = logged_in.str("/accessToken");
    assert_ne!(logged_in.str("/refreshToken"), reply.str("/refreshToken"));

    let me = api
        .send(Call::get("/auth/me").key(&app.key).bearer(&access))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me.str("/user/userId"), user_id);

    // Without a token, with a garbage token, or without the app's key: 401.
    for call in [
        Call::get("/auth/me").key(&app.key),
        Call::get("/auth/me").key(&app.key).bearer("not.a.jwt"),
        Call::get("/auth/me").bearer(&access),
    ] {
        assert_eq!(api.send(call).await.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn register_rejects_invalid_bodies_naming_the_field() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    let register = |body: serde_json::Value| Call::post("/auth/register").key(&app.key).json(&body);
    let cases = [
        (
            json!({"email": "a@b.io", "password": "short", "appId": "shop"}),
            "password",
        ),
        (
            json!({"email": "a@b.io", "password": "x".repeat(73), "appId": "shop"}),
            "password",
        ),
        (
            json!({"email": "not-an-email", "password": PASSWORD, "appId": "shop"}),
            "email",
        ),
        (json!({"email": "a@b.io", "appId": "shop"}), "password"),
        (
            json!({"email": "a@b.io", "password": 12345678, "appId": "shop"}),
            "password",
        ),
        (
            json!({"email": "a@b.io", "password": PASSWORD, "appId": "shop", "admin": true}),
            "admin",
        ),
        (
            json!({"email": "a@b.io", "password": PASSWORD, "appId": "shop", "profile": [1]}),
            "profile",
        ),
    ];
    for (body, field) in cases {
        let reply = api
            .send(register(body.clone()))
            .await
            .expect(StatusCode::BAD_REQUEST);
        assert_eq!(reply.code(), "invalid_request");
        assert_eq!(reply.body["error"]["field"], field, "{body}");
        assert!(
            reply.str("/error/message").contains(field),
            "{}",
            reply.body
        );
    }
    let too_long = api
        .send(register(
            json!({"email": "a@b.io", "password": "x".repeat(73), "appId": "shop"}),
        ))
        .await;
    assert!(
        too_long.str("/error/message").contains("72"),
        "{}",
        too_long.body
    );

    let malformed = api
        .send(
            Call::post("/auth/register")
                .key(&app.key)
                .raw("application/json", b"{\"email\":".to_vec()),
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(malformed.code(), "invalid_request");
    let not_json = api
        .send(
            Call::post("/auth/register")
                .key(&app.key)
                .raw("text/plain", b"hello".to_vec()),
        )
        .await
        .expect(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(not_json.code(), "unsupported_media_type");
    let huge = json!({"email": "a@b.io", "password": PASSWORD, "appId": "shop", "profile": {"bio": "x".repeat(100_000)}});
    let too_large = api
        .send(register(huge))
        .await
        .expect(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_large.code(), "payload_too_large");
    // Nothing was registered by any of these.
    assert!(
        ob_core::users::find_by_email(&api.store, "shop", "a@b.io")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn duplicate_email_is_a_conflict_case_insensitively() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    api.register(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let again = api
        .register(&app, "ANN@example.com", "another password")
        .await
        .expect(StatusCode::CONFLICT);
    assert_eq!(again.code(), "conflict");
    // The first password still works; the second never took effect.
    api.login(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::OK);
    api.login(&app, "ann@example.com", "another password")
        .await
        .expect(StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_of_one_email_create_one_user() {
    let api = std::sync::Arc::new(Api::start().await);
    let app = api.app("shop").await;
    let attempts: Vec<_> = (0..8)
        .map(|i| {
            let (api, app) = (api.clone(), app.clone());
            tokio::spawn(async move {
                api.register(&app, "race@example.com", &format!("password number {i}"))
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 7), "{statuses:?}");
    // Storage holds exactly one user item in the app's partition.
    let out = api
        .store
        .client
        .query()
        .table_name(&api.store.tables.users)
        .key_condition_expression("pk = :pk AND begins_with(sk, :user)")
        .expression_attribute_values(":pk", ob_core::attr::s(ob_core::keys::users_pk("shop")))
        .expression_attribute_values(":user", ob_core::attr::s("USER#"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.count(), 1);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_401() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    api.register(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let wrong = api
        .login(&app, "ann@example.com", "wrong password")
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let unknown = api
        .login(&app, "bob@example.com", PASSWORD)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.body["error"]["message"],
        unknown.body["error"]["message"]
    );
    assert_eq!(wrong.code(), "unauthorized");
    let actions: Vec<_> = api
        .audit("shop")
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "auth.login.failure")
            .count(),
        2,
        "{actions:?}"
    );
}
